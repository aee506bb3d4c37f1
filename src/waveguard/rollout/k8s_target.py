"""Real clusters as a rollout :class:`~waveguard.rollout.engine.Target` (issue 5, part 4).

Per cluster, through the ``kubernetes`` client (its kubeconfig loading, credentials — tokens,
client certificates, exec plugins — TLS and proxy settings), with the cluster's kubeconfig
context (``contexts``: fleet cluster name → context; default the same name):

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
  before it applies, so a restarted guard still has them. Objects that existed are applied back
  (server-side apply, forced: fields only the change set are removed, being owned by
  ``waveguard`` alone); objects that did not are deleted (``propagationPolicy=Background``), in
  reverse order; then the node labels go.
* **rate limit** — every request of the guard's own client takes a token from a bucket per
  cluster: ``qps`` 5/s, ``burst`` 10 (client-go's ``rest.Config`` defaults), so the guard
  cannot become the storm it guards against. Each request has a (connect, read) timeout.

REST paths come from a table of the built-in kinds (Kubernetes API reference); other kinds are
looked up once per cluster and group/version by API discovery (``GET /apis/<group>/<version>``).
Errors: :class:`~waveguard.model.errors.InputError` for a kubeconfig or context that cannot be
loaded; :class:`KubernetesError` (status, reason, message) for a request the apiserver refused or
that could not be sent — the engine stops on it and ``waveguard rollout resume`` retries.
"""

from __future__ import annotations

import copy
import json
import math
import os
import threading
import time
from typing import Any, Callable
from urllib.parse import quote, urlencode

import urllib3
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from waveguard.model.errors import InputError, key_error
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import CLUSTER_SCOPED_KINDS, Change, Document
from waveguard.model.requests import RequestProfile
from waveguard.rollout.eventlog import Event

FIELD_MANAGER = "waveguard"
NODE_LABEL = "waveguard.io/wave"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
#: client-go's ``rest.Config`` defaults (k8s.io/client-go/rest/config.go: DefaultQPS, DefaultBurst).
DEFAULT_QPS = 5.0
DEFAULT_BURST = 10
#: (connect, read) seconds per request. Policy: an apiserver that cannot answer one GET or apply
#: in 30 s is not one to keep rolling out on.
REQUEST_TIMEOUT_S = (5.0, 30.0)
#: Page size when listing nodes (the apiserver's watch cache serves it; 500 is kubectl's chunk size).
NODE_PAGE = 500

#: Apply order of kinds (kubectl/Helm install order, shortened); unknown kinds before workloads.
_ORDER = ["Namespace", "CustomResourceDefinition", "PriorityClass", "ServiceAccount", "Secret", "ConfigMap",
          "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "FlowSchema", "PriorityLevelConfiguration",
          "Service"]
_WORKLOADS = ["DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod"]

#: kind → (API group, resource) of built-in kinds (Kubernetes API reference).
_KNOWN = {
    "Namespace": ("", "namespaces"), "ServiceAccount": ("", "serviceaccounts"), "Secret": ("", "secrets"),
    "ConfigMap": ("", "configmaps"), "Service": ("", "services"), "Pod": ("", "pods"), "Node": ("", "nodes"),
    "DaemonSet": ("apps", "daemonsets"), "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"), "ReplicaSet": ("apps", "replicasets"),
    "Job": ("batch", "jobs"), "CronJob": ("batch", "cronjobs"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "Role": ("rbac.authorization.k8s.io", "roles"), "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "FlowSchema": ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    "PriorityLevelConfiguration": ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
}
#: Fields the apiserver sets; dropped from recorded objects (a rollback must not apply them).
_SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")


class KubernetesError(Exception):
    """A request the apiserver refused (``status``/``reason``) or that could not be sent
    (``status`` 0)."""

    def __init__(self, cluster: str, method: str, path: str, status: int, reason: str, message: str = "") -> None:
        self.cluster, self.method, self.path, self.status, self.reason = cluster, method, path, status, reason
        super().__init__(f"{cluster}: {method} {path}: {status or 'no answer'} {reason}"
                         + (f": {message}" if message else ""))


