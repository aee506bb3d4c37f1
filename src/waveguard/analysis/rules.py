"""Findings from request profiles and their projection: one function per rule id, registered
in :data:`AGENT_RULES` (rule ids and their descriptions: model/findings.py).

Add a rule: describe its id in ``model.findings.RULES`` (the SARIF rule name and sentence),
then define here::

    @AGENT_RULES.rule("WG116")
    def short_name(view: AgentView) -> Finding | None:
        ...  # read view.profile, view.workload, view.loads, view.fleet, view.severity, view.projected
        return Finding.at("WG116", "warning", view.doc, message, fix)

Rules run in the order they are defined; :func:`waveguard.analysis.analyse` then sorts all
findings by severity, file, line and rule id. Rules over the whole change (not one agent) are
passed to ``analyse(lints=...)`` instead (break-glass's WG114: ``breakglass.lint``); findings
only a recogniser can see are its ``Recognised.remarks``; parse-time findings (WG108-WG110) are
the loader's ``Change.parse_notes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from waveguard.analysis.overload import clusters_phrase as _clusters
from waveguard.analysis.overload import overload_summary as _overload_summary
from waveguard.analysis.profiles import Agent
from waveguard.analysis.recognisers.coredns import DnsRecognised
from waveguard.analysis.recognisers.fluentbit import FluentBitRecognised
from waveguard.model.cost import GROWS_WITH_NODES, ClusterLoad, objects_returned, scaling_class
from waveguard.model.findings import Finding, RuleRegistry, Severity
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import Change, Document, Workload
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.work import reads_etcd

#: A rolling update restarting this share of a DaemonSet's agents at once gets WG106. Policy:
#: 10 % of a 5,000-node cluster is 500 simultaneous relists.
MASS_UPDATE_SHARE = 0.10


def _grows(rc: RequestClass) -> bool:
    return rc.verb in ("list", "watch") and rc.scope in ("cluster", "namespace") and rc.resource in GROWS_WITH_NODES


def _fixes(classes: list[RequestClass], default: str) -> str:
    """Every distinct fix of ``classes`` (each cause gets its own), else ``default``."""
    fixes = list(dict.fromkeys(rc.fix for rc in classes if rc.fix))
    return "; ".join(fixes) if fixes else default


_SCOPE_WORDS = {"cluster": "cluster-wide", "namespace": "in one namespace", "node": "on its node", "object": "by name"}


def _describe(classes: list[RequestClass]) -> str:
    seen: dict[str, None] = {}
    for rc in classes:
        seen.setdefault(f"{rc.resource} {_SCOPE_WORDS[rc.scope]} ({rc.component})", None)
    return ", ".join(seen)


@dataclass(frozen=True)
class AgentView:
    """What an agent rule reads: the agent, its projection on every cluster of the fleet (one
    :class:`ClusterLoad` per cluster, fleet order) and the overload summary of that projection
    (``severity``: error when a cluster is projected to overload, else warning; ``projected``: the
    sentence that says so). ``measured``: the profile was measured from audit logs (``analyse
    --profiles``); ``strict``: an upper bound's projected overload is an error (``--strict``)."""

    agent: Agent
    loads: list[ClusterLoad]
    fleet: Fleet
    severity: Severity
    projected: str
    measured: bool = False
    strict: bool = False

    @property
    def workload(self) -> Workload:
        return self.agent.workload

    @property
    def profile(self) -> RequestProfile:
        return self.agent.profile

    @property
    def doc(self) -> Document:
        return self.agent.workload.doc

    @property
    def evidence(self) -> str:
        """Where the profile comes from, for every finding's message."""
        if self.measured:
            return "measured from audit logs (analyse --profiles)"
        if self.profile.upper_bound:
            return "RBAC upper bound (unverified)"
        return f"recognised from the agent's configuration ({self.profile.agent})"


#: An agent rule: one function per rule id, returning its finding for one agent or None.
AgentRule = Callable[[AgentView], "Finding | None"]

#: The agent rules, asked in registration order (the order of the definitions below).
#: Add a rule: describe its id in ``model.findings.RULES``, then define
#: ``@AGENT_RULES.rule("WG1xx") def name(view: AgentView) -> Finding | None`` in this module.
AGENT_RULES: RuleRegistry[AgentRule] = RuleRegistry("analysis")


