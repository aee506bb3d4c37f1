"""Small defects of what a user sees, found after session 5: the line an error names, the
metavars of help pages, the width of one-line errors."""

from __future__ import annotations

import re

import pytest
import yaml

from waveguard.cli.main import app

CHANGE = "examples/incident-telemetry"


def test_an_unknown_cluster_of_a_plan_is_reported_at_its_own_line(runner, tmp_path):
    plan = tmp_path / "plan.yaml"
    assert runner.invoke(app, ["plan", CHANGE, "--output-file", str(plan)]).exit_code == 0
    data = yaml.safe_load(plan.read_text())
    data["waves"][1]["clusters"]["names"][4] = "prod-typo"
    plan.write_text(yaml.safe_dump(data, sort_keys=False))
    line = plan.read_text().splitlines().index("    - prod-typo") + 1
    result = runner.invoke(app, ["plan", "--check", str(plan)])
    assert result.exit_code == 2
    assert f"{plan}:{line}: waves.1.clusters.names.4: no cluster named 'prod-typo'" in result.stderr, result.stderr


@pytest.mark.parametrize("command, option, metavar", [
    (["breakglass", "generate"], "--existing", "FILE"),
    (["breakglass", "check"], "--manifests", "PATH"),
    (["breakglass", "check"], "--change", "PATH"),
    (["breakglass", "kubeconfig"], "--cluster", "NAME"),
])
def test_repeatable_options_show_what_to_give_not_a_python_type(runner, command, option, metavar):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert re.search(rf"^  {option} {metavar} ", result.stdout, re.M), result.stdout
    assert "list[" not in "".join(line for line in result.stdout.splitlines() if line.lstrip().startswith("--"))


def test_every_output_option_is_probed_for_a_file_it_can_create_before_any_work(runner):
    """/proc passes the permission checks as root, but no file can be created in it: --report is
    refused before the command runs, as --output-file was (the probe is check_output_path's)."""
    result = runner.invoke(app, ["fidelity", "--report", "/proc/waveguard-report.html"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "/proc/waveguard-report.html: cannot write: no file can be created in /proc" in result.stderr
    assert "--report" in result.stderr
