"""Steady resourceVersion="0" LISTs that reach a replica whose watch cache is filling.

k8s staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go ``GetList`` (model.work.
not_ready_cache_outcome): up to 1.30 a not-ready cache forwards a resourceVersion="0" LIST to
etcd ("If Cacher is not yet initialized ... simply forward the request to storage"); from 1.31
(ResilientWatchCacheInitialization) only one paginated without selector, any other is answered
429. A LIST forwarded to etcd needs etcd's leader like a GET from etcd: without one it waits and
fails with 500. Contract test (no kube-apiserver runs here): a node agent polls its namespace's
pods (a periodic LIST, resourceVersion="0"), the replicas restart with etcd leaderless, so their
caches cannot fill; the poller's LISTs then fail with 500 before 1.31 and not from 1.31 (they are
refused by the cache instead — a 429 the simulator does not model yet: docs/simulator.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.sim.run import build_simulator
from waveguard.sim.scenario import scenario_from_data

POLLER = "DaemonSet/monitoring/node-poller"


def _scenario(version: str, limit: int | None = None) -> dict:
    poll = {"verb": "list", "resource": "pods", "scope": "namespace", "trigger": "periodic", "rate_per_s": 0.1}
    if limit is not None:
        poll["limit"] = limit
    return {
        "name": f"cold-poll-{version}", "duration_s": 200, "step_s": 1, "seed": 4,
        "fleet": {"clusters": [{"name": "c", "nodes": 300, "apiserver_replicas": 1, "kubernetes_version": version}]},
        "change": {"initial_share": 1.0, "profile": {
            "client": POLLER, "agent": "node-poller", "per_node": True, "namespace": "monitoring",
            "service_account": "node-poller", "classes": [poll]}},
    }


def _poller_500s(version: str, restart: bool, limit: int | None = None) -> float:
    """500s answered to the poller's LISTs: etcd loses its leader for 90 s at t = 10 s; with
    ``restart`` the replica restarts then too (its cache fills only once etcd has a leader)."""
    sim = build_simulator(scenario_from_data(_scenario(version, limit), source=version))
    flows = [f for f, ci in enumerate(sim.flows.client) if sim.clients[ci].name == POLLER and not sim.flows.relist[f]]
    sim.step(10)
    if restart:
        sim.restart_apiserver("c")
    sim.state.etcd_down_until[0] = sim.time_s + 90.0
    sim.state.etcd_idle = False
    failed = 0.0
    for _ in range(120):
        sim.step(1)
        if sim.state.etcd_500_by_flow is not None:
            failed += float(sim.state.etcd_500_by_flow[flows].sum())
    return failed


@pytest.mark.parametrize("version", ["1.18", "1.29", "1.30"])
def test_up_to_1_30_a_filling_cache_sends_steady_rv0_lists_to_etcd(version):
    assert _poller_500s(version, restart=True) > 0  # forwarded, and etcd has no leader
    assert _poller_500s(version, restart=False) == 0.0  # a ready cache answers without etcd


def test_from_1_31_only_paginated_lists_without_selector_are_forwarded():
    assert _poller_500s("1.31", restart=True) == 0.0  # unpaginated: the cache refuses it (429)
    assert _poller_500s("1.31", restart=True, limit=500) > 0  # delegated to etcd


def test_the_poller_is_steady_not_a_relist():
    sim = build_simulator(scenario_from_data(_scenario("1.29"), source="x"))
    steady = [f for f, ci in enumerate(sim.flows.client) if sim.clients[ci].name == POLLER and not sim.flows.relist[f]]
    assert steady and np.all(sim.params.cold_get_share[steady] > 0)
