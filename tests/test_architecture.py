"""The package layering of docs/architecture.md: each package imports only packages on rows below.

Beyond the rows: ``signals`` imports only ``model``, ``fidelity`` only ``sim`` and ``model``; the
``demo`` sits on the top row beside ``cli`` and nothing but the CLI imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import waveguard

#: Rows of docs/architecture.md, top to bottom.
ROWS = [["cli", "demo", "dashboard", "risk"], ["report", "export"], ["rollout", "fidelity"], ["sim", "signals"],
        ["breakglass"], ["analysis"], ["model"]]
#: Imports along a row: the CLI runs the demo, the dashboard and risk sweeps.
ALONG_THE_ROW = {"cli": {"demo", "dashboard", "risk"}}
#: Packages held to fewer packages than the rows allow (docs/architecture.md).
STRICTER = {
    "signals": {"model"},
    "fidelity": {"sim", "model"},
    # rollout engine and simulated target, the simulator, rendering; analysis and break-glass for
    # the production-traffic case and the isolation it installs.
    "demo": {"rollout", "sim", "report", "model", "analysis", "breakglass"},
    # the live rollout view (rollout.view) and its figures' formatting (report.live)
    "dashboard": {"rollout", "report", "model"},
    # samples a plan over drawn worlds: the rollout engine on the simulated target, the model.
    "risk": {"rollout", "sim", "model"},
}
PACKAGE = Path(waveguard.__file__).parent


def imported_packages(package: str) -> set[str]:
    """The waveguard packages that ``package``'s modules import."""
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found |= {n.split(".")[1] for n in names if n.startswith("waveguard.") and n.count(".") >= 1}
            if isinstance(node, ast.ImportFrom) and node.module == "waveguard":  # from waveguard import demo
                found |= {a.name for a in node.names if (PACKAGE / a.name / "__init__.py").exists()}
    return found - {package}


def test_imports_point_down_the_rows():
    below: set[str] = set()
    allowed = {}
    for row in reversed(ROWS):
        for package in row:
            allowed[package] = below | ALONG_THE_ROW.get(package, set())
        below |= set(row)
    for package, ok in allowed.items():
        assert imported_packages(package) <= ok, (package, imported_packages(package) - ok)


def test_stricter_packages_import_only_what_docs_architecture_allows():
    for package, ok in STRICTER.items():
        assert imported_packages(package) <= ok, (package, imported_packages(package) - ok)


def test_nothing_but_the_cli_imports_the_top_row():
    for top in ("demo", "dashboard", "risk"):
        importers = {p for row in ROWS for p in row if top in imported_packages(p)}
        assert importers <= {"cli"}, (top, importers)


def test_every_package_is_on_a_row():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == {p for row in ROWS for p in row}


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    """Lines per source file and per function (nested ones counted on their own too)."""
    files, functions = {}, {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(PACKAGE))
        files[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[f"{name}:{node.lineno} {node.name}"] = (node.end_lineno or node.lineno) - node.lineno + 1
    return files, functions


def test_files_and_functions_stay_small():
    """Issue 11's limits: no source file over 400 lines, no function over 60, and the
    simulator's engine (the list of phases a step calls) under 250."""
    files, functions = _sizes()
    assert {f: n for f, n in files.items() if n > 400} == {}
    assert {f: n for f, n in functions.items() if n > 60} == {}
    assert files["sim/engine.py"] < 250
