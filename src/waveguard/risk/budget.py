"""``waveguard plan --risk-budget P``: tighten a plan until its estimated risk fits the budget.

The risk is the probability that any production control plane saturates; a plan fits when the
*upper* end of its 95 % interval is within the budget, so zero saturations in too few samples do
not pass (with none seen, the Wilson upper bound is ≈ 3.84 / n: a budget of 1 % needs about 380
samples — :func:`samples_for_budget`). Each step tightens the plan one way, alternately:

* a narrower step: a wave between each two consecutive production waves (the geometric mean of
  their node shares for a DaemonSet; the first half of the clusters otherwise), so less of the
  fleet runs the change before the gates have seen it at a smaller scale;
* longer bakes (×1.5), so slow-building load (memory, relists after churn) shows before the
  next wave.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from waveguard.risk.summary import Z95, RiskSummary
from waveguard.rollout.plan import ClusterSelector, Plan, Wave, is_per_node_plan

#: Most tightening steps tried before giving up.
MAX_TIGHTENINGS = 4
#: Bake multiplier of one "longer bakes" step.
BAKE_FACTOR = 1.5


def samples_for_budget(budget: float) -> int:
    """Fewest samples whose Wilson upper bound, with no saturation seen, is within ``budget``."""
    return max(1, math.ceil(Z95**2 * (1 - budget) / budget))


def narrower_steps(plan: Plan) -> Plan:
    """``plan`` with a wave between each two consecutive production waves."""
    waves: list[Wave] = []
    for i, wave in enumerate(plan.waves):
        if i > 0 and not wave.name.startswith("staging"):
            before = plan.waves[i - 1]
            between = _between(before, wave, is_per_node_plan(plan))
            if between is not None and between.name not in {w.name for w in plan.waves}:
                waves.append(between)
        waves.append(wave)
    return plan.model_copy(update={"waves": waves})


def _between(before: Wave, after: Wave, per_node: bool) -> Wave | None:
    if per_node and before.node_share < after.node_share and before.clusters == after.clusters:
        share = round(math.sqrt(before.node_share * after.node_share), 4)
        return Wave(name=f"{after.name}-step-{share:.1%}", clusters=after.clusters, node_share=share,
                    bake_s=after.bake_s)
    names = [n for n in after.clusters.names if n not in before.clusters.names]
    if per_node or len(names) < 2:
        return None
    return Wave(name=f"{after.name}-first-half", clusters=ClusterSelector(names=names[: len(names) // 2]),
                bake_s=after.bake_s)


def longer_bakes(plan: Plan) -> Plan:
    return plan.model_copy(update={"waves": [w.model_copy(update={"bake_s": w.bake_s * BAKE_FACTOR})
                                             for w in plan.waves]})


def fit_to_budget(plan: Plan, budget: float, estimate: Callable[[Plan], RiskSummary]
                  ) -> tuple[Plan | None, list[tuple[str, Plan, RiskSummary]]]:
    """Tighten ``plan`` until ``estimate(plan).p_saturation.high`` ≤ ``budget``. Returns the
    first plan that fits (None if none does within MAX_TIGHTENINGS) and every step tried as
    (what changed, plan, summary)."""
    tried = []
    current, what = plan, "as proposed"
    for step in range(MAX_TIGHTENINGS + 1):
        summary = estimate(current)
        tried.append((what, current, summary))
        if summary.p_saturation.high <= budget:
            return current, tried
        if step % 2 == 0:
            current, what = narrower_steps(current), "narrower steps between production waves"
        else:
            current, what = longer_bakes(current), f"bakes ×{BAKE_FACTOR:g}"
    return None, tried
