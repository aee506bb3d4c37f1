"""The demo: replay the 11 December 2024 incident three ways on the simulator, side by side.

The strategies (no gates, workload-error gates, waveguard's plan) and the case whose cost only
production traffic reveals are in :mod:`.strategies`; the incident's rollback without and with
break-glass isolation in :mod:`.breakglass`; :func:`run_demo` (:mod:`.run`) runs them all.
The results (:mod:`waveguard.report.demo_results`) are rendered by :mod:`waveguard.report.demo`.

The demo sits on the top row of docs/architecture.md: it uses the rollout engine, the simulator,
analysis, break-glass and report; nothing but the CLI imports it.
"""

from waveguard.demo.breakglass import (
    BREAKGLASS_CASES, BREAKGLASS_CLUSTERS, BREAKGLASS_IDENTITY, breakglass_result, breakglass_targets, isolation_apf,
    run_breakglass_case, simulate_breakglass,
)
from waveguard.demo.run import run_demo
from waveguard.demo.strategies import (
    DEFAULT_SCENARIO, HIDDEN_COST_CHANGE, RELIST_ON_MISS_S, STRATEGIES, hidden_cost_profiles, run_hidden_cost_case,
    run_strategy, strategy_plan,
)
from waveguard.report.demo_results import BreakglassCase, BreakglassResult, DemoResult, RollbackOutcome, StrategyResult

__all__ = [
    "BREAKGLASS_CASES", "BREAKGLASS_CLUSTERS", "BREAKGLASS_IDENTITY", "DEFAULT_SCENARIO", "HIDDEN_COST_CHANGE",
    "RELIST_ON_MISS_S", "STRATEGIES", "BreakglassCase", "BreakglassResult", "DemoResult", "RollbackOutcome",
    "StrategyResult", "breakglass_result", "breakglass_targets", "hidden_cost_profiles", "isolation_apf",
    "run_breakglass_case", "run_demo", "run_hidden_cost_case", "run_strategy", "simulate_breakglass", "strategy_plan",
]