def agent_findings(agent: Agent, loads: list[ClusterLoad], fleet: Fleet, *, measured: bool = False,
                   strict: bool = False) -> list[Finding]:
    """All findings for one API-talking workload, given its projection on every cluster: the
    registered rules in order, then the remarks of the recogniser (rules only it can see). Each
    message ends with its evidence (:attr:`AgentView.evidence`)."""
    severity, projected = _overload_summary(loads)
    view = AgentView(agent=agent, loads=loads, fleet=fleet, severity=severity, projected=projected,
                     measured=measured, strict=strict)
    findings = [f for _, rule in AGENT_RULES.functions() if (f := rule(view)) is not None]
    for rule_id, sev, message, fix in agent.recognised.remarks:
        findings.append(Finding.at(rule_id, sev, view.doc, message, fix))
    return [f.model_copy(update={"message": f"{f.message} [evidence: {view.evidence}]"}) for f in findings]


#: How to turn an upper bound into a measured profile (WG107's fix).
MEASURE_HOWTO = ("run the agent on a canary cluster with kube-apiserver audit logging, then "
                 "`waveguard measure --audit-log AUDIT.log --output-file profile.yaml` and "
                 "`waveguard analyse PATH --profiles profile.yaml` (the measured profile replaces the bound)")


def _growing_grants(classes: list[RequestClass]) -> str:
    """The grants behind a bound's growing requests, per binding: ``ClusterRoleBinding/-/x:
    list+watch nodes, pods cluster-wide``."""
    by_binding: dict[str, dict[str, None]] = {}
    for rc in classes:
        if _grows(rc):
            verbs = "list+watch" if any(o.verb == "watch" and o.resource == rc.resource for o in classes) else "list"
            by_binding.setdefault(rc.config_key.removeprefix("RBAC "), {})[
                f"{verbs} {rc.resource} {_SCOPE_WORDS[rc.scope]}"] = None
    return "; ".join(f"{binding}: {', '.join(grants)}" for binding, grants in by_binding.items())


@AGENT_RULES.rule("WG107")
def unknown_agent_rbac_bound(view: AgentView) -> Finding | None:
    """An agent no recogniser knows: its load is an upper bound from RBAC, reported as an
    unverified question (warning when it could grow as nodes² or overload, else info); an error
    only with ``--strict`` when the bound overloads a cluster."""
    p = view.profile
    if not p.upper_bound:
        return None
    scaling = scaling_class(p)
    overloads = view.severity == "error"
    severity: Severity = "error" if (overloads and view.strict) else (
        "warning" if scaling == "O(nodes²)" or overloads else "info")
    grants = _growing_grants(p.classes) or _describe(p.classes)
    why = ("every replica (one per node) could LIST/WATCH what grows with the cluster, cluster-wide: O(nodes²)"
           if scaling == "O(nodes²)" else f"{scaling}")
    return Finding.at(
        "WG107", severity, view.doc,
        f"unverified: no recogniser knows this agent ({', '.join(view.workload.images()) or 'no image'}), so its "
        f"load is an UPPER BOUND from RBAC, not a verdict. Grants: {grants}; {why}. If it used them all: "
        f"{view.projected}",
        f"measure it: {MEASURE_HOWTO}; or grant only what the agent needs")


def _per_node_growing(view: AgentView) -> list[RequestClass]:
    """A recognised per-node agent's per-replica LISTs/WATCHes of growing resources, cluster-wide."""
    p = view.profile
    if p.upper_bound or not p.per_node:
        return []
    return [rc for rc in p.classes if not rc.leader_only and _grows(rc)]


def _node_filtered_pods(view: AgentView) -> bool:
    return any(rc.scope == "node" and rc.resource == "pods" for rc in view.profile.classes)


def _per_node_finding(view: AgentView, rule_id: str, lead: str, growing: list[RequestClass]) -> Finding:
    return Finding.at(
        rule_id, view.severity, view.doc,
        f"{lead}{_describe(growing)}: replicas × objects grow as nodes²; {view.projected}",
        _fixes(growing, "restrict the watch to the agent's own node (field selector spec.nodeName) or move "
                        "it to a single-replica Deployment"))


@AGENT_RULES.rule("WG101")
def per_node_cluster_wide_watch(view: AgentView) -> Finding | None:
    """Every replica of a per-node agent LISTs/WATCHes a growing resource cluster-wide: O(nodes²)."""
    growing = _per_node_growing(view)
    if not growing or _node_filtered_pods(view):
        return None
    return _per_node_finding(view, "WG101", "every replica (one per node) LISTs/WATCHes ", growing)


@AGENT_RULES.rule("WG113")
def cluster_wide_request_from_node_agent(view: AgentView) -> Finding | None:
    """As WG101, for an agent whose pod watch is already node-filtered."""
    growing = _per_node_growing(view)
    if not growing or not _node_filtered_pods(view):
        return None
    return _per_node_finding(view, "WG113", "its pod watch is node-filtered, but every replica (one per node) still "
                                            "LISTs/WATCHes ", growing)


