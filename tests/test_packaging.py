"""Issue 15, item 5: installable like the tools around it — the kubectl plugin and its krew
manifest, extras so ``pip install waveguard`` is a linter-sized install, every import declared.

The install sizes themselves are measured in fresh venvs (docs/install.md); here the same split
is checked by running the core commands with the extras' libraries made unimportable.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from waveguard.model.extras import EXTRAS, MODULE_EXTRA

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
INCIDENT = str(ROOT / "examples" / "incident-telemetry")
#: What the core install leaves out: every extra's libraries.
BLOCKED = sorted(MODULE_EXTRA)
_RUN_BLOCKED = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
sys.argv = ["waveguard", *sys.argv[2:]]
from waveguard.cli.main import run
run()
"""


def _core(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``waveguard ARGS`` as ``pip install waveguard`` (no extra) would run it."""
    return subprocess.run([sys.executable, "-c", _RUN_BLOCKED, ",".join(BLOCKED), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[;! ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_core_commands_run_without_any_extra(tmp_path):
    plan = tmp_path / "plan.yaml"
    assert _core("analyse", INCIDENT, "-o", "sarif").returncode == 1  # findings, not a crash
    assert _core("plan", INCIDENT, "--output-file", str(plan)).returncode == 0
    assert _core("plan", "--check", str(plan)).returncode == 0
    assert _core("breakglass", "generate", INCIDENT).returncode == 0
    for name in ("fleet", "plan", "backend", "events", "analysis"):
        assert _core("schema", name).returncode == 0
    status = _core("rollout", "status", "--state", str(tmp_path / "none.db"))
    assert status.returncode == 2 and "Traceback" not in status.stderr


@pytest.mark.parametrize(("args", "extra"), [
    (["simulate", "--builtin", "relist-storm"], "sim"),
    (["demo"], "sim"),
    (["measure", "--audit-log", "{log}"], "measure"),
])
def test_a_command_that_needs_an_extra_says_which_in_one_line(tmp_path, args, extra):
    log = tmp_path / "audit.log"
    log.write_text("")
    result = _core(*[a.format(log=log) for a in args])
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"pip install 'waveguard[{extra}]'" in line


def test_a_rollout_on_the_simulated_fleet_without_the_sim_extra_writes_no_state(tmp_path):
    plan = tmp_path / "plan.yaml"
    assert _core("plan", INCIDENT, "--output-file", str(plan)).returncode == 0
    result = _core("rollout", "start", str(plan), "--state", str(tmp_path / "s.db"))
    assert result.returncode == 2 and "waveguard[sim]" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_extras_split_as_documented_and_test_pulls_in_all():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"sim", "measure", "report", "kubernetes", "all", "test"} <= set(extras)
    assert "waveguard[all]" in extras["test"]
    assert extras["all"] == ["waveguard[sim,measure,report,kubernetes,dashboard,risk]"]
    core = _requirement_names(PYPROJECT["project"]["dependencies"])
    assert not core & {"numpy", "matplotlib", "duckdb", "kubernetes", "jinja2", "zstandard"}
    for module, extra in MODULE_EXTRA.items():
        dists = importlib.metadata.packages_distributions()[module]
        assert _requirement_names(extras[extra]) & {d.lower() for d in dists}, (module, extra)
    for extra, modules in EXTRAS.items():
        assert all(MODULE_EXTRA[m] == extra for m in modules)


def _third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "waveguard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m != "waveguard" and m not in sys.stdlib_module_names}


def test_every_imported_library_is_declared():
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])
    for requirements in PYPROJECT["project"]["optional-dependencies"].values():
        declared |= _requirement_names(requirements)
    owners = importlib.metadata.packages_distributions()
    for module in sorted(_third_party_imports()):
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        assert dists & declared, f"{module} is imported but none of {dists} is declared in pyproject.toml"


def test_the_package_says_it_is_typed():
    assert (ROOT / "src" / "waveguard" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["waveguard"]


# --- kubectl and krew ------------------------------------------------------------------------
def _build_archive(tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "kubectl-waveguard.tar.gz"
    sha = subprocess.run([sys.executable, str(ROOT / "plugins" / "build_archive.py"), str(out)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha
    return out, sha


def test_krew_manifest_is_a_valid_krew_plugin_whose_archive_matches_its_sha256(tmp_path):
    manifest_path = ROOT / "plugins" / "waveguard.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    schema = json.loads((ROOT / "tests" / "data" / "krew-plugin.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(manifest)
    assert manifest["metadata"]["name"] == manifest_path.stem  # krew: the file is named after the plugin
    assert manifest["spec"]["version"] == "v" + PYPROJECT["project"]["version"]
    _, sha = _build_archive(tmp_path)
    assert {p["sha256"] for p in manifest["spec"]["platforms"]} == {sha}, "run plugins/build_archive.py"
    bad = dict(manifest, spec=dict(manifest["spec"], platforms=[dict(manifest["spec"]["platforms"][0], sha256="x")]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_the_krew_archive_runs_under_kubectl_as_kubectl_waveguard(tmp_path):
    """krew links the archive's ``bin`` into its bin folder; kubectl runs it as ``kubectl waveguard``."""
    archive, _ = _build_archive(tmp_path)
    bindir = tmp_path / "krew-bin"
    with tarfile.open(archive) as tar:
        tar.extractall(bindir, filter="data")
    shim = bindir / "kubectl-waveguard"
    assert os.access(shim, os.X_OK)
    env = {**os.environ, "WAVEGUARD_PYTHON": sys.executable}
    help_text = subprocess.run([str(shim), "analyse", "--help"], capture_output=True, text=True, env=env, check=True)
    assert "Usage: kubectl waveguard analyse" in help_text.stdout
    missing = subprocess.run([str(shim), "--version"], capture_output=True, text=True,
                             env={"PATH": "/nonexistent", "WAVEGUARD_PYTHON": "/nonexistent/python"})
    assert missing.returncode == 2 and "pip install waveguard" in missing.stderr
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    run = subprocess.run([kubectl, "waveguard", "--version"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("waveguard "), run.stderr
