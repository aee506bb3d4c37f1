"""The fleet simulator: a time-stepped fluid model of every apiserver replica of every cluster.

State is held in numpy arrays over clusters (C), apiserver replicas (R, padded to the largest
cluster), flows (F, see :mod:`waveguard.sim.flows`), priority levels (L) and informer groups
(G); one :meth:`FleetSimulator.step` advances every cluster at once. Nothing is scripted:
saturation, 429s, OOM kills, relist storms and DNS failures follow from the equations below
(docs/simulator.md states them in words).

Per step of ``dt`` seconds, per replica:

1. clients whose watch broke or whose LIST failed re-send after their back-off;
2. arrivals (steady rates × demand noise, plus relists) are spread over the replicas that are up;
3. executing requests complete at rate 1/τ, τ stretched when the replica's CPU is short;
4. each priority level dispatches queued requests into its free seats, max-min fair between
   flows; what cannot wait (queue beyond handSize × queueLengthLimit, or longer than the APF
   wait limit) is rejected with 429;
5. memory = baseline + live LIST responses × GC growth; above the limit the replica is
   OOM-killed, drops its requests and watches (their clients relist elsewhere) and comes back
   after the kubelet's crash-loop back-off, startup and watch-cache fill;
6. every 10 s each level's limit is readjusted from its seat demand (borrowing);
7. DNS: CoreDNS failure (a restarted pod without its copy, or — ``api_per_answer`` — its API
   requests failing) reaches workloads only as client and node-local cache entries expire.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import numpy as np

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig
from waveguard.model.cost import baseline_memory_bytes, watch_cache_bytes
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.sim.clients import SimClient, baseline_clients, change_client
from waveguard.sim.flows import (
    EXEMPT_SEATS, SCOPES, baseline_pod_watchers, compile_flows, writer_extra_seat_seconds_vec,
)
from waveguard.sim.dns import DNSCaches
from waveguard.sim.metrics import LabelSpace, MetricStore, SeriesReader, Snapshot

DNSMode = Literal["informer", "api_per_answer"]

#: Client back-off levels: 0 = send now, then 0.8, 1.6, ... 30 s (client-go reflector).
_BACKOFF_DELAYS_S = tuple(
    min(C.CLIENT_BACKOFF_MAX_S, C.CLIENT_BACKOFF_INITIAL_S * C.CLIENT_BACKOFF_FACTOR ** k) for k in range(7)
)
_K = len(_BACKOFF_DELAYS_S) + 1
#: Share of a level's traffic of one scope a flow needs to count in that scope's p99.
_P99_SHARE = 0.01
#: ln(100): the p99 of an exponential wait is ln(100) × its mean.
_LN100 = math.log(100.0)
_NOISE_BLOCK = 512
_TINY = 1e-12


def apiserver_cores(cluster: Cluster) -> float:
    """CPU cores of one apiserver replica of ``cluster`` (memory limit / bytes per core)."""
    return cluster.memory_limit_bytes / C.APISERVER_MEMORY_BYTES_PER_CORE


def watch_cache_fill_s(cluster: Cluster) -> float:
    """Seconds a restarted apiserver spends filling its watch cache from etcd."""
    stored = watch_cache_bytes(cluster) / C.WATCH_CACHE_MEMORY_MULTIPLIER
    return stored * C.ETCD_READ_S_PER_BYTE


class FleetSimulator:
    """Step a fleet minute by minute (or finer); drive it from a scenario or a rollout engine.

    ``FleetSimulator(fleet, profiles)`` builds the model; :meth:`set_rollout` sets the share of
    a cluster's nodes that should run the change (pods are created at ``pods_per_s``);
    :meth:`step` advances time; :meth:`metrics` returns the latest values under real metric
    names; :meth:`result` the recorded series. Deterministic for a given ``seed``.

    Raises ValueError for a non-positive ``step_s``.
    """

    def __init__(self, fleet: Fleet, profiles: list[RequestProfile] | tuple = (), *, apf: APFConfig | None = None,
                 seed: int = 0, step_s: float = 1.0, dns_mode: DNSMode = "informer", baseline_backoff: bool = True,
                 change_backoff: bool = True, initial_share: float = 0.0, expected_steps: int = 3600) -> None:
        if not step_s > 0:
            raise ValueError("step_s must be > 0")
        self.fleet = fleet
        self.apf = apf or APFConfig()
        self.dt = float(step_s)
        self.dns_mode = dns_mode
        self.clusters: list[Cluster] = list(fleet.clusters)
        self.cluster_names = [c.name for c in self.clusters]
        self._cidx = {n: i for i, n in enumerate(self.cluster_names)}
        self.clients: list[SimClient] = baseline_clients(backoff=baseline_backoff,
                                                         api_per_answer_dns=dns_mode == "api_per_answer")
        self.clients += [change_client(p, change_backoff) for p in profiles]
        self.flows, self.groups = compile_flows(self.clients, self.clusters, self.apf)
        self._rng = np.random.default_rng(seed)
        self.t = 0.0
        self._setup_static()
        self._setup_state(initial_share)
        self._setup_recording(expected_steps)

    # --- construction -----------------------------------------------------------------

    def _setup_static(self) -> None:
        cl, fl, gr = self.clusters, self.flows, self.groups
        self.C = len(cl)
        self.R = max(c.replicas for c in cl)
        self.exists = np.array([[r < c.replicas for r in range(self.R)] for c in cl])
        self.mem_limit = np.array([c.memory_limit_bytes for c in cl], dtype=np.float64)
        self.mem_limit2 = self.mem_limit[:, None].copy()
        self.base_mem2 = np.array([baseline_memory_bytes(c) for c in cl], dtype=np.float64)[:, None].copy()
        self.cores2 = np.array([apiserver_cores(c) for c in cl], dtype=np.float64)[:, None].copy()
        self.fill_s = np.array([watch_cache_fill_s(c) for c in cl], dtype=np.float64)
        self.base_watchers = np.array([baseline_pod_watchers(c) for c in cl], dtype=np.float64)
        self.nodes = np.array([c.nodes for c in cl], dtype=np.float64)
        self.dns_lookups = self.nodes * (C.DNS_LOOKUPS_TO_COREDNS_PER_NODE_PER_S * self.dt)
        self._setup_levels()
        # Flows: per-(cluster, replica, flow) constants, broadcast once.
        self.starts, self.pos, self.used = fl.level_starts, fl.level_pos, fl.used_levels
        used = self.used
        self._lvl = slice(int(used[0]), int(used[-1]) + 1) if np.all(np.diff(used) == 1) else used
        self.rate_fixed = np.where(fl.is_change, 0.0, fl.rate)
        self.rate_change = np.where(fl.is_change, fl.rate, 0.0)
        full = (self.C, self.R, len(fl.names))
        per_replica = lambda x: np.ascontiguousarray(np.broadcast_to(x[:, None, :], full))  # noqa: E731
        self.tau3 = per_replica(fl.tau)
        self.r3 = self.dt / self.tau3
        self.cpu3 = per_replica(fl.cpu)
        self.seats3 = per_replica(fl.seats)
        self.memf3 = per_replica(fl.mem * C.GO_HEAP_GROWTH_FACTOR)
        self.cpurate3 = per_replica(fl.cpu / fl.tau)
        self.qcap3 = np.ascontiguousarray(np.broadcast_to(fl.qcap, full))
        self.extra3 = np.zeros((self.C, 1, len(fl.names)))
        self.scope_onehot = np.eye(len(SCOPES))[fl.scope]  # (F, scopes)
        self._wait_steps = C.APF_QUEUE_WAIT_LIMIT_S / self.dt
        self._wait_frac = min(1.0, self.dt / C.APF_QUEUE_WAIT_LIMIT_S)
        # Informer groups.
        self.rel_frac = np.array([self._release_fractions(bool(b)) for b in gr.backoff])  # (G, K)
        self.deliv3 = gr.deliveries[:, None, :].copy()
        roles = [self.clients[i].role for i in gr.client]
        self.g_dns = roles.index("coredns")
        self.dns_instances = gr.instances[:, self.g_dns].copy()
        self.f_dns_query = self._steady_flow("coredns") if self.dns_mode == "api_per_answer" else None
        self.f_workloads = self._steady_flow("workloads")
        self.change_groups = np.flatnonzero(gr.is_change)
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
        jitter_mean = 1.0 + C.CLIENT_BACKOFF_JITTER / 2
        delays = [0.0] + [d * jitter_mean if backoff else C.CLIENT_NO_BACKOFF_RETRY_S for d in _BACKOFF_DELAYS_S]
        return np.array([1.0 if d == 0 else 1.0 - math.exp(-self.dt / d) for d in delays])

    def _steady_flow(self, role: str) -> int | None:
        for f, (ci, relist) in enumerate(zip(self.flows.client, self.flows.relist)):
            if self.clients[ci].role == role and not relist:
                return f
        return None

    def _setup_state(self, initial_share: float) -> None:
        Cn, R, F, G, L = self.C, self.R, len(self.flows.names), len(self.groups.flow), len(self.level_names)
        self.up = self.exists.copy()
        self.upf = self.up.astype(np.float64)
        self.down_until = np.zeros((Cn, R))
        self.crashes = np.zeros((Cn, R), dtype=np.int64)
        self.up_since = np.zeros((Cn, R))
        self.oom_kills = np.zeros(Cn, dtype=np.int64)
        self.S = np.broadcast_to(self.nominal, (Cn, R, L)).copy()
        self.Su = self.S[:, :, self.used].copy()
        self.hw = np.zeros((Cn, R, L))
        self.hw_u = np.zeros((Cn, R, len(self.used)))
        self.smooth = np.zeros((Cn, R, L))
        self.buf = np.zeros((3, Cn, R, F))  # queued, rejected (this step), dispatched (this step)
        self.E = np.zeros((Cn, R, F))
        self.P = np.zeros((Cn, G, _K))
        self.last_dist = np.zeros((Cn, G, _K))
        self.last_dist[:, :, 1] = 1.0
        self.slow = np.ones((Cn, R))
        self.share = np.full(Cn, float(initial_share))
        self.target = self.share.copy()
        self.ramp = np.full(Cn, math.inf)
        synced = self.groups.instances * np.where(self.groups.is_change, self.share[:, None], 1.0)
        self.W = synced[:, None, :] * (self.exists / self.exists.sum(1, keepdims=True))[:, :, None]
        self.no_copy = np.zeros(Cn)
        self.dns_caches = DNSCaches(Cn, self.dt)
        self._ramping = self._any_down = self._slowed = False
        self._update_rates()
        self._update_fanout()
        self._update_limit_record()
        self._next_readjust = C.APF_READJUST_PERIOD_S
        self._noise_i = _NOISE_BLOCK
        self._events: list[tuple[float, Callable[[], None]]] = []

    def _setup_recording(self, expected_steps: int) -> None:
        dims = {"priority_level": len(self.level_names), "scope": len(SCOPES), "instance": self.R}
        self.store = MetricStore(self.C, dims, expected_steps)
        labels = LabelSpace(priority_level=self.level_names, scope=list(SCOPES),
                            instance=[str(r) for r in range(self.R)])
        nominal = np.where(self.limited, self.nominal, 0.0)[None, :] * self.exists.sum(1)[:, None]
        static = {"apiserver_flowcontrol_nominal_limit_seats": nominal,
                  "waveguard_sim_apiserver_memory_limit_bytes": self.mem_limit}
        self.reader = SeriesReader(self.store, self.cluster_names, labels, static, self.dt)

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
        nodes = max(1.0, self.nodes[c])
        self.ramp[c] = pods_per_s / nodes if self.change_per_node else math.inf
        self._ramping = bool(np.any(self.share != self.target))

    def restart_apiserver(self, cluster: str, replica: int = 0) -> None:
        """Restart one apiserver replica now (its clients relist elsewhere; it returns after
        startup and watch-cache fill). Raises KeyError / IndexError on bad input."""
        c = self._cluster(cluster)
        if not 0 <= replica < self.clusters[c].replicas:
            raise IndexError(f"{cluster} has {self.clusters[c].replicas} apiserver replicas")
        if self.up[c, replica]:
            self._crash(c, replica, oom=False)

    def at(self, time_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. a set_rollout) when simulated time reaches ``time_s``."""
        self._events.append((time_s, action))
        self._events.sort(key=lambda e: e[0])

    def step(self, n_seconds: float | None = None) -> None:
        """Advance by ``n_seconds`` (default: one step of ``step_s``), recording every step."""
        n = 1 if n_seconds is None else max(1, int(round(n_seconds / self.dt)))
        for _ in range(n):
            self._run_due_events()
            self._advance()

    def metrics(self) -> Snapshot:
        """The latest recorded values, read like Prometheus: ``snap.value(metric, cluster,
        **labels)`` (counters cumulative), ``snap.rate(counter, cluster)``."""
        return Snapshot(self.t, self.reader)

    def _cluster(self, name: str) -> int:
        try:
            return self._cidx[name]
        except KeyError:
            raise KeyError(f"no cluster named {name!r}") from None

    def _run_due_events(self) -> None:
        while self._events and self._events[0][0] <= self.t + 1e-9:
            _, action = self._events.pop(0)
            action()

    # --- the step -----------------------------------------------------------------------
    # Written for speed: every line is a handful of numpy calls over all clusters at once.

    def _advance(self) -> None:
        dt, gf, starts = self.dt, self.groups.flow, self.starts
        self.t += dt
        demand_noise, lb_noise = self._noise()
        if self._ramping:
            self._ramp(dt)
        self._restart_coredns_pods(dt)
        if self._any_down:
            self._recover_replicas()

        # 1. Clients re-send after their back-off.
        rel = self.P * self.rel_frac
        self.P -= rel
        arr_g = rel.sum(axis=2)

        # 2. Arrivals (steady rates × demand noise, plus relists) over the replicas that are up.
        A_c = self.lam_dt * demand_noise[:, None]
        A_c[:, gf] += arr_g
        w = self.upf * lb_noise
        total = w.sum(axis=1, keepdims=True)
        A = A_c[:, None, :] * (w / np.maximum(total, _TINY))[:, :, None]
        lost = A_c * (total <= 0) if self._any_down else None

        # 3. Executing requests complete at rate 1/τ; τ stretches when the replica's CPU is short.
        if self._slowed:
            tau = self.tau3 + (self.slow[:, :, None] - 1.0) * self.cpu3
            r = dt / tau
        else:
            tau, r = self.tau3, self.r3
        fin = np.minimum(1.0, r)
        done = self.E * fin
        self.E -= done

        # 4. Dispatch into free seats, max-min fair between a level's flows.
        occ = np.add.reduceat(self.E * self.seats3, starts, axis=2)
        avail = np.maximum(self.Su - occ, 0.0)
        short = fin / r  # share of the step a request dispatched now executes
        o = self.seats3 * short + self.extra3
        Q, REJ, D = self.buf
        want = Q + A
        give, given = self._dispatch(want * o, avail)
        np.divide(give, o, out=D)
        carry = D * (1.0 - fin)
        self.E += carry

        # 5. What cannot wait is rejected (429): queue full, or waiting past the APF limit.
        np.subtract(want, D, out=Q)
        np.subtract(Q, self.qcap3, out=REJ)
        np.maximum(REJ, 0.0, out=REJ)
        Q -= REJ
        late = np.maximum(Q - D * self._wait_steps, 0.0)
        late *= self._wait_frac
        Q -= late
        REJ += late

        # 6. Informers: synced, or back to back-off.
        done += D
        done -= carry
        comp_g = done[:, :, gf]
        if self._slowed:  # answers slower than the client timeout are thrown away and retried
            ok = tau[:, :, gf] <= C.CLIENT_TIMEOUT_S
            failed = (REJ[:, :, gf] + comp_g * ~ok).sum(axis=1)
            comp_g = comp_g * ok
        else:
            failed = REJ[:, :, gf].sum(axis=1)
        synced_dns_before = self.W[:, :, self.g_dns].sum(axis=1)
        self.W += comp_g
        if lost is not None:
            failed += lost[:, gf]
        self._back_off(failed, rel)

        # 7. Memory (live LIST responses × GC growth) and CPU of each replica.
        busy = D * short
        busy += self.E
        mem = (busy * self.memf3).sum(axis=2)
        mem += self.base_mem2
        mem *= self.upf
        cpu = (busy * self.cpurate3).sum(axis=2)
        cpu += A.sum(axis=2) * (C.REQUEST_ADMISSION_CPU_S / dt)
        cpu += (self.W * self.deliv3).sum(axis=2) * C.WATCH_EVENT_CPU_S
        cpu /= self.cores2
        self.slow = np.maximum(1.0, cpu)
        self._slowed = bool(self.slow.max() > 1.0)

        # 8. Borrowing: seat demand high watermark, readjusted every 10 s.
        used = occ + given
        queued_seats = np.add.reduceat(Q * self.seats3, starts, axis=2)
        np.maximum(self.hw_u, used + queued_seats, out=self.hw_u)
        if self.t + 1e-9 >= self._next_readjust:
            self._readjust()

        # 9. Fan-out: synced pod watchers charge every pod write (from the next step).
        self._update_fanout()

        # 10. DNS and workloads.
        dns_fail = self._coredns_failure(comp_g[:, :, self.g_dns].sum(axis=1), synced_dns_before, A_c, lost)
        client_fail = self.dns_caches.step(dns_fail)
        api_fail = self._failure_ratio(self.f_workloads, A_c, lost)
        error = 1.0 - (1.0 - client_fail) * (1.0 - C.WORKLOAD_API_DEPENDENT_SHARE * api_fail)

        self._record(used, tau, D, Q, mem, cpu, dns_fail, client_fail, error)
        oom = mem > self.mem_limit2
        if oom.any():
            for c, rr in zip(*np.nonzero(oom)):
                self._crash(int(c), int(rr), oom=True)

    def _dispatch(self, dem: np.ndarray, avail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max-min fair split of each level's free seats between its flows' demands (seats of
        this step): an equal share each, then what is left in proportion to unmet demand.
        Returns (seats given per flow, seats given per level)."""
        starts, pos = self.starts, self.pos
        n_active = np.add.reduceat(dem > _TINY, starts, axis=2)
        equal = avail / np.maximum(n_active, 1)
        give = np.minimum(dem, equal[:, :, pos])
        given = np.add.reduceat(give, starts, axis=2)
        unmet = dem - give
        unmet_l = np.add.reduceat(unmet, starts, axis=2)
        frac = np.minimum(1.0, (avail - given) / np.maximum(unmet_l, _TINY))
        unmet *= frac[:, :, pos]
        give += unmet
        given += unmet_l * frac
        return give, given

    def _back_off(self, failed: np.ndarray, rel: np.ndarray) -> None:
        """Failed (re)lists wait one back-off level longer than the attempt that failed (the
        level mix of this step's attempts; of the last step that had any, otherwise)."""
        sent = rel.sum(axis=2, keepdims=True)
        if sent.min() > _TINY:
            self.last_dist = rel / sent
        else:
            self.last_dist = np.where(sent > _TINY, rel / np.maximum(sent, _TINY), self.last_dist)
        moved = failed[:, :, None] * self.last_dist
        self.P[:, :, 1:] += moved[:, :, :-1]
        self.P[:, :, -1] += moved[:, :, -1]

    def _noise(self) -> tuple[np.ndarray, np.ndarray]:
        """Demand noise per cluster and load-balancer noise per replica, drawn in blocks from
        the seeded generator (lognormal, mean 1)."""
        if self._noise_i >= _NOISE_BLOCK:
            cv = C.BASELINE_DEMAND_CV
            sigma = math.sqrt(math.log(1 + cv * cv))
            self._demand_block = self._rng.lognormal(-sigma * sigma / 2, sigma, (_NOISE_BLOCK, self.C))
            self._lb_block = self._rng.lognormal(-sigma * sigma / 2, sigma, (_NOISE_BLOCK, self.C, self.R))
            self._noise_i = 0
        i = self._noise_i
        self._noise_i += 1
        return self._demand_block[i], self._lb_block[i]

    def _pod_watchers(self) -> np.ndarray:
        """Watches every pod write is sent to: the control plane's, plus synced cluster-wide pod
        watches of the change."""
        synced = self.W[:, :, self.change_groups].sum(axis=1)
        return self.base_watchers + (synced * self.groups.pod_watchers[:, self.change_groups]).sum(axis=1)

    def _update_fanout(self) -> None:
        """Extra seats every pod write costs its writer: ceil(W/10) × 5 ms (cost model)."""
        if len(self.change_groups) == 0:
            return
        extra = writer_extra_seat_seconds_vec(self._pod_watchers())
        self.extra3 = (self.flows.pod_write_frac * (extra / self.dt)[:, None])[:, None, :]

    # --- rollout --------------------------------------------------------------------------

    def _ramp(self, dt: float) -> None:
        old = self.share.copy()
        step = self.ramp * dt
        self.share = np.where(self.share < self.target, np.minimum(self.target, self.share + step),
                              np.maximum(self.target, self.share - step))
        self._ramping = bool(np.any(self.share != self.target))
        self._update_rates()
        delta = self.share - old
        inst = self.groups.instances[:, self.change_groups]
        self.P[:, self.change_groups, 0] += np.maximum(delta, 0.0)[:, None] * inst
        shrink = np.maximum(-delta, 0.0)
        if shrink.any():
            # Deleted pods stop sending: drop them from the waiting and the synced alike.
            keep = np.where(old > 0, 1.0 - shrink / np.maximum(old, _TINY), 1.0)
            for g in self.change_groups:
                self.P[:, g, :] *= keep[:, None]
                self.W[:, :, g] *= keep[:, None]

    def _update_rates(self) -> None:
        self.lam_dt = (self.rate_fixed + self.rate_change * self.share[:, None]) * self.dt

    # --- replicas ------------------------------------------------------------------------------

    def _crash(self, c: int, r: int, oom: bool) -> None:
        """Replica (c, r) goes down: requests fail, watches break (clients relist), memory and
        APF state are lost. OOM kills wait for the kubelet's crash-loop back-off."""
        gf = self.groups.flow
        Q, REJ, D = self.buf
        self.P[c, :, 1] += Q[c, r, gf] + self.E[c, r, gf] + self.W[c, r, :]
        self.W[c, r, :] = 0.0
        self.buf[:, c, r, :] = 0.0
        self.E[c, r, :] = 0.0
        self.S[c, r, :] = self.nominal
        self.Su[c, r, :] = self.nominal[self.used]
        self.hw[c, r, :] = 0.0
        self.hw_u[c, r, :] = 0.0
        self.smooth[c, r, :] = 0.0
        self.slow[c, r] = 1.0
        self.up[c, r] = False
        self.upf[c, r] = 0.0
        self._any_down = True
        delay = C.APISERVER_STARTUP_S + self.fill_s[c]
        if oom:
            self.oom_kills[c] += 1
            if self.t - self.up_since[c, r] >= C.CRASHLOOP_BACKOFF_RESET_S:
                self.crashes[c, r] = 0
            delay += min(C.CRASHLOOP_BACKOFF_MAX_S, C.CRASHLOOP_BACKOFF_INITIAL_S * 2.0 ** self.crashes[c, r])
            self.crashes[c, r] += 1
        self.down_until[c, r] = self.t + delay
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
        that are down keep their state (they restart with nominal limits)."""
        self._next_readjust += C.APF_READJUST_PERIOD_S
        self.hw[:, :, self.used] = self.hw_u
        self.hw_u[:] = 0.0
        lim = self.limited
        self.smooth = np.maximum(self.hw, self.smooth * C.APF_DEMAND_DECAY_PER_PERIOD)
        hw = self.hw[:, :, lim]
        lo = np.maximum(self.min_cl[lim], np.minimum(self.nominal[lim], hw))
        hi = self.max_cl[lim]
        target = np.maximum(lo, self.smooth[:, :, lim])
        low = np.zeros(target.shape[:2])
        high = np.ones(target.shape[:2])
        while True:  # bracket the fair fraction
            total = np.clip(high[:, :, None] * target, lo, hi).sum(axis=2)
            short = total < self.nominal_sum
            if not short.any() or high.max() > 1e6:
                break
            high = np.where(short, high * 2, high)
        for _ in range(24):
            mid = (low + high) / 2
            total = np.clip(mid[:, :, None] * target, lo, hi).sum(axis=2)
            below = total < self.nominal_sum
            low = np.where(below, mid, low)
            high = np.where(below, high, mid)
        new = np.clip(high[:, :, None] * target, lo, hi)
        self.S[:, :, lim] = np.where(self.up[:, :, None], new, self.S[:, :, lim])
        self.Su = self.S[:, :, self.used].copy()
        self._update_limit_record()

    # --- DNS ---------------------------------------------------------------------------------

    def _restart_coredns_pods(self, dt: float) -> None:
        """CoreDNS pods restart now and then (nodes replaced); a restarted pod has no copy of
        Services/EndpointSlices until its LIST succeeds."""
        g = self.g_dns
        restarts = (self.dns_instances - self.no_copy) * (C.COREDNS_POD_RESTART_PER_S * dt)
        self.no_copy += restarts
        synced = self.W[:, :, g].sum(axis=1)
        self.W[:, :, g] *= (1.0 - np.minimum(1.0, restarts / np.maximum(synced, _TINY)))[:, None]
        self.P[:, g, 0] += restarts

    def _coredns_failure(self, fresh: np.ndarray, synced_before: np.ndarray, A_c: np.ndarray,
                         lost: np.ndarray | None) -> np.ndarray:
        """Share of CoreDNS's answers that fail (SERVFAIL): pods without a copy (informer
        design), or answers whose API request failed (api_per_answer)."""
        waiting = np.maximum(self.dns_instances - synced_before, _TINY)
        self.no_copy = np.maximum(0.0, self.no_copy - fresh * np.minimum(1.0, self.no_copy / waiting))
        if self.dns_mode == "api_per_answer":
            return self._failure_ratio(self.f_dns_query, A_c, lost)
        return self.no_copy / np.maximum(self.dns_instances, 1.0)

    def _failure_ratio(self, f: int | None, A_c: np.ndarray, lost: np.ndarray | None) -> np.ndarray:
        """Share of flow ``f``'s requests this step that failed (429 or no replica up)."""
        if f is None:
            return np.zeros(self.C)
        failed = self.buf[1, :, :, f].sum(axis=1)
        if lost is not None:
            failed = failed + lost[:, f]
        return np.minimum(1.0, failed / np.maximum(A_c[:, f], _TINY))

    # --- outputs -----------------------------------------------------------------------------

    def _update_limit_record(self) -> None:
        limit = (self.S * self.up[:, :, None]).sum(axis=1)
        limit[:, ~self.limited] = 0.0
        self._limit_rec = limit
        S = np.maximum(self.Su, 1.0)
        self._mmc_power = np.sqrt(2.0 * (S + 1.0)) - 1.0
        self._mmc_scale = _LN100 / S

    def _record(self, used, tau, D, Q, mem, cpu, dns_fail, client_fail, error) -> None:
        st, n = self.store, self.store.n
        if n == st.capacity:
            st.grow()
        a, L = st.arrays, self._lvl
        per_level = np.add.reduceat(self.buf, self.starts, axis=3).sum(axis=2)  # (3, C, Lu): Q, 429, D
        wait_l, p99 = self._latency(used, tau, D, Q)
        st.times[n] = self.t
        a["apiserver_flowcontrol_current_executing_seats"][n][:, L] = used.sum(axis=1)
        a["apiserver_flowcontrol_current_inqueue_requests"][n][:, L] = per_level[0]
        a["apiserver_flowcontrol_rejected_requests_total"][n][:, L] = per_level[1]
        a["apiserver_flowcontrol_dispatched_requests_total"][n][:, L] = per_level[2]
        a["apiserver_flowcontrol_current_limit_seats"][n] = self._limit_rec
        a["apiserver_flowcontrol_request_wait_duration_seconds"][n][:, L] = wait_l
        a["apiserver_request_duration_seconds"][n] = p99
        a["apiserver_request_total"][n] = per_level[1].sum(axis=1)
        a["apiserver_current_inflight_requests"][n] = self.E.sum(axis=(1, 2))
        a["process_resident_memory_bytes"][n] = mem
        a["up"][n] = self.upf
        a["coredns_dns_requests_total"][n] = self.dns_lookups
        a["coredns_dns_responses_total"][n] = self.dns_lookups * dns_fail
        a["waveguard_sim_dns_client_failure_ratio"][n] = client_fail
        a["waveguard_sim_workload_error_ratio"][n] = error
        a["waveguard_sim_rollout_share"][n] = self.share
        a["waveguard_sim_apiserver_cpu_demand_ratio"][n] = cpu.max(axis=1)
        st.commit()

    def _latency(self, used, tau, D, Q) -> tuple[np.ndarray, np.ndarray]:
        """p99 queue wait per level (worst replica) and p99 latency per scope.

        Wait = the fluid backlog of the flow's own queue (queued / dispatch rate) + the random wait of an M/M/c queue (c = the level's seats) at the
        level's utilisation ρ: Sakasegawa's mean ρ^(√(2(c+1))−1)/(c(1−ρ)) × holding time,
        p99 = ln(100) × mean. It grows without bound as ρ approaches 1; APF caps what a request
        may wait (past the limit it is rejected), so the wait is capped there."""
        starts = self.starts
        rho = np.minimum(used / np.maximum(self.Su, _TINY), 0.999)
        x = D * self.seats3
        hold = np.add.reduceat(x * tau, starts, axis=2) / np.maximum(np.add.reduceat(x, starts, axis=2), _TINY)
        random_wait = hold * self._mmc_scale * rho ** self._mmc_power / (1.0 - rho)
        backlog = Q / np.maximum(D, _TINY) * self.dt
        # APF rejects what would wait longer than its limit: no request waits longer.
        wait = np.minimum(C.APF_QUEUE_WAIT_LIMIT_S, backlog + random_wait[:, :, self.pos])
        wait_l = np.maximum.reduceat(wait, starts, axis=2).max(axis=1)
        wait += tau
        latency = wait.max(axis=1)  # worst replica
        served = D.sum(axis=1)
        per_scope = served @ self.scope_onehot  # (C, scopes)
        significant = served >= _P99_SHARE * (per_scope @ self.scope_onehot.T)
        p99 = (np.where(significant, latency, 0.0)[:, :, None] * self.scope_onehot).max(axis=1)
        return wait_l, p99

    def result(self, scenario_name: str = "") -> "SimulationResult":
        from waveguard.sim.result import SimulationResult

        return SimulationResult(scenario=scenario_name, simulator=self)
