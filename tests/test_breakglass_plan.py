"""Plan finding WG204: the clusters a rollout plan reaches lack break-glass isolation."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import EXAMPLES
from waveguard.cli.main import app
from waveguard.model.errors import InputError
from waveguard.model.findings import RULES
from waveguard.model.fleet import Cluster, Fleet, load_fleet
from waveguard.rollout.plan import Plan, plan_findings, propose_plan

CHANGE = str(EXAMPLES / "incident-telemetry")


def _fleet(breakglass) -> Fleet:
    """Staging and two production clusters, all with ``breakglass`` (True, False or None)."""
    return Fleet(clusters=[Cluster(name="staging", labels={"env": "staging"}, nodes=50, breakglass=breakglass),
                           Cluster(name="prod-small", labels={"env": "prod"}, nodes=400, breakglass=breakglass),
                           Cluster(name="prod-large", labels={"env": "prod"}, nodes=7500, breakglass=breakglass)])


def _wg204(plan: Plan, fleet: Fleet):
    return [f for f in plan_findings(plan, fleet) if f.rule == "WG204"]


def test_rule_is_registered():
    assert RULES["WG204"][0] == "no-break-glass-isolation"


def test_fires_for_a_fleet_without_isolation_and_not_with_it():
    for per_node in (True, False):
        fleet = _fleet(False)
        plan = propose_plan(CHANGE, fleet, per_node=per_node).model_copy(update={"rollback": "manual"})
        found = _wg204(plan, fleet)
        assert [f.severity for f in found] == ["warning"]
        assert "3 of the 3 clusters the plan reaches have no break-glass isolation" in found[0].message
        assert "waveguard breakglass generate" in found[0].fix
        isolated = _fleet(True)
        assert _wg204(propose_plan(CHANGE, isolated, per_node=per_node), isolated) == []
        assert plan_findings(propose_plan(CHANGE, isolated, per_node=per_node), isolated) == []


def test_error_when_the_automatic_rollback_of_a_daemonset_would_be_locked_out():
    fleet = _fleet(False)
    automatic = propose_plan(CHANGE, fleet, per_node=True)
    assert automatic.rollback == "automatic"
    found = _wg204(automatic, fleet)
    assert [f.severity for f in found] == ["error"] and "rolls back automatically" in found[0].message
    # not per-node (every wave takes whole clusters): a warning
    whole = propose_plan(CHANGE, fleet, per_node=False)
    assert [f.severity for f in _wg204(whole, fleet)] == ["warning"]


def test_only_clusters_the_plan_reaches_count_and_unknown_is_info():
    fleet = Fleet(clusters=[Cluster(name="staging", labels={"env": "staging"}, nodes=50, breakglass=True),
                            Cluster(name="prod-a", labels={"env": "prod"}, nodes=400, breakglass=False),
                            Cluster(name="prod-b", labels={"env": "prod"}, nodes=7500)])
    plan = propose_plan(CHANGE, fleet, per_node=True)
    found = _wg204(plan, fleet)
    assert [(f.severity, "prod-a" in f.message, "prod-b" in f.message) for f in found] == [
        ("error", True, False), ("info", False, True)]
    staging_only = plan.model_copy(update={"waves": plan.waves[:1]})
    assert _wg204(staging_only, fleet) == []


def test_fleet_file_field_is_validated(tmp_path):
    good = tmp_path / "fleet.yaml"
    good.write_text("clusters:\n  - {name: a, nodes: 10, breakglass: true}\n  - {name: b, nodes: 10}\n")
    assert [c.breakglass for c in load_fleet(good).clusters] == [True, None]
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  - name: a\n    nodes: 10\n    breakglass: maybe\n")
    with pytest.raises(InputError) as err:
        load_fleet(bad)
    assert "clusters.0.breakglass" in str(err.value) and err.value.line == 4


@pytest.fixture
def fleet_file(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text("clusters:\n"
                    "  - {name: staging, labels: {env: staging}, nodes: 50, breakglass: true}\n"
                    "  - {name: prod-small, labels: {env: prod}, nodes: 400, breakglass: false}\n"
                    "  - {name: prod-large, labels: {env: prod}, nodes: 7500, breakglass: true}\n")
    return path


def test_cli_plan_check_and_rollout_start_refuse_the_error(runner, tmp_path, fleet_file):
    out = tmp_path / "plan.yaml"
    proposed = runner.invoke(app, ["plan", CHANGE, "--fleet", str(fleet_file), "--output-file", str(out)])
    assert proposed.exit_code == 1 and "WG204 error" in proposed.stdout and "prod-small" in proposed.stdout
    check = runner.invoke(app, ["plan", "--check", str(out), "--fleet", str(fleet_file)])
    assert check.exit_code == 1 and "WG204" in check.stdout
    start = runner.invoke(app, ["rollout", "start", str(out), "--fleet", str(fleet_file),
                                "--state", str(tmp_path / "state.db")])
    assert start.exit_code == 2 and "WG204" in start.stderr and not (tmp_path / "state.db").exists()
    manual = yaml.safe_load(out.read_text())
    manual["rollback"] = "manual"
    out.write_text(yaml.safe_dump(manual))
    check = runner.invoke(app, ["plan", "--check", str(out), "--fleet", str(fleet_file)])
    assert check.exit_code == 0 and "WG204 warning" in check.stdout


def test_cli_plan_on_stdout_stays_yaml_with_findings_on_stderr(runner, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - {name: staging, labels: {env: staging}, nodes: 50}\n"
                     "  - {name: prod, labels: {env: prod}, nodes: 7500}\n")
    result = runner.invoke(app, ["plan", CHANGE, "--fleet", str(fleet)])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["waves"]  # the plan, parseable
    assert "WG204 info" in result.stderr and "WG204" not in result.stdout
