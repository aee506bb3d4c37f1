"""Findings from request profiles and their projection. Rule ids: model/findings.py."""

from __future__ import annotations

from waveguard.analysis.profiles import Agent
from waveguard.model.cost import GROWS_WITH_NODES, ClusterLoad, served_from
from waveguard.model.findings import Finding, Severity
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import Change, Document
from waveguard.model.requests import RequestClass

#: A rolling update restarting this share of a DaemonSet's agents at once gets WG106. Policy:
#: 10 % of a 5,000-node cluster is 500 simultaneous relists.
MASS_UPDATE_SHARE = 0.10


def _finding(rule: str, severity: Severity, doc: Document, message: str, fix: str) -> Finding:
    return Finding(rule=rule, severity=severity, workload=doc.ref, file=doc.location.file,
                   line=doc.location.line, message=message, fix=fix)


def _overload_summary(loads: list[ClusterLoad]) -> tuple[Severity, str]:
    """error + a sentence when the projection overloads a cluster, else warning + a sentence."""
    over = [l for l in loads if l.verdict == "overload"]
    if over:
        worst = max(over, key=lambda l: l.level_utilisation)
        smallest = min(l.nodes for l in over)
        return "error", (
            f"projected overload on {len(over)} of {len(loads)} clusters (from {smallest:,} nodes); on "
            f"{worst.cluster} ({worst.nodes:,} nodes) it needs {worst.level_utilisation:.0%} of {worst.priority_level}'s "
            f"seats and a restart's LIST storm takes {worst.storm_drain_s:.0f} s to serve")
    warned = [l for l in loads if l.verdict == "warning"]
    if warned:
        worst = max(warned, key=lambda l: l.level_utilisation)
        return "warning", (f"no overload projected, but {len(warned)} clusters reach a warning (worst {worst.cluster}: "
                           f"{worst.level_utilisation:.0%} of {worst.priority_level}'s seats)")
    return "warning", "no cluster of the fleet is projected to overload yet"


def _grows(rc: RequestClass) -> bool:
    return rc.verb in ("list", "watch") and rc.scope in ("cluster", "namespace") and rc.resource in GROWS_WITH_NODES


def _first_fix(classes: list[RequestClass], default: str) -> str:
    return next((rc.fix for rc in classes if rc.fix), default)


def _describe(classes: list[RequestClass]) -> str:
    seen: dict[str, None] = {}
    for rc in classes:
        seen.setdefault(f"{rc.resource} ({rc.component})", None)
    return ", ".join(seen)


