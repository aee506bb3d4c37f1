"""Plan findings as a registry: one function per rule id (WG201–WG206), registered once."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from waveguard.model.findings import RULES
from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.plan import PLAN_RULES, GateSpec, minimum_bake_s, plan_findings, plan_rule, propose_plan

CHANGE = str(EXAMPLES / "incident-telemetry")
FLEET = Fleet(clusters=[Cluster(name="staging", labels={"env": "staging"}, nodes=50, breakglass=True),
                        Cluster(name="prod-small", labels={"env": "prod"}, nodes=400, breakglass=True),
                        Cluster(name="prod-large", labels={"env": "prod"}, nodes=7500, breakglass=True)])


def test_every_plan_rule_is_registered_once_in_order():
    assert list(PLAN_RULES) == ["WG201", "WG202", "WG203", "WG204", "WG205", "WG206"]
    assert all(rule in RULES for rule in PLAN_RULES)
    with pytest.raises(ValueError, match="registered twice"):
        plan_rule("WG201")(PLAN_RULES["WG201"])
    with pytest.raises(ValueError, match="no entry"):
        plan_rule("WG299")(PLAN_RULES["WG201"])


def test_the_proposed_plan_has_no_findings_and_each_rule_fires_alone():
    plan = propose_plan(CHANGE, FLEET, per_node=True)
    assert plan_findings(plan, FLEET) == []
    short = plan.model_copy(update={"waves": [w.model_copy(update={"bake_s": 600}) for w in plan.waves]})
    found = plan_findings(short, FLEET, source="p.yaml")
    assert {f.rule for f in found} == {"WG201"} and len(found) == len(plan.waves)
    assert found[0].file == "p.yaml" and found[0].workload == "Plan/-/incident-telemetry"
    assert found[0].fix == f"set bake_s ≥ {minimum_bake_s(plan.gate_interval_s):.0f}"
    ungated = plan.model_copy(update={"gates": [GateSpec(kind="workload_error_rate")]})
    assert [f.rule for f in plan_findings(ungated, FLEET)] == ["WG203"]
    small_first = propose_plan(CHANGE, FLEET, per_node=False)
    first = small_first.waves[1].model_copy(update={"clusters": small_first.waves[1].clusters.model_copy(
        update={"names": ["prod-small"]})})
    small_first = small_first.model_copy(update={"waves": [small_first.waves[0], first, *small_first.waves[2:]]})
    [wg202] = plan_findings(small_first, FLEET)
    assert wg202.rule == "WG202" and "prod-large" in wg202.fix


def _waves(plan, *order):
    """``plan`` with its waves in ``order`` (indices)."""
    return plan.model_copy(update={"waves": [plan.waves[i] for i in order]})


def test_production_before_staging_is_an_error():
    plan = propose_plan(CHANGE, FLEET, per_node=True)
    late_staging = _waves(plan, *range(1, len(plan.waves)), 0)
    [wg205] = plan_findings(late_staging, FLEET)
    assert wg205.rule == "WG205" and wg205.severity == "error"
    assert "'production-1%' reaches production before wave 'staging'" in wg205.message
    assert wg205.fix == "move wave 'staging' before 'production-1%'"
    assert plan_findings(_waves(plan, *range(1, len(plan.waves))), FLEET) == []  # no staging wave: nothing late


def test_every_production_node_in_the_first_production_wave_is_an_error():
    plan = propose_plan(CHANGE, FLEET, per_node=True)
    all_at_once = _waves(plan, 0, len(plan.waves) - 1)  # staging, then production-100%
    [wg206] = plan_findings(all_at_once, FLEET)
    assert wg206.rule == "WG206" and "reaches all 2 production clusters, every node" in wg206.message
    # two production clusters, no DaemonSet: the proposed first production wave is the largest alone
    assert plan_findings(propose_plan(CHANGE, FLEET, per_node=False), FLEET) == []
    one = Fleet(clusters=[FLEET.clusters[0], FLEET.clusters[2]])  # nothing to split: no finding
    assert plan_findings(propose_plan(CHANGE, one, per_node=False), one) == []
