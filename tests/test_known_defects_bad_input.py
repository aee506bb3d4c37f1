"""Bad input known from session 8's new-user trial, fixed in session 9: each case is one
clear line naming the file (and line, key or field) and what to do, exit 2, nothing written —
never a traceback, never silently accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waveguard.cli.main import app

HERE = Path(__file__).resolve().parent
AUDIT_HEAD = HERE / "fuzz_corpus" / "audit" / "audit2rbac-demo-v1-head.jsonl"


def _one_line_exit_2(result, path: Path | str, *keys: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"{path}:" in lines[0] and all(k in lines[0] for k in keys), lines[0]
    return lines[0]


def _audit_log_with_code(tmp_path: Path, code: object) -> Path:
    """The in-repo audit log head and one more event whose responseStatus.code is ``code``."""
    lines = AUDIT_HEAD.read_text().splitlines()
    event = json.loads(lines[2]) | {"auditID": "stray", "responseStatus": {"metadata": {}, "code": code}}
    log = tmp_path / "audit.jsonl"
    log.write_text("\n".join([*lines, json.dumps(event)]) + "\n")
    return log


@pytest.mark.parametrize("code, shown", [(-5, "'-5'"), ("abc", "'\"abc\"'"), (1e30, "'1e30'"), (99, "'99'"),
                                         (600, "'600'"), (200.5, "'200.5'"), ("200", "'\"200\"'")])
def test_measure_refuses_a_response_code_that_is_no_http_status(runner, tmp_path, code, shown):
    """-5 was shown as a status code of its own, "abc" and 1e30 silently became 0 (no status).
    audit.k8s.io's responseStatus is a metav1.Status whose code is the response's HTTP status
    (an int32): anything else is a malformed event, refused as an unreadable timestamp is."""
    log, out = _audit_log_with_code(tmp_path, code), tmp_path / "profile.yaml"
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(out)])
    line = _one_line_exit_2(result, log, "responseStatus.code", shown, "100-599")
    assert "fix or drop that event" in line
    assert not out.exists()


@pytest.mark.parametrize("code", [200, 429, 0, None])
def test_measure_reads_a_real_status_or_none(runner, tmp_path, code):
    """An HTTP status is counted under itself; 0 (metav1.Status: "0 if not set") and null as no
    status."""
    result = runner.invoke(app, ["measure", "--audit-log", str(_audit_log_with_code(tmp_path, code)), "-o", "json"])
    assert result.exit_code == 0, result.output
    codes = {k for c in json.loads(result.stdout)["clients"] for k in c["status_codes"]}
    assert str(code or 0) in codes


@pytest.mark.parametrize("args", [
    ["measure", "--audit-log", "LOG"],  # a table, through rich
    ["measure", "--audit-log", "LOG", "-o", "json"],  # a document, through click.echo
    ["schema", "fleet"],
    ["--help"],
])
def test_a_closed_stdout_pipe_ends_quietly_with_128_plus_sigpipe(tmp_path, args):
    """``waveguard measure … | head -1`` exited 1 (waveguard's "findings"), rich or click having met
    EPIPE. The reader of standard output is gone here before the first write (its end of the pipe
    closed first: no race): nothing on stderr, exit 141 as a shell reports a tool SIGPIPE ended."""
    import os
    import subprocess
    import sys

    log = tmp_path / "audit.jsonl"  # the head without its truncated last line (a note on stderr)
    log.write_text("\n".join(AUDIT_HEAD.read_text().splitlines()[:-1]) + "\n")
    args = [str(log) if a == "LOG" else a for a in args]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "waveguard.cli.main", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def _foreign_sqlite(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize("name, make, what", [
    ("plan.yaml", lambda p: p.write_text("apiVersion: waveguard.io/v1alpha1\nkind: Plan\nwaves: []\n"),
     "not a SQLite file"),
    ("state.json", lambda p: p.write_text('{"rollout": 1}'), "not a SQLite file"),
    ("garbage.db", lambda p: p.write_bytes(bytes(range(256)) * 8), "not a SQLite file"),
    ("other.db", _foreign_sqlite, "a SQLite file without waveguard's events table"),
])
def test_rollout_start_on_a_file_that_is_no_state_database_says_what_it_is(runner, tmp_path, monkeypatch, name,
                                                                           make, what):
    """``rollout start --state FILE`` on a file that is no state database said "a rollout state
    database already exists (use waveguard rollout resume/status …)": resume then said it is no
    state database. The line says what the file is, that start overwrites no file, and what to
    give; the file is left as it was."""
    from tests.test_rollout_frozen_and_exits import _setup, _start

    _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / name
    make(state)
    before = state.read_bytes()
    line = _one_line_exit_2(_start(runner, state), state, "not a readable waveguard state database", what,
                            "start overwrites no file", "give --state a path where no file is")
    assert "already exists" not in line and "resume" not in line
    assert state.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "work"])


def test_rollout_start_on_a_state_file_another_start_is_creating_says_it_exists(runner, tmp_path, monkeypatch):
    """Two starts on one new --state: the loser may open the file between the winner's creating
    it and writing its schema (a SQLite file with no table yet; test_rollout_lease saw it on a
    loaded machine). That is the rollout being created: "already exists", not "no state
    database". The race's window is made deterministic here by creating the table-less file."""
    import sqlite3

    from tests.test_rollout_frozen_and_exits import _setup, _start

    _setup(runner, tmp_path, monkeypatch)
    state = tmp_path / "s.db"
    db = sqlite3.connect(state)
    db.execute("PRAGMA journal_mode = WAL")  # what start does first; the file is no longer empty
    db.close()
    _one_line_exit_2(_start(runner, state), state, "a rollout state database already exists")


def _plan_with_share(runner, tmp_path, monkeypatch, share: str) -> Path:
    """The working folder of _setup with its plan's first node_share set to ``share`` (YAML)."""
    from tests.test_rollout_frozen_and_exits import _setup

    _setup(runner, tmp_path, monkeypatch)
    plan = tmp_path / "work" / "plan.yaml"
    text = plan.read_text()
    start = text.index("node_share: ")
    plan.write_text(text[:start] + f"node_share: {share}" + text[text.index("\n", start):])
    return plan


@pytest.mark.parametrize("share, shown", [(".nan", ".nan"), ("NaN", "'NaN'"), ("'nan'", "'nan'"),
                                          (".inf", ".inf"), ("-.inf", "-.inf")])
def test_a_node_share_that_is_no_finite_number_is_named_with_its_line(runner, tmp_path, monkeypatch, share, shown):
    """node_share: .nan said "Input should be less than or equal to 1", which NaN is not. Every
    number of a user file (strict_types.Number: plan, fleet, scenario) refuses NaN and the
    infinities in those words, naming the file, line and key; rollout start writes no state."""
    plan = _plan_with_share(runner, tmp_path, monkeypatch, share)
    line_no = plan.read_text().splitlines().index(f"  node_share: {share}") + 1
    for args in (["plan", "--check", str(plan), "--fleet", "fleet.yaml"],
                 ["rollout", "start", str(plan), "--fleet", "fleet.yaml", "--state", "s.db"]):
        line = _one_line_exit_2(runner.invoke(app, args), plan, "waves.0.node_share",
                                f"expected a finite number, got {shown}")
        assert f"{plan}:{line_no}:" in line and "Value error" not in line
    assert not (tmp_path / "work" / "s.db").exists()


def test_a_profile_rate_that_is_no_finite_number_is_named_with_its_line(runner, tmp_path):
    """rate_per_s: .nan in a --profiles file ended analyse in a traceback ("cannot convert float
    NaN to integer"): refused when the file is read, naming its line and key."""
    from tests.conftest import ROOT

    good = tmp_path / "measured.yaml"
    assert runner.invoke(app, ["measure", "--audit-log", str(AUDIT_HEAD), "--output-file", str(good)]).exit_code == 0
    text = good.read_text()
    bad = tmp_path / "nan.yaml"
    bad.write_text(text.replace("rate_per_s: ", "rate_per_s: .nan #", 1))
    line_no = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if "rate_per_s: .nan" in s)
    result = runner.invoke(app, ["analyse", str(ROOT / "examples" / "incident-telemetry"), "--profiles", str(bad)])
    _one_line_exit_2(result, f"{bad}:{line_no}", "profile 0: classes.0.rate_per_s", "finite number")


