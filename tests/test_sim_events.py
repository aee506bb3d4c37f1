"""Simulator additions for ``waveguard fidelity``: a replica held down (``apiserver_down``) and
the count of (re)list bundles a client sent (``relists_sent``)."""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model.errors import InputError
from waveguard.sim import build_simulator, scenario_from_data, simulate

AGENT = {
    "client": "DaemonSet/x/agent", "agent": "agent", "per_node": True, "namespace": "x", "service_account": "agent",
    "classes": [{"verb": "list", "resource": "pods", "scope": "node", "trigger": "start", "selector": True},
                {"verb": "watch", "resource": "pods", "scope": "node", "trigger": "held", "selector": True}],
}


def scenario(events, **change) -> dict:
    return {
        "name": "events", "duration_s": 300, "seed": 2,
        "fleet": {"clusters": [{"name": "c", "nodes": 300, "apiserver_replicas": 3}]},
        "change": {"profile": AGENT, "initial_share": 1.0, **change},
        "events": events,
    }


def test_apiserver_down_holds_the_replica_down_then_brings_it_back():
    down = [{"at_s": 60, "apiserver_down": {"cluster": "c", "replica": 2, "duration_s": 120}}]
    result = simulate(scenario_from_data(scenario(down)))
    up = result.series("up", "c", job="apiserver", instance="2")
    t = result.times
    assert up[(t > 62) & (t < 180)].max() == 0.0
    assert up[t >= 182].min() == 1.0
    assert up[t < 60].min() == 1.0
    assert result.summary()[0].oom_kills == 0  # an outage, not a crash


def test_relists_counted_for_the_clients_of_the_lost_replica():
    down = [{"at_s": 30, "apiserver_down": {"cluster": "c", "replica": 0, "duration_s": 200}}]
    sim = build_simulator(scenario_from_data(scenario(down)))
    sim.step(29)
    assert sim.relists_sent("c", "DaemonSet/x/agent") == 0.0  # synced at start: nothing sent
    sim.step(60)
    sent = sim.relists_sent("c", "DaemonSet/x/agent")
    assert sent == pytest.approx(100.0, rel=0.1)  # a third of 300 agents watched through replica 0
    # the kubelets are client-go informers: their watches are re-established on replicas 1 and 2
    # from their last resourceVersion, without a LIST (reflector.go; issue 12)
    assert sim.relists_sent("c", "kubelet") == 0.0
    with pytest.raises(KeyError):
        sim.relists_sent("c", "nobody")


def test_restart_still_works_and_events_need_exactly_one_action():
    restart = [{"at_s": 10, "restart_apiserver": {"cluster": "c", "replica": 1}}]
    result = simulate(scenario_from_data(scenario(restart)))
    up = result.series("up", "c", job="apiserver", instance="1")
    assert up.min() == 0.0 and up[-1] == 1.0
    for bad in ([{"at_s": 10}],
                [{"at_s": 10, "restart_apiserver": {"cluster": "c"}, "apiserver_down": {"cluster": "c", "duration_s": 5}}]):
        with pytest.raises(InputError, match="exactly one"):
            scenario_from_data(scenario(bad))


@pytest.mark.parametrize("target, message", [
    ({"cluster": "nope", "duration_s": 5}, "no cluster named 'nope'"),
    ({"cluster": "c", "replica": 3, "duration_s": 5}, "has 3 apiserver replicas"),
    ({"cluster": "c", "duration_s": 0}, "duration_s"),
])
def test_apiserver_down_bad_input(target, message):
    with pytest.raises(InputError, match=message):
        scenario_from_data(scenario([{"at_s": 0, "apiserver_down": target}]))


def test_hold_down_extends_a_replica_already_down():
    sim = build_simulator(scenario_from_data(scenario([])))
    sim.step(5)
    sim.restart_apiserver("c", 1)
    sim.hold_apiserver_down("c", 1, until_s=100)
    sim.step(90)
    assert not sim.up[1, 0]
    sim.step(10)
    assert sim.up[1, 0]
    with pytest.raises(IndexError):
        sim.hold_apiserver_down("c", 3, until_s=10)
    assert np.isfinite(sim.sent).all()
