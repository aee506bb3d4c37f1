"""The built-in incident scenarios reproduce the shape of the 11 December 2024 timeline.

Each assertion reads the simulator's output (summary or series); nothing here is scripted in
the model. Calibration: docs/simulator.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.sim import load_builtin, simulate

BIG = "prod-24-7500"
CACHE_SPREAD_S = C.DNS_CLIENT_CACHE_TTL_S + C.DNS_NODE_CACHE_TTL_S


@pytest.fixture(scope="module")
def incident():
    return simulate(load_builtin("incident-2024-12-11"), workers=1)


@pytest.fixture(scope="module")
def node_filtered():
    return simulate(load_builtin("incident-2024-12-11-node-filtered"), workers=1)


def rows(result):
    return {s.name: s for s in result.summary()}


def test_staging_stays_healthy(incident):
    staging = rows(incident)["staging"]
    assert staging.change_at_s is not None and staging.change_at_s < 60
    assert staging.saturated_at_s is None
    assert staging.dns_failing_at_s is None
    assert staging.peak_error_rate < 0.001
    assert staging.oom_kills == 0
    assert incident.rate("apiserver_request_total", "staging", code="429").max() < 1.0


def test_largest_cluster_saturates_within_ten_minutes_of_the_change(incident):
    big = rows(incident)[BIG]
    assert big.change_at_s is not None and big.saturated_at_s is not None
    assert 0 <= big.saturated_at_s - big.change_at_s <= 600


def test_node_filtered_agent_saturates_nothing(node_filtered):
    summary = node_filtered.summary()
    assert all(s.change_at_s is not None for s in summary)  # it did roll out everywhere
    assert [s.name for s in summary if s.saturated_at_s is not None] == []
    assert max(s.peak_error_rate for s in summary) < 0.01
    assert sum(s.oom_kills for s in summary) == 0


def test_dns_fails_later_than_saturation_by_about_the_cache_spread(incident):
    failing = [s for s in incident.summary() if s.dns_failing_at_s is not None]
    assert failing, "the incident should break DNS somewhere"
    for s in failing:
        lag = s.dns_failing_at_s - s.saturated_at_s
        assert 0.4 * CACHE_SPREAD_S <= lag <= 1.5 * CACHE_SPREAD_S, (s.name, lag)
    # Invisible at first: when the control plane saturates, lookups still work.
    big = rows(incident)[BIG]
    dns = incident.series("waveguard_sim_dns_client_failure_ratio", BIG)
    at_saturation = incident.at(big.saturated_at_s)
    assert dns[at_saturation : at_saturation + 60].max() < 0.01
    # ... and then rising over the cache lifetimes.
    assert dns[incident.at(big.saturated_at_s + CACHE_SPREAD_S)] > 0.5


def test_most_large_clusters_go_down_small_ones_survive(incident):
    summary = incident.summary()
    large = [s for s in summary if s.nodes >= 3000]
    small = [s for s in summary if s.nodes <= 500]
    down = [s for s in large if s.peak_error_rate >= 0.3 and s.oom_kills > 0]
    assert len(down) > len(large) / 2
    assert all(s.saturated_at_s is None and s.peak_error_rate < 0.01 for s in small)
    # The five largest are down hardest: DNS failing for most lookups.
    five = sorted(summary, key=lambda s: -s.nodes)[:5]
    assert sum(s.dns_failing_at_s is not None for s in five) >= 3


def test_collapse_is_emergent_memory_over_the_limit(incident):
    """The big clusters' apiservers are OOM-killed: memory reaches the limit first. The fleet runs
    1.30: the replicas come back with filling watch caches, which send the informers'
    resourceVersion="0" relists to etcd (cacher ``GetList`` before ResilientWatchCacheInitialization);
    their range responses exceed etcd's memory, etcd is OOM-killed again and again and the caches
    never fill — the control plane does not recover within the run."""
    mem = incident.series("process_resident_memory_bytes", BIG)
    limit = incident.series("waveguard_sim_apiserver_memory_limit_bytes", BIG)[0]
    assert mem.max() > limit
    up = incident.series("up", BIG, job="apiserver")
    assert up[: incident.at(rows(incident)[BIG].change_at_s)].min() == 5  # healthy before the change
    assert rows(incident)[BIG].oom_kills > 0
    leader_changes = incident.series("etcd_server_leader_changes_seen_total", BIG)
    assert leader_changes[-1] - leader_changes[-600] >= 1  # etcd still crash-looping at the end


def test_rollout_reaches_the_whole_fleet_in_about_thirty_minutes(incident):
    starts = [s.change_at_s for s in incident.summary() if s.name != "staging"]
    assert 20 * 60 <= max(starts) - min(starts) <= 35 * 60
    share = incident.series("waveguard_sim_rollout_share", BIG)
    assert share[-1] == pytest.approx(1.0)
    assert np.all(np.diff(share) >= -1e-9)
