"""Issue 17 (item 2): a step skips the work whose inputs did not change — nothing has executed
across a step yet, no client waits in back-off, etcd is idle, rows of the frame hold 0, every
change client runs per node — and keeps what derives from figures that change only on events
(the seat bound of memory, the slowest replica's service time). None of it may move a figure:
each case runs twice, as it is and with those shortcuts switched off (the general path on every
step), and every recorded frame and every array of the state at the end must be equal bit for
bit. The real simulator; no timing is asserted (the speed is benchmarks/bench_sim.py's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.sim import load_builtin, scenario_from_data
from waveguard.sim.dns import DNSCaches
from waveguard.sim.etcd import EtcdPhase
from waveguard.sim.phases import dns as dns_phase
from waveguard.sim.phases.recording import Recorder
from waveguard.sim.run import build_simulator

ROOT = Path(__file__).resolve().parents[1]


class _AlwaysAny(np.ndarray):
    """The back-off array as one that always has a client waiting (the release is computed)."""

    def any(self, *args, **kwargs):  # type: ignore[override]
        return True


def _general_paths(monkeypatch: pytest.MonkeyPatch, sim) -> None:
    """Switch the step's shortcuts off for ``sim`` (and the classes it uses)."""
    sim.state.executing_any = True  # complete, dispatch, start_executing, memory and CPU in full
    sim.state.backoff = sim.state.backoff.view(_AlwaysAny)
    sim.params.__dict__["change_per_node_only"] = False  # sending_share every ramp step
    sim.params.__dict__["every_group_twinned"] = False
    monkeypatch.setattr(Recorder, "zero", lambda self, name: self.write(name, np.zeros(1)))
    monkeypatch.setattr(Recorder, "etcd_written", property(lambda self: False, lambda self, value: None), raising=False)

    def idle_step(self: EtcdPhase, slow: np.ndarray) -> None:
        self._hist[self._steps % self._hist_n] = self.served_bytes
        self.rate[:] = C.ETCD_RANGE_BYTES_PER_S / slow
        self.sent_bytes[:] = 0.0

    monkeypatch.setattr(EtcdPhase, "_idle_step", idle_step)
    step = DNSCaches.step

    def dns_step(self: DNSCaches, coredns_fail: np.ndarray, all_answered: bool = False) -> np.ndarray:
        out = step(self, coredns_fail, False)
        return out.copy() if out is self.none_failing else out

    monkeypatch.setattr(DNSCaches, "step", dns_step)
    failure = dns_phase._coredns_failure
    monkeypatch.setattr(dns_phase, "_coredns_failure", lambda state, params: failure(state, params).copy())


def _run(scenario, seconds: float, monkeypatch: pytest.MonkeyPatch | None = None):
    sim = build_simulator(scenario)
    if monkeypatch is not None:
        _general_paths(monkeypatch, sim)
    sim.step(seconds)
    return sim


def _arrays(obj, prefix: str = "", depth: int = 0) -> dict[str, bytes]:
    """Every float/int/bool array of the state (and of its etcd phase and DNS caches), as bytes."""
    out: dict[str, bytes] = {}
    for name, value in vars(obj).items():
        if name in ("_at", "_vals", "_idle_slow"):  # buffers beyond the live entries; the shortcut's own
            continue
        if isinstance(value, np.ndarray) and value.dtype != object:
            out[prefix + name] = np.ascontiguousarray(value).tobytes()
        elif depth == 0 and isinstance(value, (EtcdPhase, DNSCaches)):
            out.update(_arrays(value, prefix + name + ".", 1))
    return out


def _quiet_fleet():
    sizes = np.floor(np.geomspace(200, 7500, 8)).astype(int)
    return scenario_from_data({
        "name": "quiet", "duration_s": 1800, "step_s": 1, "seed": 2,
        "fleet": {"clusters": [{"name": f"c{i}", "nodes": int(n)} for i, n in enumerate(sizes)]},
        "change": {"manifests": ["examples/incident-telemetry-node-filtered"]},
        "schedule": [{"clusters": [f"c{i}" for i in range(len(sizes))], "at_s": 60, "stagger_s": 120}],
    }, base_dir=ROOT)


@pytest.mark.parametrize(("case", "seconds"), [("quiet", 1800), ("incident-2024-12-11", 2400)])
def test_the_shortcuts_of_a_step_change_no_figure(monkeypatch, case, seconds):
    scenario = _quiet_fleet() if case == "quiet" else load_builtin(case)
    fast = _run(scenario, seconds)
    with monkeypatch.context() as patch:
        general = _run(scenario, seconds, patch)
    assert fast.store.n == general.store.n == seconds
    assert fast.store.frames[:fast.store.n].tobytes() == general.store.frames[:general.store.n].tobytes()
    fast_state, general_state = _arrays(fast.state), _arrays(general.state)
    assert fast_state.keys() == general_state.keys()
    assert [k for k in fast_state if fast_state[k] != general_state[k]] == []
    if case == "quiet":  # the shortcuts did apply there
        assert not fast.state.executing_any and fast.state.etcd_quiet
    else:  # and the incident took the general paths on its own
        assert fast.state.executing_any
