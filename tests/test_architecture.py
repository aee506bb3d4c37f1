"""The package layering of docs/architecture.md: each package imports only packages on rows below."""

from __future__ import annotations

import ast
from pathlib import Path

import waveguard

#: Rows of docs/architecture.md, top to bottom.
ROWS = [["cli"], ["report"], ["rollout", "fidelity"], ["sim", "signals"], ["breakglass"], ["analysis"], ["model"]]
PACKAGE = Path(waveguard.__file__).parent


def imported_packages(package: str) -> set[str]:
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found |= {n.split(".")[1] for n in names if n.startswith("waveguard.") and n.count(".") >= 1}
    return found - {package}


def test_imports_point_down_the_rows():
    below: set[str] = set()
    allowed = {}
    for row in reversed(ROWS):
        for package in row:
            allowed[package] = set(below)
        below |= set(row)
    for package, ok in allowed.items():
        assert imported_packages(package) <= ok, (package, imported_packages(package) - ok)


def test_every_package_is_on_a_row():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == {p for row in ROWS for p in row}
