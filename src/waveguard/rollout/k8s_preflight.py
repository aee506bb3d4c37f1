"""Pre-flight of the Kubernetes backend (issue 14): checked before ``rollout start`` writes any
state or applies anything. Any failure is an :class:`~waveguard.model.errors.InputError` (exit 2)
with the reason; nothing is written.

1. **Prometheus** answers and scrapes every cluster the plan touches: the ``up`` series of its
   apiservers (the gates' own query, :meth:`PrometheusSignals.gauge_query`), present and above 0
   within the freshness bound, per cluster.
2. **Each context** is in the kubeconfig and its apiserver answers ``GET /version`` (retried as
   every request is); so is the rollback's identity when one is configured.
3. **Permissions** of the guard's identity, by ``SelfSubjectAccessReview``
   (``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``): ``get``, ``patch`` and
   ``delete`` on every kind of the change (in its namespace), and ``list`` and ``patch`` on nodes
   when the change holds a DaemonSet (node labels steer its waves).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from waveguard.model.errors import InputError, WaveguardError
from waveguard.rollout.k8s_client import ClusterClient
from waveguard.rollout.k8s_target import KubernetesActuator
from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
#: Verbs the rollout and the rollback send for the change's objects (GET before, apply, delete).
OBJECT_VERBS = ("get", "patch", "delete")
#: Verbs on nodes for a DaemonSet's waves (list them, label them).
NODE_VERBS = ("list", "patch")
HINT = "fix it and start again (nothing was written); see 'Real clusters' in README.md"


def check_prometheus(config: PrometheusConfig, clusters: list[str]) -> None:
    """Prometheus answers and has a fresh ``up`` above 0 for every cluster of ``clusters`` (none:
    it only has to answer, as for a simulated fleet not served yet). Raises InputError."""
    signals = PrometheusSignals(config, config.scrape_interval_s)
    expr, by = signals.gauge_query("up", {})
    result = signals.query(expr, by)
    if result is None:
        raise InputError("pre-flight", f"Prometheus: {signals.problem}", hint=HINT)
    missing = [c for c in clusters if (c,) not in result]
    if missing:
        raise InputError("pre-flight", f"Prometheus has no apiserver 'up' series for {config.cluster_label}="
                         f"{missing[0]!r} newer than {signals.F}" + (f" (and {len(missing) - 1} more clusters)"
                                                                      if len(missing) > 1 else "")
                         + ": it does not scrape that cluster", hint=HINT)
    down = [c for c in clusters if result[(c,)] <= 0]
    if down:
        raise InputError("pre-flight", f"Prometheus sees no apiserver of {down[0]!r} up (up == 0)", hint=HINT)


def check_clusters(actuator: KubernetesActuator, clusters: list[str]) -> None:
    """Every cluster's context (and rollback identity) loads, answers and may do what the
    rollout does; all clusters at once. Raises InputError naming the first failure."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(clusters), 32))) as pool:
        problems = list(pool.map(lambda c: _cluster_problem(actuator, c), clusters))
    found = [p for p in problems if p]
    if found:
        more = f" (and {len(found) - 1} more clusters)" if len(found) > 1 else ""
        raise InputError("pre-flight", found[0] + more, hint=HINT)


def _cluster_problem(actuator: KubernetesActuator, cluster: str) -> str | None:
    try:
        clients = [("the rollout's context", actuator.client(cluster))]
        rollback = actuator.rollback_client(cluster)
        if rollback is not clients[0][1]:
            clients.append(("the rollback's context", rollback))
        for who, client in clients:
            client.request("GET", "/version")
            denied = _denied(actuator, client)
            if denied:
                return f"cluster {cluster}: {who} may not {denied} (SelfSubjectAccessReview)"
    except WaveguardError as exc:
        return f"cluster {cluster}: {exc}"
    return None


def access_reviews(actuator: KubernetesActuator, client: ClusterClient) -> list[dict[str, str]]:
    """The resource attributes to review: (verb, group, resource, namespace) per kind of the
    change, deduplicated, then nodes when the change holds a DaemonSet."""
    seen: list[dict[str, str]] = []
    for doc in actuator.documents:
        prefix, namespaced = client.resource(doc.api_version, doc.kind)
        group = doc.api_version.rpartition("/")[0]
        for verb in OBJECT_VERBS:
            attrs = {"verb": verb, "group": group, "resource": prefix.rsplit("/", 1)[1]}
            if namespaced:
                attrs["namespace"] = doc.namespace or "default"
            if attrs not in seen:
                seen.append(attrs)
    if any(d.kind == "DaemonSet" for d in actuator.documents):
        seen += [{"verb": verb, "group": "", "resource": "nodes"} for verb in NODE_VERBS]
    return seen


def _denied(actuator: KubernetesActuator, client: ClusterClient) -> str | None:
    """'VERB RESOURCE [in NAMESPACE]' of the first review the apiserver does not allow."""
    for attrs in access_reviews(actuator, client):
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        _, answer = client.request("POST", SSAR_PATH, body=body)
        status = (answer or {}).get("status") or {}
        if not status.get("allowed"):
            what = f"{attrs['verb']} {attrs['resource']}" + (f" in {attrs['namespace']}" if "namespace" in attrs
                                                            else "")
            reason = status.get("reason") or status.get("evaluationError") or ""
            return what + (f" ({reason})" if reason else "")
    return None
