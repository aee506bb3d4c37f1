"""A state file with events this version does not know still lets an operator see and end the
rollout (status, approve, abort): the way back stays open. Unreadable payloads are one line."""

from __future__ import annotations

import sqlite3

from tests.test_rollout_frozen_and_exits import _setup, _start
from waveguard.cli.main import app
from waveguard.rollout.eventlog import EventLog, fold


def _insert(state, kind: str, data: str) -> None:
    db = sqlite3.connect(state)
    db.execute("INSERT INTO events(t, wall, kind, data) VALUES (1260, 0, ?, ?)", (kind, data))
    db.commit()
    db.close()


def test_unknown_events_and_keys_are_skipped_with_a_note_and_approve_still_rolls_back(runner, tmp_path, monkeypatch):
    _setup(runner, tmp_path, monkeypatch, rollback="manual")
    state = tmp_path / "s.db"
    assert _start(runner, state).exit_code == 1  # awaiting approval after a failed gate
    _insert(state, "note", "{}")  # a newer waveguard's kind
    _insert(state, "paused", '{"reason": "by hand", "needs_approval": true, "by": "alice"}')  # a newer key
    status = runner.invoke(app, ["rollout", "status", "--state", str(state)])
    assert status.exit_code == 1, status.output
    assert "skipped events this waveguard does not know: note" in status.stderr
    assert runner.invoke(app, ["rollout", "approve", "--state", str(state)]).exit_code == 0
    assert runner.invoke(app, ["rollout", "resume", "--state", str(state)]).exit_code == 1
    assert fold(EventLog(state).events()).status == "rolled_back"


def test_a_payload_of_the_wrong_shape_is_one_line_naming_the_event(runner, tmp_path, monkeypatch):
    _setup(runner, tmp_path, monkeypatch, rollback="manual")
    state = tmp_path / "s.db"
    _start(runner, state)
    _insert(state, "applied", '{"share": "lots"}')
    status = runner.invoke(app, ["rollout", "status", "--state", str(state)])
    assert status.exit_code == 2
    (line,) = status.stderr.strip().splitlines()
    assert "applied" in line and "Traceback" not in status.output
