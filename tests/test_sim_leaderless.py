"""Requests that fail with 500 because etcd has no leader are failures, not served requests.

Contract tests (no etcd or kube-apiserver runs here): cluster a's etcd is put without a leader
for 60 s, as after an OOM kill (``sim/phases/etcd.py`` ``_etcd_oom`` sets ``etcd_down_until``);
cluster b, the same size, keeps its leader. A write dispatched while the leader is at least
etcd's request timeout away fails with 500 (``etcd_500_by_flow``); one dispatched later waits
and commits when the leader is back (etcd commits only through its leader: raft,
server/etcdserver/v3_server.go ``processInternalRaftRequestOnce``, 3.4–3.6).
"""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster, Fleet
from waveguard.sim import FleetSimulator
from waveguard.sim.phases.dns import failure_ratio

LEADERLESS_S = 60.0


@pytest.fixture(scope="module")
def outage():
    sim = FleetSimulator(Fleet(clusters=[Cluster(name="a", nodes=100), Cluster(name="b", nodes=100)]), seed=2)
    sim.step(5)
    start = sim.time_s
    sim.state.etcd_down_until[0] = start + LEADERLESS_S
    sim.state.etcd_idle = False
    sim.step(LEADERLESS_S + 30)
    return sim.result(), start


def _per_step(result, metric: str, cluster: str, **labels) -> np.ndarray:
    return np.diff(result.series(metric, cluster, **labels), prepend=0.0)


def test_writes_failed_with_500_are_not_committed(outage):
    result, start = outage
    times = result.times
    commits_a = _per_step(result, "waveguard_sim_etcd_commits_total", "a")
    failed_a = _per_step(result, "apiserver_request_total", "a", code="500")
    commits_b = _per_step(result, "waveguard_sim_etcd_commits_total", "b")
    leaderless = (times > start) & (times < start + LEADERLESS_S)
    assert failed_a[leaderless].sum() > 0  # the outage did make writes fail
    assert commits_a[leaderless].max() == 0.0  # nothing commits without a leader
    # those that waited (dispatched within the last request timeout) commit when it is back
    back = np.flatnonzero(times >= start + LEADERLESS_S)[0]
    per_s = commits_b[times > start].mean()
    assert commits_a[back] == pytest.approx(per_s * (C.ETCD_REQUEST_TIMEOUT_S + 1.0), rel=0.25)
    # every write of a is either committed or failed once: a's total is b's less its 500s
    assert commits_a.sum() + failed_a.sum() == pytest.approx(commits_b.sum(), rel=0.03)


def test_a_500_counts_as_a_failure_of_the_flow_that_sent_it():
    """The workloads' error ratio reads :func:`failure_ratio`: a request of theirs answered 500
    after etcd's leader wait is one of its failures, like a 429."""
    sim = FleetSimulator(Fleet(clusters=[Cluster(name="a", nodes=100)]), seed=2)
    sim.step(5)
    state, params = sim.state, sim.params
    flow = params.workload_flow
    state.etcd_500_by_flow = np.zeros((params.n_flows, 1))
    before = float(failure_ratio(state, params, flow)[0])
    state.etcd_500_by_flow[flow, 0] = 0.5 * float(state.arrivals[flow, 0])
    assert float(failure_ratio(state, params, flow)[0]) == pytest.approx(min(1.0, before + 0.5))
