"""The GitHub Action (action.yml) and the pre-commit hook (.pre-commit-hooks.yaml), run as CI runs them.

No GitHub runner or pre-commit here: each test parses the YAML and runs the steps' own shell
scripts (``bash --noprofile --norc -eo pipefail``, as ``shell: bash`` does) with the env GitHub
would give them — every ``${{ inputs.x }}`` of a step's ``env`` replaced by the input's value, and
``GITHUB_OUTPUT`` / ``GITHUB_ENV`` / ``GITHUB_WORKSPACE`` set — on examples/. The hook's entry runs
on the files its ``files`` / ``exclude`` patterns select, as pre-commit passes them. Steps that
reach the network (pip install from PyPI, the SARIF upload) are checked by what they run: pip
through a recording stand-in, the upload step's action and inputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
BIN = Path(sys.executable).parent  # the venv's bin: its `waveguard` is the one under test
INCIDENT = "examples/incident-telemetry"
FIXED = "examples/incident-telemetry-node-filtered"


def _step(name: str) -> dict:
    return next(step for step in ACTION["runs"]["steps"] if step.get("name") == name)


def _inputs(**given: str) -> dict[str, str]:
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values.update({name.replace("_", "-"): value for name, value in given.items()})
    return values


def _expand(value: str, inputs: dict[str, str]) -> str:
    """GitHub's ``${{ inputs.name }}`` substitution (the only expression the steps' env uses)."""
    def substitute(match: re.Match[str]) -> str:
        return inputs[match.group(1)]

    expanded = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", substitute, value)
    assert "${{" not in expanded, f"unexpected expression in {value!r}"
    return expanded


def _run_step(name: str, inputs: dict[str, str], tmp_path: Path, extra_env: dict[str, str] | None = None,
              path_first: Path | None = None,
              workspace: Path = ROOT) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one step's script in ``workspace`` (GITHUB_WORKSPACE); returns the process and what
    it wrote to GITHUB_OUTPUT."""
    step = _step(name)
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": os.pathsep.join([str(p) for p in (path_first, BIN) if p] + [os.environ["PATH"]]),
           "HOME": os.environ.get("HOME", str(tmp_path)), "GITHUB_OUTPUT": str(output),
           "GITHUB_ENV": str(tmp_path / "github_env"), "GITHUB_WORKSPACE": str(workspace),
           "WAVEGUARD_SHARED": os.environ.get("WAVEGUARD_SHARED", "")}
    env.update({key: _expand(str(value), inputs) for key, value in step.get("env", {}).items()})
    env.update(extra_env or {})
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    process = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace, env=env,
                             capture_output=True, text=True, timeout=300)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return process, outputs


def test_action_is_composite_installs_analyses_and_uploads():
    assert ACTION["runs"]["using"] == "composite"
    uses = [step.get("uses", "") for step in ACTION["runs"]["steps"]]
    assert uses[0].startswith("actions/setup-python@")
    upload = _step("Upload SARIF")
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"] == {"sarif_file": "${{ inputs.sarif-file }}", "category": "${{ inputs.category }}"}
    assert "waveguard analyse" in _step("Analyse")["run"] and "-o sarif" in _step("Analyse")["run"]
    for step in ACTION["runs"]["steps"]:  # inputs reach scripts through env only (no script injection)
        assert "${{" not in step.get("run", ""), step["name"]
        assert step.get("shell", "bash") == "bash"


