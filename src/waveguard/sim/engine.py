"""The fleet simulator: a time-stepped fluid model of every apiserver replica of every cluster.

State is held in numpy arrays laid out flow-major: ``(F, R, C)`` = flows (see
:mod:`waveguard.sim.flows`) × apiserver replicas (padded to the largest cluster) × clusters,
levels ``(L, R, C)``, informer groups ``(G, R, C)``; one :meth:`FleetSimulator.step` advances
every cluster at once (clusters last, so per-level and per-replica sums are contiguous).
Nothing is scripted: saturation, 429s, OOM kills, relist storms and DNS failures follow from the
equations below (docs/simulator.md states them in words).

Per step of ``dt`` seconds, per replica (the numbers of the comments in ``_advance``):

1. clients whose watch broke or whose LIST failed re-send after their back-off;
2. arrivals (steady rates × demand noise, plus relists) are spread over the replicas that are up;
3. executing requests complete at rate 1/τ, τ stretched when the replica's CPU is short;
4. each priority level dispatches queued requests into its free seats, max-min fair between
   flows (before 1.20: the max-in-flight filter instead, :mod:`waveguard.sim.maxinflight`);
   requests served from etcd first wait for the cluster's shared etcd
   (:mod:`waveguard.sim.etcd`), holding their seats, then execute;
5. what cannot wait (beyond handSize × queueLengthLimit queued, or longer than the APF wait
   limit) is rejected with 429;
6. informers whose LIST was answered are synced; those rejected, or whose answer would come
   after their client's timeout, go back to back-off;
7. memory = baseline + live LIST responses × GC growth; above the limit the replica is
   OOM-killed, drops its requests and watches (their clients relist elsewhere) and comes back
   after the kubelet's crash-loop back-off, startup and watch-cache fill;
8. every 10 s each level's limit is readjusted from its seat demand (borrowing, from 1.26);
9. DNS: CoreDNS failure (a restarted pod without its copy, or — ``api_per_answer`` — its API
   requests failing) reaches workloads only as client and node-local cache entries expire.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import numpy as np

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig
from waveguard.model.cost import baseline_memory_bytes, watch_cache_bytes
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.sim.clients import SimClient, baseline_clients, change_client
from waveguard.sim.dns import DNSCaches
from waveguard.sim.etcd import EtcdPhase
from waveguard.sim.flows import (
    EXEMPT_SEATS, SCOPES, baseline_pod_watchers, compile_flows, writer_extra_seat_seconds_vec,
)
from waveguard.sim.maxinflight import MaxInFlight
from waveguard.sim.metrics import LabelSpace, MetricStore, SeriesReader, Snapshot
from waveguard.sim.rollback import (
    DEFAULT_ROLLBACK_REQUESTS, RollbackDriver, RollbackIdentity, RollbackRecord, RollbackRequest, rollback_client,
    rollback_identity,
)

if TYPE_CHECKING:
    from waveguard.sim.result import SimulationResult

DNSMode = Literal["informer", "api_per_answer"]

#: Client back-off levels: 0 = send now, then 0.8, 1.6, ... 30 s (client-go reflector).
_BACKOFF_DELAYS_S = tuple(
    min(C.CLIENT_BACKOFF_MAX_S, C.CLIENT_BACKOFF_INITIAL_S * C.CLIENT_BACKOFF_FACTOR ** k) for k in range(7)
)
_K = len(_BACKOFF_DELAYS_S) + 1
#: Share of a scope's traffic a flow needs to count in that scope's p99.
_P99_SHARE = 0.01
#: ln(100): the p99 of an exponential wait is ln(100) × its mean.
_LN100 = math.log(100.0)
_NOISE_BLOCK = 600
#: Steps between updates of slowly moving figures (fan-out watchers, CoreDNS pod restarts).
_SLOW_EVERY = 10
_TINY = 1e-12
#: Utilisation above which a burst of heavy requests stretches τ within its step.
_BURST_MARGIN = 1.05
#: A request is heavy when it needs at least this share of a core-step (bursts of lighter ones
#: are taken up at the step's end, one step late, at no visible error).
_HEAVY_CPU_SHARE = 0.1


def apiserver_cores(cluster: Cluster) -> float:
    """CPU cores of one apiserver replica of ``cluster`` (memory limit / bytes per core)."""
    return cluster.memory_limit_bytes / C.APISERVER_MEMORY_BYTES_PER_CORE


def watch_cache_fill_s(cluster: Cluster) -> float:
    """Seconds a restarted apiserver spends filling its watch cache from etcd."""
    stored = watch_cache_bytes(cluster) / C.WATCH_CACHE_MEMORY_MULTIPLIER
    return stored * C.ETCD_READ_S_PER_BYTE


def mmc_p99_wait(hold_s: np.ndarray, seats: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """p99 queueing delay (s) of an M/M/c queue with c = ``seats`` servers, mean holding time
    ``hold_s`` and utilisation ``rho`` (< 1): Sakasegawa's mean wait
    ρ^(√(2(c+1))−1) / (c (1−ρ)) × holding time, times ln(100) for the p99 of an exponential
    tail. Grows without bound as ρ → 1. Shapes broadcast. (ρ = 1 gives the factor
    holding time × ln(100) / c that the engine caches.)"""
    c = np.maximum(seats, 1.0)
    scale = hold_s * _LN100 / c
    return scale if np.all(rho == 1.0) else scale * rho ** (np.sqrt(2.0 * (c + 1.0)) - 1.0) / (1.0 - rho)


def _fair_fraction(target: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """The fraction f with Σ_l clip(f × target_l, lo_l, hi_l) = total, per (replica, cluster).

    The sum is piecewise linear and non-decreasing in f, with breakpoints at lo/target and
    hi/target: evaluate it at every breakpoint, take the closest breakpoints below and above
    ``total`` and interpolate (apf_controller.go's computeConcurrencyAllocation solves the same
    problem)."""
    t = np.maximum(target, _TINY)
    points = np.concatenate([lo / t, hi / t])  # (2L, R, C)
    sums = np.clip(points[:, None] * t[None], lo[None], hi[None]).sum(axis=1)  # (2L, R, C)
    above = sums >= total
    f_hi = np.where(above, points, np.inf).min(axis=0)
    s_hi = np.where(above & (points == f_hi), sums, np.inf).min(axis=0)
    f_lo = np.where(above, -np.inf, points).max(axis=0)
    s_lo = np.where(~above & (points == f_lo), sums, -np.inf).max(axis=0)
    f_hi = np.where(np.isfinite(f_hi), f_hi, f_lo)  # never reaches total: as far as it goes
    f_lo = np.where(np.isfinite(f_lo), f_lo, f_hi)  # already above at the lowest breakpoint
    s_hi = np.where(np.isfinite(s_hi), s_hi, s_lo)
    s_lo = np.where(np.isfinite(s_lo), s_lo, s_hi)
    frac = np.clip((total - s_lo) / np.maximum(s_hi - s_lo, _TINY), 0.0, 1.0)
    return f_lo + frac * (f_hi - f_lo)


def _solve_fair_fraction(target: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float,
                         start: np.ndarray | None) -> np.ndarray:
    """:func:`_fair_fraction`, by Newton steps from the last period's fraction (demand moves
    slowly, so one or two steps usually land on the exact segment); columns that do not
    converge are solved exactly."""
    if start is None:
        return _fair_fraction(target, lo, hi, total)
    f = start.copy()
    for _ in range(3):
        ft = f * target
        inside = (ft > lo) & (ft < hi)
        g = np.clip(ft, lo, hi).sum(axis=0)
        slope = (target * inside).sum(axis=0)
        f = np.where(slope > 0, f + (total - g) / np.maximum(slope, _TINY), f)
    bad = np.abs(np.clip(f * target, lo, hi).sum(axis=0) - total) > 1e-6 * total
    if bad.any():
        f[bad] = _fair_fraction(target[:, bad], lo[:, bad], hi[:, bad], total)
    return f


class FleetSimulator:
    """Step a fleet second by second (or finer); drive it from a scenario or a rollout engine.

    ``FleetSimulator(fleet, profiles)`` builds the model (profiles: the change's
    :class:`RequestProfile` list, e.g. from ``analysis.build_profiles``); :meth:`set_rollout`
    sets the share of a cluster's nodes that should run the change (pods are created at
    ``pods_per_s``); :meth:`step` advances time; :meth:`metrics` returns the latest values under
    real metric names; :meth:`result` the recorded series. Deterministic for a given ``seed``
    (each cluster draws its noise from its own stream, keyed by ``noise_keys``; default: its
    index in the fleet).

    Raises ValueError for a non-positive ``step_s``.
    """

    def __init__(self, fleet: Fleet, profiles: Sequence[RequestProfile] = (), *, apf: APFConfig | None = None,
                 seed: int = 0, step_s: float = 1.0, dns_mode: DNSMode = "informer", baseline_backoff: bool = True,
                 change_backoff: bool = True, initial_share: float = 0.0, expected_steps: int = 3600,
                 noise_keys: Sequence[int] | None = None,
                 rollback_as: Sequence[str | RollbackIdentity] = ()) -> None:
        if not step_s > 0:
            raise ValueError("step_s must be > 0")
        self.fleet = fleet
        self.apf = apf or APFConfig()
        self.dt = float(step_s)
        self.dns_mode: DNSMode = dns_mode
        self.clusters: list[Cluster] = list(fleet.clusters)
        self.cluster_names = [c.name for c in self.clusters]
        self._cidx = {n: i for i, n in enumerate(self.cluster_names)}
        self.clients: list[SimClient] = baseline_clients(backoff=baseline_backoff,
                                                         api_per_answer_dns=dns_mode == "api_per_answer")
        self.clients += [change_client(p, change_backoff) for p in profiles]
        identities = {i.name: i for i in (rollback_identity(x) if isinstance(x, str) else x for x in rollback_as)}
        self.clients += [rollback_client(i) for i in identities.values()]
        self.flows, self.groups = compile_flows(self.clients, self.clusters, self.apf)
        keys = list(noise_keys) if noise_keys is not None else list(range(len(self.clusters)))
        self._rngs = [np.random.default_rng([seed, k]) for k in keys]
        self.t = 0.0
        self._setup_static()
        self._setup_state(initial_share)
        self._rb = self._rollback_driver(identities, seed, keys) if identities else None
        self._setup_recording(expected_steps)

    # --- construction -----------------------------------------------------------------

    def _setup_static(self) -> None:
        cl, fl, gr = self.clusters, self.flows, self.groups
        self.C = len(cl)
        self.R = max(c.replicas for c in cl)
        self.F = len(fl.names)
        self.exists = np.array([[r < c.replicas for c in cl] for r in range(self.R)])  # (R, C)
        self.mem_limit = np.array([c.memory_limit_bytes for c in cl], dtype=np.float64)
        self.base_mem = np.array([baseline_memory_bytes(c) for c in cl], dtype=np.float64)
        self.cores = np.array([apiserver_cores(c) for c in cl], dtype=np.float64)
        self._borrows = np.array([c.version_tuple >= C.APF_BORROWING_SINCE for c in cl])
        self.fill_s = np.array([watch_cache_fill_s(c) for c in cl], dtype=np.float64)
        self.base_watchers = np.array([baseline_pod_watchers(c) for c in cl], dtype=np.float64)
        self.nodes = np.array([c.nodes for c in cl], dtype=np.float64)
        self.dns_lookups = self.nodes * (C.DNS_LOOKUPS_TO_COREDNS_PER_NODE_PER_S * self.dt)
        self._setup_levels()
        # Flows: per-(flow, replica, cluster) constants, broadcast once.
        self.pos, self.used = fl.level_pos, fl.used_levels
        self.Lu = len(self.used)
        used = self.used
        self._lvl = slice(int(used[0]), int(used[-1]) + 1) if np.all(np.diff(used) == 1) else used
        self.mlev = np.zeros((self.Lu, self.F))
        self.mlev[self.pos, np.arange(self.F)] = 1.0
        self.rate_fixed = np.where(fl.is_change, 0.0, fl.rate).T.copy()  # (F, C)
        self.rate_change = np.where(fl.is_change, fl.rate, 0.0).T.copy()
        full = (self.F, self.R, self.C)
        per_replica = lambda x: np.ascontiguousarray(np.broadcast_to(x.T[:, None, :], full))  # noqa: E731
        self.tau3 = per_replica(fl.tau)
        self.cpu3 = per_replica(fl.cpu)
        self.seats3 = per_replica(fl.seats)
        # Before APF (< 1.20) every request holds max-in-flight slots instead of seats.
        self.legacy = MaxInFlight(cl, fl.mutating, exempt=~self.limited[fl.level])
        if self.legacy.enabled:
            self.seats3 = self.seats3.copy()  # (a broadcast view when there is one replica)
            self.seats3[:, :, self.legacy.cols] = fl.legacy_seats.T[:, None, self.legacy.cols]
        # Requests served from etcd wait for it first (sim/etcd.py).
        self.etcd = EtcdPhase(fl.etcd_bytes, fl.etcd_pages, self.R, self.dt)
        self._ef = self.etcd.flows
        self._etcd_groups = [(e, g) for e, f in enumerate(self._ef) for g in np.flatnonzero(gr.flow == f)]
        self._not_etcd_g = (~np.isin(gr.flow, self._ef)).astype(np.float64)[:, None, None]  # (G, 1, 1)
        self._heavy = np.flatnonzero(fl.cpu.max(axis=0) >= _HEAVY_CPU_SHARE * self.dt)
        self.memf3 = per_replica(fl.mem * C.GO_HEAP_GROWTH_FACTOR)
        self.cpurate3 = per_replica(fl.cpu / fl.tau)
        self.podw = fl.pod_write_frac.T.copy()  # (F, C)
        self.qcap3 = np.ascontiguousarray(np.broadcast_to(fl.qcap[:, None, None], full))
        self.scope_onehot = np.eye(len(SCOPES))[fl.scope]  # (F, scopes)
        self._wait_steps = C.APF_QUEUE_WAIT_LIMIT_S / self.dt
        self._wait_frac = min(1.0, self.dt / C.APF_QUEUE_WAIT_LIMIT_S)
        # Informer groups.
        self.gf = gr.flow
        self.memf_g = self.memf3[self.gf].copy()
        self.rel_frac = np.array([self._release_fractions(bool(b)) for b in gr.backoff]).T[:, :, None].copy()
        self.deliv = gr.deliveries.T[:, None, :].copy()  # (G, 1, C)
        roles = [self.clients[i].role for i in gr.client]
        self.g_dns = roles.index("coredns")
        self.dns_instances = gr.instances[:, self.g_dns].copy()
        self.f_dns_query = self._steady_flow("coredns") if self.dns_mode == "api_per_answer" else None
        self.f_workloads = self._steady_flow("workloads")
        self.change_groups = np.flatnonzero(gr.is_change)
        self.change_instances = gr.instances[:, self.change_groups].T.copy()  # (Gc, C)
        self.change_pod_watchers = gr.pod_watchers[:, self.change_groups].T[:, None, :].copy()  # (Gc, 1, C)
        self.change_per_node = any(self.clients[i].profile.per_node for i in gr.client[self.change_groups])

    def _setup_levels(self) -> None:
        levels = self.apf.levels
        self.level_names = [l.name for l in levels]
        nominal = self.apf.nominal_seats()
        self.limited = np.array([not l.exempt for l in levels])
        self.nominal = np.array([EXEMPT_SEATS if l.exempt else nominal[l.name] for l in levels], dtype=np.float64)
        lend = np.array([0 if l.exempt else round(nominal[l.name] * l.lendable_percent / 100) for l in levels])
        self.min_cl = np.where(self.limited, self.nominal - lend, EXEMPT_SEATS)
        server = float(sum(nominal[l.name] for l in levels if not l.exempt))
        self.nominal_sum = server
        self.max_cl = np.array([
            EXEMPT_SEATS if l.exempt else server if l.borrowing_limit_percent is None
            else nominal[l.name] * (1 + l.borrowing_limit_percent / 100) for l in levels], dtype=np.float64)

    def _release_fractions(self, backoff: bool) -> np.ndarray:
        """Share of each back-off level's waiting clients that re-send in one step (a wait of d
        with jitter 1.0 lasts 1.5 d on average; without back-off every retry waits ~1 s)."""
        jitter_mean = 1.0 + C.CLIENT_BACKOFF_JITTER / 2
        delays = [0.0] + [d * jitter_mean if backoff else C.CLIENT_NO_BACKOFF_RETRY_S for d in _BACKOFF_DELAYS_S]
        return np.array([1.0 if d == 0 else 1.0 - math.exp(-self.dt / d) for d in delays])

    def _steady_flow(self, role: str) -> int | None:
        for f, (ci, relist) in enumerate(zip(self.flows.client, self.flows.relist)):
            if self.clients[ci].role == role and not relist:
                return f
        return None

    def _setup_state(self, initial_share: float) -> None:
        Cn, R, F, G, L = self.C, self.R, self.F, len(self.gf), len(self.level_names)
        self.up = self.exists.copy()
        self.upf = self.up.astype(np.float64)
        self.down_until = np.zeros((R, Cn))
        self.crashes = np.zeros((R, Cn), dtype=np.int64)
        self.up_since = np.zeros((R, Cn))
        self.oom_kills = np.zeros(Cn, dtype=np.int64)
        self.S = np.broadcast_to(self.nominal[:, None, None], (L, R, Cn)).copy()
        self._legacy_limits()
        self.Su = self.S[self.used].copy()
        self.EA = np.zeros((F, R, Cn))  # requests waiting for etcd (sim/etcd.py)
        self._etcd_busy = False
        self.hw = np.zeros((L, R, Cn))
        self.hw_u = np.zeros((self.Lu, R, Cn))
        self.smooth = np.zeros((L, R, Cn))
        self.buf = np.zeros((3, F, R, Cn))  # queued, rejected (this step), dispatched (this step)
        self.E = np.zeros((F, R, Cn))
        self.E_dead = np.zeros((G, R, Cn))  # executing (re)lists whose client gave up
        self.P = np.zeros((_K, G, Cn))
        self.sent = np.zeros((G, Cn))  # (re)list bundles that reached a replica that was up
        self.last_dist = np.zeros((_K, G, Cn))
        self.last_dist[1] = 1.0
        self.slow = np.ones((R, Cn))
        self._cpu = np.zeros((R, Cn))  # last step's CPU utilisation (see _absorb_burst)
        self.share = np.full(Cn, float(initial_share))
        self.target = self.share.copy()
        self.ramp = np.full(Cn, math.inf)
        share = np.where(self.groups.is_change[:, None], self.share[None, :], 1.0)  # (G, C)
        synced = self.groups.instances.T * share
        self.W = synced[:, None, :] * (self.exists / self.exists.sum(0, keepdims=True))[None]
        self.no_copy = np.zeros(Cn)
        self._no_copy_any = False
        self.dns_caches = DNSCaches(Cn, self.dt)
        self._ramping = self._any_down = self._slowed = self._queued = self._has_dead = False
        self.extra = np.zeros((self.F, 1, Cn))
        self._fanout_cpu = (self.W * self.deliv).sum(axis=0) * C.WATCH_EVENT_CPU_S
        self._update_rates()
        self._update_fanout()
        self._update_service()
        self._update_limit_record()
        self._next_readjust = C.APF_READJUST_PERIOD_S
        self._fair: np.ndarray | None = None
        self._hold: np.ndarray | None = None
        self._tau_c = self.tau3.max(axis=1)
        self._noise_i = _NOISE_BLOCK
        self._steps = 0
        self._events: list[tuple[float, int, Callable[[], None]]] = []

    def _setup_recording(self, expected_steps: int) -> None:
        dims = {"priority_level": len(self.level_names), "scope": len(SCOPES), "instance": self.R}
        self.store = MetricStore(self.C, dims, expected_steps)
        labels = LabelSpace(priority_level=self.level_names, scope=list(SCOPES),
                            instance=[str(r) for r in range(self.R)])
        nominal = np.where(self.limited, self.nominal, 0.0)[:, None] * self.exists.sum(0)[None, :]  # (L, C)
        if self.legacy.enabled:
            nominal[:, self.legacy.cols] = 0.0  # no APF before 1.20
        static = {"apiserver_flowcontrol_nominal_limit_seats": nominal,
                  "waveguard_sim_apiserver_memory_limit_bytes": self.mem_limit}
        self.reader = SeriesReader(self.store, self.cluster_names, labels, static, self.dt)
        rows = dict(self.store.rows)
        for name in ("apiserver_flowcontrol_current_executing_seats", "apiserver_flowcontrol_current_inqueue_requests",
                     "apiserver_flowcontrol_rejected_requests_total", "apiserver_flowcontrol_dispatched_requests_total",
                     "apiserver_flowcontrol_request_wait_duration_seconds"):
            start = rows[name].start
            rows[name] = slice(start + self._lvl.start, start + self._lvl.stop) if isinstance(self._lvl, slice) \
                else start + self._lvl
        self._rows = rows
        self._zeros_fc = np.zeros((self.F, self.C))
        self._zeros_lc = np.zeros((self.Lu, self.C))
        self._zeros_c = np.zeros(self.C)
        self._write_slow_rows()

    # --- public control -----------------------------------------------------------------

    @property
    def time_s(self) -> float:
        """Simulated seconds since the start."""
        return self.t

    def set_rollout(self, cluster: str, share: float, pods_per_s: float = C.DAEMONSET_PODS_CREATED_PER_S) -> None:
        """Aim ``cluster``'s change at ``share`` (0..1) of its nodes; pods are created (or, when
        rolling back, deleted) at ``pods_per_s``. Raises KeyError / ValueError on bad input."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be within 0..1")
        if pods_per_s <= 0:
            raise ValueError("pods_per_s must be > 0")
        c = self._cluster(cluster)
        self.target[c] = share
        self.ramp[c] = pods_per_s / max(1.0, self.nodes[c]) if self.change_per_node else math.inf
        self._ramping = bool(np.any(self.share != self.target))

    def restart_apiserver(self, cluster: str, replica: int = 0) -> None:
        """Restart one apiserver replica now (its clients relist elsewhere; it returns after
        startup and watch-cache fill). Raises KeyError / IndexError on bad input."""
        c = self._cluster(cluster)
        if not 0 <= replica < self.clusters[c].replicas:
            raise IndexError(f"{cluster} has {self.clusters[c].replicas} apiserver replicas")
        if self.up[replica, c]:
            self._crash(c, replica, oom=False)

    def hold_apiserver_down(self, cluster: str, replica: int, until_s: float) -> None:
        """Take one apiserver replica down now and keep it down until simulated second
        ``until_s`` (an outage of its node or zone, not a crash: no crash-loop back-off). Its
        queued and executing requests fail and the watches through it break (their clients
        relist on the replicas that are up); from ``until_s`` it serves again with nominal APF
        limits. A replica already down stays down at least until then. Raises KeyError /
        IndexError on bad input."""
        c = self._cluster(cluster)
        if not 0 <= replica < self.clusters[c].replicas:
            raise IndexError(f"{cluster} has {self.clusters[c].replicas} apiserver replicas")
        if self.up[replica, c]:
            self._crash(c, replica, oom=False)
        self.down_until[replica, c] = max(self.down_until[replica, c], until_s)

    def relists_sent(self, cluster: str, client: str) -> float:
        """(Re)list bundles the instances of ``client`` (a profile's ``client``, or a baseline
        client: "kubelet", "coredns" ...) have sent to ``cluster``'s apiservers so far: each
        bundle is the client's start LISTs, sent once. Counts those that reached a replica that
        was up, whether answered, rejected with 429 or abandoned after the client timeout — what
        the apiserver's audit log records. Raises KeyError for an unknown cluster or client."""
        c = self._cluster(cluster)
        for g, ci in enumerate(self.groups.client):
            if self.clients[ci].name == client:
                return float(self.sent[g, c])
        raise KeyError(f"no client named {client!r} sends start LISTs")

    def rollback(self, cluster: str, as_: str = "breakglass",
                 requests: Sequence[RollbackRequest] | None = None) -> RollbackRecord:
        """Start the rollback of the change on ``cluster`` now, sent as identity ``as_``
        (``breakglass`` | ``controller`` | ``user``, or a name given in ``rollback_as``): the
        ``requests`` one after the other (default :data:`~waveguard.sim.rollback.
        DEFAULT_ROLLBACK_REQUESTS`: ``kubectl delete -f`` of a DaemonSet change, workload
        first). Serving the workload's removal sets the change's share to 0 (its pods are
        deleted at 20/s). Returns the live :class:`RollbackRecord` (also in :attr:`rollbacks`
        and the result). Raises KeyError for an unknown cluster and ValueError for an identity
        the simulator was not built with (``rollback_as``), no requests, a request whose level
        has no rollback flow, or a rollback already running there. See :mod:`waveguard.sim.rollback`."""
        c = self._cluster(cluster)
        if self._rb is None:
            raise ValueError(f"the simulator was built without rollback identities; pass rollback_as=[{as_!r}]")
        return self._rb.start(cluster, c, as_, tuple(DEFAULT_ROLLBACK_REQUESTS if requests is None else requests))

    @property
    def rollbacks(self) -> list[RollbackRecord]:
        """Every rollback started so far, in order (records update as the simulation runs)."""
        return list(self._rb.records) if self._rb is not None else []

    def _rollback_driver(self, identities: dict[str, RollbackIdentity], seed: int, keys: list[int]) -> RollbackDriver:
        flow_of = {}
        for f, (ci, relist) in enumerate(zip(self.flows.client, self.flows.relist)):
            client = self.clients[ci]
            if client.role == "rollback" and not relist:
                name = client.name.split(":", 1)[1]
                flow_of[(name, self.level_names[self.flows.level[f]])] = f
        return RollbackDriver(self, identities, flow_of, seed, keys)

    def at(self, time_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. a set_rollout) when simulated time reaches ``time_s``."""
        self._events.append((time_s, len(self._events), action))
        self._events.sort(key=lambda e: (e[0], e[1]))

    def step(self, n_seconds: float | None = None) -> None:
        """Advance by ``n_seconds`` (default: one step of ``step_s``), recording every step."""
        n = 1 if n_seconds is None else max(1, int(round(n_seconds / self.dt)))
        for _ in range(n):
            if self._events and self._events[0][0] <= self.t + 1e-9:
                self._run_due_events()
            self._advance()

    def metrics(self) -> Snapshot:
        """The latest recorded values, read like Prometheus: ``snap.value(metric, cluster,
        **labels)`` (counters cumulative), ``snap.rate(counter, cluster)``."""
        return Snapshot(self.t, self.reader)

    def result(self, scenario_name: str = "") -> "SimulationResult":
        """Everything recorded so far (:class:`SimulationResult`)."""
        from waveguard.sim.result import SimulationResult

        return SimulationResult(scenario=scenario_name, simulator=self)

    def _cluster(self, name: str) -> int:
        try:
            return self._cidx[name]
        except KeyError:
            raise KeyError(f"no cluster named {name!r}") from None

    def _run_due_events(self) -> None:
        while self._events and self._events[0][0] <= self.t + 1e-9:
            self._events.pop(0)[2]()

    # --- the step -----------------------------------------------------------------------
    # Written for speed: each line is one or two numpy calls over all clusters at once.

    def _advance(self) -> None:
        dt, gf = self.dt, self.gf
        self.t += dt
        self._steps += 1
        demand_noise, lb_noise = self._noise()
        if self._ramping:
            self._ramp(dt)
        if self._steps % _SLOW_EVERY == 0:
            self._restart_coredns_pods(dt * _SLOW_EVERY)
            self._update_fanout()
            self._fanout_cpu = (self.W * self.deliv).sum(axis=0) * C.WATCH_EVENT_CPU_S
        if self._any_down:
            self._recover_replicas()

        # 1. Clients re-send after their back-off.
        rel = self.P * self.rel_frac
        self.P -= rel
        arr_g = rel.sum(axis=0)

        # 2. Arrivals (steady rates × demand noise, plus relists) over the replicas that are up.
        A_c = self.lam_dt * demand_noise
        A_c[gf] += arr_g
        w = self.upf * lb_noise
        total = w.sum(axis=0)
        share_r = w / np.maximum(total, _TINY)  # (R, C): each replica's share of new requests
        A = A_c[:, None, :] * share_r
        lost = A_c * (total <= 0) if self._any_down else None
        rb = self._rb if self._rb is not None and self._rb.active else None
        if rb is not None:  # the rollback's requests: one individual each (sim/rollback.py)
            rb.inject(A_c, A, share_r, total)
        self.sent += arr_g * (total > 0) if self._any_down else arr_g

        # 3. Executing requests complete at rate 1/τ; τ stretches when the replica's CPU is short.
        if self._slowed:
            self._update_service()
        done = self.E * self.fin
        self.E -= done

        # 4. Dispatch into free seats, max-min fair between a level's flows.
        inflight = self.E + self.EA if self._etcd_busy else self.E
        occ = self._per_level(inflight * self.seats3)
        avail = np.maximum(self.Su - occ, 0.0)
        Q, REJ, D = self.buf
        want = Q + A if self._queued else A
        dem = want * self.o
        dem_l = self._per_level(dem)
        if (dem_l <= avail).all():  # everything fits: no queue, no rejection
            np.copyto(D, want)
            given = dem_l
            if self._queued:
                Q.fill(0.0)
                REJ.fill(0.0)
                self._queued = False
        else:
            give, given = self._dispatch(dem, dem_l, avail)
            np.divide(give, self.o, out=D)
            # 5. What cannot wait is rejected (429): queue full, or waiting past the APF limit.
            np.subtract(want, D, out=Q)
            np.subtract(Q, self.qcap3, out=REJ)
            np.maximum(REJ, 0.0, out=REJ)
            Q -= REJ
            late = np.maximum(Q - D * self._wait_steps, 0.0)
            late *= self._wait_frac
            Q -= late
            REJ += late
            self._queued = True
        if self.legacy.enabled and self.legacy.admit(want, D, Q, REJ, inflight, self.seats3, self.o):
            self._queued = True  # max-in-flight (< 1.20): what does not fit is rejected at once
        if rb is not None and rb.resolve(D, Q, REJ, self.qcap3):
            self._queued = True
        Dx, etcd_out = self._through_etcd(D, Q) if self.etcd.enabled else (D, None)
        # Admitted requests share the replica's cores (goroutines): on a replica not yet slowed,
        # a burst whose CPU the step cannot hold stretches τ now, not a step late, so its
        # requests execute — and hold their memory — together instead of all finishing in it.
        if not self._slowed and len(self._heavy):
            self._absorb_burst(Dx)
        carry = Dx * self.keep
        self.E += carry
        if rb is not None:
            rb.execute(self.E, self.tau)

        # 6. Informers: synced, or back to back-off. A client whose answer would come after its
        # timeout (queue wait + service) gives up and retries; the server finishes the
        # abandoned LIST all the same (wasted seats, CPU, memory).
        done += Dx
        done -= carry
        comp_g = done[gf]
        failed = REJ[gf].sum(axis=1) if self._queued else None
        if self._slowed or self._has_dead:
            fin_g = self.fin[gf]
            dead_done = self.E_dead * fin_g
            self.E_dead -= dead_done
            comp_g -= dead_done
            if self._slowed:
                waited = np.minimum(Q[gf] / np.maximum(D[gf], _TINY) * dt, C.APF_QUEUE_WAIT_LIMIT_S)
                abandoned = Dx[gf] * (waited + self.tau[gf] > C.CLIENT_TIMEOUT_S)
                if self.etcd.enabled:
                    abandoned *= self._not_etcd_g  # decided when etcd answers (sim/etcd.py)
                failed = abandoned.sum(axis=1) if failed is None else failed + abandoned.sum(axis=1)
                comp_g -= abandoned * fin_g
                self.E_dead += abandoned * self.keep[gf]
            np.maximum(comp_g, 0.0, out=comp_g)
            self._has_dead = bool(self.E_dead.max() > _TINY)
        if etcd_out is not None:
            failed = self._etcd_failures(etcd_out, comp_g, failed)
        dns_synced_before = self.W[self.g_dns].sum(axis=0) if self.no_copy_any else None
        self.W += comp_g
        if lost is not None:
            failed = lost[gf] if failed is None else failed + lost[gf]
        if failed is not None and failed.max() > 0.0:
            self._back_off(failed, rel)

        # 7. Memory (live LIST responses × GC growth) and CPU of each replica.
        busy = Dx * self.busy_share  # dispatched this step and done within it, time-averaged
        busy += self.E
        mem = (busy[self.gf] * self.memf_g).sum(axis=0)  # LIST responses (steady flows: KiB)
        mem += self.base_mem
        mem *= self.upf
        cpu = self._cpu = self._cpu_utilisation(busy, A_c, share_r)
        was_slowed = self._slowed
        self._slowed = bool(cpu.max() > 1.0)
        if self._slowed:
            self.slow = np.maximum(cpu, 1.0)
        elif was_slowed:
            self.slow = np.ones_like(cpu)
            self._update_service()

        # 8. Borrowing: seat demand high watermark, readjusted every 10 s.
        used = occ + given
        demand = used + self._per_level(Q * self.seats3) if self._queued else used
        np.maximum(self.hw_u, demand, out=self.hw_u)
        if self.t + 1e-9 >= self._next_readjust:
            self._readjust()

        # 9. DNS and workloads.
        dns_fail = self._coredns_failure(comp_g[self.g_dns].sum(axis=0), dns_synced_before, A_c, lost)
        client_fail = self.dns_caches.step(dns_fail)
        api_fail = self._failure_ratio(self.f_workloads, A_c, lost) if self._queued or lost is not None \
            else self._zeros_c
        error = 1.0 - (1.0 - client_fail) * (1.0 - C.WORKLOAD_API_DEPENDENT_SHARE * api_fail)

        self._record(used, D, Q, REJ, mem, cpu, dns_fail, client_fail, error)
        oom = mem > self.mem_limit
        if oom.any():
            for r, c in zip(*np.nonzero(oom)):
                self._crash(int(c), int(r), oom=True)

    def _absorb_burst(self, Dx: np.ndarray) -> None:
        """Stretch τ within this step when the heavy requests just dispatched need more CPU than
        the replica has left (last step's utilisation); later changes wait for the step's end."""
        h = self._heavy
        burst = self._cpu + (Dx[h] * self.cpu3[h]).sum(axis=0) / (self.cores * self.dt)
        if burst.max() > _BURST_MARGIN:
            self.slow = np.maximum(burst, 1.0)
            self._slowed = True
            self._update_service()

    def _cpu_utilisation(self, busy: np.ndarray, A_c: np.ndarray, share_r: np.ndarray) -> np.ndarray:
        """CPU demand / cores of each replica (R, C): the executing requests ``busy`` (F, R, C),
        admission of every arriving request (even a 429) and watch-event fan-out."""
        cpu = (busy * self.cpurate3).sum(axis=0)
        cpu += (A_c.sum(axis=0) * (C.REQUEST_ADMISSION_CPU_S / self.dt)) * share_r
        cpu += self._fanout_cpu
        cpu /= self.cores
        return cpu

    def _per_level(self, x: np.ndarray) -> np.ndarray:
        """Sum ``(F, ...)`` over each level's flows → ``(Lu, ...)`` (one matmul)."""
        return (self.mlev @ x.reshape(self.F, -1)).reshape((self.Lu,) + x.shape[1:])

    def _dispatch(self, dem: np.ndarray, dem_l: np.ndarray, avail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max-min fair split of each level's free seats between its flows' demands (seats of
        this step): an equal share each, then what is left in proportion to unmet demand.
        Returns (seats given per flow, seats given per level)."""
        pos = self.pos
        n_active = self._per_level((dem > _TINY).astype(np.float64))
        equal = avail / np.maximum(n_active, 1.0)
        give = np.minimum(dem, equal[pos])
        given = self._per_level(give)
        unmet = dem - give
        unmet_l = self._per_level(unmet)
        frac = avail - given
        frac /= np.maximum(unmet_l, _TINY)
        np.minimum(frac, 1.0, out=frac)
        unmet *= frac[pos]
        give += unmet
        unmet_l *= frac
        given += unmet_l
        return give, given

    def _back_off(self, failed: np.ndarray, rel: np.ndarray) -> None:
        """Failed (re)lists wait one back-off level longer than the attempt that failed (the
        level mix of this step's attempts; of the last step that had any, otherwise)."""
        sent = rel.sum(axis=0)
        if sent.min() > _TINY:
            self.last_dist = rel / sent
        elif sent.max() > _TINY:
            self.last_dist = np.where(sent > _TINY, rel / np.maximum(sent, _TINY), self.last_dist)
        moved = self.last_dist * failed
        self.P[1:] += moved[:-1]
        self.P[-1] += moved[-1]

    def _noise(self) -> tuple[np.ndarray, np.ndarray]:
        """Demand noise per cluster (C,) and load-balancer noise per replica (R, C), lognormal
        with mean 1, drawn in blocks from each cluster's own seeded stream."""
        if self._noise_i >= _NOISE_BLOCK:
            cv = C.BASELINE_DEMAND_CV
            sigma = math.sqrt(math.log(1 + cv * cv))
            mu = -sigma * sigma / 2
            # Each cluster draws 1 + its own replica count per step, whatever the padding R, so
            # a cluster's noise does not depend on which other clusters it is simulated with.
            self._demand_block = np.empty((_NOISE_BLOCK, self.C))
            self._lb_block = np.ones((_NOISE_BLOCK, self.R, self.C))
            for c, (rng, cluster) in enumerate(zip(self._rngs, self.clusters)):
                draw = rng.lognormal(mu, sigma, (_NOISE_BLOCK, 1 + cluster.replicas))
                self._demand_block[:, c] = draw[:, 0]
                self._lb_block[:, : cluster.replicas, c] = draw[:, 1:]
            self._noise_i = 0
        i = self._noise_i
        self._noise_i += 1
        return self._demand_block[i], self._lb_block[i]

    def _legacy_limits(self) -> None:
        """Clusters before APF (< 1.20): their levels do not limit (max-in-flight admits)."""
        if self.legacy.enabled:
            self.S[:, :, self.legacy.cols] = EXEMPT_SEATS

    def _through_etcd(self, D: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, tuple | None]:
        """The admitted requests of flows served from etcd wait for it (sim/etcd.py); the
        responses that arrived this step enter the apiserver phase. Returns (requests entering
        the apiserver phase this step, (late, cancelled) per etcd flow or None)."""
        ef = self._ef
        De = D[ef]
        waited = np.minimum(Q[ef] / np.maximum(De, _TINY) * self.dt, C.APF_QUEUE_WAIT_LIMIT_S) if self._queued \
            else 0.0
        self.etcd.admit(self.t, De, waited)
        out = self.etcd.advance(self.t, self.tau[ef], self.slow)
        Dx = D.copy()
        Dx[ef] = 0.0 if out is None else out[0]
        self.EA[ef] = self.etcd.waiting
        self._etcd_busy = self.etcd.busy
        return Dx, None if out is None else out[1:]

    def _etcd_failures(self, out: tuple, comp_g: np.ndarray, failed: np.ndarray | None) -> np.ndarray | None:
        """Informers whose LIST from etcd failed: cancelled while waiting for etcd (client
        timeout), or answered by etcd too late to be written before it (abandoned: the server
        finishes the work, the client has gone)."""
        late, cancelled = out
        for e, g in self._etcd_groups:
            lost = late[e].sum(axis=0) + cancelled[e].sum(axis=0)
            if lost.max() <= _TINY:
                continue
            f = self.gf[g]
            comp_g[g] -= late[e] * self.fin[f]
            np.maximum(comp_g[g], 0.0, out=comp_g[g])
            self.E_dead[g] += late[e] * self.keep[f]
            self._has_dead = self._has_dead or bool(late[e].max() > _TINY)
            if failed is None:
                failed = np.zeros((len(self.gf), self.C))
            failed[g] += lost
        return failed

    # --- slowly changing figures ---------------------------------------------------------

    def _update_service(self) -> None:
        """τ, completion and occupancy factors of every flow on every replica (τ stretched by
        the replica's CPU shortage)."""
        self.tau = self.tau3 + (self.slow - 1.0) * self.cpu3 if self._slowed else self.tau3
        r = self.dt / self.tau
        self.fin = np.minimum(1.0, r)  # share of executing requests that finish in a step
        self.keep = 1.0 - self.fin  # share of a dispatched request left for later steps
        self.short = self.fin / r  # share of the step a request dispatched now executes
        self.busy_share = self.fin * self.short  # ... counting only those that finish in it
        self.o = self.seats3 * self.short + self.extra  # seat occupancy per request this step
        if len(self._ef):  # admitted requests that wait for etcd hold their seats the whole step
            self.o[self._ef] = self.seats3[self._ef] + self.extra[self._ef]

    def _update_fanout(self) -> None:
        """Extra seats every pod write costs its writer: ceil(W/10) × 5 ms (cost model), W the
        control plane's pod watches plus the change's synced cluster-wide pod watches."""
        if len(self.change_groups) == 0:
            return
        watchers = self.base_watchers + (self.W[self.change_groups] * self.change_pod_watchers).sum(axis=(0, 1))
        extra = writer_extra_seat_seconds_vec(watchers) / self.dt
        new = (self.podw * extra)[:, None, :]
        if self.legacy.enabled:
            new[:, :, self.legacy.cols] = 0.0  # no APF work estimate before 1.20
        if not np.array_equal(new, self.extra):
            self.extra = new
            self._update_service()

    def _update_rates(self) -> None:
        self.lam_dt = (self.rate_fixed + self.rate_change * self.share) * self.dt

    # --- rollout --------------------------------------------------------------------------

    def _ramp(self, dt: float) -> None:
        old = self.share.copy()
        step = self.ramp * dt
        self.share = np.where(self.share < self.target, np.minimum(self.target, self.share + step),
                              np.maximum(self.target, self.share - step))
        self._ramping = bool(np.any(self.share != self.target))
        self._update_rates()
        delta = self.share - old
        self.P[0, self.change_groups] += np.maximum(delta, 0.0) * self.change_instances
        shrink = np.maximum(-delta, 0.0)
        if shrink.any():
            # Deleted pods stop sending: drop them from the waiting and the synced alike.
            keep = np.where(old > 0, 1.0 - shrink / np.maximum(old, _TINY), 1.0)
            for g in self.change_groups:
                self.P[:, g] *= keep
                self.W[g] *= keep
            if self.etcd.busy:  # their connections close: what they wait for from etcd is cancelled
                self.etcd.scale(self.flows.is_change[self._ef], keep)
                self.EA[self._ef] = self.etcd.waiting

    # --- replicas ------------------------------------------------------------------------------

    def _crash(self, c: int, r: int, oom: bool) -> None:
        """Replica (c, r) goes down: requests fail, watches break (clients relist), memory and
        APF state are lost. OOM kills wait for the kubelet's crash-loop back-off."""
        gf = self.gf
        # Clients waiting on it (queued, executing — not those that already gave up) and those
        # whose watch ran through it relist after their first back-off.
        self.P[1, :, c] += self.buf[0, gf, r, c] + self.E[gf, r, c] - self.E_dead[:, r, c] + self.W[:, r, c]
        if self.etcd.enabled:  # those waiting for etcd through it fail too
            lost = self.etcd.drop(r, c)
            for e, g in self._etcd_groups:
                self.P[1, g, c] += lost[e]
            self.EA[:, r, c] = 0.0
        self.W[:, r, c] = 0.0
        self.buf[:, :, r, c] = 0.0  # (its queue is gone: _queued may stay True, harmless)
        self.E[:, r, c] = 0.0
        self.E_dead[:, r, c] = 0.0
        self.S[:, r, c] = self.nominal
        self._legacy_limits()
        self.Su[:, r, c] = self.S[self.used, r, c]
        self.hw[:, r, c] = self.hw_u[:, r, c] = self.smooth[:, r, c] = 0.0
        self.up[r, c] = False
        self.upf[r, c] = 0.0
        self._any_down = True
        delay = C.APISERVER_STARTUP_S + self.fill_s[c]
        if oom:
            self.oom_kills[c] += 1
            if self.t - self.up_since[r, c] >= C.CRASHLOOP_BACKOFF_RESET_S:
                self.crashes[r, c] = 0
            delay += min(C.CRASHLOOP_BACKOFF_MAX_S, C.CRASHLOOP_BACKOFF_INITIAL_S * 2.0 ** self.crashes[r, c])
            self.crashes[r, c] += 1
        self.down_until[r, c] = self.t + delay
        self._update_limit_record()

    def _recover_replicas(self) -> None:
        back = ~self.up & self.exists & (self.down_until <= self.t + 1e-9)
        if back.any():
            self.up |= back
            self.upf = self.up.astype(np.float64)
            self.up_since = np.where(back, self.t, self.up_since)
            self._update_limit_record()
        self._any_down = bool((self.exists & ~self.up).any())

    def _readjust(self) -> None:
        """APF borrowing (apf_controller.go, KEP-1040): each limited level's lower bound is
        max(nominal − lendable, min(nominal, demand high watermark)), its target the larger of
        that and its smoothed demand, its upper bound nominal + borrowing limit; one common fair
        fraction scales the targets so the limits sum to the server's nominal seats. Replicas
        that are down keep their state (they restart with nominal limits); clusters before
        borrowing (``APF_BORROWING_SINCE``) keep nominal limits throughout."""
        self._next_readjust += C.APF_READJUST_PERIOD_S
        self.hw[self.used] = self.hw_u
        self.hw_u[:] = 0.0
        lim = self.limited
        self.smooth = np.maximum(self.hw, self.smooth * C.APF_DEMAND_DECAY_PER_PERIOD)
        lo = np.maximum(self.min_cl[lim, None, None], np.minimum(self.nominal[lim, None, None], self.hw[lim]))
        hi = np.broadcast_to(self.max_cl[lim, None, None], lo.shape)
        target = np.maximum(lo, self.smooth[lim])
        fair = self._fair = _solve_fair_fraction(target, lo, hi, self.nominal_sum, self._fair)
        self.S[lim] = np.where(self.up & self._borrows, np.clip(fair * target, lo, hi), self.S[lim])
        self._legacy_limits()
        self.Su = self.S[self.used].copy()
        self._update_limit_record()

    # --- DNS ---------------------------------------------------------------------------------

    def _restart_coredns_pods(self, dt: float) -> None:
        """CoreDNS pods restart now and then (nodes replaced); a restarted pod has no copy of
        Services/EndpointSlices until its LIST succeeds."""
        g = self.g_dns
        restarts = (self.dns_instances - self.no_copy) * (C.COREDNS_POD_RESTART_PER_S * dt)
        self.no_copy += restarts
        self._no_copy_any = bool(self.no_copy.max() > 0)
        synced = self.W[g].sum(axis=0)
        self.W[g] *= 1.0 - np.minimum(1.0, restarts / np.maximum(synced, _TINY))
        self.P[0, g] += restarts

    @property
    def no_copy_any(self) -> bool:
        """Some CoreDNS pod somewhere has no copy of Services/EndpointSlices."""
        return self._no_copy_any

    def _coredns_failure(self, fresh: np.ndarray, synced_before: np.ndarray | None, A_c: np.ndarray,
                         lost: np.ndarray | None) -> np.ndarray:
        """Share of CoreDNS's answers that fail (SERVFAIL): pods without a copy (informer
        design), or answers whose API request failed (api_per_answer)."""
        if synced_before is not None:
            waiting = np.maximum(self.dns_instances - synced_before, _TINY)
            self.no_copy = np.maximum(0.0, self.no_copy - fresh * np.minimum(1.0, self.no_copy / waiting))
            self.no_copy[self.no_copy < 1e-9] = 0.0
            self._no_copy_any = bool(self.no_copy.max() > 0)
        if self.dns_mode == "api_per_answer":
            if not self._queued and lost is None:
                return self._zeros_c
            return self._failure_ratio(self.f_dns_query, A_c, lost)
        return self.no_copy / np.maximum(self.dns_instances, 1.0)

    def _failure_ratio(self, f: int | None, A_c: np.ndarray, lost: np.ndarray | None) -> np.ndarray:
        """Share of flow ``f``'s requests this step that failed (429 or no replica up)."""
        if f is None:
            return np.zeros(self.C)
        failed = self.buf[1, f].sum(axis=0)
        if lost is not None:
            failed += lost[f]
        failed /= np.maximum(A_c[f], _TINY)
        return np.minimum(failed, 1.0)

    # --- outputs -----------------------------------------------------------------------------

    def _update_limit_record(self) -> None:
        limit = (self.S * self.up).sum(axis=1)
        limit[~self.limited] = 0.0
        if self.legacy.enabled:
            limit[:, self.legacy.cols] = 0.0
        self._limit_rec = limit
        self._S_c = (self.Su * self.upf).sum(axis=1)  # (Lu, C): seats of the replicas up
        self._hold = None  # refresh the cached M/M/c factors
        if hasattr(self, "store"):
            self._write_slow_rows()

    def _record(self, used, D, Q, REJ, mem, cpu, dns_fail, client_fail, error) -> None:
        st = self.store
        if st.n == st.capacity:
            st.grow()
        f, row = st.frame, self._rows
        used_c = used.sum(axis=1)  # (Lu, C): all replicas
        if self._queued:
            Qc, Rc = Q.sum(axis=1), REJ.sum(axis=1)  # (F, C)
            inqueue, rejected = self.mlev @ Qc, self.mlev @ Rc
        else:
            Qc, inqueue, rejected = self._zeros_fc, self._zeros_lc, self._zeros_lc
        Dc = D.sum(axis=1)
        dispatched = self.mlev @ Dc
        wait_l, p99 = self._latency(used_c, Qc, Dc, inqueue, dispatched)
        st.times[st.n] = self.t
        f[row["apiserver_flowcontrol_current_executing_seats"]] = used_c
        f[row["apiserver_flowcontrol_current_inqueue_requests"]] = inqueue
        f[row["apiserver_flowcontrol_rejected_requests_total"]] = rejected
        f[row["apiserver_flowcontrol_dispatched_requests_total"]] = dispatched
        f[row["apiserver_flowcontrol_request_wait_duration_seconds"]] = wait_l
        f[row["apiserver_request_duration_seconds"]] = p99
        f[row["apiserver_request_total"]] = rejected.sum(axis=0)
        f[row["apiserver_current_inflight_requests"]] = (self.E + self.EA if self._etcd_busy else self.E).sum(axis=(0, 1))
        f[row["process_resident_memory_bytes"]] = mem
        f[row["coredns_dns_responses_total"]] = self.dns_lookups * dns_fail
        f[row["waveguard_sim_dns_client_failure_ratio"]] = client_fail
        f[row["waveguard_sim_workload_error_ratio"]] = error
        f[row["waveguard_sim_rollout_share"]] = self.share
        f[row["waveguard_sim_apiserver_cpu_demand_ratio"]] = cpu.max(axis=0)
        if self._rb is not None:
            rb = self._rb
            f[row["waveguard_sim_rollback_pending_requests"]] = rb.pending
            f[row["waveguard_sim_rollback_rejected_requests_total"]] = rb.rejected_step
            f[row["waveguard_sim_rollback_failed_requests_total"]] = rb.failed_step
            rb.rejected_step[:] = 0.0
            rb.failed_step[:] = 0.0
        st.commit()

    def _write_slow_rows(self) -> None:
        """Rows that change only on events (limits, replicas up, constant lookups)."""
        f, row = self.store.frame, self._rows
        f[row["apiserver_flowcontrol_current_limit_seats"]] = self._limit_rec
        f[row["up"]] = self.upf
        f[row["coredns_dns_requests_total"]] = self.dns_lookups

    def _latency(self, used_c, Qc, Dc, inqueue, dispatched) -> tuple[np.ndarray, np.ndarray]:
        """p99 queue wait per level and p99 latency per scope, per cluster (all replicas).

        Wait = the fluid backlog of the queue (queued / dispatch rate) + the random wait of an
        M/M/c queue (c = the level's seats) at the level's utilisation ρ (:func:`mmc_p99_wait`),
        capped at the APF wait limit (past it a request is rejected). Latency = wait + service
        time (the slowest replica's)."""
        if self._steps % _SLOW_EVERY == 1 or self._hold is None:
            x = Dc * self.seats3[:, 0, :]  # (F, C) seats dispatched
            self._tau_c = self.tau.max(axis=1)
            if self.etcd.enabled:  # a LIST from etcd first waits for it
                self._tau_c[self._ef] += self.etcd.time_s()
            self._hold = (self.mlev @ (x * self._tau_c)) / np.maximum(self.mlev @ x, _TINY)
            S = np.maximum(self._S_c, 1.0)
            self._mmc_scale = mmc_p99_wait(self._hold, S, np.ones_like(S))  # hold × ln100 / c
            self._mmc_power = np.sqrt(2.0 * (S + 1.0)) - 1.0
        rho = np.minimum(used_c / np.maximum(self._S_c, _TINY), 0.999)
        random_wait = self._mmc_scale * rho ** self._mmc_power / (1.0 - rho)  # = mmc_p99_wait(...)
        if self._queued:
            level_wait = inqueue / np.maximum(dispatched, _TINY) * self.dt + random_wait
            wait_l = np.minimum(level_wait, C.APF_QUEUE_WAIT_LIMIT_S)
        else:
            wait_l = np.minimum(random_wait, C.APF_QUEUE_WAIT_LIMIT_S)
        wait = random_wait[self.pos]
        if self._queued:
            wait = wait + Qc / np.maximum(Dc, _TINY) * self.dt
        latency = np.minimum(wait, C.APF_QUEUE_WAIT_LIMIT_S) + self._tau_c  # (F, C)
        per_scope = self.scope_onehot.T @ Dc  # (scopes, C)
        significant = (Dc > _TINY) & (Dc >= _P99_SHARE * (self.scope_onehot @ per_scope))
        p99 = (np.where(significant, latency, 0.0)[:, None, :] * self.scope_onehot[:, :, None]).max(axis=0)
        return wait_l, p99
