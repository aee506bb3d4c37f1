"""Run a scenario: build the simulator, schedule the rollout and events, step to the end.

Clusters do not interact, so :func:`simulate` may split the fleet into shards and run them in
parallel worker processes (one per core); each cluster draws its noise from its own stream keyed
by its index in the whole fleet, so the result is the same as a single-process run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from functools import partial
from typing import Callable, Sequence

import numpy as np

from waveguard.model.apf import APFConfig
from waveguard.model.fleet import Fleet
from waveguard.sim.engine import FleetSimulator
from waveguard.sim.metrics import CODES, LabelSpace, MetricStore, SeriesReader
from waveguard.sim.result import SimulationResult
from waveguard.sim.scenario import Scenario

#: progress(done_steps, total_steps)
Progress = Callable[[int, int], None]
#: With ``workers=0`` (auto): below this many clusters per worker a process costs more than it saves.
MIN_CLUSTERS_PER_WORKER = 40


def build_simulator(scenario: Scenario, seed: int | None = None, clusters: list[int] | None = None, *,
                    apf: APFConfig | None = None, rollback_as: Sequence[str] = ()) -> FleetSimulator:
    """A :class:`FleetSimulator` for ``scenario`` (or the clusters at indices ``clusters`` of its
    fleet) with its schedule and events queued. ``apf`` replaces the scenario's APF objects;
    ``rollback_as`` adds rollback identities to those of its rollback events (so that code can
    start rollbacks with :meth:`FleetSimulator.rollback`)."""
    full = scenario.fleet_model.clusters
    index = list(range(len(full))) if clusters is None else list(clusters)
    fleet = Fleet.model_construct(clusters=[full[i] for i in index])
    options = scenario.simulator_options(seed, apf=apf, rollback_as=rollback_as, noise_keys=index)
    sim = FleetSimulator(fleet, scenario.profiles, **options.kwargs())
    names = {full[i].name for i in index}
    for cluster, (start, share, pods_per_s) in scenario.start_times().items():
        if cluster in names:
            sim.at(start, partial(sim.set_rollout, cluster, share, pods_per_s))
    for ev in scenario.events:
        if ev.restart_apiserver is not None and ev.restart_apiserver.cluster in names:
            restart = ev.restart_apiserver
            replicas = range(sim.clusters[sim.cluster_names.index(restart.cluster)].replicas) if restart.all_replicas \
                else [restart.replica]  # issue 12: every replica at once
            for r in replicas:
                sim.at(ev.at_s, partial(sim.restart_apiserver, restart.cluster, r))
        elif ev.rollback is not None and ev.rollback.cluster in names:
            rb = ev.rollback
            sim.at(ev.at_s, partial(sim.rollback, rb.cluster, rb.identity, rb.parsed_requests()))
        elif ev.apiserver_down is not None and ev.apiserver_down.cluster in names:
            down = ev.apiserver_down
            sim.at(ev.at_s, partial(sim.hold_apiserver_down, down.cluster, down.replica, ev.at_s + down.duration_s))
    return sim


def n_steps(scenario: Scenario) -> int:
    """Steps of the scenario's ``step_s`` that cover its ``duration_s``."""
    return scenario.n_steps


def simulate(scenario: Scenario, seed: int | None = None, progress: Progress | None = None,
             workers: int | None = None) -> SimulationResult:
    """Simulate ``scenario`` for its duration; ``seed`` overrides the scenario's seed.

    ``progress(done, total)`` is called about every 1 % of the steps. ``workers``: processes to
    use (default 1; 0 = one per CPU for fleets of at least 40 clusters per CPU). Same seed, same
    result, whatever the number of workers. Extra workers pay off only on idle cores: on a
    busy machine one process is faster."""
    n_clusters = len(scenario.fleet_model.clusters)
    workers = _workers(workers, n_clusters)
    if workers <= 1:
        sim = build_simulator(scenario, seed)
        _run(sim, n_steps(scenario), progress)
        return sim.result(scenario.name)
    return _simulate_sharded(scenario, seed, progress, workers)


def _workers(requested: int | None, n_clusters: int) -> int:
    if requested is None:
        return 1
    if requested > 0:
        return max(1, min(requested, n_clusters))
    if "fork" not in mp.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, n_clusters // MIN_CLUSTERS_PER_WORKER))


