"""Shared fixtures: where the team's real inputs live, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
INPUTS = SHARED / "inputs"
MANIFESTS = INPUTS / "manifests"
METRICS = INPUTS / "metrics"
#: The real kube-apiserver v1.35 /metrics (3.1 MB, about 1 s to parse): see real_apiserver_metrics.
APISERVER_METRICS = METRICS / "kube-apiserver-v1.35-nri-kubernetes.prom"
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


@pytest.fixture(scope="session")
def real_apiserver_metrics():
    """The real v1.35 kube-apiserver /metrics, parsed once for the whole run."""
    from waveguard.signals.exposition import read_exposition

    return read_exposition(require_shared(APISERVER_METRICS))