class KubernetesConfig(BaseModel):
    """Settings of the Kubernetes target (the ``kubernetes`` section of a backend config)."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str | None = None      # default: $KUBECONFIG, else ~/.kube/config
    contexts: dict[str, str] = Field(default_factory=dict)  # cluster name → kubeconfig context
    qps: float = Field(default=DEFAULT_QPS, gt=0, le=1000)
    burst: int = Field(default=DEFAULT_BURST, ge=1, le=10000)
    field_manager: str = Field(default=FIELD_MANAGER, min_length=1, max_length=128)
    connect_timeout_s: float = Field(default=REQUEST_TIMEOUT_S[0], gt=0, le=300)
    read_timeout_s: float = Field(default=REQUEST_TIMEOUT_S[1], gt=0, le=600)

    @classmethod
    def from_backend(cls, data: dict, source: str = "backend") -> "KubernetesConfig":
        """Validate; InputError naming the key on bad input."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise key_error(source, exc.errors()[0], prefix=("kubernetes",),
                            hint="see 'Real clusters' in README.md") from None

    def context_of(self, cluster: str) -> str:
        return self.contexts.get(cluster, cluster)


class TokenBucket:
    """Client-side rate limit: ``qps`` tokens per second, at most ``burst`` saved up.
    :meth:`take` blocks until a token is free (thread-safe)."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.qps, self.burst = qps, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._t = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def take(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.qps)
            self._t = now
            self._tokens -= 1.0
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            self.waited_s += wait
            self._sleep(wait)


class ClusterClient:
    """HTTP to one cluster's apiserver through the ``kubernetes`` client's configuration and
    connection pool (credentials refreshed as the client does), rate-limited."""

    def __init__(self, cluster: str, api_client, config: KubernetesConfig,
                 bucket: TokenBucket | None = None) -> None:
        self.cluster = cluster
        self.api_client = api_client
        self.host = api_client.configuration.host.rstrip("/")
        self.bucket = bucket or TokenBucket(config.qps, config.burst)
        self.timeout = urllib3.Timeout(connect=config.connect_timeout_s, read=config.read_timeout_s)
        self.requests = 0
        self._discovered: dict[str, dict[str, tuple[str, bool]]] = {}

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None,
                content_type: str | None = None, ok: tuple[int, ...] = (200, 201)) -> tuple[int, Any]:
        """One request; returns (status, parsed JSON). Raises KubernetesError unless the status
        is in ``ok``."""
        self.bucket.take()
        self.requests += 1
        url = self.host + path + (("?" + urlencode(query)) if query else "")
        headers = {"Accept": "application/json", "User-Agent": "waveguard/0.1 (rollout)"}
        cfg = self.api_client.configuration
        for auth in (cfg.auth_settings() or {}).values():  # refreshes exec/OIDC tokens as the client does
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(body).encode()
        try:
            resp = self.api_client.rest_client.pool_manager.request(
                method, url, body=data, headers=headers, timeout=self.timeout, retries=False, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise KubernetesError(self.cluster, method, path, 0, type(exc).__name__, str(exc)) from None
        try:
            parsed = json.loads(resp.data or b"null")
        except ValueError:
            parsed = None
        if resp.status not in ok:
            msg = parsed.get("message", "") if isinstance(parsed, dict) else ""
            raise KubernetesError(self.cluster, method, path, resp.status, resp.reason or "", msg)
        return resp.status, parsed

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(collection path prefix, namespaced) of ``kind``: ``/api/v1`` or ``/apis/<group>/<version>``
        and the resource name; discovery for kinds not in the built-in table."""
        group, _, version = api_version.rpartition("/")
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        known = _KNOWN.get(kind)
        if known is not None and known[0] == group:
            return f"{base}/{known[1]}", kind not in CLUSTER_SCOPED_KINDS
        if base not in self._discovered:
            _, doc = self.request("GET", base)
            self._discovered[base] = {r["kind"]: (r["name"], bool(r.get("namespaced")))
                                      for r in (doc or {}).get("resources", []) if "/" not in r.get("name", "/")}
        try:
            name, namespaced = self._discovered[base][kind]
        except KeyError:
            raise KubernetesError(self.cluster, "GET", base, 404, "NotFound",
                                  f"the apiserver serves no {kind} in {api_version}") from None
        return f"{base}/{name}", namespaced

    def object_path(self, doc: Document) -> str:
        prefix, namespaced = self.resource(doc.api_version, doc.kind)
        group_base, resource = prefix.rsplit("/", 1)
        ns = doc.namespace or "default"
        if namespaced:
            return f"{group_base}/namespaces/{quote(ns, safe='')}/{resource}/{quote(doc.name, safe='')}"
        return f"{prefix}/{quote(doc.name, safe='')}"


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


