"""Inputs that are not regular files (new-user trial 7): a named pipe nobody writes to made
plan, rollout, export, risk, simulate, measure, breakglass kubeconfig and every --fleet /
--state / --profiles reader wait forever; /dev/zero would be read without end; analyse called
a pipe or /dev/null "no such file". Now one line naming the file, exit 2, within seconds — while
a pipe someone writes to (``/dev/stdin`` piped, a shell's ``<(…)``) is still read. Whole
processes (a hang must fail the test by its timeout, not hang the run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHANGE = str(ROOT / "examples" / "incident-telemetry")


def _waveguard(*args: str, stdin: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "waveguard.cli.main", *args], input=stdin, capture_output=True,
                          timeout=60, cwd=cwd, env={**os.environ, "COLUMNS": "80"})


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("args, needle", [
    (["plan", "--check", "{f}"], "{f}: cannot read plan: an empty pipe"),
    (["analyse", CHANGE, "--fleet", "{f}"], "{f}: cannot read fleet file: an empty pipe"),
    (["rollout", "status", "--state", "{f}"], "{f}: is not a regular file (a pipe, device or socket)"),
    (["measure", "--audit-log", "{f}"], "{f}: is not a regular file (a pipe, device or socket)"),
    (["measure", "--metrics", "{f}"], "{f}: cannot read /metrics file: an empty pipe"),
    (["analyse", "{f}"], "{f}: is not a regular file or folder (a pipe, device or socket)"),
])
def test_a_pipe_nobody_writes_to_is_one_line_not_a_hang(tmp_path, fifo, args, needle):
    result = _waveguard(*[a.replace("{f}", str(fifo)) for a in args], cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: " + needle.replace("{f}", str(fifo))), line
    assert result.stdout == b""


def test_a_device_is_refused_and_a_written_pipe_is_read(tmp_path):
    zero = _waveguard("plan", "--check", "/dev/zero", cwd=tmp_path)
    assert zero.returncode == 2 and zero.stderr.decode().strip() == \
        "error: /dev/zero: cannot read plan: a device or socket (pass the file)"
    plan = tmp_path / "plan.yaml"
    assert _waveguard("plan", CHANGE, "--output-file", str(plan), cwd=tmp_path).returncode == 0
    piped = _waveguard("plan", "--check", "/dev/stdin", stdin=plan.read_bytes(), cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr.decode()
    assert "WG204" in piped.stdout.decode()  # the plan was read and checked
