"""Rollouts on the simulator record 10 s frames (issue 17): the gates read the frame of the
step they run at, so a rollout gives the same verdicts as one recorded every step — the same
events (gate results, halts, waves) at the same times, the same end state; the rollout report is
drawn from those events (report/rollout_data.py), so it is the same too — and the run's summary
gives the same saturation verdicts, at the frame's resolution.

The real simulator on a three-cluster fleet (about a second each); no timing is asserted."""

from __future__ import annotations

from tests.test_rollout_simulated import FLEET, PROFILES, small_plan
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.simtarget import ROLLOUT_FRAMES, SimTarget
from waveguard.sim.options import SimulatorOptions
from waveguard.sim.phases.recording import EVERY_STEP, RecordingPlan


def _rollout(tmp_path, recording: RecordingPlan, name: str, gates: tuple[str, ...]):
    target = SimTarget(FLEET, PROFILES, SimulatorOptions(seed=3, expected_steps=3600), recording)
    log = EventLog(tmp_path / name, create=True)
    state = Engine(plan=small_plan(gates=gates), fleet=FLEET, target=target, log=log,
                   analysed_profiles=PROFILES).run()
    events = [(e.t, e.kind, {k: v for k, v in e.data.items() if k != "wall_s"}) for e in log.events()]
    log.close()
    return state, events, target


def test_a_rollout_at_10_s_frames_gives_the_verdicts_of_one_recorded_every_step(tmp_path):
    gates = ("apiserver_p99_latency", "apiserver_rejections")  # the SLI gates alone: they must halt
    state_1s, events_1s, every = _rollout(tmp_path, EVERY_STEP, "every.db", gates)
    state_10s, events_10s, framed = _rollout(tmp_path, ROLLOUT_FRAMES, "framed.db", gates)
    assert any(kind == "halted" for _, kind, _ in events_1s)  # the case decides something
    assert events_10s == events_1s
    assert state_10s.status == state_1s.status
    assert framed.sim.result().times[1] - framed.sim.result().times[0] == 10.0  # it did record 10 s frames
    assert len(framed.sim.result().times) * 10 == len(every.sim.result().times)
    summary_1s = {s.name: s for s in every.sim.result().summary()}
    for s in framed.sim.result().summary():  # the summary's verdicts, at the frame's resolution
        one = summary_1s[s.name]
        assert (s.saturated_at_s is None) == (one.saturated_at_s is None)
        assert (s.change_at_s is None) == (one.change_at_s is None)
        if one.saturated_at_s is not None:
            assert one.saturated_at_s <= s.saturated_at_s < one.saturated_at_s + 10.0
        assert s.oom_kills == one.oom_kills


def test_before_its_first_frame_a_gate_has_no_data_not_a_down_apiserver():
    """A gate interval shorter than the frames (a 5 s gate against 10 s frames) reads at 5 s,
    before anything was recorded: no data (as a Prometheus before its first scrape, which makes
    the rollout wait), never ``up == 0`` (which halted a safe rollout: the new-user trial)."""
    target = SimTarget(FLEET, PROFILES, SimulatorOptions(seed=3, expected_steps=3600), ROLLOUT_FRAMES)
    cluster = FLEET.clusters[0].name
    target.advance(5.0)
    assert target.signals().value("up", cluster) is None
    assert target.signals().value("apiserver_request_total", cluster) is None
    target.advance(5.0)
    assert target.signals().value("up", cluster) > 0