def with_wave_affinity(daemonset: dict, label: str = NODE_LABEL) -> dict:
    """A copy of ``daemonset`` that runs only on nodes carrying ``label``: the requirement
    ``label Exists`` is added to each required node-selector term (terms are ORed, expressions
    ANDed), or becomes the only term."""
    ds = copy.deepcopy(daemonset)
    pod = ds.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    required = (pod.setdefault("affinity", {}).setdefault("nodeAffinity", {})
                .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {}))
    terms = required.setdefault("nodeSelectorTerms", [])
    expr = {"key": label, "operator": "Exists"}
    if not terms:
        terms.append({"matchExpressions": [expr]})
    for term in terms:
        exprs = term.setdefault("matchExpressions", [])
        if expr not in exprs:
            exprs.append(expr)
    return ds


class KubernetesTarget:
    """Real clusters of ``fleet`` as a rollout target (see the module doc).

    ``change``: the loaded change (its documents are applied). ``started_at``: Unix time the
    rollout started (``now()`` is seconds since). ``signals_factory(window_s, clusters)`` makes
    the gates' Signals (Prometheus, DNS probes) for the clusters reached. ``client_factory(cluster,
    context)`` returns a ``kubernetes.client.ApiClient`` (default: from the kubeconfig)."""

    def __init__(self, fleet: Fleet, change: Change, config: KubernetesConfig, *, started_at: float,
                 signals_factory: Callable[[float, list[str]], Any],
                 client_factory: Callable[[str, str], Any] | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.fleet = fleet
        self.documents = sorted(change.documents, key=_order)
        if not self.documents:
            raise InputError("change", "the change has no objects to apply", hint="check the plan's change path")
        self.config = config
        self.started_at = started_at
        self.signals_factory = signals_factory
        self._client_factory = client_factory or self._from_kubeconfig
        self._clock, self._sleep = clock, sleep
        self._clients: dict[str, ClusterClient] = {}
        self.shares: dict[str, float] = {}
        #: cluster → object ref → the object before the change (None: it did not exist).
        self.previous: dict[str, dict[str, dict | None]] = {}

    # --- clients --------------------------------------------------------------------------------
    def _from_kubeconfig(self, cluster: str, context: str):
        from kubernetes import config as kconfig
        from kubernetes.config.config_exception import ConfigException

        path = self.config.kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            return kconfig.new_client_from_config(config_file=path, context=context, persist_config=False)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise InputError(path or "~/.kube/config", f"cluster {cluster}: cannot load kubeconfig context "
                             f"{context!r}: {' '.join(str(exc).split())}",
                             hint="map fleet clusters to contexts in kubernetes.contexts") from None

    def client(self, cluster: str) -> ClusterClient:
        if cluster not in self._clients:
            api = self._client_factory(cluster, self.config.context_of(cluster))
            self._clients[cluster] = ClusterClient(cluster, api, self.config)
        return self._clients[cluster]

    # --- Target protocol ------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock() - self.started_at

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def prepare(self, cluster: str, share: float) -> dict:
        """Read the objects the change will replace (once per cluster), for the engine to log
        before applying: ``{"previous": {ref: object or None}}``; ``{}`` when already recorded."""
        if cluster in self.previous:
            return {}
        c = self.client(cluster)
        previous: dict[str, dict | None] = {}
        for doc in self.documents:
            status, obj = c.request("GET", c.object_path(doc), ok=(200, 404))
            previous[doc.ref] = _strip(obj) if status == 200 and isinstance(obj, dict) else None
        self.previous[cluster] = previous
        return {"previous": previous}

    def apply(self, cluster: str, share: float) -> None:
        """Server-side apply the change; DaemonSets constrained to ⌈share × nodes⌉ labelled nodes."""
        c = self.client(cluster)
        partial = share < 1.0
        has_ds = any(d.kind == "DaemonSet" for d in self.documents)
        for doc in self.documents:
            body = with_wave_affinity(doc.body) if partial and doc.kind == "DaemonSet" else doc.body
            self._apply(c, doc, body)
        if has_ds:
            if partial:
                self._label_nodes(c, share)
            else:
                self._unlabel_nodes(c)
        self.shares[cluster] = share

    def rollback(self, cluster: str) -> None:
        """Restore the recorded previous objects (delete what did not exist), then unlabel nodes."""
        c = self.client(cluster)
        previous = self.previous.get(cluster)
        if previous is None:
            raise KubernetesError(cluster, "-", "-", 0, "NoRecord",
                                  "no previous objects were recorded for this cluster: nothing to restore safely")
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

    def signals(self, window_s: float = 30.0):
        return self.signals_factory(window_s, [c for c, s in self.shares.items() if s > 0])

    def measured_profiles(self) -> list[RequestProfile]:
        """Not measured from here (``waveguard measure`` reads audit logs): the projection uses
        the analysed profiles."""
        return []

    def restore(self, events: list[Event]) -> None:
        """Shares and recorded previous objects from the log."""
        self.shares.clear()
        self.previous.clear()
        for e in events:
            if e.kind == "apply_started" and e.cluster and "previous" in e.data and e.cluster not in self.previous:
                self.previous[e.cluster] = e.data["previous"]
            elif e.kind == "applied" and e.cluster:
                self.shares[e.cluster] = e.data["share"]
            elif e.kind == "rolled_back" and e.cluster:
                self.shares[e.cluster] = 0.0

    def close(self) -> None:
        for c in self._clients.values():
            try:
                c.api_client.close()
            except Exception:  # closing a pool must not mask the rollout's outcome
                pass
        self._clients.clear()

    # --- requests -------------------------------------------------------------------------------
    def _apply(self, c: ClusterClient, doc: Document, body: dict) -> None:
        body = dict(body)
        body.setdefault("apiVersion", doc.api_version)
        body.setdefault("kind", doc.kind)
        meta = dict(body.get("metadata") or {})
        meta["name"] = doc.name
        if doc.namespace and doc.kind not in CLUSTER_SCOPED_KINDS:
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
        nodes = sorted(self._nodes(c), key=lambda n: n["metadata"]["name"])
        k = min(len(nodes), max(1, math.ceil(share * len(nodes) - 1e-9)))
        value = f"{share:g}"
        for node in nodes[:k]:
            labels = node["metadata"].get("labels") or {}
            if NODE_LABEL in labels:
                continue
            c.request("PATCH", f"/api/v1/nodes/{quote(node['metadata']['name'], safe='')}",
                      body={"metadata": {"labels": {NODE_LABEL: value}}}, content_type=MERGE_PATCH_CONTENT_TYPE)

    def _unlabel_nodes(self, c: ClusterClient) -> None:
        for node in self._nodes(c, selector=NODE_LABEL):
            c.request("PATCH", f"/api/v1/nodes/{quote(node['metadata']['name'], safe='')}",
                      body={"metadata": {"labels": {NODE_LABEL: None}}}, content_type=MERGE_PATCH_CONTENT_TYPE)


def prometheus_signals_factory(prom, dns, memory_limits: dict[str, float]):
    """``signals_factory`` for :class:`KubernetesTarget`: Prometheus for the metrics, DNS probes
    for the clusters that have a server configured (only those reached)."""
    from waveguard.signals.prometheus import PrometheusSignals

    def make(window_s: float, clusters: list[str]):
        d = None
        if dns is not None:
            d = dns.model_copy(update={"clusters": {c: t for c, t in dns.clusters.items() if c in clusters}})
        return PrometheusSignals(prom, window_s, dns=d, memory_limits=memory_limits)

    return make
