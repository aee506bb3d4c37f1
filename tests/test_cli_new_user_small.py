"""Small things a new user met (trial at 80 columns): a finding about a whole file names the
file once; an --output-file where no file can be created says so; a waveguard Plan
given to ``analyse`` is named as such."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from waveguard.cli.main import app

CHANGE = Path("examples/incident-telemetry")


def test_a_skipped_file_is_named_once(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / "c").mkdir()
    for manifest in CHANGE.glob("*.yaml"):
        shutil.copy(manifest, tmp_path / "c")
    monkeypatch.chdir(tmp_path)  # a short path: each mention fits on a line
    config = Path("c/agent-config.yml")
    config.write_text("receivers:\n  otlp: {}\n")
    result = runner.invoke(app, ["analyse", "c"], terminal_width=80)
    block = result.stdout[result.stdout.index("WG121"):].split("fix:")[0]
    assert block.count(config.name) == 1, block
    assert "holds no Kubernetes object" in block


def test_output_file_in_proc_is_not_a_writable_regular_file(runner):
    """/proc/version passes the permission checks as root, but no file can be created in /proc."""
    result = runner.invoke(app, ["plan", str(CHANGE), "--output-file", "/proc/version"])
    assert result.exit_code == 2
    assert "/proc/version: no file can be created in /proc" in result.stderr
    assert "check the folder exists" not in result.stderr and result.stdout == ""


def test_output_file_that_is_a_pipe_is_refused_before_any_work(runner, tmp_path):
    """A FIFO stands for a device here (/dev/null, which the rename would replace with a regular
    file as root: a test must not risk that on the machine)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["plan", str(CHANGE), "--output-file", str(fifo)])
    assert result.exit_code == 2 and f"{fifo}: is not a regular file (a device?)" in result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # not replaced by a regular file


def test_the_event_schema_says_why_start_streams_from_seq_2():
    """`rollout start -o json` begins at seq 2 (tests/test_rollout_cli.py runs it): the schema says why."""
    import json

    seq = json.loads(Path("docs/schemas/events.json").read_text())["properties"]["seq"]
    assert seq["minimum"] == 1 and "event 1 is `started`" in seq["description"]


def test_analyse_of_a_waveguard_plan_says_it_is_a_plan(runner, tmp_path):
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", str(CHANGE), "--output-file", str(plan)]).exit_code == 0
    result = runner.invoke(app, ["analyse", str(plan)])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{plan}: is a waveguard Plan file (use waveguard plan --check)" in result.stderr
    assert "waveguard plan --check" in result.stderr


def test_a_plan_beside_the_manifests_in_a_folder_is_still_skipped(runner, tmp_path):
    for manifest in CHANGE.glob("*.yaml"):
        shutil.copy(manifest, tmp_path)
    assert runner.invoke(app, ["plan", str(CHANGE), "--output-file", str(tmp_path / "plan.yaml")]).exit_code == 0
    result = runner.invoke(app, ["analyse", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1 and "WG101" in result.stdout  # the manifests are analysed


def test_a_skipped_file_with_a_long_path_is_one_indented_line_under_its_head(runner, tmp_path, monkeypatch):
    """WG121's head used to end in "file " with the path wrapped to the next line, unindented:
    the head now says "file" and the path stands indented on its own line, as every other
    finding's location does (folded only when longer than the line)."""
    monkeypatch.setenv("COLUMNS", "80")
    deep = tmp_path / "a-rather-long-folder-name-for-the-agent" / "rendered-manifests"
    deep.mkdir(parents=True)
    for manifest in CHANGE.glob("*.yaml"):
        shutil.copy(manifest, deep)
    config = deep / "collector-config.yml"
    config.write_text("receivers:\n  otlp: {}\n")
    result = runner.invoke(app, ["analyse", str(deep)], terminal_width=80)
    lines = result.stdout[result.stdout.index("WG121"):].splitlines()
    assert lines[0].rstrip() == "WG121 info  file", lines[:3]
    path = str(config)
    assert "".join(line.strip() for line in lines[1:1 + -(-len(path) // 78)]) == path, lines[:4]
    assert all(line.startswith("  ") for line in lines[1:4]), lines[:4]
