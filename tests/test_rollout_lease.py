"""One engine per rollout, with real processes: two `start`s at once, a `resume` while an engine
drives, kill -9 of the holder then takeover; operators' requests that start no engine; the lease
fence. The rollouts run on the simulated fleet (the default backend)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.test_rollout_cli import FLEET_YAML, _events, _fast_plan
from waveguard.cli.main import app
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.lease import LEASE_TIMEOUT_S, LeaseHeldError, LeaseLostError, Owner

CLI = [sys.executable, "-m", "waveguard.cli.main", "rollout"]


@pytest.fixture
def fleet(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML)
    return path


def _start(plan: str, fleet, state) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "start", plan, "--fleet", str(fleet), "--state", str(state), "--force"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_events(state, n: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while _events(state) < n and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)


def _freeze_outside_a_transaction(proc: subprocess.Popen, state) -> None:
    """SIGSTOP ``proc`` (alive, holding the lease, whatever the machine's speed) at a moment it
    holds no SQLite write lock, so others read its lease rather than wait on the lock."""
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(state, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # stopped mid-commit: let it finish
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        finally:
            probe.close()
    raise AssertionError("the engine never left its write transaction")


def test_two_starts_at_once_on_a_new_state_file_apply_once(runner, tmp_path, fleet):
    """Both processes are started before either creates the file; exactly one drives the
    rollout, the other exits 2 naming the holder (or the existing rollout)."""
    plan = _fast_plan(runner, tmp_path, fleet, bake_s=120)
    state = tmp_path / "s.db"
    procs = [_start(plan, fleet, state) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] in (0, 1) and codes[1] == 2, results
    refused = next(err for code, err in results if code == 2)
    # The loser sees the winner's lease, the rollout it created, or (when both reach SQLite in the
    # same instant, as on a loaded machine) its write lock: each is one line and exit 2.
    assert any(why in refused for why in ("driven by PID", "already exists", "locked by another waveguard")), refused
    assert len(refused.strip().splitlines()) == 1
    events = EventLog(state).events()
    assert [e.kind for e in events].count("started") == 1
    applies = [(e.wave, e.cluster) for e in events if e.kind == "applied"]
    assert applies and len(applies) == len(set(applies))


def test_resume_while_an_engine_drives_exits_2_then_takes_over_after_kill_9(runner, tmp_path, fleet):
    """A real `rollout start` holds the lease (stopped by SIGSTOP while `resume` runs, so the
    machine's speed does not matter): `resume` in another process is refused, naming its PID
    and host. After kill -9 of the holder (same host, PID gone) `resume` takes over
    and ends exactly as an uninterrupted run."""
    plan = _fast_plan(runner, tmp_path, fleet, bake_s=600)
    reference = tmp_path / "reference.db"
    runner.invoke(app, ["rollout", "start", plan, "--fleet", str(fleet), "--state", str(reference), "--force"])
    state = tmp_path / "s.db"
    holder = _start(plan, fleet, state)
    _wait_for_events(state, 3, holder)
    assert holder.poll() is None, "the rollout ended before the test could stop it"
    _freeze_outside_a_transaction(holder, state)
    second = subprocess.run([*CLI, "resume", "--state", str(state)], capture_output=True, text=True, timeout=120)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert second.returncode == 2, second.stderr
    assert f"driven by PID {holder.pid} on {socket.gethostname()} since" in second.stderr
    assert holder.returncode == -signal.SIGKILL
    taken = subprocess.run([*CLI, "resume", "--state", str(state)], capture_output=True, text=True, timeout=300)
    assert taken.returncode in (0, 1), taken.stderr
    ref, got = fold(EventLog(reference).events()), fold(EventLog(state).events())
    assert (got.status, got.shares, got.halt and got.halt["gate"]) == (ref.status, ref.shares, ref.halt and ref.halt["gate"])
    gates = [(e.t, e.data["gate"], e.cluster) for e in EventLog(state).events() if e.kind == "gate"]
    assert len(gates) == len(set(gates)), "a gate evaluation was logged twice"
    assert EventLog(state).lease() is None  # released when the engine stopped


def _started_log(path) -> EventLog:
    log = EventLog(path, create=True)
    log.start([("started", 0.0, None, None, {})], Owner.this_process())
    return log


def test_a_stale_heartbeat_on_another_host_is_taken_over_and_fenced_out(tmp_path):
    log = _started_log(tmp_path / "s.db")
    elsewhere = Owner(4242, "another-host", "token-elsewhere", time.time())
    other = EventLog(tmp_path / "s.db")
    with pytest.raises(LeaseHeldError, match=f"driven by PID {log.owner.pid}"):
        other.acquire(elsewhere)
    # no heartbeat for longer than the timeout: presumed dead, taken over
    other.acquire(elsewhere, now=time.time() + LEASE_TIMEOUT_S + 1)
    before = len(log.events())
    with pytest.raises(LeaseLostError, match="driven by PID 4242 on another-host"):
        log.append("wave_started", 1.0, wave=0, name="w", node_share=1.0, bake_s=60)
    assert len(log.events()) == before  # the fenced-out engine wrote nothing


def test_a_start_on_an_existing_rollout_names_its_live_engine(tmp_path):
    _started_log(tmp_path / "s.db")
    with pytest.raises(LeaseHeldError, match="driven by PID"):
        EventLog(tmp_path / "s.db", create=True)


def test_operator_requests_start_no_engine_and_say_how_to_resume(runner, tmp_path, fleet):
    """`abort` on an interrupted rollout appends its event only; `resume` rolls back."""
    plan = _fast_plan(runner, tmp_path, fleet, bake_s=600)
    state = tmp_path / "s.db"
    holder = _start(plan, fleet, state)
    _wait_for_events(state, 3, holder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    before = [e.kind for e in EventLog(state).events()]
    result = runner.invoke(app, ["rollout", "abort", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert "no engine is driving this rollout" in result.stdout and "rollout resume" in result.stdout
    assert [e.kind for e in EventLog(state).events()] == [*before, "aborted"]
    resumed = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert resumed.exit_code == 1, resumed.output
    s = fold(EventLog(state).events())
    assert s.status == "rolled_back" and "aborted" in s.halt["reason"]
    assert all(share == 0 for share in s.shares.values())


@pytest.mark.parametrize("request_, code, end", [("abort", 1, "rolled_back"), ("pause", 0, "paused")])
def test_the_running_engine_acts_on_an_operators_request(runner, tmp_path, fleet, request_, code, end):
    """A real engine (stopped by SIGSTOP while the request is recorded, so it is surely still
    running) acts on `abort` / `pause` when it continues; the request itself runs nothing."""
    plan = _fast_plan(runner, tmp_path, fleet, bake_s=600)
    state = tmp_path / "s.db"
    holder = _start(plan, fleet, state)
    _wait_for_events(state, 3, holder)
    assert holder.poll() is None, "the rollout ended before the test could stop it"
    _freeze_outside_a_transaction(holder, state)
    result = runner.invoke(app, ["rollout", request_, "--state", str(state)])
    holder.send_signal(signal.SIGCONT)
    assert result.exit_code == 0, result.output
    assert f"the engine (PID {holder.pid} on {socket.gethostname()}" in result.stdout
    assert holder.wait(timeout=300) == code
    s = fold(EventLog(state).events())
    assert s.status == end
    if request_ == "abort":
        assert "aborted" in s.halt["reason"] and all(share == 0 for share in s.shares.values())
    assert EventLog(state).lease() is None


def test_the_heartbeat_thread_keeps_the_lease_fresh(tmp_path):
    """The engine's heartbeat, beside it: a fake-fast interval, and the lease row's heartbeat
    moves on (polled, no sleep of a fixed length decides the outcome)."""
    from waveguard.rollout.lease import Heartbeat

    log = _started_log(tmp_path / "s.db")
    assert log.owner is not None
    first = log.lease()
    assert first is not None
    with Heartbeat(log.path, log.owner, every_s=0.01):
        deadline = time.time() + 30
        while (lease := log.lease()) is not None and lease.heartbeat == first.heartbeat and time.time() < deadline:
            time.sleep(0.01)
    assert lease is not None and lease.heartbeat > first.heartbeat and lease.owner == log.owner
    log.release()
    assert log.lease() is None


def test_a_killed_engine_left_as_a_zombie_is_dead():
    """An engine killed with SIGKILL whose parent has not reaped it yet is a zombie: ``kill -0``
    still finds its PID, yet it runs nothing — its lease is taken over at once (the new-user
    trial: `timeout -s KILL` left one and `resume` refused for 60 s)."""
    from waveguard.rollout.lease import _pid_exists

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _pid_exists(child.pid)
        child.send_signal(signal.SIGKILL)
        for _ in range(500):  # until the kernel has made it a zombie (not reaped: no wait() yet)
            if not _pid_exists(child.pid):
                break
            time.sleep(0.01)
        assert not _pid_exists(child.pid)
    finally:
        child.kill()
        child.wait()