@pytest.mark.parametrize("text, what", [("", "no request profiles: an empty file"), ("# measured later\n", "an empty file"),
                                        ("[]\n", "an empty list"), ("hello\n", "'hello' is no list of profiles")])
def test_a_profile_file_with_no_profiles_says_so(runner, tmp_path, text, what):
    """An empty --profiles file said "profile 0: : Input should be a valid dictionary or instance
    of RequestProfile"; ``[]`` was accepted, replacing nothing, silently."""
    from tests.conftest import ROOT

    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    change = str(ROOT / "examples" / "incident-telemetry")
    for args in (["analyse", change, "--profiles", str(path)], ["analyse", "--profiles", str(path)]):
        _one_line_exit_2(runner.invoke(app, args), path, what, "see waveguard measure")


@pytest.mark.parametrize("command", [["analyse", "x.yaml"], ["risk", "plan.yaml"]])
@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_profiles_option_is_named(runner, command, value):
    """``--profiles ""`` (an unset shell variable) was read as ".", the current folder: ".: cannot
    read profile file: it is a folder"."""
    result = runner.invoke(app, [*command, "--profiles", value])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: --profiles: an empty path") and "folder" not in line, line


@pytest.mark.parametrize("args, value, said", [
    (["plan", "examples/incident-telemetry", "--output-file", "{out}", "--risk-budget"], "nan", "'nan' is not a finite"),
    (["plan", "examples/incident-telemetry", "--output-file", "{out}", "--risk-budget"], "inf", "'inf' is not a finite"),
    (["plan", "examples/incident-telemetry", "--output-file", "{out}", "--risk-budget"], "2", "2 is over 1"),
    (["exporter", "--builtin", "incident-2024-12-11", "--time-scale"], "nan", "'nan' is not a finite"),
    (["exporter", "--builtin", "incident-2024-12-11", "--time-scale"], "0", "0 is under 0.001"),
])
def test_a_number_option_that_is_no_finite_number_in_its_bounds_is_named(runner, tmp_path, args, value, said):
    """``plan --risk-budget nan`` said "must be at most 1" and ``exporter --time-scale nan``
    "must be at least 0.001" (click's range check compares NaN with the bound it then names):
    the value is named as what it is, exit 2, nothing written."""
    out = tmp_path / "plan.yaml"
    result = runner.invoke(app, [a.format(out=out) for a in args] + [value])
    assert result.exit_code == 2 and said in result.output, result.output
    assert not out.exists()
