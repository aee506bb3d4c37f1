"""docs/api.md's examples run as written: every ``python`` block, in order, in one namespace, from
the repository's root (as a reader pastes them). A block that raises fails the test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.M | re.S)


def test_the_doc_has_examples_for_every_part_of_the_api():
    code = "\n".join(_blocks())
    for name in ("api.analyse(", "api.project(", "api.FleetSimulator(", "api.build_backend(", "api.gates()",
                 "api.evaluate_gate("):
        assert name in code, name


def test_the_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for number, block in enumerate(_blocks(), 1):
        try:
            exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover (the failure message)
            pytest.fail(f"docs/api.md block {number} raised {type(exc).__name__}: {exc}\n{block}")
    printed = capsys.readouterr().out
    assert "error:" in printed and "prod-24-7500 overload" in printed
