"""The same restart storm and the same start-up storm on clusters of seven Kubernetes versions
(issue 12, read path): each difference between versions points the way the Kubernetes source
says it should (docs/simulator.md, "Versions", explains each row).

Both scenarios are the shipped examples with only ``kubernetes_version`` changed:
``restart-cold-caches`` (every apiserver replica of a 1,300-node cluster restarts with cold
watch caches) and ``watchlist-agent`` with the agent left at client-go's WatchList default (a
DaemonSet of pod informers rolls out on 3,000 nodes). No kube-apiserver binary runs here: the
contract tested is the simulator's, and the gates it reads are tested against the feature-gate
tables in tests/test_versions.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pytest

from waveguard.model.versions import features_for
from waveguard.model.yamlio import safe_load
from waveguard.sim import simulate
from waveguard.sim.run import build_simulator
from waveguard.sim.scenario import builtin_path, scenario_from_data

VERSIONS = ("1.18", "1.25", "1.29", "1.31", "1.33", "1.34", "1.35")


def _run(name: str, version: str, watch_list: str | None = None) -> dict[str, float]:
    data = safe_load(Path(builtin_path(name)).read_text())
    for cluster in data["fleet"]["clusters"]:
        cluster["kubernetes_version"] = version
    if watch_list is not None:
        data["change"]["profile"]["classes"][0]["watch_list"] = watch_list
    result = simulate(scenario_from_data(data, source=f"{name}@{version}"), workers=1)
    row = result.summary()[0]
    # a counter: its last value is every 429 of the run
    return {"429": float(result.series("apiserver_request_total", row.name, code="429")[-1]),
            "memory": float(result.series("process_resident_memory_bytes", row.name).max()),
            "oom": float(row.oom_kills),
            "inflight": float(result.series("apiserver_current_inflight_requests", row.name).max()),
            "etcd_memory": float(result.series("waveguard_sim_etcd_memory_bytes", row.name).max())}


@pytest.fixture(scope="module")
def restart_storm() -> dict[str, dict[str, float]]:
    return {v: _run("restart-cold-caches", v) for v in VERSIONS}


@pytest.fixture(scope="module")
def startup_storm() -> dict[str, dict[str, float]]:
    return {v: _run("watchlist-agent", v, watch_list="client-go-default") for v in VERSIONS}


def test_streaming_encoding_lowers_the_memory_of_both_storms_from_1_33(restart_storm, startup_storm):
    for storm in (restart_storm, startup_storm):
        assert storm["1.33"]["memory"] < storm["1.31"]["memory"] / 2  # the response is not buffered
        assert storm["1.33"]["oom"] <= storm["1.31"]["oom"]
        assert storm["1.34"]["memory"] <= storm["1.33"]["memory"] * 1.01


def test_watch_list_is_used_only_where_client_and_server_both_have_it(startup_storm):
    # WatchListClient is on by default from 1.35, the server's WatchList in 1.32 and from 1.34:
    # of the matrix only 1.35 starts its informers with a WatchList (streamed from the cache).
    assert [v for v in VERSIONS if features_for(v).uses_watch_list] == ["1.35"]
    assert startup_storm["1.35"]["memory"] <= startup_storm["1.34"]["memory"] * 1.01


def test_before_apf_nothing_limits_concurrent_lists(restart_storm, startup_storm):
    # 1.18 admits with max-in-flight (400 requests per replica whatever their size), not seats:
    # more LISTs run at once than APF lets through in 1.25. Up to 1.30 the relists that reach a
    # filling cache are range reads of etcd, so what 1.18 admits lands on etcd at once: its
    # members hold more range responses. (Where etcd is then OOM-killed and sends nothing, the
    # apiservers hold nothing for the LISTs waiting on it — a receive buffer becomes resident as
    # its bytes arrive, model.etcd.receive_buffer_resident_bytes — so the apiservers' own peak
    # need not be higher on 1.18.)
    for storm in (restart_storm, startup_storm):
        assert storm["1.18"]["inflight"] > storm["1.25"]["inflight"]
        assert storm["1.18"]["etcd_memory"] > storm["1.25"]["etcd_memory"]


# --- issue 12, item 1: where a not-ready watch cache sends a restart storm's relists --------------


AGENT = "DaemonSet/monitoring/node-informer"


def _restart_storm_route(version: str) -> dict[str, float]:
    """The ``restart-cold-caches`` storm on ``version``, stepped here so that the 429s a filling
    cache answers the agent (not APF's) and its relists re-sent can be read apart. ``memory_s``:
    byte-seconds the apiserver replicas hold above their idle memory over the run (the mean
    replica), ``waiting``: the largest memory the relists waiting for etcd hold on a replica."""
    data = safe_load(Path(builtin_path("restart-cold-caches")).read_text())
    for cluster in data["fleet"]["clusters"]:
        cluster["kubernetes_version"] = version
    scenario = scenario_from_data(data, source=f"restart-cold-caches@{version}")
    sim = build_simulator(scenario)
    g = [sim.clients[ci].name for ci in sim.groups.client].index(AGENT)
    params, state = sim.params, sim.state
    cold_429 = memory_s = waiting = 0.0
    for _ in range(scenario.n_steps):
        sim.step()
        if state.cold_rejected is not None:
            cold_429 += float(state.cold_rejected[g].sum())
        memory_s += float(np.maximum(state.memory - params.baseline_memory_bytes, 0.0).mean()) * sim.dt
        held = state.etcd.received[params.memory_flows_etcd_row] * (1.0 - params.memory_flows_not_etcd)
        waiting = max(waiting, float(held.sum(axis=0).max()))
    result = sim.result(scenario.name)
    name = result.summary()[0].name
    return {"etcd_bytes": float(result.series("etcd_network_client_grpc_sent_bytes_total", name)[-1]),
            "memory": float(result.series("process_resident_memory_bytes", name).max()),
            "memory_s": memory_s, "waiting": waiting, "cold_429": cold_429,
            "relists": sim.relists_sent(name, AGENT), "instances": float(sim.groups.instances[0, g])}


@pytest.fixture(scope="module")
def restart_route() -> dict[str, dict[str, float]]:
    return {v: _restart_storm_route(v) for v in ("1.29", "1.31")}


def test_up_to_1_30_a_filling_cache_sends_the_storm_to_etcd_and_from_1_31_answers_429(restart_route):
    """k8s staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go up to 1.30 (``GetList``:
    "If Cacher is not yet initialized and we don't require any specific minimal resource
    version, simply forward the request to storage"): the informers' resourceVersion="0" LISTs
    that reach a restarted replica are range reads of etcd — etcd sends their bytes, and the
    apiserver holds each range response while it arrives (grpc-go ``recvMsg`` allocates the whole
    message) and then the decoded list (etcd3/store.go ``GetList``; buffered before 1.33), for as
    long as etcd, shared by the storm and by the caches' own fill, takes; and nothing answers them
    429 for the cache (APF still may). From 1.31
    (ResilientWatchCacheInitialization) the same unpaginated LISTs are answered 429: no etcd
    reads for them, and every 429 is followed by a relist after the reflector's back-off; only
    LISTs paginated without a selector are delegated (the control plane's informers, whose pager
    sends limit=500 with resourceVersion="0": reflector.go), so etcd still sends their bytes.

    Not asserted, because the source does not decide it: the peak of a replica's memory, and its
    memory over the storm. APF bounds the LISTs in flight by seats; a seat held by a LIST waiting
    for etcd holds what has arrived of its range response (once, as etcd stores it: protobuf, half
    the JSON), one held by a LIST from the ready cache its buffered response
    (LIST_FROM_CACHE_MEMORY_MULTIPLIER × Go's heap growth, per JSON byte); which is higher depends
    on how many wait at once and how many return together from the reflector's back-off (with the
    stored bytes, 1.31 holds more over the storm: docs/simulator.md, "Versions")."""
    old, new = restart_route["1.29"], restart_route["1.31"]
    assert not features_for("1.29").resilient_watch_cache_init and features_for("1.31").resilient_watch_cache_init
    assert old["cold_429"] == 0.0 < new["cold_429"]
    assert old["etcd_bytes"] > new["etcd_bytes"]
    assert old["waiting"] > new["waiting"]
    # each informer relisted once after the restart, and once more after each 429 it got
    assert new["relists"] >= new["instances"] + new["cold_429"] * 0.99
