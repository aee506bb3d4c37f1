"""HTTP to the apiserver of one cluster for :mod:`waveguard.rollout.k8s_target`: settings,
client-side rate limit, errors.

Requests go through the ``kubernetes`` client's configuration and connection pool (its
kubeconfig loading, credentials — tokens, client certificates, exec plugins — TLS and proxy
settings). Every request takes a token from a bucket per cluster (``qps`` 5/s, ``burst`` 10:
client-go's ``rest.Config`` defaults), so the guard cannot become the storm it guards against;
each has a (connect, read) timeout. REST paths come from a table of the built-in kinds
(Kubernetes API reference); other kinds are looked up once per cluster and group/version by
API discovery (``GET /apis/<group>/<version>``).

Errors: :class:`KubernetesError` (status, reason, message) for a request the apiserver refused
or that could not be sent; :class:`~waveguard.model.errors.InputError` for bad settings.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import quote, urlencode

import urllib3
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from waveguard.model.errors import TargetError, key_error
from waveguard.model.manifests import CLUSTER_SCOPED_KINDS, Document

FIELD_MANAGER = "waveguard"
#: client-go's ``rest.Config`` defaults (k8s.io/client-go/rest/config.go: DefaultQPS, DefaultBurst).
DEFAULT_QPS = 5.0
DEFAULT_BURST = 10
#: (connect, read) seconds per request. Policy: an apiserver that cannot answer one GET or apply
#: in 30 s is not one to keep rolling out on.
REQUEST_TIMEOUT_S = (5.0, 30.0)

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


class KubernetesError(TargetError):
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
            raise key_error(source, dict(exc.errors()[0]), prefix=("kubernetes",),
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
