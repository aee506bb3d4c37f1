"""LISTs served from etcd wait for the cluster's etcd before the apiserver works on them.

A LIST with ``resourceVersion=""`` before 1.31 (or paginated; see
:func:`waveguard.model.cost.served_from`) is a range read of etcd. kube-apiserver sends the range
request and waits for etcd's response, holding the request's APF seats (before 1.20: its
max-in-flight slot) and the part of the response that has arrived (:attr:`EtcdPhase.received`;
:func:`waveguard.model.etcd.receive_buffer_resident_bytes`); only once it has all arrived does it decode the
objects, filter and encode them (the apiserver phase the engine already models: ``tau``, memory,
CPU). The range reads of every replica of a cluster share that cluster's etcd:
``ETCD_READ_BYTES_PER_S`` in all, an equal share per request being read (processor sharing, as
etcd serves concurrent ranges), none faster than one member's link
(``ETCD_RANGE_BYTES_PER_S``).

A replica receives etcd's responses through its etcd client's goroutines (TLS, HTTP/2 and gRPC
framing, unmarshalling the range response), which share the replica's cores with everything else
it runs: when its CPU is oversubscribed s-fold (the engine's processor-sharing stretch), they
progress s times slower, and HTTP/2 flow control holds etcd back — a replica busy decoding and
encoding takes new responses in more slowly.

Under processor sharing every waiting request on a replica receives the same bytes per second, so
a request admitted at time t0 has received S(t) − S(t0), S the replica's cumulative per-request
service (``served_bytes``): requests finish their etcd phase in the order they were admitted, and a cohort admitted
in one step finishes in one step. :class:`EtcdPhase` therefore keeps the waiting requests as
cohorts (one per admission step, ``(flows, replicas, clusters)`` each) in a sliding window, which
makes the wait deterministic: 350 full pod LISTs sharing etcd all take 350 × their bytes ÷ the
throughput, not an exponential spread of it.

A client gives up after ``CLIENT_TIMEOUT_S`` (each page of a paginated LIST has its own): its
request context is cancelled, the apiserver's etcd call returns at once and the request leaves —
seats and etcd share freed, the client retries after its back-off. A response that arrives in
time but whose apiserver work would end after the timeout is abandoned as before (the engine:
the server finishes it, wasting CPU and memory).
"""

from __future__ import annotations

import math

import numpy as np

from waveguard.model import constants as C
from waveguard.model.etcd import receive_buffer_resident_bytes

_TINY = 1e-12


def etcd_flows(etcd_bytes: np.ndarray) -> np.ndarray:
    """Indices of the flows whose requests read from etcd first (``etcd_bytes`` ``(C, F)`` > 0
    on some cluster)."""
    return np.flatnonzero(etcd_bytes.max(axis=0) > 0) if etcd_bytes.size else np.zeros(0, dtype=np.int64)


