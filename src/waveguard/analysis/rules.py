"""Findings from request profiles and their projection. Rule ids: model/findings.py."""

from __future__ import annotations

from waveguard.analysis.profiles import Agent
from waveguard.model.cost import GROWS_WITH_NODES, ClusterLoad, scaling_class, served_from
from waveguard.model.findings import Finding, Severity
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import Change
from waveguard.model.requests import RequestClass

#: A rolling update restarting this share of a DaemonSet's agents at once gets WG106. Policy:
#: 10 % of a 5,000-node cluster is 500 simultaneous relists.
MASS_UPDATE_SHARE = 0.10


def _clusters(n: int) -> str:
    return f"{n} cluster" if n == 1 else f"{n} clusters"


def _overload_summary(loads: list[ClusterLoad]) -> tuple[Severity, str]:
    """error + a sentence when the projection overloads a cluster, else warning + a sentence.
    The sentence quotes the worst cluster's own reason (seats or memory, whichever it is)."""
    over = [l for l in loads if l.verdict == "overload"]
    if over:
        worst = max(over, key=lambda l: max(l.level_utilisation, l.memory_share))
        smallest = min(l.nodes for l in over)
        return "error", (f"projected overload on {_clusters(len(over))} of {len(loads)} (from {smallest:,} nodes); "
                         f"on {worst.cluster} ({worst.nodes:,} nodes) it {worst.reasons[0]}")
    warned = [l for l in loads if l.verdict == "warning"]
    if warned:
        worst = max(warned, key=lambda l: max(l.level_utilisation, l.memory_share))
        return "warning", (f"no overload projected, but {_clusters(len(warned))} reach a warning (worst "
                           f"{worst.cluster}: {worst.reasons[0]})")
    return "warning", "no cluster of the fleet is projected to overload yet"


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


def agent_findings(agent: Agent, loads: list[ClusterLoad], fleet: Fleet) -> list[Finding]:
    """All findings for one API-talking workload, given its projection on every cluster."""
    w, p, doc = agent.workload, agent.profile, agent.workload.doc
    findings: list[Finding] = []
    severity, projected = _overload_summary(loads)
    per_replica = [rc for rc in p.classes if not rc.leader_only]

    if p.upper_bound:
        scaling = scaling_class(p)
        growth = {"O(nodes²)": "growing as nodes²", "O(nodes)": "growing with nodes",
                  "constant": "not growing with the cluster"}[scaling]
        findings.append(Finding.at(
            "WG107", severity if severity == "error" else ("warning" if scaling == "O(nodes²)" else "info"), doc,
            f"unknown agent ({', '.join(w.images()) or 'no image'}): no recogniser knows it, so its load is an UPPER "
            f"BOUND from RBAC (an informer on every resource it may list/watch: {_describe(p.classes)}); "
            f"{scaling}, {growth}; {projected}",
            "grant only what the agent needs, or tell waveguard its real requests (waveguard measure on a canary's "
            "audit log)"))
    else:
        growing = [rc for rc in per_replica if _grows(rc)]
        node_filtered_pods = any(rc.scope == "node" and rc.resource == "pods" for rc in p.classes)
        if p.per_node and growing:
            rule = "WG113" if node_filtered_pods else "WG101"
            lead = ("its pod watch is node-filtered, but every replica (one per node) still LISTs/WATCHes "
                    if node_filtered_pods else "every replica (one per node) LISTs/WATCHes ")
            findings.append(Finding.at(
                rule, severity, doc,
                f"{lead}{_describe(growing)}: replicas × objects grow as nodes²; {projected}",
                _fixes(growing, "restrict the watch to the agent's own node (field selector spec.nodeName) or move "
                                    "it to a single-replica Deployment")))
        elif not p.per_node:
            growing = [rc for rc in p.classes if _grows(rc)]
            if growing:
                findings.append(Finding.at(
                    "WG111", "info" if severity != "error" else "error", doc,
                    f"{p.replicas} replica(s) LIST/WATCH {_describe(growing)}: load grows with nodes "
                    f"(O(nodes), not nodes²); {projected}",
                    _fixes(growing, "fine at this size; shard it if the largest cluster grows")))

    etcd_lists = [rc for rc in p.classes if rc.verb == "list"
                  and any(served_from(rc, c) == "etcd" for c in fleet.clusters)]
    if etcd_lists:
        old = [c.name for c in fleet.clusters if any(served_from(rc, c) == "etcd" for rc in etcd_lists)]
        named = ", ".join(old[:3]) + (f" and {len(old) - 3} more" if len(old) > 3 else "")
        findings.append(Finding.at(
            "WG102", "warning", doc,
            f"LIST {_describe(etcd_lists)} without resourceVersion=\"0\" is a consistent read served from etcd on "
            f"{_clusters(len(old))} ({named}; before v1.31, or paginated): etcd reads and decodes every object each time",
            "LIST with resourceVersion=\"0\" (or use an informer) so the watch cache answers"))

    per_event = [rc for rc in p.classes if rc.trigger == "per_event"]
    if per_event:
        findings.append(Finding.at(
            "WG103", "error" if severity == "error" else "warning", doc,
            f"GETs to kube-apiserver per event: {_describe(per_event)}; grows with pod churn on every node"
            f"{', ' + projected if severity == 'error' else ''}",
            _fixes(per_event, "cache metadata locally or ask the node's kubelet")))

    lease_polls = [rc for rc in p.classes if rc.resource == "leases" and not rc.leader_only and rc.verb == "get"]
    if p.per_node and lease_polls:
        findings.append(Finding.at(
            "WG104", "warning", doc,
            f"every replica of the DaemonSet takes part in leader election ({_describe(lease_polls)}): lease GETs "
            "grow with nodes while only one replica does the elected work",
            _fixes(lease_polls, "run the leader-elected part in a single-replica Deployment")))

    if w.namespace == "kube-system":
        findings.append(Finding.at(
            "WG105", "error" if p.per_node else "warning", doc,
            f"ServiceAccount kube-system/{w.service_account} lands in workload-high (FlowSchema "
            "kube-system-service-accounts) beside kube-controller-manager and the scheduler: its overload starves them",
            "run the agent in its own namespace (its ServiceAccount then lands in workload-low), or give it a capped "
            "FlowSchema (waveguard breakglass generate)"))

    restart_share, at_once, where = _update_burst(w, p.update_share, fleet)
    if p.per_node and p.classes and restart_share >= MASS_UPDATE_SHARE:
        findings.append(Finding.at(
            "WG106", "warning", doc,
            f"updateStrategy maxUnavailable {w.max_unavailable} restarts {restart_share:.0%} of the agents at once "
            f"({at_once:,} on {where}), and each one sends its start-up requests at once",
            "set spec.updateStrategy.rollingUpdate.maxUnavailable: 1 (or ≤ 1%), and roll the change out in waves "
            "(waveguard plan / waveguard rollout)"))

    for rule, sev, message, fix in agent.recognised.remarks:
        findings.append(Finding.at(rule, sev, doc, message, fix))
    return findings


def _update_burst(w, share: float, fleet: Fleet) -> tuple[float, int, str]:
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
