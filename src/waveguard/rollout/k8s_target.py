"""Real clusters as a rollout :class:`~waveguard.rollout.ports.Actuator` (issue 5, part 4), and
Prometheus as their :class:`~waveguard.rollout.ports.SignalSource`.

Per cluster, through :class:`~waveguard.rollout.k8s_client.ClusterClient` (the ``kubernetes``
client's kubeconfig loading, credentials, TLS and proxy settings; rate-limited), with the
cluster's kubeconfig context (``contexts``: fleet cluster name → context; default the same name):

* **apply** — every object of the change by **server-side apply**: ``PATCH <object path>
  ?fieldManager=waveguard&force=true`` with ``Content-Type: application/apply-patch+yaml`` and
  the object as the body (JSON is YAML), in dependency order (namespaces, accounts, RBAC,
  configuration, then workloads). Idempotent: applying the same object again changes nothing.
* **DaemonSet waves** — below a node share of 1, the DaemonSet is applied with a *required* node
  affinity ``waveguard.io/wave Exists`` (added to each of its own node-selector terms, or as the
  only term), then the first ⌈share × nodes⌉ nodes by name (at least one) are labelled
  ``waveguard.io/wave=<share>`` with a merge patch (``PATCH /api/v1/nodes/<name>``,
  ``application/merge-patch+json``): the DaemonSet controller starts pods on those nodes only.
  A larger share labels more nodes (the smaller set is a prefix of the larger). At share 1 the
  DaemonSet is applied as written (the affinity, owned by the field manager ``waveguard``, is
  dropped by the apply) and the labels are removed.
* **rollback** — to the objects recorded **before** the first apply: :meth:`prepare` reads them
  (``GET``; 404 = did not exist) and the engine writes them into the ``apply_started`` event
  before it applies, so a restarted guard has them (:meth:`KubernetesActuator.restore` reads
  them from the folded state). Objects that existed are applied back
  (server-side apply, forced: fields only the change set are removed, being owned by
  ``waveguard`` alone); objects that did not are deleted (``propagationPolicy=Background``), in
  reverse order; then the node labels go.
  The rollback may act as another identity (``rollback_kubeconfig``/``rollback_contexts``: the
  break-glass kubeconfig, so its requests land in the break-glass priority level); it retries the
  whole cluster's restore until ``cluster_deadline_s`` (every request being retried on its own
  too, :mod:`~waveguard.rollout.k8s_client`), then gives up with the last error — the engine
  leaves that cluster ``rollback_pending`` and rolls the others back regardless.
* **parallel** — clusters are independent (a client and token bucket each): the engine applies
  a batch of ``max_parallel_clusters`` at once, and rolls every cluster back at once.

Errors: :class:`~waveguard.model.errors.InputError` for a kubeconfig or context that cannot be
loaded; :class:`KubernetesError` (status, reason, message) for a request the apiserver refused or
that could not be sent after its retries — the engine stops on it and ``waveguard rollout
resume`` retries.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from typing import Any, Callable
from urllib.parse import quote

from waveguard.model.errors import InputError
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import Change, Document
from waveguard.rollout.k8s_client import (  # noqa: F401  (re-exported: their old import path)
    DEFAULT_BURST, DEFAULT_QPS, FIELD_MANAGER, REQUEST_TIMEOUT_S, ClusterClient, KubernetesConfig, KubernetesError,
    TokenBucket,
)
from waveguard.rollout.k8s_identity import load_api_client, rollback_contexts
from waveguard.rollout.node_waves import (  # noqa: F401  (NODE_LABEL, with_wave_affinity: their old import path)
    NODE_LABEL, label_value, nodes_for_share, with_wave_affinity,
)
from waveguard.rollout.ports import Actuator, SignalSource
from waveguard.rollout.state import RolloutState
from waveguard.signals.prometheus import DNSConfig, PrometheusConfig, PrometheusSignals

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
#: Page size when listing nodes (the apiserver's watch cache serves it; 500 is kubectl's chunk size).
NODE_PAGE = 500

#: Apply order of kinds (kubectl/Helm install order, shortened); unknown kinds before workloads.
_ORDER = ["Namespace", "CustomResourceDefinition", "PriorityClass", "ServiceAccount", "Secret", "ConfigMap",
          "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "FlowSchema", "PriorityLevelConfiguration",
          "Service"]
_WORKLOADS = ["DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod"]

#: Fields the apiserver sets; dropped from recorded objects (a rollback must not apply them).
_SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")


def _order(doc: Document) -> tuple[int, int]:
    if doc.kind in _ORDER:
        return (0, _ORDER.index(doc.kind))
    if doc.kind in _WORKLOADS:
        return (2, _WORKLOADS.index(doc.kind))
    return (1, 0)


def _strip(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    return obj


class KubernetesActuator(Actuator):
    """Real clusters of ``fleet`` as a rollout actuator (see the module doc).

    ``change``: the loaded change (its documents are applied). ``client_factory(cluster,
    context)`` returns a ``kubernetes.client.ApiClient`` (default: from the kubeconfig; the
    rollback's contexts from ``rollback_kubeconfig`` when set). ``clock``/``sleep``: monotonic
    seconds and the wait of every back-off (tests pass fakes). Raises InputError when the change
    has no objects."""

    parallel_applies = True

    def __init__(self, fleet: Fleet, change: Change, config: KubernetesConfig, *,
                 client_factory: Callable[[str, str], Any] | None = None,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None) -> None:
        self.fleet = fleet
        self.documents = sorted(change.documents, key=_order)
        if not self.documents:
            raise InputError("change", "the change has no objects to apply", hint="check the plan's change path")
        self.config = config
        self._client_factory = client_factory or self._from_kubeconfig
        self._custom_factory = client_factory is not None
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep  # looked up now: tests patch them
        self._clients: dict[str, ClusterClient] = {}
        self._rollback_clients: dict[str, ClusterClient] = {}
        self._clients_lock = threading.Lock()  # batches apply from several threads
        self.shares: dict[str, float] = {}
        #: cluster → object ref → the object before the change (None: it did not exist).
        self.previous: dict[str, dict[str, dict | None]] = {}

    # --- clients --------------------------------------------------------------------------------
    def _from_kubeconfig(self, cluster: str, context: str):
        return load_api_client(self.config.kubeconfig or os.environ.get("KUBECONFIG") or None, cluster, context)

    def client(self, cluster: str) -> ClusterClient:
        """The cluster's client (made once, from its kubeconfig context). Raises InputError."""
        with self._clients_lock:
            if cluster not in self._clients:
                api = self._client_factory(cluster, self.config.context_of(cluster))
                self._clients[cluster] = ClusterClient(cluster, api, self.config, clock=self.clock, sleep=self.sleep)
            return self._clients[cluster]

    def rollback_client(self, cluster: str) -> ClusterClient:
        """The client the rollback uses: the rollback identity's contexts (every replica of the
        break-glass kubeconfig, tried in turn) when one is configured, else :meth:`client`.
        Raises InputError when a named context cannot be loaded."""
        contexts = rollback_contexts(self.config, cluster)
        if not contexts:
            return self.client(cluster)
        with self._clients_lock:
            if cluster not in self._rollback_clients:
                if self._custom_factory:
                    apis = [self._client_factory(cluster, ctx) for ctx in contexts]
                else:
                    path = self.config.rollback_kubeconfig or self.config.kubeconfig or os.environ.get("KUBECONFIG")
                    apis = [load_api_client(path, cluster, ctx) for ctx in contexts]
                self._rollback_clients[cluster] = ClusterClient(cluster, apis, self.config, clock=self.clock,
                                                                sleep=self.sleep)
            return self._rollback_clients[cluster]

    # --- the actuator -----------------------------------------------------------------------------
    def prepare(self, cluster: str, share: float) -> dict[str, Any]:
        """Read the objects the change will replace (once per cluster), for the engine to log
        before applying: ``{"previous": {ref: object or None}}``; ``{}`` when already recorded."""
        if cluster in self.previous:
            return {}
        c = self.client(cluster)
        previous: dict[str, dict | None] = {}
        with c.deadline_at(self.clock() + self.config.cluster_deadline_s):
            for doc in self.documents:
                status, obj = c.request("GET", c.object_path(doc), ok=(200, 404))
                previous[doc.ref] = _strip(obj) if status == 200 and isinstance(obj, dict) else None
        self.previous[cluster] = previous
        return {"previous": previous}

    def apply(self, cluster: str, share: float) -> None:
        """Server-side apply the change; DaemonSets constrained to ⌈share × nodes⌉ labelled nodes."""
        c = self.client(cluster)
        partial = share < 1.0
        with c.deadline_at(self.clock() + self.config.cluster_deadline_s):
            for doc in self.documents:
                body = with_wave_affinity(doc.body) if partial and doc.kind == "DaemonSet" else doc.body
                self._apply(c, doc, body)
            if any(d.kind == "DaemonSet" for d in self.documents):
                if partial:
                    self._label_nodes(c, share)
                else:
                    self._unlabel_nodes(c)
        self.shares[cluster] = share

    def rollback(self, cluster: str) -> None:
        """Restore the recorded previous objects (delete what did not exist), then unlabel nodes;
        the whole restore is tried again (it is idempotent) while its failures are retriable, until
        ``cluster_deadline_s``. Raises KubernetesError: the last failure, naming the deadline."""
        previous = self.previous.get(cluster)
        if previous is None:
            raise KubernetesError(cluster, "-", "-", 0, "NoRecord",
                                  "no previous objects were recorded for this cluster: nothing to restore safely")
        c = self.rollback_client(cluster)
        deadline = self.clock() + self.config.cluster_deadline_s
        tries = 0
        while True:
            tries += 1
            try:
                with c.deadline_at(deadline):
                    self._restore(c, cluster, previous)
                return
            except KubernetesError as exc:
                if not exc.retriable or self.clock() >= deadline:
                    if exc.retriable:
                        exc.args = (f"{exc} (gave up after {self.config.cluster_deadline_s:g} s, {tries} restore "
                                    f"tries, {c.retries} retried requests)",)
                    raise
                self.sleep(min(self.config.backoff_max_s, self.config.backoff_initial_s * 2 ** tries))

    def _restore(self, c: ClusterClient, cluster: str, previous: dict[str, dict | None]) -> None:
        for doc in reversed(self.documents):
            before = previous.get(doc.ref, None)
            if doc.ref in previous and before is None:
                c.request("DELETE", c.object_path(doc), query={"propagationPolicy": "Background"},
                          body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
                          ok=(200, 202, 404))
            elif before is not None:
                self._apply(c, doc, before)
        if any(d.kind == "DaemonSet" for d in self.documents):
            self._unlabel_nodes(c)
        self.shares[cluster] = 0.0

    def reached(self) -> list[str]:
        """The clusters running the change (a share above 0)."""
        return [c for c, share in self.shares.items() if share > 0]

    def restore(self, state: RolloutState) -> None:
        """Shares and recorded previous objects from the folded log."""
        self.shares = dict(state.shares)
        self.previous = {c: dict(objects) for c, objects in state.previous_objects.items()}

    def close(self) -> None:
        for c in [*self._clients.values(), *self._rollback_clients.values()]:
            for api in c.api_clients:
                try:
                    api.close()
                except Exception:  # closing a pool must not mask the rollout's outcome
                    pass
        self._clients.clear()
        self._rollback_clients.clear()

    # --- requests -------------------------------------------------------------------------------
    def _apply(self, c: ClusterClient, doc: Document, body: dict) -> None:
        body = dict(body)
        body.setdefault("apiVersion", doc.api_version)
        body.setdefault("kind", doc.kind)
        meta = dict(body.get("metadata") or {})
        meta["name"] = doc.name
        if doc.namespace and c.namespaced(doc):
            meta.setdefault("namespace", doc.namespace)
        body["metadata"] = meta
        c.request("PATCH", c.object_path(doc), query={"fieldManager": self.config.field_manager, "force": "true"},
                  body=body, content_type=APPLY_CONTENT_TYPE)

    def _nodes(self, c: ClusterClient, selector: str | None = None) -> list[dict]:
        out: list[dict] = []
        cont = None
        while True:
            query = {"limit": str(NODE_PAGE)}
            if selector:
                query["labelSelector"] = selector
            if cont:
                query["continue"] = cont
            else:
                query["resourceVersion"] = "0"  # served from the watch cache, not etcd
            _, doc = c.request("GET", "/api/v1/nodes", query=query)
            out.extend((doc or {}).get("items") or [])
            cont = ((doc or {}).get("metadata") or {}).get("continue")
            if not cont:
                return out

    def _label_nodes(self, c: ClusterClient, share: float) -> None:
        nodes = {n["metadata"]["name"]: n for n in self._nodes(c)}
        value = label_value(share)
        for name in nodes_for_share(list(nodes), share):
            labels = nodes[name]["metadata"].get("labels") or {}
            if NODE_LABEL in labels:
                continue
            c.request("PATCH", f"/api/v1/nodes/{quote(name, safe='')}",
                      body={"metadata": {"labels": {NODE_LABEL: value}}}, content_type=MERGE_PATCH_CONTENT_TYPE)

    def _unlabel_nodes(self, c: ClusterClient) -> None:
        for node in self._nodes(c, selector=NODE_LABEL):
            c.request("PATCH", f"/api/v1/nodes/{quote(node['metadata']['name'], safe='')}",
                      body={"metadata": {"labels": {NODE_LABEL: None}}}, content_type=MERGE_PATCH_CONTENT_TYPE)


class PrometheusSource(SignalSource):
    """Prometheus for the metrics, DNS probes for the clusters ``reached()`` names that have a
    server in ``dns``. ``memory_limits``: cluster → apiserver memory limit in bytes, when
    kube-state-metrics has none (from the fleet file). Not measured from here (``waveguard
    measure`` reads audit logs): the projection uses the analysed profiles."""

    def __init__(self, prometheus: PrometheusConfig, dns: DNSConfig | None, memory_limits: dict[str, float],
                 reached: Callable[[], list[str]]) -> None:
        self.prometheus, self.dns, self.memory_limits, self.reached = prometheus, dns, memory_limits, reached

    def signals(self, window_s: float) -> PrometheusSignals:
        dns = self.dns
        if dns is not None:
            reached = set(self.reached())
            dns = dns.model_copy(update={"clusters": {c: t for c, t in dns.clusters.items() if c in reached}})
        return PrometheusSignals(self.prometheus, window_s, dns=dns, memory_limits=self.memory_limits)
