"""409 Conflict and client-go's RetryOnConflict in the simulator (issue 12, writes; shipped
scenario ``conflicts-shared-configmap``: 500 agents read-modify-UPDATE one ConfigMap every 10 s).

The expected figures are computed here from the sources' rules, not read back from the
simulator: a conflict is another writer's update landing between an attempt's read and its
update (etcd3/store.go ``GuaranteedUpdate``), the window being a read and an update at the cost
model's service time of that update (``model.cost.request_cost``, etcd's commit included), and
RetryOnConflict makes at most 5 attempts (client-go util/retry/util.go ``DefaultRetry``). No
kube-apiserver runs here: the contract tested is the simulator's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from waveguard.model import constants as C
from waveguard.model.cost import request_cost
from waveguard.model.etcd import conflict_probability, retry_on_conflict
from waveguard.model.requests import RequestClass
from waveguard.model.yamlio import safe_load
from waveguard.sim import simulate
from waveguard.sim.clients import baseline_clients
from waveguard.sim.scenario import builtin_names, builtin_path, scenario_from_data

CLUSTER = "shared-500"


def _data(named: bool = True) -> dict:
    data = safe_load(Path(builtin_path("conflicts-shared-configmap")).read_text())
    if not named:
        data["change"]["profile"]["classes"][0].pop("object_name")
    return data


@pytest.fixture(scope="module")
def shared():
    return simulate(scenario_from_data(_data(), source="conflicts"), workers=1)


@pytest.fixture(scope="module")
def own():
    return simulate(scenario_from_data(_data(named=False), source="conflicts-own"), workers=1)


def test_conflict_probability_and_retry_on_conflict_follow_the_rules():
    assert conflict_probability(0.0, 1.0) == 0.0
    assert conflict_probability(10.0, 0.05) == pytest.approx(1.0 - math.exp(-0.5))
    assert retry_on_conflict(0.0) == (0.0, 0.0)
    assert retry_on_conflict(1.0) == (C.RETRY_ON_CONFLICT_STEPS - 1, C.RETRY_ON_CONFLICT_STEPS)  # gives up after 5
    extra, answered = retry_on_conflict(0.5)
    assert extra == pytest.approx(0.5 + 0.25 + 0.125 + 0.0625)
    assert answered == pytest.approx(extra + 0.5 ** 5)


def test_writers_of_one_object_conflict_at_the_rate_their_window_gives(shared):
    scenario = scenario_from_data(_data(), source="conflicts")
    cluster = scenario.fleet_model.clusters[0]
    rc = scenario.profiles[0].classes[0]
    writers, rate = cluster.nodes, rc.rate_per_s
    window = 2.0 * request_cost(rc, cluster).service_s  # the read and the update
    p = 1.0 - math.exp(-(writers - 1) * rate * window)
    expected_409_per_s = writers * rate * sum(p ** k for k in range(1, C.RETRY_ON_CONFLICT_STEPS + 1))
    simulated = shared.rate("apiserver_request_total", CLUSTER, code="409")[-60:].mean()
    assert 0.3 < p < 0.95  # the scenario sits where retries matter and most updates still succeed
    assert simulated == pytest.approx(expected_409_per_s, rel=0.05)


def test_retries_are_requests_the_apiserver_serves(shared, own):
    """Every extra attempt is a read and an update more, dispatched like any request."""
    retries = shared.series("waveguard_sim_client_retries_total", CLUSTER)[-1]
    assert retries > 0.0
    dispatched = shared.series("apiserver_flowcontrol_dispatched_requests_total", CLUSTER)[-1]
    baseline = own.series("apiserver_flowcontrol_dispatched_requests_total", CLUSTER)[-1]
    assert dispatched - baseline == pytest.approx(retries, rel=0.02)
    conflicts = shared.series("apiserver_request_total", CLUSTER, code="409")[-1]
    assert conflicts > retries / 2.0  # each extra attempt follows a 409 (and the last 409 is returned)


def test_without_a_named_object_nothing_conflicts(own):
    """The profile does not say the agents share an object: each updates its own, p = 0."""
    assert own.series("apiserver_request_total", CLUSTER, code="409")[-1] == 0.0
    assert own.series("waveguard_sim_client_retries_total", CLUSTER)[-1] == 0.0


def test_no_built_in_client_or_shipped_scenario_but_this_one_names_a_shared_object():
    """Kubelets update their own Lease and Node, controllers PATCH (no precondition): the
    built-in profiles never conflict."""
    classes: list[RequestClass] = [rc for client in baseline_clients() for rc in client.profile.classes]
    assert classes and not any(rc.object_name for rc in classes)
    for name in builtin_names():
        if name == "conflicts-shared-configmap":
            continue
        data = safe_load(Path(builtin_path(name)).read_text())
        for rc in ((data.get("change") or {}).get("profile") or {}).get("classes", []):
            assert not rc.get("object_name"), name
