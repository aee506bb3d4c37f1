"""A state file damaged inside its rows (valid SQLite, events no waveguard writes): every reader
— status, report, dashboard, resume — says so in one line naming the file and the event, exit
2, nothing written; none of them dies in a traceback (new-user trial 7, where report and the
dashboard raised AttributeError and resume pydantic's ValidationError on such files)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.test_rollout_frozen_and_exits import _pause_after_every_apply, _setup, _start
from waveguard.cli.main import app
from waveguard.model.errors import InputError


def _edit(state, *sql: str) -> None:
    """Run ``sql`` on the state file as another tool would (the append-only triggers dropped)."""
    db = sqlite3.connect(state)
    db.execute("DROP TRIGGER events_append_only_update")
    db.execute("DROP TRIGGER events_append_only_delete")
    for statement in sql:
        db.execute(statement)
    db.commit()
    db.close()


def _set_started(state, key: str, value) -> None:
    db = sqlite3.connect(state)
    data = json.loads(db.execute("SELECT data FROM events WHERE seq = 1").fetchone()[0])
    db.close()
    data[key] = value
    _edit(state, f"UPDATE events SET data = '{json.dumps(data)}' WHERE seq = 1")


def _waves_not_a_list(state):
    db = sqlite3.connect(state)
    plan = json.loads(db.execute("SELECT data FROM events WHERE seq = 1").fetchone()[0])["plan"]
    db.close()
    _set_started(state, "plan", {**plan, "waves": "x"})


DAMAGE = {
    "plan is text": (lambda s: _set_started(s, "plan", "hello"), "event 1 (started): plan: Input should be a valid dictionary"),
    "plan's waves are text": (_waves_not_a_list, "event 1 (started): plan.waves: Input should be a valid list"),
    "backend is a list": (lambda s: _set_started(s, "backend", [1]), "backend: Input should be a valid dictionary"),
    "a share past 1": (lambda s: _edit(s, "UPDATE events SET data = '{\"share\": 1e300}' WHERE kind = 'applied'"),
                       "(applied): share: Input should be less than or equal to 1"),
    "a wave the plan does not have": (lambda s: _edit(s, "UPDATE events SET wave = 99 WHERE kind = 'applied'"),
                                      "(applied): wave 99 is not a wave of the plan"),
    "no started event": (lambda s: _edit(s, "DELETE FROM events WHERE seq = 1"),
                         "the log does not begin with the rollout's started event"),
    "a second started event": (lambda s: _edit(s, "INSERT INTO events(t, wall, kind, data) "
                                                  "SELECT t, wall, kind, data FROM events WHERE seq = 1"),
                               "(started): a second started event"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_reader_of_a_damaged_state_file_says_so_in_one_line(runner, tmp_path, monkeypatch, damage):
    _setup(runner, tmp_path, monkeypatch)
    _pause_after_every_apply(monkeypatch)  # paused after the first apply: resumable
    state = tmp_path / "s.db"
    assert _start(runner, state).exit_code == 0
    monkeypatch.undo()  # resume must not pause again
    monkeypatch.chdir(tmp_path / "work")
    mutate, needle = DAMAGE[damage]
    mutate(state)
    page = tmp_path / "r.html"
    for args in (["rollout", "status", "--state", str(state)],
                 ["rollout", "report", "--state", str(state), "--output-file", str(page)],
                 ["rollout", "resume", "--state", str(state)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {state}: not a readable waveguard state database: corrupt"), line
        assert needle in line, line
    assert not page.exists()


def test_the_dashboards_reader_refuses_a_damaged_plan_before_serving(runner, tmp_path, monkeypatch):
    """The dashboard folds the log as the live view does (``LogTail``): the damaged plan is an
    InputError naming the file, not an AttributeError once the page asks for the waves."""
    from waveguard.rollout.tail import LogTail

    _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / "s.db"
    _start(runner, state)
    _waves_not_a_list(state)
    with pytest.raises(InputError, match="plan.waves: Input should be a valid list"):
        LogTail(state).poll()


def test_resume_of_a_started_event_without_its_plan_is_one_line(runner, tmp_path, monkeypatch):
    """A started event with no plan (deleted, or null): resume raised KeyError / pydantic's
    ValidationError; status still reads it (an operator can see and end the rollout)."""
    _setup(runner, tmp_path, monkeypatch)
    _pause_after_every_apply(monkeypatch)
    state = tmp_path / "s.db"
    assert _start(runner, state).exit_code == 0
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path / "work")
    _set_started(state, "plan", None)
    assert runner.invoke(app, ["rollout", "status", "--state", str(state)]).exit_code == 3  # paused
    result = runner.invoke(app, ["rollout", "resume", "--state", str(state)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == f"error: {state}: holds no started rollout with its plan and fleet (start one first)"


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_dashboard_says_a_state_file_was_damaged_while_served(runner, tmp_path, monkeypatch):
    """Served, then damaged (another tool appends a row no waveguard writes): the view was an
    'Internal Server Error' page and a traceback in the server's log; now ``{"error": LINE}``
    and, on the event stream, one ``unreadable`` event naming the file, which ends it."""
    from starlette.testclient import TestClient

    from waveguard.dashboard.app import DashboardConfig, create_app

    _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / "s.db"
    _start(runner, state)
    client = TestClient(create_app(DashboardConfig(states=(state,), interval=0.05)), raise_server_exceptions=False)
    assert client.get("/api/rollouts/0").status_code == 200
    _edit(state, "INSERT INTO events(t, wall, kind, wave, cluster, data) "
                 "VALUES (9999, 0, 'applied', 0, 'c0', '{\"share\": \"lots\"}')")
    answer = client.get("/api/rollouts/0")
    assert answer.status_code == 500
    assert answer.json()["error"].startswith(f"{state}: not a readable waveguard state database: corrupt")
    with client.stream("GET", "/api/rollouts/0/events") as stream:
        body = "".join(stream.iter_text())
    assert body.startswith("event: unreadable\ndata: ") and "share: Input should be a valid number" in body