def test_install_step_pip_installs_waveguard(tmp_path):
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    record = tmp_path / "pip-args"
    (stand_in / "python").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    (stand_in / "python").chmod(0o755)
    process, _ = _run_step("Install waveguard", _inputs(waveguard_version="0.1.0"), tmp_path, path_first=stand_in)
    assert process.returncode == 0, process.stderr
    assert record.read_text().split() == ["-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                                          "waveguard==0.1.0"]
    assert process.stdout.startswith("waveguard ")  # `waveguard --version`
    _run_step("Install waveguard", _inputs(), tmp_path, path_first=stand_in)
    assert record.read_text().split()[-1] == "waveguard"  # latest when no version is given


def _check_sarif(sarif_file: Path, uri: str) -> dict:
    log = json.loads(sarif_file.read_text())
    run = log["runs"][0]
    assert run["automationDetails"]["id"] == "waveguard/"
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": uri, "uriBaseId": "%SRCROOT%"}
    return log


def test_analyse_step_writes_sarif_and_keeps_the_findings_exit_for_after_the_upload(tmp_path):
    sarif = tmp_path / "waveguard.sarif"
    process, outputs = _run_step("Analyse", _inputs(manifests=INCIDENT, sarif_file=str(sarif)), tmp_path)
    assert process.returncode == 0, process.stderr  # the upload still runs
    assert outputs["exit-code"] == "1"
    _check_sarif(sarif, "examples/incident-telemetry/telemetry-agent.yaml")
    failing, _ = _run_step("Fail on findings", _inputs(), tmp_path)  # its `if:` holds: exit-code == '1'
    assert failing.returncode == 1 and "::error::" in failing.stdout

    process, outputs = _run_step("Analyse", _inputs(manifests=FIXED, sarif_file=str(sarif)), tmp_path)
    assert process.returncode == 0 and outputs["exit-code"] == "0"
    assert json.loads(sarif.read_text())["runs"][0]["results"] == []


def test_analyse_step_fails_at_once_on_bad_input(tmp_path):
    process, outputs = _run_step("Analyse", _inputs(manifests="examples/no-such-folder",
                                                    sarif_file=str(tmp_path / "out.sarif")), tmp_path)
    assert process.returncode == 2 and outputs["exit-code"] == "2"
    assert "no such file or folder" in process.stderr


def test_render_step_feeds_helm_template_output_to_the_analyse_step(tmp_path):
    """With ``chart:``: the render step's helm command line (a recording stand-in for helm,
    which prints the example) and the analyse step reading what it rendered."""
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    record = tmp_path / "helm-args"
    (stand_in / "helm").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n'
                                   f'cat {ROOT / INCIDENT / "telemetry-agent.yaml"}\n')
    (stand_in / "helm").chmod(0o755)
    inputs = _inputs(chart="charts/agent", values="a.yaml b.yaml", sarif_file=str(tmp_path / "out.sarif"))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    process, _ = _run_step("Render the chart", inputs, tmp_path, path_first=stand_in, workspace=workspace)
    assert process.returncode == 0, process.stderr
    assert record.read_text().split() == ["template", "waveguard", "charts/agent", "--values", "a.yaml",
                                          "--values", "b.yaml"]
    github_env = dict(line.split("=", 1) for line in (tmp_path / "github_env").read_text().splitlines())
    process, outputs = _run_step("Analyse", inputs, tmp_path, extra_env=github_env, workspace=workspace)
    assert outputs["exit-code"] == "1", process.stderr
    _check_sarif(tmp_path / "out.sarif", ".waveguard/rendered.yaml")


def _hook() -> dict:
    assert isinstance(HOOKS, list) and len(HOOKS) == 1
    return HOOKS[0]


def _selected(files: list[str]) -> list[str]:
    """The files pre-commit passes the hook: ``files`` matches and ``exclude`` does not (re.search)."""
    hook = _hook()
    return [f for f in files if re.search(hook["files"], f) and not re.search(hook["exclude"], f)]


def test_hook_selects_manifests_not_chart_sources_or_ci_files():
    hook = _hook()
    assert hook["id"] == "waveguard-analyse" and hook["language"] == "python"
    assert hook["pass_filenames"] is True and hook["require_serial"] is True
    candidates = ["examples/incident-telemetry/telemetry-agent.yaml", "deploy/rendered/agent.yml", "deploy/x.json",
                  "charts/agent/Chart.yaml", "charts/agent/values.yaml", "charts/agent/values-prod.yaml",
                  "charts/agent/templates/daemonset.yaml", ".github/workflows/ci.yml", ".pre-commit-config.yaml",
                  ".pre-commit-hooks.yaml", "action.yml", "README.md", "src/waveguard/cli/main.py"]
    assert _selected(candidates) == candidates[:3]


@pytest.mark.parametrize("changed, args, exit_code", [
    ([INCIDENT + "/telemetry-agent.yaml"], [], 1),
    ([FIXED + "/telemetry-agent.yaml"], ["--fail-on", "warning"], 0),
    ([INCIDENT + "/telemetry-agent.yaml", FIXED + "/telemetry-agent.yaml"], [], 1),
], ids=["incident", "node-filtered", "both"])
def test_hook_entry_runs_on_the_changed_files(changed, args, exit_code):
    selected = _selected(changed)
    assert selected == changed and all((ROOT / f).is_file() for f in changed)
    entry = _hook()["entry"].split()
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ["PATH"]]))
    process = subprocess.run([*entry, *args, *selected], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == exit_code, process.stdout + process.stderr
    if exit_code:
        assert "WG101" in process.stdout
