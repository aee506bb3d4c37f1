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


#: The change of the small scenarios: a telemetry DaemonSet each of whose pods LISTs, then
#: WATCHes, the pods of its own node (the incident's pattern at node scope).
_AGENT_CHANGE = """\
change:
  profile:
    client: DaemonSet/x/agent
    agent: telemetry
    per_node: true
    namespace: x
    service_account: agent
    classes:
      - {verb: list, resource: pods, scope: node, trigger: start, selector: true}
      - {verb: watch, resource: pods, scope: node, trigger: held, selector: true}
"""


def _two_cluster_scenario(name: str, clusters: str, schedule: str, *, duration_s: int, seed: int,
                          events: str = "") -> str:
    """A scenario's YAML: ``clusters`` and ``schedule`` are the list items (YAML, indented as
    under their keys), ``events`` likewise (none when empty); the change is the agent above."""
    text = (f"name: {name}\nduration_s: {duration_s}\nseed: {seed}\nfleet:\n  clusters:\n{clusters}"
            f"{_AGENT_CHANGE}schedule:\n{schedule}")
    return text + (f"events:\n{events}" if events else "")


@pytest.fixture(scope="session")
def two_cluster_scenario():
    """The builder of small two-cluster scenarios (:func:`_two_cluster_scenario`), shared by the
    simulate CLI and report tests."""
    return _two_cluster_scenario


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


@pytest.fixture(scope="session")
def down_scenario(two_cluster_scenario) -> str:
    """Cluster solo (100 nodes, a single apiserver replica, held down from 40 s to 130 s: no
    replica up then) and pair (200 nodes); the change reaches both at 10 s."""
    return two_cluster_scenario(
        "down", "    - name: solo\n      nodes: 100\n      apiserver_replicas: 1\n    - name: pair\n      nodes: 200\n",
        "  - clusters: [solo, pair]\n    at_s: 10\n", duration_s=180, seed=3,
        events="  - at_s: 40\n    apiserver_down: {cluster: solo, replica: 0, duration_s: 90}\n")


def one_line_exit_2(result, source: str, *keys: str) -> str:
    """The bad-input rule, as a CLI result shows it: exit 2, one line, no traceback, the line
    starting ``error: SOURCE`` and naming every one of ``keys``. Returns the line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"error: {source}") and all(k in lines[0] for k in keys), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def incident_plan(tmp_path_factory) -> Path:
    """The plan `waveguard plan` writes for examples/incident-telemetry (once per module)."""
    from waveguard.cli.main import app

    plan = tmp_path_factory.mktemp("plan") / "plan.yaml"
    result = CliRunner().invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "--output-file", str(plan)])
    assert result.exit_code == 0, result.output
    return plan
