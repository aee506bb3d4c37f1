"""Small things a new user met (trial at 80 columns): a finding about a whole file names the
file once; an --output-file that is not a writable regular file says so; a waveguard Plan
given to ``analyse`` is named as such."""

from __future__ import annotations

import shutil
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
