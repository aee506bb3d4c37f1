"""Shared fixtures: where the team's real inputs live, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
#: The team's shared inputs: ``../shared`` beside the checkout, or $WAVEGUARD_SHARED (a worktree elsewhere).
SHARED = Path(os.environ.get("WAVEGUARD_SHARED") or ROOT.parent / "shared")
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
    """``path`` among the shared inputs. When it is missing the test is skipped on a developer's
    machine, but FAILS in CI (environment variable ``CI=true``): there a missing input means the
    test did not run, which must not pass silently."""
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"shared input missing in CI (CI=true): {path} does not exist", pytrace=False)
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