def agent_findings(agent: Agent, loads: list[ClusterLoad], fleet: Fleet) -> list[Finding]:
    """All findings for one API-talking workload, given its projection on every cluster."""
    w, p, doc = agent.workload, agent.profile, agent.workload.doc
    findings: list[Finding] = []
    severity, projected = _overload_summary(loads)
    per_replica = [rc for rc in p.classes if not rc.leader_only]

    if p.upper_bound:
        findings.append(_finding(
            "WG107", severity if severity == "error" else ("warning" if p.per_node else "info"), doc,
            f"unknown agent ({', '.join(w.images()) or 'no image'}): no recogniser knows it, so its load is an UPPER "
            f"BOUND from RBAC (an informer on every resource it may list/watch: {_describe(p.classes)}); "
            f"{'one per node, growing as nodes²' if p.per_node else 'fixed replicas, growing with nodes'}; {projected}",
            "grant only what the agent needs, or tell waveguard its real requests (waveguard measure on a canary's "
            "audit log)"))
    else:
        growing = [rc for rc in per_replica if _grows(rc)]
        node_filtered_pods = any(rc.scope == "node" and rc.resource == "pods" for rc in p.classes)
        if p.per_node and growing:
            rule = "WG113" if node_filtered_pods else "WG101"
            lead = ("its pod watch is node-filtered, but every replica (one per node) still LISTs/WATCHes "
                    if node_filtered_pods else "every replica (one per node) LISTs/WATCHes ")
            findings.append(_finding(
                rule, severity, doc,
                f"{lead}{_describe(growing)} cluster-wide: replicas × objects grow as nodes²; {projected}",
                _first_fix(growing, "restrict the watch to the agent's own node (field selector spec.nodeName) or move "
                                    "it to a single-replica Deployment")))
        elif not p.per_node:
            growing = [rc for rc in p.classes if _grows(rc)]
            if growing:
                findings.append(_finding(
                    "WG111", "info" if severity != "error" else "error", doc,
                    f"{p.replicas} replica(s) LIST/WATCH {_describe(growing)} cluster-wide: load grows with nodes "
                    f"(O(nodes), not nodes²); {projected}",
                    _first_fix(growing, "fine at this size; shard it if the largest cluster grows")))

    etcd_lists = [rc for rc in p.classes if rc.verb == "list"
                  and any(served_from(rc, c) == "etcd" for c in fleet.clusters)]
    if etcd_lists:
        old = [c for c in fleet.clusters if any(served_from(rc, c) == "etcd" for rc in etcd_lists)]
        findings.append(_finding(
            "WG102", "warning", doc,
            f"LIST {_describe(etcd_lists)} without resourceVersion=\"0\" is a consistent read served from etcd on "
            f"{len(old)} clusters (before v1.31, or paginated): etcd decodes every object each time",
            "LIST with resourceVersion=\"0\" (or use an informer) so the watch cache answers"))

    per_event = [rc for rc in p.classes if rc.trigger == "per_event"]
    if per_event:
        findings.append(_finding(
            "WG103", "error" if severity == "error" else "warning", doc,
            f"GETs to kube-apiserver per event: {_describe(per_event)}; grows with pod churn on every node"
            f"{', ' + projected if severity == 'error' else ''}",
            _first_fix(per_event, "cache metadata locally or ask the node's kubelet")))

    lease_polls = [rc for rc in p.classes if rc.resource == "leases" and not rc.leader_only and rc.verb == "get"]
    if p.per_node and lease_polls:
        findings.append(_finding(
            "WG104", "warning", doc,
            f"every replica of the DaemonSet takes part in leader election ({_describe(lease_polls)}): lease GETs "
            "grow with nodes while only one replica does the elected work",
            _first_fix(lease_polls, "run the leader-elected part in a single-replica Deployment")))

    if w.namespace == "kube-system":
        findings.append(_finding(
            "WG105", "error" if p.per_node else "warning", doc,
            f"ServiceAccount kube-system/{w.service_account} lands in workload-high (FlowSchema "
            "kube-system-service-accounts) beside kube-controller-manager and the scheduler: its overload starves them",
            "run the agent in its own namespace (its ServiceAccount then lands in workload-low), or give it a capped "
            "FlowSchema (waveguard breakglass generate)"))

    if p.per_node and p.update_share >= MASS_UPDATE_SHARE and p.classes:
        largest = max(fleet.clusters, key=lambda c: c.nodes, default=None)
        at_once = int(p.update_share * largest.nodes) if largest else 0
        findings.append(_finding(
            "WG106", "warning", doc,
            f"updateStrategy maxUnavailable {w.max_unavailable} restarts {p.update_share:.0%} of the agents at once "
            f"({at_once:,} on {largest.name if largest else '-'}), and each one sends its start-up requests at once",
            "set spec.updateStrategy.rollingUpdate.maxUnavailable: 1 (or ≤ 1%) and roll out with waveguard waves"))

    for rule, sev, message, fix in agent.recognised.remarks:
        findings.append(_finding(rule, sev, doc, message, fix))
    return findings


def parse_findings(change: Change) -> list[Finding]:
    """Findings noted while parsing (old API versions, schema problems, custom resources)."""
    return [_finding(rule, sev, doc, msg, fix) for rule, sev, doc, msg, fix in change.parse_notes]
