"""The simulator's and the demo's figures do not move under refactoring.

The golden files were recorded before the redesign of issue 11 (simulator as phases, gates as one
registry); a change that moves a figure must say why and re-record them on purpose. Only
``wall_s`` (how long the fidelity run took on this machine) is left out of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waveguard.cli.main import app

GOLDEN = Path(__file__).parent / "golden"


def _without_wall_clock(text: str) -> dict:
    data = json.loads(text)
    data.pop("wall_s", None)
    return data


@pytest.mark.parametrize(
    ("args", "golden", "exit_code"),
    [
        (["demo", "-o", "json"], "demo.json", 0),
        # exit 1: case 3 (kindling) is outside its bounds, as docs/fidelity.md explains
        (["fidelity", "-o", "json"], "fidelity.json", 1),
        (["simulate", "--builtin", "incident-2024-12-11", "-o", "json", "--seed", "7"], "simulate-incident-seed7.json", 0),
    ],
)
def test_output_is_byte_identical_to_the_recorded_one(runner, args: list[str], golden: str, exit_code: int) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.output
    expected = (GOLDEN / golden).read_text()
    if golden == "fidelity.json":
        assert _without_wall_clock(result.stdout) == _without_wall_clock(expected)
    else:
        assert result.stdout == expected
