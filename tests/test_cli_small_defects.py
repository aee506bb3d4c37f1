"""Small defects of what a user sees, found after session 5: the line an error names, the
metavars of help pages, the width of one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert "/proc/waveguard-report.html: no file can be created in /proc" in result.stderr
    assert "--report" in result.stderr


# --- one-line errors fit 80 columns ------------------------------------------------------------
#: Cells an interpolated value ({host}, {flag}, {folder}…) is taken to print, and a file named by
#: a variable (``fleet.yaml``) with its ``:LINE``: a short name; a long path makes any line long.
PLACEHOLDER, FILE, LINE = 6, 12, 3


def _cells(node) -> int | None:
    """Printed width of a message or hint: literal text exact, each interpolation
    :data:`PLACEHOLDER`; None when it is computed (the test cannot tell)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, ast.JoinedStr):
        return sum(len(v.value) if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)
    return None


def _input_error_widths() -> list[tuple[int, str]]:
    """Width of ``error: SOURCE[:LINE]: MESSAGE (HINT)`` of every ``InputError(...)`` raised in
    waveguard's cli and model packages whose message is written out (not computed)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "src" / "waveguard"
    found = []
    for file in sorted([*(root / "cli").rglob("*.py"), *(root / "model").rglob("*.py")]):
        for node in ast.walk(ast.parse(file.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InputError" and len(node.args) > 1):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            source = _cells(node.args[0]) if isinstance(node.args[0], (ast.Constant, ast.JoinedStr)) else FILE
            message = _cells(node.args[1])
            hint = _cells(keywords["hint"]) if "hint" in keywords else 0
            if source is None or message is None or hint is None:
                continue
            width = len("error: ") + source + (LINE if "line" in keywords else 0) + len(": ") + message
            found.append((width + (len(" ()") + hint if hint else 0), f"{file.relative_to(root)}:{node.lineno}"))
    return found


def test_one_line_errors_fit_80_columns_with_a_short_file_name():
    widths = _input_error_widths()
    assert len(widths) > 40  # the scan finds them
    assert [w for w in widths if w[0] > 80] == []


@pytest.mark.parametrize("args, text, expected", [
    (["plan", "--check", "plan.yaml"], "a: 1\na: 2\n",
     "error: plan.yaml:2: duplicate key 'a' (first at line 1) (remove one)"),
    (["analyse", CHANGE, "--fleet", "fleet.yaml"], "- a\n",
     "error: fleet.yaml:1: not a mapping with a 'clusters' list (see README.md)"),
    (["analyse", CHANGE, "-o", "csv"], None, "error: -o csv: not an output format (give one of table, json, yaml, sarif)"),
])
def test_errors_as_seen_at_80_columns(runner, tmp_path, monkeypatch, args, text, expected):
    from rich.cells import cell_len

    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / args[-1]).write_text(text)
    (tmp_path / "examples").symlink_to(Path(__file__).resolve().parents[1] / "examples")
    result = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 2 and result.stderr.splitlines() == [expected]
    assert cell_len(expected) <= 80
