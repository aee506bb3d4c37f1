"""End to end: the projection's verdict and the simulated rollout agree, for every real agent.

For every agent folder of ``../shared/inputs/realworld/`` (published charts and manifests, each
described in its truth.yaml), the planner's plan is rolled out on the default fleet exactly as
``waveguard plan`` + ``waveguard rollout start`` do it (same planner, same backend, full bake
times, the simulated seconds the plan asks for). Then:

* every cluster the projection gate passed and the change reached loses no simulated apiserver
  replica and no etcd (no OOM kill over the whole run, the bakes and any rollback included);
* every cluster the projection gate failed before a wave never got that wave (the gate blocked
  it before the change reached the cluster).

The simulator stands in for kube-apiserver (no real one runs here): this checks the contract
between the one cost model's projection and the simulator that shares it, not Kubernetes itself.
Time of the whole module (17 agents): 23 s of CPU, about 65 s of wall time on the shared 2-core
machine (``time pytest tests/test_realworld_rollouts.py``); no reduced-duration simulation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import INPUTS
from waveguard.analysis import build_profiles, load_change
from waveguard.model.fleet import default_fleet
from waveguard.model.yamlio import read_yaml_file
from waveguard.rollout.backend import BackendConfig, build_backend
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.plan import propose_plan
from waveguard.rollout.simtarget import SimTarget

REALWORLD = INPUTS / "realworld"


def _agents() -> list[str]:
    """Agent folders with a truth entry whose manifests are meant to load (not the ``input``
    cases, which are bad input by design)."""
    truth_file = REALWORLD / "truth.yaml"
    if not truth_file.exists():
        return []
    truth = read_yaml_file(truth_file, "truth")[0]["agents"]
    return sorted(name for name, entry in truth.items() if entry["verdict"] != "input")


def _roll_out(change: Path, tmp_path: Path):
    """``waveguard plan`` + ``waveguard rollout start`` on the default fleet, in process."""
    fleet = default_fleet()
    talking = build_profiles(load_change([str(change)]))  # as `waveguard plan`
    plan = propose_plan(str(change), fleet, per_node=any(p.per_node for p in talking))
    profiles = build_profiles(load_change([str(change)]), silent=True)  # as `waveguard rollout start`
    target = build_backend(BackendConfig(), plan, fleet, profiles)
    assert isinstance(target, SimTarget)
    log = EventLog(tmp_path / "state.db", create=True)
    engine = Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=profiles)
    state = engine.run()
    events = log.events()
    log.close()
    return state, events, target


@pytest.mark.skipif(not _agents(), reason="the shared inputs (../shared/inputs/realworld) are not present")
@pytest.mark.parametrize("agent", _agents() or ["none"])
def test_projection_and_simulated_rollout_agree(agent, tmp_path):
    state, events, target = _roll_out(REALWORLD / agent, tmp_path)
    projected = [e for e in events if e.kind == "gate" and e.data["gate"] == "projection"]
    applied = {(e.wave, e.cluster) for e in events if e.kind == "applied" and e.data["share"] > 0}
    assert projected, "the projection gate ran before the first wave"
    assert all(e.data["status"] != "no-data" for e in projected), "every change here was analysed"
    for e in projected:
        if e.data["status"] == "fail":  # projected overload: the change never got that wave there
            assert (e.wave, e.cluster) not in applied, f"{e.cluster} got wave {e.wave} past a failed projection"
    sim = target.sim
    reached = {cluster for _, cluster in applied}
    lost = {name: int(sim.oom_kills[i]) for i, name in enumerate(sim.cluster_names) if sim.oom_kills[i]}
    assert not lost, (f"{agent}: simulated apiservers OOM-killed on {lost} although the projection passed every "
                      f"wave that reached them ({sorted(reached)}); status {state.status}")
    etcd_lost = [name for i, name in enumerate(sim.cluster_names) if sim.state.etcd_crashes[i] > 0]
    assert not etcd_lost, f"{agent}: simulated etcd OOM-killed on {etcd_lost} although the projection passed"
