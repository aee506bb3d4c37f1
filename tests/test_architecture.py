"""The package layering of docs/architecture.md: each package imports only packages on rows below.

Beyond the rows: ``signals`` imports only ``model``, ``fidelity`` only ``sim`` and ``model``; the
``demo`` sits on the top row beside ``cli`` and nothing but the CLI imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import waveguard

#: Rows of docs/architecture.md, top to bottom.
ROWS = [["cli", "demo"], ["report"], ["rollout", "fidelity"], ["sim", "signals"], ["breakglass"], ["analysis"],
        ["model"]]
#: Imports along a row: the CLI runs the demo.
ALONG_THE_ROW = {"cli": {"demo"}}
#: Packages held to fewer packages than the rows allow (docs/architecture.md).
STRICTER = {
    "signals": {"model"},
    "fidelity": {"sim", "model"},
    # rollout engine and simulated target, the simulator, rendering; analysis and break-glass for
    # the production-traffic case and the isolation it installs.
    "demo": {"rollout", "sim", "report", "model", "analysis", "breakglass"},
}
#: Old module paths kept as re-exports for importers outside the redesign step that moved them
#: (file → its importer); each goes when its importer imports the new path.
REEXPORTS = {Path("sim/report.py"): "cli/simulate.py imports waveguard.sim.report (now waveguard.report.sim)"}
PACKAGE = Path(waveguard.__file__).parent


def imported_packages(package: str) -> set[str]:
    """The waveguard packages that ``package``'s modules import (re-export shims left out)."""
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        if path.relative_to(PACKAGE) in REEXPORTS:
            continue
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


def test_nothing_but_the_cli_imports_the_demo():
    importers = {p for row in ROWS for p in row if "demo" in imported_packages(p)}
    assert importers <= {"cli"}, importers


def test_every_package_is_on_a_row():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == {p for row in ROWS for p in row}


def test_reexports_only_reexport():
    """A kept old path holds imports and ``__all__`` only: no code of its own to drift."""
    for path in REEXPORTS:
        tree = ast.parse((PACKAGE / path).read_text(encoding="utf-8"))
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            dunder_all = isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["__all__"]
            assert docstring or dunder_all or isinstance(node, ast.ImportFrom), (path, ast.dump(node)[:80])
