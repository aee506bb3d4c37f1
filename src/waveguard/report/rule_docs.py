"""What every rule id means, for SARIF's ``fullDescription`` / ``help`` and for docs/rules.md.

One entry per id of :data:`waveguard.model.findings.RULES` (a test checks both ways). Each says
when the rule fires, what grows with what, how its severity is decided (the emitters: analysis
rules in ``analysis/rules.py``, recogniser remarks in ``analysis/recognisers/``, parse notes in
``analysis/loader.py``, WG114 in ``breakglass/lint.py``, plan rules in
``rollout/plan/findings.py``) and the fix. ``level`` is the rule's fixed SARIF
``defaultConfiguration.level``: the most severe level the rule reports without ``--strict`` (a
result still carries the level of its own finding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SarifLevel = Literal["error", "warning", "note"]

#: Where each rule is described for people: ``RULES_DOC_URL#wg101`` (docs/rules.md, one anchor per id).
RULES_DOC_URL = "https://github.com/waveguard/waveguard/blob/main/docs/rules.md"


@dataclass(frozen=True)
class RuleDoc:
    """One rule: ``level`` (SARIF default level), ``when`` it fires, what ``grows`` with what,
    ``severity`` (how a finding's own level is decided) and the ``fix``."""

    level: SarifLevel
    when: str
    grows: str
    severity: str
    fix: str


_MEASURE = ("run the agent on a canary with kube-apiserver audit logging, `waveguard measure --audit-log "
            "audit.log --output-file profile.yaml`, then `waveguard analyse PATH --profiles profile.yaml`")

RULE_DOCS: dict[str, RuleDoc] = {
    "WG101": RuleDoc(
        "error", "A per-node workload (a DaemonSet) LISTs and WATCHes a resource that grows with the cluster "
        "(pods, nodes, endpoints, ...) cluster-wide, e.g. the OpenTelemetry Collector's k8sattributes processor "
        "without a node filter.",
        "Replicas grow with nodes and each replica's LIST returns objects that grow with nodes: API load, watch "
        "fan-out and the relist storm of a restart grow as nodes².",
        "error when the projection overloads a cluster of the fleet (priority level seats, apiserver memory or "
        "etcd), else warning.",
        "Restrict the watch to the agent's own node (a spec.nodeName field selector, e.g. "
        "`processors.k8sattributes.filter.node_from_env_var` set to an env var from spec.nodeName), or move the "
        "cluster-wide part to a single-replica Deployment."),
    "WG102": RuleDoc(
        "warning", "A LIST is served from etcd instead of the watch cache: without `resourceVersion=\"0\"` it is a "
        "consistent read, which the watch cache answers only from Kubernetes 1.31 (KEP-2340); paginated (a "
        "`limit`), its next pages come from etcd until 1.34 (ListFromCacheSnapshot); on an older cluster of the "
        "fleet etcd answers all of it.",
        "Every such LIST makes etcd read and decode every object of the resource: cost grows with the objects "
        "stored, per request.",
        "always warning.",
        "LIST with `resourceVersion=\"0\"` (or use an informer) so the watch cache answers."),
    "WG103": RuleDoc(
        "error", "The agent GETs objects from kube-apiserver for every new pod or event (e.g. Fluent Bit's "
        "kubernetes filter without `Use_Kubelet On`).",
        "GETs grow with pod churn on every node; a simultaneous start (a fleet-wide rollout) sends one GET per pod "
        "of the node from every node at once.",
        "error when the projection overloads a cluster, else warning.",
        "Cache metadata locally or ask the node's kubelet (Fluent Bit: `Use_Kubelet On`)."),
    "WG104": RuleDoc(
        "warning", "Every replica of a DaemonSet takes part in leader election.",
        "Lease GETs grow with nodes while only one replica does the elected work.",
        "always warning.",
        "Run the leader-elected part in a single-replica Deployment."),
    "WG105": RuleDoc(
        "error", "The workload's ServiceAccount is in kube-system, so the default FlowSchema "
        "`kube-system-service-accounts` puts it in the `workload-high` priority level beside "
        "kube-controller-manager and the scheduler.",
        "Its load shares workload-high's seats with the controllers: as it grows with the cluster it starves them.",
        "error when the agent's own projected load overloads workload-high (for an RBAC upper bound only with "
        "`--strict`), else warning.",
        "Run the agent in its own namespace (its ServiceAccount then lands in workload-low), or give it a capped "
        "FlowSchema (`waveguard breakglass generate`)."),
    "WG106": RuleDoc(
        "warning", "The update strategy restarts at least 10 % of the API-talking agents at once (a percentage "
        "`maxUnavailable`, or an absolute one on the smallest cluster of the fleet).",
        "The restarted agents' start-up LISTs arrive together: the burst grows with the share restarted times the "
        "nodes.",
        "always warning.",
        "Set `spec.updateStrategy.rollingUpdate.maxUnavailable: 1` (or at most 1 %), and roll the change out in "
        "waves (`waveguard plan`, `waveguard rollout`)."),
    "WG107": RuleDoc(
        "warning", "No recogniser knows this agent: its load is an unverified upper bound from its RBAC (an "
        "informer on every resource it may list and watch, at the grant's scope).",
        "If the agent used all its grants: per-node replicas watching growing resources cluster-wide grow as "
        "nodes²; a fixed-replica workload as nodes.",
        "warning when the bound could grow as nodes² or overload a cluster, else info; error only with "
        "`--strict` when the bound overloads.",
        f"Measure it: {_MEASURE}; or grant only what the agent needs."),
    "WG108": RuleDoc(
        "warning", "An old API version (extensions/v1beta1, apps/v1beta1, apps/v1beta2), removed in Kubernetes "
        "1.16; analysed as its apps/v1 equivalent.",
        "Nothing grows: a current cluster rejects the manifest.",
        "always warning.",
        "Set `apiVersion: apps/v1` (and `spec.selector`, which apps/v1 requires)."),
    "WG109": RuleDoc(
        "warning", "The manifest fails the Kubernetes schema (kubernetes-validate), or a workload has no pod "
        "template with containers; analysed where possible.",
        "Nothing grows: the API server would reject the object, so the analysis may miss what it runs.",
        "always warning.",
        "Fix the field so that the API server accepts the object."),
    "WG110": RuleDoc(
        "note", "A custom resource that may make its operator run pods (e.g. `kind: Alloy`) is not modelled "
        "(the OpenTelemetry Operator's `OpenTelemetryCollector` is: as the workload it renders).",
        "Unknown: its API load is not projected.",
        "always info.",
        "Analyse what the operator renders (its DaemonSet or Deployment) instead."),
    "WG111": RuleDoc(
        "error", "A fixed-replica workload (a Deployment or StatefulSet) LISTs/WATCHes a growing resource "
        "cluster-wide.",
        "Replicas are fixed, the objects grow with nodes: load grows as nodes (O(nodes), not nodes²).",
        "info, or error when the projection overloads a cluster.",
        "Fine at this size; shard it if the largest cluster grows."),
    "WG112": RuleDoc(
        "error", "Pod logs are streamed through kube-apiserver (Grafana Alloy's `loki.source.kubernetes`).",
        "Every tailed container holds a log stream open through the apiserver: streams and bytes grow with the "
        "pods tailed.",
        "warning when Alloy's clustering spreads the targets, else error.",
        "Read logs from the node's files (`loki.source.file` on /var/log/pods, with `discovery.kubernetes` "
        "restricted to the node by a spec.nodeName field selector) instead of streaming them through "
        "kube-apiserver."),
    "WG113": RuleDoc(
        "error", "An agent whose pod watch is already node-filtered still LISTs/WATCHes something that grows "
        "with the cluster cluster-wide (e.g. the OpenTelemetry Collector's ReplicaSet informer for "
        "k8s.deployment.name).",
        "As WG101: replicas grow with nodes and each LIST with the cluster, so that request grows as nodes².",
        "error when the projection overloads a cluster, else warning.",
        "Drop the metadata that needs the cluster-wide informer (e.g. `k8s.deployment.name`), or move it to a "
        "single-replica gateway."),
    "WG114": RuleDoc(
        "error", "The change gives its own ServiceAccount exempt API access: a FlowSchema to the exempt priority "
        "level, or impersonation of system:masters.",
        "Its requests bypass API Priority and Fairness: nothing limits them as they grow.",
        "error; warning for write access to the API Priority and Fairness objects (it can route itself to exempt at run time).",
        "Route the ServiceAccount to a limited priority level (`waveguard breakglass generate` writes a capped "
        "one); keep exempt access for break-glass identities."),
    "WG115": RuleDoc(
        "warning", "The workload mounts a ConfigMap that is not part of the change, so the configuration that "
        "decides its requests is unknown; its requests are bounded from RBAC instead.",
        "As the RBAC bound (WG107).",
        "always warning.",
        "Pass the whole rendered chart, ConfigMaps included (`helm template ... | waveguard analyse -`)."),
    "WG120": RuleDoc(
        "warning", "The same workload (kind/namespace/name) is defined twice in the input; the later definition "
        "is analysed (as `kubectl apply` leaves it).",
        "Nothing grows: the earlier definition is not analysed.",
        "always warning.",
        "Keep one definition (two charts or two files render the same workload)."),
    "WG121": RuleDoc(
        "note", "A file of the input holds no Kubernetes object (no document has apiVersion or kind: a bare "
        "agent configuration beside the manifests): skipped.",
        "Nothing is analysed of what the file configures.",
        "always info.",
        "Pass it wrapped in the ConfigMap the agent mounts (as its install script creates it), or leave it out."),
    "WG130": RuleDoc(
        "error", "Fluent Bit's kubernetes filter has a `Buffer_Size` smaller than a pod's JSON on a cluster of "
        "the fleet: the metadata response is discarded, nothing is cached, and the GET repeats.",
        "Failed lookups repeat for every chunk of records a pod logs, at least once a minute per pod "
        "(kube_meta_negative_cache_ttl): GETs grow with the pods of the cluster.",
        "error when the repeated lookups alone fill the agent's priority level on a cluster, else warning.",
        "Set `Buffer_Size 0` (no limit) or a size above the largest pod's JSON; better, `Use_Kubelet On`."),
    "WG131": RuleDoc(
        "warning", "CoreDNS with the kubernetes plugin: a CoreDNS pod (re)started while kube-apiserver is "
        "unreachable cannot become ready, so rolling it then takes cluster DNS down.",
        "Its informers (services, namespaces, endpointslices) are cluster-wide; what grows is the outage: every "
        "restarted replica stops answering cluster names.",
        "warning while a protection is missing (at least 2 replicas, spread, a PodDisruptionBudget), else info.",
        "Roll CoreDNS only while kube-apiserver is healthy (gate on the control plane), with maxUnavailable: 1 "
        "and maxSurge; run at least 2 replicas, spread, with a PodDisruptionBudget."),
    "WG132": RuleDoc(
        "warning", "A node-local DNS cache of the cluster zone without `serve_stale`.",
        "When CoreDNS stops answering, every node's pods lose cluster names once their cached answers expire.",
        "always warning.",
        "Add `serve_stale 1h` to the cache block of the cluster zone (it hides the outage from checks that "
        "resolve through the cache for as long: WG133)."),
    "WG133": RuleDoc(
        "note", "How long a DNS cache keeps answering after the server behind it stops.",
        "A check that resolves through the cache reads healthy for the cache's TTL plus serve_stale after DNS "
        "broke.",
        "always info.",
        "Gate rollouts on an authoritative DNS probe that bypasses caches (waveguard's DNS gate), and bake each "
        "wave longer than that plus two gate evaluations (WG201)."),
    "WG201": RuleDoc(
        "error", "A wave of the plan bakes less than the longest DNS cache TTL in the lookup path plus two gate "
        "evaluations.",
        "A DNS failure surfaces only when caches expire: a shorter bake passes the wave before it shows.",
        "always error.",
        "Bake every wave at least that long (waveguard plan proposes 1,260 s)."),
    "WG202": RuleDoc(
        "error", "The first production wave leaves out the largest clusters.",
        "Load that grows with nodes shows first on the largest clusters: small clusters pass what large ones "
        "cannot.",
        "always error.",
        "Include a slice of the largest clusters in the first production wave (1 % of their nodes)."),
    "WG203": RuleDoc(
        "error", "No gate of the plan reads the control plane (apiserver latency, 429s, APF seats, memory, the "
        "projection).",
        "Workload-error gates see a control-plane overload only after it spread.",
        "always error.",
        "Add control-plane gates (waveguard plan adds them by default)."),
    "WG204": RuleDoc(
        "error", "Clusters the plan reaches have no break-glass API Priority and Fairness isolation.",
        "If the change saturates their apiservers, its rollback competes with it for the same seats.",
        "error when the rollback of a DaemonSet is automatic, else warning; info for clusters whose isolation is "
        "not recorded.",
        "Install the isolation (`waveguard breakglass generate`, then `kubectl apply`) and set `breakglass: true` "
        "in the fleet file."),
    "WG205": RuleDoc(
        "error", "A wave reaches production before the plan's staging clusters have baked the change.",
        "Staging's bake is the first look at the change; after production it protects nothing.",
        "always error.",
        "Put the waves that reach staging clusters (env: staging, stage, dev or test) first."),
    "WG206": RuleDoc(
        "error", "The first production wave reaches every production node at once.",
        "A change that overloads control planes takes all of them down together: the gates can only roll back, "
        "with no later wave left to keep the change from.",
        "always error.",
        "Split the wave: a few clusters, or a small node share of each, first (waveguard plan proposes such "
        "waves)."),
}


def help_uri(rule_id: str) -> str:
    """The rule's section of docs/rules.md (its anchor is the lower-case id)."""
    return f"{RULES_DOC_URL}#{rule_id.lower()}"


_SEVERITY_WORDS = {"error": "error", "warning": "warning", "note": "info"}


def help_text(rule_id: str, name: str, short: str) -> str:
    """Plain-text help: when, what grows with what, severity, fix."""
    doc = RULE_DOCS[rule_id]
    return (f"{rule_id} {name}: {short}.\n\nWhen: {doc.when}\n\nWhat grows with what: {doc.grows}\n\n"
            f"Severity: {_sentence(doc.severity)}\n\nFix: {doc.fix}\n\nMore: {help_uri(rule_id)}")


def help_markdown(rule_id: str, name: str, short: str, heading: str = "") -> str:
    """Markdown help (also one section of docs/rules.md, with ``heading`` before it)."""
    doc = RULE_DOCS[rule_id]
    return (f"{heading}{short}.\n\n**When.** {doc.when}\n\n**What grows with what.** {doc.grows}\n\n"
            f"**Severity.** {_sentence(doc.severity)} SARIF default level: `{doc.level}`.\n\n**Fix.** {doc.fix}\n")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


_DOC_INTRO = """\
# waveguard rules

<!-- Generated from src/waveguard/report/rule_docs.py (rules_markdown); tests/test_sarif.py checks it. -->

Every finding of `waveguard analyse` (WG1xx) and `waveguard plan --check` (WG2xx) names one of
these rule ids; the ids are stable (CI filters and suppresses by them). The SARIF log links each
rule here (`helpUri`). *Default level* is the rule's fixed SARIF `defaultConfiguration.level`
(the most severe level it reports without `--strict`); each finding carries its own level, decided
as *Severity* says. Where a rule is implemented: analysis rules in `src/waveguard/analysis/rules.py`,
what only a recogniser sees in `src/waveguard/analysis/recognisers/`, parse notes (WG108–WG110,
WG120, WG121) in `src/waveguard/analysis/loader.py`, WG114 in `src/waveguard/breakglass/lint.py`,
plan rules in `src/waveguard/rollout/plan/findings.py`.

| rule | name | default level | what |
|---|---|---|---|
"""


def rules_markdown(rules: dict[str, tuple[str, str]]) -> str:
    """docs/rules.md: the table, then one section per rule with the anchor ``#wg101``.
    ``rules``: :data:`waveguard.model.findings.RULES` (id → name, one-line description)."""
    table = "".join(f"| [{rule_id}](#{rule_id.lower()}) | `{rules[rule_id][0]}` | {RULE_DOCS[rule_id].level} | "
                    f"{rules[rule_id][1]} |\n" for rule_id in sorted(rules))
    sections = "".join(
        "\n" + help_markdown(rule_id, rules[rule_id][0], rules[rule_id][1],
                             heading=f'<a id="{rule_id.lower()}"></a>\n## {rule_id} `{rules[rule_id][0]}`\n\n')
        for rule_id in sorted(rules))
    return _DOC_INTRO + table + sections
