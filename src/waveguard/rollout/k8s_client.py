"""HTTP to the apiserver of one cluster for :mod:`waveguard.rollout.k8s_target`: settings,
client-side rate limit, errors.

Requests go through the ``kubernetes`` client's configuration and connection pool (its
kubeconfig loading, credentials — tokens, client certificates, exec plugins — TLS and proxy
settings). Every request takes a token from a bucket per cluster (``qps`` 5/s, ``burst`` 10:
client-go's ``rest.Config`` defaults), so the guard cannot become the storm it guards against;
each has a (connect, read) timeout and a total deadline for its body (a body dripped byte by byte
is a timeout, not a hang). REST paths come from API discovery: every kind is looked up once
per cluster and group/version (``GET /api/v1``, ``GET /apis/<group>/<version>``), so built-in
kinds and CRDs resolve alike and no kind → resource table is kept.

**Retries** (:mod:`tenacity`): a 429, a 5xx, a connection refused or reset and a timeout are
retried with exponential back-off and full jitter (a wait drawn from 0 .. ``backoff_initial_s`` ×
2^(retry - 1), at most ``backoff_max_s``), or after the server's ``Retry-After`` when it sends one
(seconds or an HTTP date) — as client-go's REST client does: k8s.io/client-go/rest/request.go,
``NewRequest`` sets ``maxRetries: 10`` and ``MaxRetries`` documents it as "a ceiling of retrying
upon receiving Retry-After headers and 429" (as read at kubernetes/client-go commit 1de307a3);
``checkWait`` ("any 500 error code and 429 can trigger a wait", when a Retry-After is given) is in
request.go in older client-go releases and in rest/with_retry.go in later ones. Unlike client-go, waveguard also retries a
429/5xx without Retry-After and a reset or timeout on every verb: all its requests are idempotent
(GET, server-side apply, merge patches of labels, DELETE with 404 accepted, access reviews).
Every request stops retrying at ``max_attempts`` (11: client-go's first try + 10 retries) or when
the next wait would pass its deadline: ``request_deadline_s`` (60 s) from its first try, and the
cluster's deadline when one is set (:meth:`ClusterClient.deadline_at`). A client holding several
endpoints (the break-glass kubeconfig's one context per apiserver replica) moves to the next one
after a failure to connect.

Errors: :class:`KubernetesError` (status, reason, message, ``retriable``, attempts) for a request
the apiserver refused or that could not be sent; :class:`~waveguard.model.errors.InputError` for
bad settings.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from waveguard.model.errors import TargetError, first_error, key_error
from waveguard.model.manifests import Document
from waveguard.model.durations import Seconds

FIELD_MANAGER = "waveguard"
#: client-go's ``rest.Config`` defaults (k8s.io/client-go/rest/config.go: DefaultQPS, DefaultBurst).
DEFAULT_QPS = 5.0
DEFAULT_BURST = 10
#: (connect, read) seconds per request. Policy: an apiserver that cannot answer one GET or apply
#: in 30 s is not one to keep rolling out on.
REQUEST_TIMEOUT_S = (5.0, 30.0)
#: Tries of one request: client-go's first try + ``maxRetries`` 10 (k8s.io/client-go/rest/request.go).
DEFAULT_MAX_ATTEMPTS = 11
#: Seconds one request may take with its retries. Policy: two read timeouts (a slow answer, then
#: a retry) — past that the apiserver is not coming back within a request's patience.
DEFAULT_REQUEST_DEADLINE_S = 60.0
#: Seconds one cluster's apply or rollback may keep retrying before it is given up (a rollback is
#: then left ``rollback_pending``; ``resume`` tries again). Policy: ten minutes, long enough for a
#: saturated apiserver to restart or shed a storm, short enough that the operator hears of a
#: cluster the rollback cannot reach while the others are already back.
DEFAULT_CLUSTER_DEADLINE_S = 600.0
#: Back-off without Retry-After: full jitter over ``initial × 2^(retry - 1)`` seconds, capped.
#: Policy: APF answers 429 within a second of a full queue; 0.5 s doubles past that at the 2nd retry;
#: 30 s caps the wait at one read timeout.
DEFAULT_BACKOFF_INITIAL_S = 0.5
DEFAULT_BACKOFF_MAX_S = 30.0
#: Statuses retried besides a failure to connect (status 0): 429 Too Many Requests (APF), 5xx.
RETRIED_STATUSES = frozenset({429, *range(500, 600)})

class KubernetesError(TargetError):
    """A request the apiserver refused (``status``/``reason``) or that could not be sent
    (``status`` 0). ``retry_after_s``: the server's Retry-After, seconds (None: not sent);
    ``attempts``: tries made before giving up (set by :meth:`ClusterClient.request`)."""

    def __init__(self, cluster: str, method: str, path: str, status: int, reason: str, message: str = "",
                 retry_after_s: float | None = None) -> None:
        self.cluster, self.method, self.path, self.status, self.reason = cluster, method, path, status, reason
        self.retry_after_s = retry_after_s
        self.attempts = 1
        super().__init__(f"{cluster}: {method} {path}: {status or 'no answer'} {reason}"
                         + (f": {message}" if message else ""))

    @property
    def retriable(self) -> bool:
        """A failure to connect, a timeout, a 429 or a 5xx (worth trying again)."""
        return self.status == 0 or self.status in RETRIED_STATUSES


class KubernetesConfig(BaseModel):
    """Settings of the Kubernetes target (the ``kubernetes`` section of a backend config)."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str | None = None      # default: $KUBECONFIG, else ~/.kube/config
    contexts: dict[str, str] = Field(default_factory=dict)  # cluster name → kubeconfig context
    qps: float = Field(default=DEFAULT_QPS, gt=0, le=1000)
    burst: int = Field(default=DEFAULT_BURST, ge=1, le=10000)
    field_manager: str = Field(default=FIELD_MANAGER, min_length=1, max_length=128)
    connect_timeout_s: Seconds = Field(default=REQUEST_TIMEOUT_S[0], gt=0, le=300)
    #: Seconds for an answer, and for its whole body (a per-read timeout lets a drip hang forever).
    read_timeout_s: Seconds = Field(default=REQUEST_TIMEOUT_S[1], gt=0, le=600)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=1000)
    request_deadline_s: Seconds = Field(default=DEFAULT_REQUEST_DEADLINE_S, gt=0, le=86400)
    cluster_deadline_s: Seconds = Field(default=DEFAULT_CLUSTER_DEADLINE_S, gt=0, le=86400)
    backoff_initial_s: Seconds = Field(default=DEFAULT_BACKOFF_INITIAL_S, gt=0, le=600)
    backoff_max_s: Seconds = Field(default=DEFAULT_BACKOFF_MAX_S, gt=0, le=3600)
    #: The rollback's identity: a kubeconfig (e.g. ``waveguard breakglass kubeconfig``'s, whose
    #: client certificate lands in the break-glass priority level) and, per cluster, its
    #: context(s), tried in order when one cannot be reached. Without ``rollback_contexts`` for a
    #: cluster, that kubeconfig's ``break-glass/<cluster>/<ip>`` contexts (one per replica).
    rollback_kubeconfig: str | None = None
    rollback_contexts: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("rollback_contexts", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @classmethod
    def from_backend(cls, data: dict, source: str = "backend") -> "KubernetesConfig":
        """Validate; InputError naming the key on bad input."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise key_error(source, first_error(exc), prefix=("kubernetes",),
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
    connection pool (credentials refreshed as the client does), rate-limited and retried.

    ``api_client``: one ``kubernetes.client.ApiClient``, or several (endpoints of one cluster,
    tried in turn when one cannot be reached). ``clock``/``sleep`` time the retries (monotonic
    seconds; tests pass a fake clock)."""

    def __init__(self, cluster: str, api_client, config: KubernetesConfig, bucket: TokenBucket | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cluster = cluster
        self.api_clients = list(api_client) if isinstance(api_client, (list, tuple)) else [api_client]
        self._endpoint = 0
        self.config = config
        self.bucket = bucket or TokenBucket(config.qps, config.burst)
        import urllib3  # the kubernetes client's pool (the `kubernetes` extra): imported with it

        self.timeout = urllib3.Timeout(connect=config.connect_timeout_s, read=config.read_timeout_s)
        self._clock, self._sleep = clock, sleep
        self.requests = 0
        self.retries = 0
        #: Clock time past which no request of this cluster retries (None: only its own deadline).
        self.cluster_deadline: float | None = None
        self._discovered: dict[str, dict[str, tuple[str, bool]]] = {}

    @property
    def api_client(self):
        return self.api_clients[self._endpoint]

    @property
    def host(self) -> str:
        return self.api_client.configuration.host.rstrip("/")

    @contextmanager
    def deadline_at(self, when: float) -> Iterator[None]:
        """Within the block, no request retries past clock time ``when``."""
        before, self.cluster_deadline = self.cluster_deadline, when
        try:
            yield
        finally:
            self.cluster_deadline = before

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None,
                content_type: str | None = None, ok: tuple[int, ...] = (200, 201)) -> tuple[int, Any]:
        """One request, retried (module doc); returns (status, parsed JSON). Raises
        KubernetesError unless the status is in ``ok`` — at once for a refusal (403, 404, 422 …),
        after the last try for a 429, 5xx, failure to connect or timeout."""
        stop_at = self._clock() + self.config.request_deadline_s
        if self.cluster_deadline is not None:
            stop_at = min(stop_at, self.cluster_deadline)
        retrying = Retrying(retry=retry_if_exception(lambda e: isinstance(e, KubernetesError) and e.retriable),
                            wait=self._wait, stop=lambda rs: self._stop(rs, stop_at), sleep=self._sleep,
                            before_sleep=self._count_retry, reraise=True)
        try:
            return retrying(self._attempt, method, path, query, body, content_type, ok)
        except KubernetesError as exc:
            exc.attempts = int(retrying.statistics.get("attempt_number", 1))
            raise

    def _stop(self, state: RetryCallState, stop_at: float) -> bool:
        sleep = state.upcoming_sleep
        return state.attempt_number >= self.config.max_attempts or self._clock() + sleep > stop_at

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one, else full-jitter exponential back-off."""
        exc = state.outcome.exception() if state.outcome is not None else None
        after = getattr(exc, "retry_after_s", None)
        if after is not None:
            return max(0.0, float(after))
        jitter = wait_random_exponential(multiplier=self.config.backoff_initial_s, max=self.config.backoff_max_s)
        return float(jitter(state))

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1

    def _attempt(self, method: str, path: str, query: dict[str, str] | None, body: Any, content_type: str | None,
                 ok: tuple[int, ...]) -> tuple[int, Any]:
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
        import urllib3

        try:
            resp = self.api_client.rest_client.pool_manager.request(
                method, url, body=data, headers=headers, timeout=self.timeout, retries=False, preload_content=False)
            raw = self._read_body(resp, method, path)
        except urllib3.exceptions.HTTPError as exc:
            self._endpoint = (self._endpoint + 1) % len(self.api_clients)  # another replica, if any
            raise KubernetesError(self.cluster, method, path, 0, type(exc).__name__, str(exc)) from None
        try:
            parsed = json.loads(raw or b"null")
        except ValueError:
            parsed = None
        if resp.status not in ok:
            msg = parsed.get("message", "") if isinstance(parsed, dict) else ""
            raise KubernetesError(self.cluster, method, path, resp.status, resp.reason or "", msg,
                                  retry_after_s=retry_after_s(resp.headers.get("Retry-After")))
        return resp.status, parsed

    def _read_body(self, resp, method: str, path: str) -> bytes:
        """The whole body within ``read_timeout_s`` of the answer (each socket read is bounded by
        the same timeout; the total too). Raises urllib3's ReadTimeoutError past it."""
        import urllib3

        give_up = time.monotonic() + self.config.read_timeout_s
        chunks: list[bytes] = []
        try:
            while True:
                chunk = resp.read1(1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                if time.monotonic() > give_up:
                    raise urllib3.exceptions.ReadTimeoutError(
                        None, path, f"the body took more than {self.config.read_timeout_s:g} s")  # type: ignore[arg-type]
        except BaseException:
            resp.close()  # the connection holds an unread body: drop it
            raise
        finally:
            resp.release_conn()

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(collection path prefix, namespaced) of ``kind`` in ``api_version``, as the apiserver's
        discovery says (``GET /api/v1`` or ``GET /apis/<group>/<version>``: its APIResourceList,
        read once per cluster and group/version, through the same rate limit and retries as every
        request). No table of kinds is kept here: what the cluster serves decides, built-in kinds
        and CRDs alike. Raises KubernetesError (404) for a kind the cluster does not serve."""
        group, _, version = api_version.rpartition("/")
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
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

    def namespaced(self, doc: Document) -> bool:
        """Whether ``doc``'s kind lives in a namespace (discovery, :meth:`resource`)."""
        return self.resource(doc.api_version, doc.kind)[1]

    def object_path(self, doc: Document) -> str:
        prefix, namespaced = self.resource(doc.api_version, doc.kind)
        group_base, resource = prefix.rsplit("/", 1)
        ns = doc.namespace or "default"
        if namespaced:
            return f"{group_base}/namespaces/{quote(ns, safe='')}/{resource}/{quote(doc.name, safe='')}"
        return f"{prefix}/{quote(doc.name, safe='')}"


def retry_after_s(header: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
