"""The Kubernetes default FlowSchemas and PriorityLevelConfigurations as v1 objects.

What ``kubectl get flowschemas,prioritylevelconfigurations -o yaml`` returns on a cluster nobody
tuned: a cluster *without* break-glass isolation. Source: kubernetes
``staging/src/k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go`` (v1.29+), shares and
queues as in ``domain.md §2``.
"""

from __future__ import annotations

from typing import Any

from waveguard.breakglass.policy import API_VERSION

_AUTOUPDATE = {"apf.kubernetes.io/autoupdate-spec": "true"}
#: FlowSchema rules matching every request (what the defaults and waveguard's own objects use).
ALL_RESOURCES = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": True}
ALL_NON_RESOURCES = {"verbs": ["*"], "nonResourceURLs": ["*"]}


def _group(name: str) -> dict:
    return {"kind": "Group", "group": {"name": name}}


def _user(name: str) -> dict:
    return {"kind": "User", "user": {"name": name}}


def _kube_system_sa(name: str) -> dict:
    return {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": name}}


def _rule(verbs: list[str], group: str, resources: list[str]) -> dict:
    return {"verbs": verbs, "apiGroups": [group], "resources": resources, "namespaces": ["*"]}


_ALL_AUTH = [_group("system:unauthenticated"), _group("system:authenticated")]
_GCU = ["get", "create", "update"]

#: (name, precedence, level, distinguisher or None, subjects, resourceRules, nonResourceRules).
_FLOW_SCHEMAS: tuple[tuple[str, int, str, str | None, list, list, list], ...] = (
    ("exempt", 1, "exempt", None, [_group("system:masters")], [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("probes", 2, "exempt", None, _ALL_AUTH, [],
     [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]),
    ("system-leader-election", 100, "leader-election", "ByUser",
     [_user("system:kube-controller-manager"), _user("system:kube-scheduler"), _kube_system_sa("*")],
     [_rule(_GCU, "coordination.k8s.io", ["leases"])], []),
    ("endpoint-controller", 150, "workload-high", "ByUser",
     [_user("system:kube-controller-manager"), _kube_system_sa("endpoint-controller"),
      _kube_system_sa("endpointslicemirroring-controller")],
     [_rule(_GCU, "", ["endpoints"])], []),
    ("workload-leader-election", 200, "leader-election", "ByUser", [_kube_system_sa("*")],
     [_rule(_GCU, "", ["endpoints", "configmaps"]), _rule(_GCU, "coordination.k8s.io", ["leases"])], []),
    ("system-node-high", 400, "node-high", "ByUser", [_group("system:nodes")],
     [dict(_rule(["*"], "", ["nodes", "nodes/status"]), clusterScope=True),
      _rule(["*"], "coordination.k8s.io", ["leases"])], []),
    ("system-nodes", 500, "system", "ByUser", [_group("system:nodes")], [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("kube-controller-manager", 800, "workload-high", "ByNamespace", [_user("system:kube-controller-manager")],
     [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("kube-scheduler", 800, "workload-high", "ByNamespace", [_user("system:kube-scheduler")],
     [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("kube-system-service-accounts", 900, "workload-high", "ByNamespace", [_kube_system_sa("*")],
     [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("service-accounts", 9000, "workload-low", "ByUser", [_group("system:serviceaccounts")],
     [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("global-default", 9900, "global-default", "ByUser", _ALL_AUTH, [ALL_RESOURCES], [ALL_NON_RESOURCES]),
    ("catch-all", 10000, "catch-all", "ByUser", _ALL_AUTH, [ALL_RESOURCES], [ALL_NON_RESOURCES]),
)

#: (name, shares, lendablePercent, (queues, handSize, queueLengthLimit) or None for Reject).
_LEVELS: tuple[tuple[str, int, int, tuple[int, int, int] | None], ...] = (
    ("system", 30, 33, (64, 6, 50)),
    ("node-high", 40, 25, (64, 6, 50)),
    ("leader-election", 10, 0, (16, 4, 50)),
    ("workload-high", 40, 50, (128, 6, 50)),
    ("workload-low", 100, 90, (128, 6, 50)),
    ("global-default", 20, 50, (128, 6, 50)),
    ("catch-all", 5, 0, None),
)


def kubernetes_default_manifests() -> list[dict[str, Any]]:
    """The 8 default PriorityLevelConfigurations and 13 default FlowSchemas as v1 dicts
    (levels first). Fresh trees on every call in which no dict or list appears twice: the
    tables above share rules, subjects and verb lists, and ``copy.deepcopy`` would keep that
    sharing, which a YAML dump shows as ``&id001`` anchors and ``*id001`` aliases."""
    out: list[dict[str, Any]] = [{
        "apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration",
        "metadata": {"name": "exempt", "annotations": dict(_AUTOUPDATE)},
        "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
    }]
    for name, shares, lendable, queuing in _LEVELS:
        response: dict[str, Any] = {"type": "Reject"} if queuing is None else {
            "type": "Queue", "queuing": dict(zip(("queues", "handSize", "queueLengthLimit"), queuing, strict=True))}
        out.append({
            "apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name, "annotations": dict(_AUTOUPDATE)},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": shares, "lendablePercent": lendable,
                                                    "limitResponse": response}},
        })
    for name, precedence, level, dm, subjects, resource_rules, non_resource_rules in _FLOW_SCHEMAS:
        rule: dict[str, Any] = {"subjects": subjects}
        if resource_rules:
            rule["resourceRules"] = resource_rules
        if non_resource_rules:
            rule["nonResourceRules"] = non_resource_rules
        spec: dict[str, Any] = {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence,
                                "rules": [rule]}
        if dm:
            spec["distinguisherMethod"] = {"type": dm}
        out.append({"apiVersion": API_VERSION, "kind": "FlowSchema",
                    "metadata": {"name": name, "annotations": dict(_AUTOUPDATE)}, "spec": spec})
    return [_unshared(obj) for obj in out]


def _unshared(value: Any) -> Any:
    """A copy of ``value`` with a new dict / list at every place one appears (no memo)."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value
