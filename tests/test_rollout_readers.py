"""Readers of a rollout's state file: ``rollout status`` (and ``--watch``), ``rollout report``
and the dashboard's tail need only read access (a state file an operator may read but not
write, in a folder they may not write), and what ``status -o json`` and ``--watch -o json`` print
has a JSON Schema (``waveguard schema status|view``).

Permissions are tested for real: the commands run as a separate process without the right to
override file permissions (as root here: ``setpriv`` drops CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH; as any other user: directly)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from waveguard.cli.main import app
from waveguard.report.schemas import json_schema

ROOT = Path(__file__).resolve().parents[1]
WAVEGUARD = Path(sys.executable).parent / "waveguard"


@pytest.fixture(scope="module")
def halted_rollout(tmp_path_factory) -> Path:
    """The incident's change rolled out on the simulated fleet: staging passes, the projection halts."""
    from typer.testing import CliRunner

    folder = tmp_path_factory.mktemp("rollout")
    runner = CliRunner()
    plan = folder / "plan.yaml"
    made = runner.invoke(app, ["plan", str(ROOT / "examples" / "incident-telemetry"), "--output-file", str(plan)])
    assert made.exit_code == 0, made.output
    state = folder / "state.db"
    assert runner.invoke(app, ["rollout", "start", str(plan), "--state", str(state), "-o", "json"]).exit_code == 1
    return state


def test_status_and_the_watched_view_match_their_schemas(runner, halted_rollout):
    status = runner.invoke(app, ["rollout", "status", "--state", str(halted_rollout), "-o", "json"])
    assert status.exit_code == 1, status.output  # halted and rolled back
    jsonschema.Draft202012Validator(json_schema("status")).validate(json.loads(status.stdout))
    watch = runner.invoke(app, ["rollout", "status", "--watch", "-o", "json", "--state", str(halted_rollout)])
    assert watch.exit_code == 1, watch.output
    views = [json.loads(line) for line in watch.stdout.splitlines()]
    assert views and views[-1]["kind"] == "RolloutView" and views[-1]["halt"]["gate"] == "projection"
    for view in views:
        jsonschema.Draft202012Validator(json_schema("view")).validate(view)


def test_the_view_schema_refuses_a_key_the_view_does_not_have(runner, halted_rollout):
    """The schema is generated from the view's dataclass, strictly: drift would show."""
    watch = runner.invoke(app, ["rollout", "status", "--watch", "-o", "json", "--state", str(halted_rollout)])
    view = json.loads(watch.stdout.splitlines()[-1])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**view, "surprise": 1}, json_schema("view"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**view, "waves": "none"}, json_schema("view"))


# --- read-only state files --------------------------------------------------------------------------
def _without_override() -> list[str]:
    """The prefix that runs a command unable to override file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root without setpriv (util-linux): cannot test read-only access", pytrace=False)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_without_override(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a WAL database (SQLite's backup API: the -wal's pages included),
    left with no -wal or -shm beside it."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


@pytest.fixture
def read_only_state(halted_rollout, tmp_path):
    """A copy of the state file, mode 444, in a folder of mode 555 (no -wal or -shm beside it)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    state = folder / "state.db"
    _copy(halted_rollout, state)
    state.chmod(0o444)
    folder.chmod(0o555)
    yield state
    folder.chmod(0o755)


def test_the_process_really_cannot_write_there(read_only_state):
    probe = _run(sys.executable, "-c", f"open({str(read_only_state)!r}, 'a')")
    assert probe.returncode != 0 and "Permission denied" in probe.stderr


@pytest.mark.parametrize("args", [
    ["rollout", "status"],
    ["rollout", "status", "-o", "json"],
    ["rollout", "status", "--watch", "-o", "json"],
], ids=" ".join)
def test_status_and_watch_read_a_read_only_state_file(read_only_state, args):
    if not WAVEGUARD.exists():
        pytest.skip("waveguard not installed (pip install -e .)")
    run = _run(str(WAVEGUARD), *args, "--state", str(read_only_state))
    assert run.returncode == 1, run.stderr  # 1: halted and rolled back, read, not refused
    assert run.stderr == "" and ("rolled_back" in run.stdout)
    assert sorted(p.name for p in read_only_state.parent.iterdir()) == ["state.db"]  # nothing written


def test_report_reads_a_read_only_state_file(read_only_state, tmp_path):
    if not WAVEGUARD.exists():
        pytest.skip("waveguard not installed (pip install -e .)")
    out = tmp_path / "report.html"
    run = _run(str(WAVEGUARD), "rollout", "report", "--state", str(read_only_state), "--output-file", str(out))
    assert run.returncode == 0, run.stderr
    assert "by the projection gate on prod-24-7500" in out.read_text(encoding="utf-8")


def test_the_dashboard_tail_reads_a_read_only_state_file(read_only_state):
    code = ("from waveguard.rollout.tail import LogTail; t = LogTail(%r); print(t.poll(), t.live.state.status)"
            % str(read_only_state))
    run = _run(sys.executable, "-c", code)
    assert run.returncode == 0, run.stderr
    count, status = run.stdout.split()
    assert int(count) > 100 and status == "rolled_back"


def test_a_live_writers_files_are_read_through_not_around(halted_rollout, tmp_path):
    """A read-only folder where a writer's -wal and -shm exist: read with them (mode=ro), never
    as an immutable file that would miss the writer's latest events."""
    import sqlite3

    folder = tmp_path / "live"
    folder.mkdir()
    state = folder / "state.db"
    _copy(halted_rollout, state)
    writer = sqlite3.connect(state, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("INSERT INTO events (t, wall, kind, wave, cluster, data) VALUES (9999, 0, 'paused', 1, NULL, "
                   "'{\"reason\": \"written after the copy\", \"needs_approval\": false}')")
    try:
        assert (folder / "state.db-wal").exists() and (folder / "state.db-shm").exists()
        for path in folder.iterdir():
            path.chmod(0o444)
        folder.chmod(0o555)
        if not WAVEGUARD.exists():
            pytest.skip("waveguard not installed (pip install -e .)")
        run = _run(str(WAVEGUARD), "rollout", "status", "-o", "json", "--state", str(state))
        assert run.returncode in (1, 3), run.stderr
        assert json.loads(run.stdout)["t"] == 9999  # the event still in the writer's -wal was read
    finally:
        folder.chmod(0o755)
        writer.close()


def test_a_writer_is_still_refused_with_one_line(read_only_state):
    if not WAVEGUARD.exists():
        pytest.skip("waveguard not installed (pip install -e .)")
    run = _run(str(WAVEGUARD), "rollout", "pause", "--state", str(read_only_state))
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert run.stderr.startswith(f"error: {read_only_state}: no permission to read and write")
