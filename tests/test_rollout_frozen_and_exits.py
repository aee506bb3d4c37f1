"""The change frozen at `rollout start` (resume from any folder, changed files on disk noticed)
and honest exit codes (status by state, awaiting approval is halted, resume of a finished
rollout is not an error). In-process CLI on the simulated fleet."""

from __future__ import annotations

import shutil

import yaml

from tests.conftest import EXAMPLES
from tests.test_rollout_cli import FLEET_YAML
from waveguard.cli.main import app
from waveguard.rollout.eventlog import EventLog, fold


def _setup(runner, tmp_path, monkeypatch, change: str = "incident-telemetry", gates=("apiserver_p99_latency",),
           **edits):
    """A working folder with a copy of the change, a fleet and a plan naming the change by a
    relative path (as `waveguard plan change` writes it); the current folder is that folder."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / change, work / "change")
    (work / "fleet.yaml").write_text(FLEET_YAML)
    monkeypatch.chdir(work)
    result = runner.invoke(app, ["plan", "change", "--fleet", "fleet.yaml", "--output-file", "plan.yaml"])
    assert result.exit_code == 0, result.output
    plan = yaml.safe_load((work / "plan.yaml").read_text())
    for wave in plan["waves"]:
        wave["bake_s"] = 120
    plan["gates"] = [{"kind": g} for g in gates]
    plan.update(edits)
    (work / "plan.yaml").write_text(yaml.safe_dump(plan))
    return work


def _start(runner, state):
    return runner.invoke(app, ["rollout", "start", "plan.yaml", "--fleet", "fleet.yaml", "--state", str(state),
                               "--force"])


def _pause_after_every_apply(monkeypatch):
    """An operator's `rollout pause` lands right after each apply (written into the same log, as
    another process would): every start or resume stops there, paused."""
    original = EventLog.append_many

    def append_many(self, rows):
        written = original(self, rows)
        if any(row[0] == "applied" for row in rows):
            original(self, [("paused", rows[-1][1], None, None, {"reason": "paused by an operator",
                                                                  "needs_approval": False})])
        return written

    monkeypatch.setattr(EventLog, "append_many", append_many)


def test_resume_uses_the_frozen_change_from_any_folder(runner, tmp_path, monkeypatch):
    """An operator pauses the rollout after each apply. Then the manifests on disk are
    broken and the current folder changes: resume says so in one line and rolls out the frozen
    manifests; --use-changed-manifests takes the new ones."""
    work = _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / "s.db"
    _pause_after_every_apply(monkeypatch)
    assert _start(runner, state).exit_code == 0
    frozen = fold(EventLog(state).events()).change
    assert frozen is not None and frozen["path"] == str(work / "change") and frozen["files"]
    manifest = next((work / "change").rglob("*.yaml"))
    manifest.write_text("kind: [unclosed\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: `change` names nothing here
    result = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "differs from the one frozen at start" in notes[0]
    assert manifest.relative_to(work / "change").as_posix() in notes[0]
    assert "continuing with the frozen change" in notes[0]
    assert fold(EventLog(state).events()).status == "paused"
    # told to use the files on disk: the broken file is refused (exit 2), nothing replaced
    refused = runner.invoke(app, ["rollout", "resume", "--state", str(state), "--use-changed-manifests"])
    assert refused.exit_code == 2 and "change_replaced" not in [e.kind for e in EventLog(state).events()]
    shutil.copy(next((EXAMPLES / "incident-telemetry-node-filtered").rglob("*.yaml")), manifest)
    replaced = runner.invoke(app, ["rollout", "resume", "--state", str(state), "--use-changed-manifests"])
    assert replaced.exit_code == 0, replaced.output
    assert "rolling out the files on disk" in replaced.stderr
    s = fold(EventLog(state).events())
    assert s.change is not None and s.change["sha256"] != frozen["sha256"]
    shutil.rmtree(work / "change")  # gone: the replacement is frozen too
    again = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert again.exit_code == 0 and "cannot be read now" in again.stderr


def test_status_exits_by_state_and_resume_of_a_finished_rollout_is_not_an_error(runner, tmp_path, monkeypatch):
    _setup(runner, tmp_path, monkeypatch, change="incident-telemetry-node-filtered")
    done = tmp_path / "done.db"
    assert _start(runner, done).exit_code == 0
    assert runner.invoke(app, ["rollout", "status", "--state", str(done)]).exit_code == 0
    again = runner.invoke(app, ["rollout", "resume", "--state", str(done)])
    assert again.exit_code == 0 and "already finished (completed)" in again.stderr


def test_awaiting_approval_is_halted_and_approve_starts_no_engine(runner, tmp_path, monkeypatch):
    """rollback: manual, the incident's change: the API latency gate fails, the rollout waits
    for approval — exit 1, like a halt. `approve` only records; `resume` rolls back."""
    _setup(runner, tmp_path, monkeypatch, rollback="manual")
    state = tmp_path / "s.db"
    started = _start(runner, state)
    assert started.exit_code == 1, started.output
    assert fold(EventLog(state).events()).status == "awaiting_approval"
    assert runner.invoke(app, ["rollout", "status", "--state", str(state)]).exit_code == 1
    approved = runner.invoke(app, ["rollout", "approve", "--state", str(state)])
    assert approved.exit_code == 0 and "no engine is driving this rollout" in approved.stdout
    assert fold(EventLog(state).events()).status == "halted"  # approved: to be rolled back
    resumed = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert resumed.exit_code == 1
    s = fold(EventLog(state).events())
    assert s.status == "rolled_back" and all(share == 0 for share in s.shares.values())
    finished = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert finished.exit_code == 1 and "already finished (rolled_back)" in finished.stderr
    assert runner.invoke(app, ["rollout", "status", "--state", str(state)]).exit_code == 1


def test_status_of_a_paused_rollout_exits_3(runner, tmp_path, monkeypatch):
    _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / "s.db"
    with monkeypatch.context() as patch:
        _pause_after_every_apply(patch)
        assert _start(runner, state).exit_code == 0
    status = runner.invoke(app, ["rollout", "status", "--state", str(state)])
    assert status.exit_code == 3 and "no engine is driving it" in status.stdout
