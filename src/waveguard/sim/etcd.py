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
# Rows of the int and float buffers of _Entries (the cohorts' entries).
_CELL, _RC, _CLUSTER, _COHORT = range(4)
_WAIT, _QUEUE_WAIT, _START, _ADMITTED, _NEED = range(5)
#: The entries are compacted once 1 in this many is zero (a trade of copying against passing over zeros).
_COMPACT_AT = 8


def etcd_flows(etcd_bytes: np.ndarray) -> np.ndarray:
    """Indices of the flows whose requests read from etcd first (``etcd_bytes`` ``(C, F)`` > 0
    on some cluster)."""
    return np.flatnonzero(etcd_bytes.max(axis=0) > 0) if etcd_bytes.size else np.zeros(0, dtype=np.int64)


class EtcdPhase:
    """Requests of the flows that read from etcd, waiting for their range responses.

    ``etcd_bytes``/``etcd_pages``: ``(C, F)`` from the flow table; ``R`` replicas (padded),
    ``dt`` the step. :attr:`flows` are the flows concerned (``Fe`` of them); :attr:`waiting`
    ``(Fe, R, C)`` how many of their requests wait for etcd now.

    The cohorts are kept sparse: one entry per nonzero cell ``(cohort, flow, replica, cluster)``
    in admission order (:class:`_Entries`); an entry whose requests arrived or were cancelled is
    zeroed, and the zeros are compacted away now and then. Every sum over cohorts adds the
    entries in the order numpy adds the rows of the dense window — ``np.bincount`` adds its
    weights in order, and the cells not stored are exact zeros — so the figures are those of the
    dense ``(cohorts, Fe, R, C)`` window, bit for bit, at a cost that follows the requests
    waiting rather than the window's length; with one cluster numpy sums the dense window
    pairwise, and the sums are taken on it (:meth:`_cohort_sum`).
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
        # Per cell of the flat (Fe, R, C) layout: a response's bytes less the tolerance of an
        # arrival, one page's bytes, the timeout of the whole response (s).
        cells = self.waiting.shape
        self._need = np.broadcast_to((self.bytes * (1.0 - 1e-9))[:, None, :], cells).ravel()
        self._bytes = np.broadcast_to(self.bytes[:, None, :], cells).ravel()
        self._page = np.broadcast_to(self.page_bytes[:, None, :], cells).ravel()
        self._timeout = np.broadcast_to((C.CLIENT_TIMEOUT_S * self.pages)[:, None, :], cells).ravel()
        self._cell_rc = np.arange(self.waiting.size) % self.served_bytes.size  # its flat (R, C) index
        self._cell_cluster = self._cell_rc % n_clusters
        # Per cell: read in several range requests (only then is less than all it received resident).
        self._cell_paged = np.broadcast_to((self.pages > 1.0)[:, None, :], cells).ravel()
        self._entries = _Entries(4 * self.waiting.size)
        # Cohorts [h, n) form the window (numbered from 0 at the start); _cohort_t their admission times.
        self._cohort_t = np.zeros(self._hist_n + 4)
        self._h = self._n = 0
        self._dense_sums = n_clusters == 1
        # While nothing waits (_idle_step): steps since the history was last written by a busy
        # step, the CPU stretch ``rate`` was last computed for, whether ``sent_bytes`` is nonzero.
        self._idle_steps = 0
        self._idle_slow: np.ndarray | None = None
        self._sent_any = False

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
        cells = np.flatnonzero(admitted)
        at, vals = self._entries.append(len(cells))
        at[_CELL], at[_COHORT] = cells, self._n
        np.take(self._cell_rc, cells, out=at[_RC])
        np.take(self._cell_cluster, cells, out=at[_CLUSTER])
        np.take(admitted, cells, out=vals[_WAIT])
        np.take(np.broadcast_to(waited, admitted.shape) if np.shape(waited) != admitted.shape else waited, cells,
                out=vals[_QUEUE_WAIT])
        np.take(self.served_bytes, at[_RC], out=vals[_START])
        vals[_ADMITTED] = t
        np.take(self._need, cells, out=vals[_NEED])
        if self._n - self._h == len(self._cohort_t):
            self._cohort_t = np.concatenate([self._cohort_t, np.zeros(len(self._cohort_t))])
        self._cohort_t[self._n - self._h] = t
        self._n += 1

    def advance(self, t: float, tau: np.ndarray | None,
                slow: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """One step of etcd service ending at ``t``. ``tau`` ``(Fe, R, C)``: the apiserver time
        each response will then need (read only while requests wait: None will do when none
        does); ``slow`` ``(R, C)``: each replica's CPU oversubscription
        (≥ 1). Returns ``(arrived, late, cancelled)``, each ``(Fe, R,
        C)``: responses that arrived this step (they enter the apiserver phase), those of them
        whose client will have given up before the apiserver is done (abandoned, included in
        ``arrived``), and requests whose client gave up while they waited (cancelled: they leave
        now). None when nothing waits."""
        self._steps += 1
        if not self.busy:
            self._idle_step(slow)
            return None
        assert tau is not None, "requests wait for etcd: their apiserver time is needed"
        self._idle_steps, self._idle_slow, self._sent_any = 0, None, True
        at, vals = self._entries.live()
        reading = self._cohort_sum(vals[_WAIT], at, _CLUSTER)  # (C,) requests reading from each cluster's etcd
        share = np.minimum(C.ETCD_RANGE_BYTES_PER_S, self.throughput / np.maximum(reading, _TINY)) * self.serving
        self.rate = share[None, :] / slow  # (R, C)
        self.sent_bytes = self._sent(at, vals)
        self.served_bytes = self.served_bytes + self.rate * self.dt
        old = self._hist[(self._steps + 1) % self._hist_n]  # S one client timeout ago
        self._hist[self._steps % self._hist_n] = self.served_bytes
        progress = self.served_bytes.ravel()[at[_RC]] - vals[_START]  # bytes each entry received
        arrived, late = self._arrivals(t, np.flatnonzero(progress >= vals[_NEED]), tau)
        cancelled = self._cancellations(t, progress, (self.served_bytes - old).ravel())
        self._leave()
        if self.busy:
            at, vals = self._entries.live()
            self.waiting = self._cohort_sum(vals[_WAIT], at, _CELL)
        else:
            self.waiting = np.zeros_like(self.waiting)
        self._update_received()
        return arrived, late, cancelled

    def _sent(self, at: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """``(C,)`` bytes etcd sends the waiting requests (``at``/``vals``: the live entries) in
        this step at today's :attr:`rate`: a step's worth each, but no more than what is left of
        its response (a small range is answered within the step)."""
        before = self.served_bytes.ravel()[at[_RC]] - vals[_START]
        left = np.maximum(self._bytes[at[_CELL]] - before, 0.0)
        return self._cohort_sum(vals[_WAIT] * np.minimum(self.rate.ravel()[at[_RC]] * self.dt, left), at, _CLUSTER)

    def _idle_step(self, slow: np.ndarray) -> None:
        """A step with nothing waiting: the served bytes stand still, so the history of the last
        timeout fills with them (and, once full, stays so); a request would get one member's link,
        less the replica's CPU stretch ``slow`` (recomputed when that array changes: it is
        replaced, never written in place); nothing is sent."""
        if self._idle_steps < self._hist_n:
            self._hist[self._steps % self._hist_n] = self.served_bytes
            self._idle_steps += 1
        if slow is not self._idle_slow:
            self.rate[:] = C.ETCD_RANGE_BYTES_PER_S / slow
            self._idle_slow = slow
        if self._sent_any:
            self.sent_bytes[:] = 0.0
            self._sent_any = False

    def _update_received(self) -> None:
        """:attr:`received` from the entries: each waiting request has received its replica's
        served bytes since admission, of which the current page's part is resident
        (:func:`waveguard.model.etcd.receive_buffer_resident_bytes`; an unpaginated request still
        waiting has received less than its one response, so all of it is)."""
        if not self.busy:
            self.received = np.zeros_like(self.waiting)
            return
        at, vals = self._entries.live()
        resident = self.served_bytes.ravel()[at[_RC]] - vals[_START]
        paged = self._cell_paged[at[_CELL]]
        if paged.any():
            pages = self._page[at[_CELL]]
            resident = np.where(paged, receive_buffer_resident_bytes(resident, pages, np.floor), resident)
        self.received = self._cohort_sum(vals[_WAIT] * resident, at, _CELL)

    def _arrivals(self, t: float, rows: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The live entries ``rows`` received their whole response: ``(arrived, late)`` ``(Fe,
        R, C)``, late those whose queue wait, etcd wait and apiserver time ``tau`` pass the
        client's timeout. They stop waiting."""
        live_at, live_vals = self._entries.live()
        at, vals = live_at[:, rows], live_vals[:, rows]
        cells = at[_CELL]
        late = vals[_WAIT] * ((vals[_QUEUE_WAIT] + (t - vals[_ADMITTED]) + tau.ravel()[cells]) > self._timeout[cells])
        self._entries.zero(rows)
        # The dense window summed the late requests over the cohorts with an arrival only.
        cohorts = np.unique(at[_COHORT]) if self._dense_sums else None
        return self._cohort_sum(vals[_WAIT], at, _CELL), self._cohort_sum(late, at, _CELL, cohorts)

    def _cancellations(self, t: float, progress: np.ndarray, recent_bytes: np.ndarray) -> np.ndarray:
        """``(Fe, R, C)`` requests whose client gave up: the first page not back within the timeout
        (after the queue wait), or a later page stalled for a whole timeout (``recent_bytes``
        ``(R·C,)`` received in the last timeout). They stop waiting. Only cohorts older than the
        timeout less the longest queue wait can be (the window's first ``o``, as it is in
        admission order)."""
        o = int(np.count_nonzero(t - self._cohort_t[:self._n - self._h]
                                 >= C.CLIENT_TIMEOUT_S - C.APF_QUEUE_WAIT_LIMIT_S))
        live_at, live_vals = self._entries.live()
        rows = np.flatnonzero(live_vals[_WAIT, :int(np.searchsorted(live_at[_COHORT], self._h + o))])
        at, vals = live_at[:, rows], live_vals[:, rows]
        age = t - vals[_ADMITTED]
        page = self._page[at[_CELL]]
        first = (age >= C.CLIENT_TIMEOUT_S - vals[_QUEUE_WAIT]) & (progress[rows] < page)
        later = (age >= C.CLIENT_TIMEOUT_S) & (recent_bytes[at[_RC]] < page)
        cancel = vals[_WAIT] * (first | later)
        self._entries.zero(rows[cancel != 0.0])
        return self._cohort_sum(cancel, at, _CELL, np.arange(self._h, self._h + o))

    def _leave(self) -> None:
        """The window starts at the first cohort with more than a trace of requests: those before
        it leave, as the dense window dropped them."""
        at, vals = self._entries.live()
        first = int(np.argmax(vals[_WAIT] > _TINY)) if len(vals[_WAIT]) else 0
        h = int(at[_COHORT, first]) if len(vals[_WAIT]) and vals[_WAIT, first] > _TINY else self._n
        self._entries.drop_first(int(np.searchsorted(at[_COHORT], h)))
        if h > self._h:
            self._cohort_t[:self._n - h] = self._cohort_t[h - self._h:self._n - self._h].copy()
            self._h = h

    def _cohort_sum(self, values: np.ndarray, at: np.ndarray, by: int, cohorts: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``values`` (one per entry; ``at`` their rows of the entries) over the cohorts —
        and the flows (``by=_RC``: ``(R, C)``), and the replicas (``by=_CLUSTER``: ``(C,)``);
        ``by=_CELL``: ``(Fe, R, C)`` — as numpy sums the dense window ``(cohorts, Fe, R, C)``
        (``cohorts``: which ones, ascending; default the whole window)."""
        shape = self.waiting.shape[{_CELL: 0, _RC: 1, _CLUSTER: 2}[by]:]
        if not self._dense_sums:
            return np.bincount(at[by], values, minlength=math.prod(shape)).reshape(shape)
        return self._dense(values, at, cohorts).sum(axis=(0, 1, 2)[:4 - len(shape)])

    def _dense(self, values: np.ndarray, at: np.ndarray, cohorts: np.ndarray | None = None) -> np.ndarray:
        """``(cohorts, Fe, R, C)``: ``values`` (one per entry, ``at`` their rows of the entries)
        in the dense window of ``cohorts`` (ascending; default the whole window), zero elsewhere."""
        cohorts = np.arange(self._h, self._n) if cohorts is None else cohorts
        dense = np.zeros((len(cohorts), self.waiting.size))
        dense[np.searchsorted(cohorts, at[_COHORT]), at[_CELL]] = values
        return dense.reshape((len(cohorts),) + self.waiting.shape)

    def drop(self, r: int, c: int) -> np.ndarray:
        """Replica ``r`` of cluster ``c`` went down: its waiting requests fail. Returns them per
        flow ``(Fe,)``."""
        if not self.busy:
            return np.zeros(len(self.flows))
        at, vals = self._entries.live()
        lost = self._dense(vals[_WAIT], at)[:, :, r, c].sum(axis=0)
        self._entries.zero(np.flatnonzero(at[_RC] == r * self.waiting.shape[2] + c))
        self.waiting[:, r, c] = 0.0
        self.received[:, r, c] = 0.0
        return lost

    def scale(self, rows: np.ndarray, factor: np.ndarray) -> None:
        """Keep ``factor`` ``(C,)`` of the waiting requests of the flows ``rows`` ``(Fe,)`` bool
        (the rest were cancelled: their clients went away)."""
        if not self.busy or not rows.any():
            return
        at, vals = self._entries.live()
        entries = np.flatnonzero(rows[at[_CELL] // self.served_bytes.size])
        vals[_WAIT, entries] *= factor[at[_CLUSTER, entries]]
        self.waiting = self._cohort_sum(vals[_WAIT], at, _CELL)
        self.received[rows] *= factor[None, None, :]
        self._entries.zero(entries[vals[_WAIT, entries] == 0.0])

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
        at, vals = self._entries.live()
        lost = self._dense(vals[_WAIT], at)[:, :, :, c].sum(axis=0)
        self._entries.zero(np.flatnonzero(at[_CLUSTER] == c))
        self.waiting[:, :, c] = 0.0
        self.received[:, :, c] = 0.0
        return lost


class _Entries:
    """The waiting cohorts' nonzero cells, one entry each in admission order: ``int`` rows
    ``(_CELL, _RC, _CLUSTER, _COHORT)`` — the cell's flat ``(Fe, R, C)`` index, its flat
    ``(R, C)`` index, its cluster, its cohort — and ``float`` rows ``(_WAIT, _QUEUE_WAIT, _START,
    _ADMITTED, _NEED)`` — requests still waiting, their APF queue wait (s), the replica's
    cumulative served bytes at admission, the admission time (s), the bytes a response needs.

    The live entries are the columns ``[lo, hi)`` of two preallocated buffers: a step appends
    at ``hi`` and drops the oldest by moving ``lo``, without copying; an entry that leaves from
    the middle is zeroed (waiting 0, needing infinite bytes, so it never arrives again) and the
    zeros are compacted away once they are an eighth of the live entries.
    """

    def __init__(self, capacity: int) -> None:
        self._at = np.zeros((4, capacity), dtype=np.int64)
        self._vals = np.zeros((5, capacity))
        self._lo = self._hi = self._zeros = 0

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the live entries: ``(4, n)`` int and ``(5, n)`` float."""
        return self._at[:, self._lo:self._hi], self._vals[:, self._lo:self._hi]

    def append(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Room for ``n`` new entries at the end: views ``(4, n)`` and ``(5, n)`` to fill."""
        if self._hi + n > self._at.shape[1]:
            self._compact(self._hi - self._lo + n)
        self._hi += n
        return self._at[:, self._hi - n:self._hi], self._vals[:, self._hi - n:self._hi]

    def zero(self, rows: np.ndarray) -> None:
        """The live entries ``rows`` (indices) leave: nothing waits there any more. The live
        entries keep their places until :meth:`drop_first`."""
        vals = self._vals[:, self._lo:self._hi]
        rows = rows[vals[_WAIT, rows] != 0.0]  # each counted once
        vals[_WAIT, rows] = 0.0
        vals[_NEED, rows] = np.inf
        self._zeros += len(rows)

    def drop_first(self, n: int) -> None:
        """The first ``n`` live entries leave (the window's head moved past them); the zeros are
        compacted away once they are an eighth of the live entries."""
        if n:
            self._zeros -= int(np.count_nonzero(self._vals[_WAIT, self._lo:self._lo + n] == 0.0))
            self._lo += n
        if _COMPACT_AT * self._zeros > self._hi - self._lo:
            self._compact(0)

    def _compact(self, room: int) -> None:
        """Move the nonzero live entries to the front, in order, in place; grow the buffers (to
        twice what is needed) only when ``room`` entries would not fit in half of them."""
        keep = np.flatnonzero(self._vals[_WAIT, self._lo:self._hi]) + self._lo
        n, capacity = len(keep), self._at.shape[1]
        at, vals = self._at, self._vals
        if 2 * max(room, n) > capacity:
            capacity = 2 * max(room, n, capacity)
            self._at, self._vals = np.empty((4, capacity), dtype=np.int64), np.empty((5, capacity))
        for old, new in ((at, self._at), (vals, self._vals)):
            for i in range(len(old)):  # row by row: a 1-D gather is twice as fast as a 2-D one
                new[i, :n] = old[i, keep]
        self._lo, self._hi, self._zeros = 0, n, 0
