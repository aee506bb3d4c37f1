"""The service factors and what derives from them are made together, by
``sim.phases.common.refresh_service``: the share of a memory flow's entering requests that
``held_list_memory`` counts whole is never older than the factors it comes from."""

from __future__ import annotations

import numpy as np

from waveguard.sim import load_builtin
from waveguard.sim.run import build_simulator


def _expected_whole(state, params) -> np.ndarray:
    whole = state.finish_fraction[params.memory_flows]
    if len(params.etcd_flows):
        averaged = state.busy_share[params.memory_flows]
        whole = averaged + (whole - averaged) * params.memory_flows_not_etcd
    return whole


def test_the_counted_whole_share_follows_every_refresh_of_the_service_factors():
    sim = build_simulator(load_builtin("incident-2024-12-11"))
    state, params = sim.state, sim.params
    assert len(params.memory_flows) and len(params.etcd_flows)
    np.testing.assert_array_equal(state.memory_whole, _expected_whole(state, params))  # from the build on
    refreshed = 0
    for _ in range(1500):
        factors = state.finish_fraction
        sim.step()
        refreshed += state.finish_fraction is not factors
        np.testing.assert_array_equal(state.memory_whole, _expected_whole(state, params))
    assert refreshed > 10  # the factors did change on the way