class EtcdPhase:
    """Requests of the flows that read from etcd, waiting for their range responses.

    ``etcd_bytes``/``etcd_pages``: ``(C, F)`` from the flow table; ``R`` replicas (padded),
    ``dt`` the step. :attr:`flows` are the flows concerned (``Fe`` of them); :attr:`waiting`
    ``(Fe, R, C)`` how many of their requests wait for etcd now.
    """

    def __init__(self, etcd_bytes: np.ndarray, etcd_pages: np.ndarray, n_replicas: int, dt: float,
                 throughput: np.ndarray | None = None) -> None:
        self.flows = etcd_flows(etcd_bytes)
        #: (C,) bytes/s each cluster's etcd returns to range reads (``Cluster.etcd_throughput_bytes_per_s``).
        self.throughput = np.full(etcd_bytes.shape[0], C.ETCD_READ_BYTES_PER_S) if throughput is None \
            else np.asarray(throughput, dtype=np.float64)
        #: (C,) bytes sent to range reads in the last step (etcd_network_client_grpc_sent_bytes_total).
        self.sent_bytes = np.zeros(etcd_bytes.shape[0])
        #: (C,) 1.0 where etcd serves, 0.0 while it is down (OOM kill, election).
        self.serving = np.ones(etcd_bytes.shape[0])
        self.enabled = len(self.flows) > 0
        n_clusters = etcd_bytes.shape[0]
        n_etcd_flows = len(self.flows)
        self.dt = dt
        self.bytes = etcd_bytes[:, self.flows].T.copy()  # (Fe, C) per request
        self.pages = np.maximum(etcd_pages[:, self.flows].T, 1.0)  # (Fe, C)
        self.page_bytes = self.bytes / self.pages
        self._paged = (self.pages > 1.0).any(axis=1)  # (Fe,) flows read in several range requests
        self.waiting = np.zeros((n_etcd_flows, n_replicas, n_clusters))
        #: (Fe, R, C) resident bytes of the range responses the waiting requests are receiving
        #: (the part of each that has arrived: model.etcd.receive_buffer_resident_bytes)
        self.received = np.zeros((n_etcd_flows, n_replicas, n_clusters))
        # Cumulative bytes per waiting request since the start (per replica).
        self.served_bytes = np.zeros((n_replicas, n_clusters))
        # Bytes/s each waiting request receives now.
        self.rate = np.full((n_replicas, n_clusters), C.ETCD_RANGE_BYTES_PER_S)
        # served_bytes of the last CLIENT_TIMEOUT_S seconds (a page stalled longer than that timed out).
        self._hist_n = int(math.ceil(C.CLIENT_TIMEOUT_S / dt)) + 1
        self._hist = np.zeros((self._hist_n, n_replicas, n_clusters))
        self._steps = 0
        # Cohorts: a window [h, n) of a growing buffer, one per admission step.
        cap = self._hist_n + 4
        self._cohort_waiting = np.zeros((cap, n_etcd_flows, n_replicas, n_clusters))  # requests still waiting
        # Their APF queue wait before admission (s).
        self._cohort_queue_wait_s = np.zeros((cap, n_etcd_flows, n_replicas, n_clusters))
        self._cohort_start_bytes = np.zeros((cap, n_replicas, n_clusters))
        self._cohort_admitted_s = np.zeros(cap)
        self._h = self._n = 0

    @property
    def busy(self) -> bool:
        """Some request waits for etcd."""
        return self._n > self._h

    def time_s(self) -> np.ndarray:
        """``(Fe, C)``: seconds a request admitted now would wait for etcd at today's share (on
        the slowest replica)."""
        return self.bytes / np.maximum(self.rate.min(axis=0), _TINY)[None, :]

    def admit(self, t: float, admitted: np.ndarray, waited: np.ndarray | float) -> None:
        """Requests ``admitted`` ``(Fe, R, C)`` at time ``t`` (after ``waited`` s in APF queues)
        start waiting for etcd."""
        if admitted.max() <= _TINY:
            return
        if self._n == len(self._cohort_admitted_s):
            self._make_room()
        i = self._n
        self._cohort_waiting[i] = admitted
        self._cohort_queue_wait_s[i] = waited
        self._cohort_start_bytes[i] = self.served_bytes
        self._cohort_admitted_s[i] = t
        self._n += 1

    def advance(self, t: float, tau: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """One step of etcd service ending at ``t``. ``tau`` ``(Fe, R, C)``: the apiserver time
        each response will then need; ``slow`` ``(R, C)``: each replica's CPU oversubscription
        (≥ 1). Returns ``(arrived, late, cancelled)``, each ``(Fe, R,
        C)``: responses that arrived this step (they enter the apiserver phase), those of them
        whose client will have given up before the apiserver is done (abandoned, included in
        ``arrived``), and requests whose client gave up while they waited (cancelled: they leave
        now). None when nothing waits."""
        self._steps += 1
        if not self.busy:
            self._hist[self._steps % self._hist_n] = self.served_bytes
            self.rate[:] = C.ETCD_RANGE_BYTES_PER_S / slow
            self.sent_bytes[:] = 0.0
            return None
        h, n = self._h, self._n
        waiting_k = self._cohort_waiting[h:n]
        reading = waiting_k.sum(axis=(0, 1, 2))  # (C,) requests reading from each cluster's etcd
        share = np.minimum(C.ETCD_RANGE_BYTES_PER_S, self.throughput / np.maximum(reading, _TINY)) * self.serving
        self.rate = share[None, :] / slow  # (R, C)
        self.sent_bytes = (waiting_k.sum(axis=(0, 1)) * self.rate).sum(axis=0) * self.dt
        self.served_bytes = self.served_bytes + self.rate * self.dt
        old = self._hist[(self._steps + 1) % self._hist_n]  # S one client timeout ago
        self._hist[self._steps % self._hist_n] = self.served_bytes
        # (k, 1, R, C) bytes each cohort received
        progress = (self.served_bytes[None] - self._cohort_start_bytes[h:n])[:, None]
        age = (t - self._cohort_admitted_s[h:n])[:, None, None, None]  # (k, 1, 1, 1)
        queue_wait_k = self._cohort_queue_wait_s[h:n]
        need = self.bytes[None, :, None, :]  # (1, Fe, 1, C)
        page = self.page_bytes[None, :, None, :]
        arrived_k = waiting_k * (progress >= need * (1.0 - 1e-9))
        # Late: of the cohorts with an arrival only (the others add exact zeros to the sum).
        rows = np.flatnonzero(arrived_k.reshape(len(arrived_k), -1).any(axis=1))
        late_k = arrived_k[rows] * ((queue_wait_k[rows] + age[rows] + tau[None])
                                    > C.CLIENT_TIMEOUT_S * self.pages[None, :, None, :])
        waiting_k -= arrived_k
        # Cancelled: the first page not back within the timeout (after the queue wait), or a later
        # page stalled for a whole timeout — only cohorts older than the timeout less the longest
        # queue wait can be (cohorts are in admission order: they are the first ``o``).
        o = int(np.count_nonzero(age >= C.CLIENT_TIMEOUT_S - C.APF_QUEUE_WAIT_LIMIT_S))
        first = (age[:o] >= C.CLIENT_TIMEOUT_S - queue_wait_k[:o]) & (progress[:o] < page)
        stalled = (self.served_bytes - old)[None, None] < page  # (1, Fe, R, C)
        later = (age[:o] >= C.CLIENT_TIMEOUT_S) & stalled
        cancel_k = waiting_k[:o] * (first | later)
        waiting_k[:o] -= cancel_k
        while self._h < self._n and self._cohort_waiting[self._h].max() <= _TINY:
            self._cohort_waiting[self._h] = 0.0
            self._h += 1
        self.waiting = self._cohort_waiting[self._h:self._n].sum(axis=0) if self.busy else np.zeros_like(self.waiting)
        self._update_received()
        return arrived_k.sum(axis=0), late_k.sum(axis=0), cancel_k.sum(axis=0)

    def _update_received(self) -> None:
        """:attr:`received` from the cohorts: each waiting request has received its cohort's
        bytes since admission, of which the current page's part is resident
        (:func:`waveguard.model.etcd.receive_buffer_resident_bytes`)."""
        if not self.busy:
            self.received[:] = 0.0
            return
        h, n = self._h, self._n
        progress = self.served_bytes[None] - self._cohort_start_bytes[h:n]  # (k, R, C)
        waiting = self._cohort_waiting[h:n]
        # An unpaginated request still waiting has received less than its one response: all of
        # it is resident (received mod page = received); only paginated flows need the modulo.
        self.received = np.einsum("kfrc,krc->frc", waiting, progress)
        if self._paged.any():
            rows = self._paged
            paged = waiting[:, rows]
            resident = receive_buffer_resident_bytes(progress[:, None], self.page_bytes[None, rows, None, :], np.floor)
            self.received[rows] = np.einsum("kfrc,kfrc->frc", paged, resident)

    def drop(self, r: int, c: int) -> np.ndarray:
        """Replica ``r`` of cluster ``c`` went down: its waiting requests fail. Returns them per
        flow ``(Fe,)``."""
        if not self.busy:
            return np.zeros(len(self.flows))
        lost = self._cohort_waiting[self._h:self._n, :, r, c].sum(axis=0)
        self._cohort_waiting[self._h:self._n, :, r, c] = 0.0
        self.waiting[:, r, c] = 0.0
        self.received[:, r, c] = 0.0
        return lost

    def scale(self, rows: np.ndarray, factor: np.ndarray) -> None:
        """Keep ``factor`` ``(C,)`` of the waiting requests of the flows ``rows`` ``(Fe,)`` bool
        (the rest were cancelled: their clients went away)."""
        if not self.busy or not rows.any():
            return
        self._cohort_waiting[self._h:self._n, rows] *= factor[None, None, None, :]
        self.waiting = self._cohort_waiting[self._h:self._n].sum(axis=0)
        self.received[rows] *= factor[None, None, :]

    def _make_room(self) -> None:
        h, n, cap = self._h, self._n, len(self._cohort_admitted_s)
        live = n - h
        new_cap = cap if live <= cap // 2 else 2 * cap
        for name in ("_cohort_waiting", "_cohort_queue_wait_s", "_cohort_start_bytes", "_cohort_admitted_s"):
            old = getattr(self, name)
            new = np.zeros((new_cap,) + old.shape[1:])
            new[:live] = old[h:n]
            setattr(self, name, new)
        self._h, self._n = 0, live

    # --- issue 12: etcd as a component ---------------------------------------------------------

    def range_bytes_held(self) -> np.ndarray:
        """``(C,)`` bytes of the range responses etcd is building or sending now: every waiting
        request's whole response (etcd reads the range and marshals it before it sends)."""
        if not self.busy:
            return np.zeros(len(self.throughput))
        return (self.waiting.sum(axis=1) * self.bytes).sum(axis=0)

    def fail_all(self, c: int) -> np.ndarray:
        """etcd of cluster ``c`` went down: every request waiting for it fails now. Returns them
        per flow and replica ``(Fe, R)``."""
        if not self.busy:
            return np.zeros((len(self.flows), self.waiting.shape[1]))
        lost = self._cohort_waiting[self._h:self._n, :, :, c].sum(axis=0)
        self._cohort_waiting[self._h:self._n, :, :, c] = 0.0
        self.waiting[:, :, c] = 0.0
        self.received[:, :, c] = 0.0
        return lost