@AGENT_RULES.rule("WG111")
def single_replica_cluster_wide_watch(view: AgentView) -> Finding | None:
    """A recognised fixed-replica workload LISTs/WATCHes a growing resource cluster-wide: O(nodes)."""
    p = view.profile
    if p.upper_bound or p.per_node:
        return None
    growing = [rc for rc in p.classes if _grows(rc)]
    if not growing:
        return None
    return Finding.at(
        "WG111", "info" if view.severity != "error" else "error", view.doc,
        f"{p.replicas} replica(s) LIST/WATCH {_describe(growing)}: load grows with nodes "
        f"(O(nodes), not nodes²); {view.projected}",
        _fixes(growing, "fine at this size; shard it if the largest cluster grows"))


@AGENT_RULES.rule("WG102")
def list_bypasses_watch_cache(view: AgentView) -> Finding | None:
    """LISTs read from etcd on some cluster (model.work.reads_etcd): a consistent read
    (no resourceVersion="0") before v1.31, or the continuation pages of a paginated one before
    v1.34."""
    clusters = view.fleet.clusters
    etcd_lists = [rc for rc in view.profile.classes if rc.verb == "list" and any(reads_etcd(rc, c) for c in clusters)]
    if not etcd_lists:
        return None
    old = [c.name for c in clusters if any(reads_etcd(rc, c) for rc in etcd_lists)]
    named = ", ".join(old[:3]) + (f" and {len(old) - 3} more" if len(old) > 3 else "")
    return Finding.at(
        "WG102", "warning", view.doc,
        f"LIST {_describe(etcd_lists)} without resourceVersion=\"0\" is a consistent read served from etcd on "
        f"{_clusters(len(old))} ({named}; before v1.31, or its next pages before v1.34): etcd reads and decodes "
        "every object each time",
        "LIST with resourceVersion=\"0\" (or use an informer) so the watch cache answers")


@AGENT_RULES.rule("WG103")
def per_event_get(view: AgentView) -> Finding | None:
    """GETs to kube-apiserver for every new pod or event."""
    per_event = [rc for rc in view.profile.classes if rc.trigger == "per_event"]
    if not per_event:
        return None
    overloads = view.severity == "error"
    return Finding.at(
        "WG103", "error" if overloads else "warning", view.doc,
        f"GETs to kube-apiserver per event: {_describe(per_event)}; grows with pod churn on every node"
        f"{_start_gets(view)}{', ' + view.projected if overloads else ''}",
        _fixes(per_event, "cache metadata locally or ask the node's kubelet"))


def _start_gets(view: AgentView) -> str:
    """The GET burst of a simultaneous start on the largest cluster (a GET class with a scope
    wider than one object is one GET per object of it: model.work.request_cost), or ""."""
    burst = [rc for rc in view.profile.classes if rc.verb == "get" and rc.trigger == "start" and rc.scope != "object"]
    if not burst or not view.loads:
        return ""
    load = max(view.loads, key=lambda l: l.nodes)
    cluster = view.fleet.cluster(load.cluster)
    gets = sum(load.replicas * objects_returned(rc, cluster) for rc in burst)
    return (f"; at start {_describe(burst)}: a simultaneous start (a fleet-wide rollout) sends {gets:,.0f} GETs at "
            f"once on {load.cluster}, {load.storm_seat_seconds:,.0f} seat-seconds with its other start requests")


@AGENT_RULES.rule("WG104")
def daemonset_leader_election(view: AgentView) -> Finding | None:
    """Every replica of a DaemonSet polls the leader-election lease."""
    p = view.profile
    lease_polls = [rc for rc in p.classes if rc.resource == "leases" and not rc.leader_only and rc.verb == "get"]
    if not (p.per_node and lease_polls):
        return None
    return Finding.at(
        "WG104", "warning", view.doc,
        f"every replica of the DaemonSet takes part in leader election ({_describe(lease_polls)}): lease GETs "
        "grow with nodes while only one replica does the elected work",
        _fixes(lease_polls, "run the leader-elected part in a single-replica Deployment"))


@AGENT_RULES.rule("WG105")
def shared_priority_level(view: AgentView) -> Finding | None:
    """A ServiceAccount in kube-system lands in workload-high beside the controllers: an error
    only when the agent's own projected load overloads workload-high (for an upper bound: only
    with ``--strict``), else a warning."""
    w = view.workload
    if w.namespace != "kube-system" or not view.profile.classes:  # nothing sent: no priority level
        return None
    high = [l for l in view.loads if l.priority_level == "workload-high" and l.verdict == "overload"]
    overloads = bool(high) and (view.strict or not view.profile.upper_bound)
    if high:
        first = min(high, key=lambda l: l.nodes)
        consequence = (f"its projected load overloads workload-high on {_clusters(len(high))} (from "
                       f"{first.nodes:,} nodes{', if its RBAC upper bound holds' if view.profile.upper_bound else ''})"
                       ", starving them")
    else:
        consequence = "its own load is not projected to overload workload-high, but an overload would starve them"
    return Finding.at(
        "WG105", "error" if overloads else "warning", view.doc,
        f"ServiceAccount kube-system/{w.service_account} lands in workload-high (FlowSchema "
        f"kube-system-service-accounts) beside kube-controller-manager and the scheduler: {consequence}",
        "run the agent in its own namespace (its ServiceAccount then lands in workload-low), or give it a capped "
        "FlowSchema (waveguard breakglass generate)")


