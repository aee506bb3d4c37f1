"""One contract, every actuator: apply, rollback, restore and idempotence, the same checks on
the simulated fleet, the paced simulated fleet (exporter, no Prometheus needed) and real
clusters (the recording stub apiserver of tests/k8s_stub.py, as in tests/test_k8s_target_contract.py).

A harness per actuator makes a fresh actuator over the *same* clusters — what a restarted guard
gets — restored from the rollout's log as the engine restores it, and observes the node share
(0..1) that runs the change: the simulator's ``waveguard_sim_rollout_share`` through its own
signal source, or the stub's DaemonSet and node labels.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest

from tests.prometheus_server import free_port
from tests.k8s_stub import (  # noqa: F401  (apiservers_fixture: the stub's fixture)
    CHANGE, DS_PATH, StubApiserver, apiservers_fixture, kubeconfig,
)
from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.events import ApplyStarted
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.k8s_target import NODE_LABEL, KubernetesActuator, KubernetesConfig
from waveguard.rollout.paced import PacedSimTarget
from waveguard.rollout.ports import Actuator
from waveguard.rollout.simtarget import SimTarget
from waveguard.sim.options import SimulatorOptions
from waveguard.signals.prometheus import PrometheusConfig

CLUSTER = "prod-a"
NODES = 10
FLEET = Fleet(clusters=[Cluster(name=CLUSTER, labels={"env": "prod"}, nodes=NODES)])
PROFILES = build_profiles(load_change([str(CHANGE)]))
#: Simulated seconds to let pass before observing: the DaemonSet's pods on 10 nodes are created
#: within seconds (sim.constants DAEMONSET_PODS_CREATED_PER_S).
SETTLE_S = 60.0


class Harness:
    """Makes actuators over one set of clusters and observes them. ``log``: the rollout's log,
    written as the engine writes it (prepare's record in ``apply_started``)."""

    def __init__(self, make: Callable[[], Actuator], observe: Callable[[Actuator], float], log: EventLog) -> None:
        self._make, self._observe, self.log = make, observe, log
        self.made: list[Actuator] = []

    def fresh(self) -> Actuator:
        """A new actuator (a restarted guard), restored from the log as the engine does."""
        actuator = self._make()
        self.made.append(actuator)
        actuator.restore(fold(self.log.events()))
        return actuator

    def apply(self, actuator: Actuator, share: float) -> None:
        """prepare → ``apply_started`` (logged) → apply → ``applied`` (logged), as the engine does."""
        record = actuator.prepare(CLUSTER, share)
        ApplyStarted.model_validate({"share": share, **record})  # a payload the log accepts
        json.dumps(record)  # and can store
        t = len(self.log.events())
        self.log.append("apply_started", t, wave=0, cluster=CLUSTER, share=share, **record)
        actuator.apply(CLUSTER, share)
        self.log.append("applied", t, wave=0, cluster=CLUSTER, share=share)

    def rollback(self, actuator: Actuator) -> None:
        t = len(self.log.events())
        self.log.append("rollback_started", t, wave=0, cluster=CLUSTER)
        actuator.rollback(CLUSTER)
        self.log.append("rolled_back", t, wave=0, cluster=CLUSTER)

    def observe(self, actuator: Actuator) -> float:
        return self._observe(actuator)


def _sim_share(target: SimTarget | PacedSimTarget) -> float:
    target.advance(SETTLE_S)
    sim_target = target.inner if isinstance(target, PacedSimTarget) else target
    share = sim_target.signals(30.0).value("waveguard_sim_rollout_share", CLUSTER)
    assert share is not None
    return share


def _stub_share(stub: StubApiserver) -> float:
    """The node share the stub's DaemonSet runs on: none without it, the labelled nodes while it
    carries the wave affinity, every node without."""
    ds = stub.objects.get(DS_PATH)
    if ds is None:
        return 0.0
    if "affinity" not in ds["spec"]["template"]["spec"]:
        return 1.0
    return sum(NODE_LABEL in n["metadata"]["labels"] for n in stub.node_objs.values()) / len(stub.node_objs)


def _paced() -> PacedSimTarget:
    cfg = PrometheusConfig(url=f"http://127.0.0.1:{free_port()}", scrape_interval_s=0.05, time_scale=5000)
    return PacedSimTarget(SimTarget(FLEET, PROFILES, SimulatorOptions(seed=1, expected_steps=3600)), cfg, listen="127.0.0.1:0",
                          dns_probe=False, warmup_s=60.0, log=lambda msg: None)


@pytest.fixture(params=["simulated", "paced", "kubernetes"])
def harness(request, tmp_path):
    log = EventLog(tmp_path / "s.db", create=True)
    log.append("started", 0.0)
    if request.param == "kubernetes":
        stub = request.getfixturevalue("apiservers")(nodes=NODES)
        path, contexts = kubeconfig(tmp_path, {CLUSTER: stub})
        config = KubernetesConfig(kubeconfig=str(path), contexts=contexts, qps=1000, burst=1000)
        h = Harness(lambda: KubernetesActuator(FLEET, load_change([str(CHANGE)]), config),
                    lambda actuator: _stub_share(stub), log)
    elif request.param == "paced":
        h = Harness(_paced, _sim_share, log)
    else:
        h = Harness(lambda: SimTarget(FLEET, PROFILES, SimulatorOptions(seed=1, expected_steps=3600)), _sim_share, log)
    yield h
    for actuator in h.made:
        actuator.close()
    log.close()


def test_apply_runs_the_change_on_the_share_of_nodes(harness):
    actuator = harness.fresh()
    assert harness.observe(actuator) == 0.0
    harness.apply(actuator, 0.5)
    assert harness.observe(actuator) == pytest.approx(0.5)
    harness.apply(actuator, 1.0)
    assert harness.observe(actuator) == pytest.approx(1.0)


def test_apply_is_idempotent(harness):
    actuator = harness.fresh()
    harness.apply(actuator, 0.5)
    first = harness.observe(actuator)
    actuator.apply(CLUSTER, 0.5)  # again, as after a crash between apply and its logged applied
    assert harness.observe(actuator) == first == pytest.approx(0.5)


def test_rollback_removes_the_change_and_is_idempotent(harness):
    actuator = harness.fresh()
    harness.apply(actuator, 0.5)
    harness.rollback(actuator)
    assert harness.observe(actuator) == 0.0
    actuator.rollback(CLUSTER)
    assert harness.observe(actuator) == 0.0


def test_a_restarted_actuator_restores_from_the_log_and_rolls_back(harness):
    """After a crash, a new actuator sees the change where the log says it runs (the simulator
    replays it; real clusters still run it) and can take it back (real clusters: from the
    objects recorded before the first apply)."""
    harness.apply(harness.fresh(), 0.5)
    restarted = harness.fresh()
    assert harness.observe(restarted) == pytest.approx(0.5)
    harness.rollback(restarted)
    assert harness.observe(restarted) == 0.0
    assert harness.observe(harness.fresh()) == 0.0  # and a third one agrees