def _run(sim: FleetSimulator, total: int, progress: Progress | None, tick: Callable[[int], None] | None = None) -> None:
    every = max(1, total // 100)
    for i in range(total):
        sim.step()
        if (i + 1) % every == 0:
            if progress is not None:
                progress(i + 1, total)
            if tick is not None:
                tick(every)
    if progress is not None:
        progress(total, total)


def shard_clusters(nodes: list[int], workers: int) -> list[list[int]]:
    """Split cluster indices into ``workers`` shards of similar total size (largest first onto
    the lightest shard); each shard keeps fleet order."""
    shards: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i in sorted(range(len(nodes)), key=lambda k: -nodes[k]):
        w = load.index(min(load))
        shards[w].append(i)
        load[w] += nodes[i] + 1
    return [sorted(s) for s in shards if s]


def _simulate_sharded(scenario: Scenario, seed: int | None, progress: Progress | None,
                      workers: int) -> SimulationResult:
    ctx = mp.get_context("fork")
    total = n_steps(scenario)
    shards = shard_clusters([c.nodes for c in scenario.fleet_model.clusters], workers)
    done = ctx.Value("l", 0)

    def tick(k: int) -> None:
        with done.get_lock():
            done.value += k

    def child(conn, index: list[int]) -> None:
        try:
            sim = build_simulator(scenario, seed, index)
            _run(sim, total, None, tick)
            conn.send(_export(sim))
        except BaseException as exc:  # report, never hang the parent
            conn.send(exc)
        finally:
            conn.close()

    procs, pipes = [], []
    for index in shards:
        parent, kid = ctx.Pipe(duplex=False)
        p = ctx.Process(target=child, args=(kid, index), daemon=True)
        p.start()
        kid.close()
        procs.append(p)
        pipes.append(parent)
    parts = []
    for conn in pipes:
        while not conn.poll(0.2):
            if progress is not None:
                progress(min(total, done.value // len(shards)), total)
        parts.append(conn.recv())
    for p in procs:
        p.join()
    for part in parts:
        if isinstance(part, BaseException):
            raise part
    if progress is not None:
        progress(total, total)
    return _merge(scenario, shards, parts)


def _export(sim: FleetSimulator) -> dict:
    st = sim.store
    n = st.n
    return {
        "n": n, "times": st.times[:n].copy(), "frames": st.frames[:n], "rows": st.rows,
        "totals": st.totals, "static": sim.reader.static, "labels": sim.reader.labels, "R": sim.R,
        "oom": {name: int(k) for name, k in zip(sim.cluster_names, sim.oom_kills, strict=True)}, "step_s": sim.dt,
        "rollbacks": sim.rollbacks,
    }


def _merge(scenario: Scenario, shards: list[list[int]], parts: list[dict]) -> SimulationResult:
    clusters = scenario.fleet_model.clusters
    n_clusters, n_replicas = len(clusters), max(p["R"] for p in parts)
    n = parts[0]["n"]
    labels0: LabelSpace = parts[0]["labels"]
    dims = {"priority_level": len(labels0.priority_level), "scope": len(labels0.scope), "instance": n_replicas, "code": len(CODES)}
    store = MetricStore(n_clusters, dims, n)
    store.times[:n] = parts[0]["times"]
    for index, part in zip(shards, parts, strict=True):
        frames = part["frames"]
        for name, rows in part["rows"].items():
            target = store.frames[:n, store.rows[name], :]
            # A shard may have fewer replicas (instance rows): fill the ones it has.
            target[:, : rows.stop - rows.start][:, :, index] = frames[:, rows, :]
        for name, tot in part["totals"].items():
            store.totals[name][..., index] = tot
    store.n = n
    static = {}
    for name, val in parts[0]["static"].items():
        merged = np.zeros(val.shape[:-1] + (n_clusters,), dtype=np.float64)
        for index, part in zip(shards, parts, strict=True):
            merged[..., index] = part["static"][name]
        static[name] = merged
    labels = LabelSpace(priority_level=labels0.priority_level, scope=labels0.scope,
                        instance=[str(r) for r in range(n_replicas)])
    reader = SeriesReader(store, [c.name for c in clusters], labels, static, parts[0]["step_s"])
    oom = {}
    for part in parts:
        oom.update(part["oom"])
    rollbacks = sorted((r for part in parts for r in part["rollbacks"]), key=lambda r: r.started_at_s)
    return SimulationResult(scenario.name, reader=reader, nodes={c.name: c.nodes for c in clusters}, oom_kills=oom,
                            rollbacks=rollbacks)