@AGENT_RULES.rule("WG106")
def mass_update_strategy(view: AgentView) -> Finding | None:
    """The rolling update restarts at least :data:`MASS_UPDATE_SHARE` of the agents at once."""
    w, p = view.workload, view.profile
    restart_share, at_once, where = _update_burst(w, p.update_share, view.fleet)
    if not (p.per_node and p.classes and restart_share >= MASS_UPDATE_SHARE):
        return None
    return Finding.at(
        "WG106", "warning", view.doc,
        f"updateStrategy maxUnavailable {w.max_unavailable} restarts {restart_share:.0%} of the agents at once "
        f"({at_once:,} on {where}), and each one sends its start-up requests at once",
        "set spec.updateStrategy.rollingUpdate.maxUnavailable: 1 (or ≤ 1%), and roll the change out in waves "
        "(waveguard plan / waveguard rollout)")


def _update_burst(w: Workload, share: float, fleet: Fleet) -> tuple[float, int, str]:
    """(share of agents restarted at once, how many, on which cluster) for the cluster where
    the rolling update's burst is the largest share. A percentage applies everywhere; an
    absolute maxUnavailable weighs most on the smallest cluster."""
    if not fleet.clusters:
        return 0.0, 0, "-"
    value = w.max_unavailable
    if isinstance(value, int) and not isinstance(value, bool) and value > 1 and w.update_strategy != "OnDelete":
        smallest = min((c for c in fleet.clusters if c.nodes), key=lambda c: c.nodes, default=None)
        if smallest is None:
            return 0.0, 0, "-"
        at_once = min(value, smallest.nodes)
        return at_once / smallest.nodes, at_once, smallest.name
    largest = max(fleet.clusters, key=lambda c: c.nodes)
    return share, int(share * largest.nodes), largest.name


def parse_findings(change: Change) -> list[Finding]:
    """Findings noted while parsing (old API versions, schema problems, custom resources)."""
    return [Finding.at(rule, sev, doc, msg, fix) for rule, sev, doc, msg, fix in change.parse_notes]



# --- Metadata lookups and DNS (issue 13, items 4 and 5): the recognisers hold the facts ----------


@AGENT_RULES.rule("WG130")
def metadata_buffer_too_small(view: AgentView) -> Finding | None:
    """Fluent Bit's kubernetes filter with a ``Buffer_Size`` smaller than a pod's JSON on a
    cluster of the fleet: the lookup fails, is not cached and repeats (``FluentBitRecognised.
    buffer_finding``: error when the repeats alone fill the agent's priority level, else warning)."""
    fluent_bit = view.agent.recognised
    if not isinstance(fluent_bit, FluentBitRecognised):
        return None
    found = fluent_bit.buffer_finding(view.fleet.clusters, view.loads)
    return Finding.at("WG130", found[0], view.doc, found[1], found[2]) if found else None


@AGENT_RULES.rule("WG131")
def dns_server_needs_api(view: AgentView) -> Finding | None:
    """CoreDNS with the kubernetes plugin: a pod (re)started while kube-apiserver is unreachable
    cannot become ready, so the change's own rollout must not run then (``DnsRecognised.
    restart_finding``: warning unless ≥ 2 replicas, spread, with a PodDisruptionBudget; else info)."""
    dns = view.agent.recognised
    found = dns.restart_finding() if isinstance(dns, DnsRecognised) else None
    return Finding.at("WG131", found[0], view.doc, found[1], found[2]) if found else None


@AGENT_RULES.rule("WG132")
def dns_cache_without_serve_stale(view: AgentView) -> Finding | None:
    """A node-local DNS cache of the cluster zone without ``serve_stale``: its pods lose cluster
    names once their cached answers expire when CoreDNS stops answering (``DnsRecognised.
    serve_stale_finding``, warning)."""
    dns = view.agent.recognised
    found = dns.serve_stale_finding() if isinstance(dns, DnsRecognised) else None
    return Finding.at("WG132", found[0], view.doc, found[1], found[2]) if found else None
