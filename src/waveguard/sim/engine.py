"""The fleet simulator: a time-stepped fluid model of every apiserver replica of every cluster.

:class:`FleetSimulator` holds the static parameters of the run (:class:`~waveguard.sim.params.
SimParams`), the state (:class:`~waveguard.sim.state.FleetState`: named arrays, flow-major,
clusters last) and the recorded series; :meth:`FleetSimulator.step` advances every cluster at
once by calling the phases of :mod:`waveguard.sim.phases` in order. Nothing is scripted:
saturation, 429s, OOM kills, relist storms and DNS failures follow from the phases' equations
(docs/simulator.md states them in words).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestProfile
from waveguard.sim.build import apiserver_cores, build_params, initial_state, watch_cache_fill_s
from waveguard.sim.clients import CrashLoop, RetryPolicy, SimClient
from waveguard.sim.flows import compile_flows
from waveguard.sim.metrics import MetricStore, SeriesReader, Snapshot
from waveguard.sim.noise import Noise
from waveguard.sim.options import DNSMode, rollback_identities, simulator_clients
from waveguard.sim.phases import apf_borrowing, apf_dispatch, dns, etcd, informers, latency, recording, replicas
from waveguard.sim.phases.common import SLOW_EVERY
from waveguard.sim.phases.latency import mmc_p99_wait
from waveguard.sim.result import SimulationResult
from waveguard.sim.rollback import (
    DEFAULT_ROLLBACK_REQUESTS, RollbackDriver, RollbackIdentity, RollbackRecord, RollbackRequest, rollback_flows,
)

#: Re-exported: ``mmc_p99_wait`` and the per-cluster figures moved to sim/phases/latency.py, sim/build.py.
__all__ = ["DNSMode", "FleetSimulator", "apiserver_cores", "mmc_p99_wait", "watch_cache_fill_s"]


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
                 rollback_as: Sequence[str | RollbackIdentity] = (), change_retry: RetryPolicy = "client-go",
                 crashloop: CrashLoop | None = None) -> None:
        if not step_s > 0:
            raise ValueError("step_s must be > 0")
        self.fleet = fleet
        self.apf = apf or APFConfig()
        self.dt = float(step_s)
        self.dns_mode: DNSMode = dns_mode
        self.clusters: list[Cluster] = list(fleet.clusters)
        self.cluster_names = [c.name for c in self.clusters]
        self._cluster_index = {n: i for i, n in enumerate(self.cluster_names)}
        identities = rollback_identities(rollback_as)
        self.clients: list[SimClient] = simulator_clients(
            profiles, dns_mode=dns_mode, baseline_backoff=baseline_backoff, change_backoff=change_backoff,
            rollback_as=list(identities.values()), change_retry=change_retry, crashloop=crashloop)
        self.flows, self.groups = compile_flows(self.clients, self.clusters, self.apf)
        self.params = build_params(self.clusters, self.clients, self.flows, self.groups, self.apf, self.dt, dns_mode,
                                   crashloop)
        keys = list(noise_keys) if noise_keys is not None else list(range(len(self.clusters)))
        noise = Noise.seeded(seed, keys, [c.replicas for c in self.clusters], self.params.n_replicas)
        driver = RollbackDriver(self, identities, rollback_flows(self.clients, self.flows, self.params.level_names),
                                seed, keys, len(self.clusters), self.dt) if identities else None
        self.state = initial_state(self.params, self.flows, self.groups, initial_share, noise, driver)
        self.recorder = recording.Recorder(self.params, self.cluster_names, expected_steps)
        self._events: list[tuple[float, int, Callable[[], object]]] = []

    # --- the step ---------------------------------------------------------------------------

    def step(self, n_seconds: float | None = None) -> None:
        """Advance by ``n_seconds`` (default: one step of ``step_s``), recording every step."""
        n = 1 if n_seconds is None else max(1, int(round(n_seconds / self.dt)))
        for _ in range(n):
            while self._events and self._events[0][0] <= self.state.time_s + 1e-9:
                self._events.pop(0)[2]()
            self._advance()

    def _advance(self) -> None:
        """One step of ``dt`` seconds: the phases in order (each a function of the state, the
        parameters and dt; see :mod:`waveguard.sim.phases`)."""
        state, params, dt = self.state, self.params, self.dt
        state.time_s += dt
        state.step_count += 1
        state.demand_noise, state.lb_noise = state.noise.draw()
        informers.ramp_rollout(state, params, dt)  # the change's pods start / stop
        if state.step_count % SLOW_EVERY == 0:  # slowly moving figures
            dns.restart_coredns_pods(state, params, dt * SLOW_EVERY)
            apf_dispatch.update_fanout_seats(state, params, dt)
            replicas.update_fanout_cpu(state, params, dt)
        replicas.recover(state, params, dt)  # replicas whose down time is over
        informers.release_backoff(state, params, dt)  # 1. clients re-send after their back-off
        informers.arrive(state, params, dt)  # 2. arrivals over the replicas that are up
        replicas.complete(state, params, dt)  # 3. executing requests complete at rate 1/τ
        apf_dispatch.dispatch(state, params, dt)  # 4-5. dispatch, queue or 429 (max-in-flight < 1.20)
        etcd.through_etcd(state, params, dt)  # LISTs from etcd wait for it, holding their seats
        replicas.start_executing(state, params, dt)  # admitted requests execute
        informers.settle_informers(state, params, dt)  # 6. informers answered, rejected or abandoned
        etcd.fail_late_lists(state, params, dt)  # ... or failed while waiting for etcd
        etcd.etcd_component(state, params, dt)  # etcd's writes, memory, OOM and latency
        informers.sync_informers(state, params, dt)  # ... synced, or back to back-off
        replicas.memory_and_cpu(state, params, dt)  # 7. memory and CPU of every replica
        apf_borrowing.track_demand(state, params, dt)  # 8. seat demand; limits readjusted every 10 s
        dns.resolve(state, params, dt)  # 9. CoreDNS, DNS caches, workloads' errors
        latency.measure(state, params, dt, self.recorder.due(state.step_count))  # p99 wait and latency
        recording.record(state, params, dt, self.recorder)
        replicas.oom_kill(state, params, dt)  # replicas over their memory limit

    # --- public control ---------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        """Simulated seconds since the start."""
        return self.state.time_s

    def set_rollout(self, cluster: str, share: float, pods_per_s: float = C.DAEMONSET_PODS_CREATED_PER_S) -> None:
        """Aim ``cluster``'s change at ``share`` (0..1) of its nodes; pods are created (or, when
        rolling back, deleted) at ``pods_per_s``. Raises KeyError / ValueError on bad input."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be within 0..1")
        if pods_per_s <= 0:
            raise ValueError("pods_per_s must be > 0")
        c, state = self._cluster(cluster), self.state
        state.rollout_target[c] = share
        state.ramp_per_s[c] = pods_per_s / max(1.0, self.params.nodes[c]) if self.params.change_per_node else math.inf
        state.ramping = bool(np.any(state.rollout_share != state.rollout_target))

    def restart_apiserver(self, cluster: str, replica: int = 0) -> None:
        """Restart one apiserver replica now (its clients relist elsewhere; it returns after
        startup and watch-cache fill). Raises KeyError / IndexError on bad input."""
        c = self._cluster(cluster, replica)
        if self.state.up[replica, c]:
            replicas.crash(self.state, self.params, c, replica, oom=False)

    def hold_apiserver_down(self, cluster: str, replica: int, until_s: float) -> None:
        """Take one apiserver replica down now and keep it down until simulated second
        ``until_s`` (an outage of its node or zone, not a crash: no crash-loop back-off). Its
        queued and executing requests fail and the watches through it break (their clients
        relist on the replicas that are up); from ``until_s`` it serves again with nominal APF
        limits. A replica already down stays down at least until then. Raises KeyError /
        IndexError on bad input."""
        c = self._cluster(cluster, replica)
        if self.state.up[replica, c]:
            replicas.crash(self.state, self.params, c, replica, oom=False)
        self.state.down_until[replica, c] = max(self.state.down_until[replica, c], until_s)

    def relists_sent(self, cluster: str, client: str) -> float:
        """(Re)list bundles the instances of ``client`` (a profile's ``client``, or a baseline
        client: "kubelet", "coredns" ...) have sent to ``cluster``'s apiservers so far: each
        bundle is the client's start LISTs, sent once. Counts those that reached a replica that
        was up, whether answered, rejected with 429 or abandoned after the client timeout — what
        the apiserver's audit log records. Raises KeyError for an unknown cluster or client."""
        c = self._cluster(cluster)
        for g, ci in enumerate(self.groups.client):
            if self.clients[ci].name == client:
                return float(self.state.relists_sent[g, c])
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
        driver = self.state.rollback
        if driver is None:
            raise ValueError(f"the simulator was built without rollback identities; pass rollback_as=[{as_!r}]")
        return driver.start(cluster, c, as_, tuple(DEFAULT_ROLLBACK_REQUESTS if requests is None else requests))

    @property
    def rollbacks(self) -> list[RollbackRecord]:
        """Every rollback started so far, in order (records update as the simulation runs)."""
        return list(self.state.rollback.records) if self.state.rollback is not None else []

    def at(self, time_s: float, action: Callable[[], object]) -> None:
        """Run ``action`` (e.g. a set_rollout) when simulated time reaches ``time_s``."""
        self._events.append((time_s, len(self._events), action))
        self._events.sort(key=lambda e: (e[0], e[1]))

    def metrics(self) -> Snapshot:
        """The latest recorded values, read like Prometheus: ``snap.value(metric, cluster,
        **labels)`` (counters cumulative), ``snap.rate(counter, cluster)``."""
        return Snapshot(self.state.time_s, self.reader)

    def result(self, scenario_name: str = "") -> SimulationResult:
        """Everything recorded so far (:class:`SimulationResult`)."""
        return SimulationResult(scenario=scenario_name, simulator=self)

    # --- read-only views (the exporter, the sharded run and the tests read them) ------------

    @property
    def store(self) -> MetricStore:
        """The recorded frames (:class:`MetricStore`)."""
        return self.recorder.store

    @property
    def reader(self) -> SeriesReader:
        """The recorded series by metric name (:class:`SeriesReader`)."""
        return self.recorder.reader

    @property
    def R(self) -> int:  # noqa: N802 (the replica padding R, as in the shapes)
        """Apiserver replicas per cluster as padded (the largest cluster's count)."""
        return self.params.n_replicas

    @property
    def up(self) -> np.ndarray:
        """``(R, C)`` bool: replica r of cluster c serves."""
        return self.state.up

    @property
    def oom_kills(self) -> np.ndarray:
        """``(C,)`` OOM kills so far per cluster."""
        return self.state.oom_kills

    @property
    def sent(self) -> np.ndarray:
        """``(G, C)`` (re)list bundles per informer group that reached a replica that was up."""
        return self.state.relists_sent

    def _cluster(self, name: str, replica: int | None = None) -> int:
        """Index of cluster ``name``; KeyError if unknown, IndexError if it has no ``replica``."""
        if name not in self._cluster_index:
            raise KeyError(f"no cluster named {name!r}")
        c = self._cluster_index[name]
        if replica is not None and not 0 <= replica < self.clusters[c].replicas:
            raise IndexError(f"{name} has {self.clusters[c].replicas} apiserver replicas")
        return c
