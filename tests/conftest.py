"""Shared fixtures: where the team's real inputs live, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
INPUTS = SHARED / "inputs"
MANIFESTS = INPUTS / "manifests"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def require_shared(path: Path) -> Path:
    """``path`` among the shared inputs, or skip the test when they are not on this machine."""
    if not path.exists():
        pytest.skip(f"shared inputs not found at {path}")
    return path


@pytest.fixture(scope="session")
def manifests() -> Path:
    return require_shared(MANIFESTS)
