"""Run the whole demo: every strategy, the production-traffic case and, on request, the way back."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, TypeVar

from waveguard.demo.breakglass import BREAKGLASS_CASES, breakglass_result, run_breakglass_case
from waveguard.demo.strategies import DEFAULT_SCENARIO, STRATEGIES, run_hidden_cost_case, run_strategy
from waveguard.report.demo_results import BreakglassCase, DemoResult, StrategyResult
from waveguard.sim import load_builtin

T = TypeVar("T")


def run_demo(scenario_name: str = DEFAULT_SCENARIO, seed: int | None = None, parallel: bool = True,
             strategies: tuple[str, ...] = STRATEGIES, production_traffic: bool = True,
             breakglass: bool = False, progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """All strategies on the built-in ``scenario_name`` (and the production-traffic case, and
    with ``breakglass`` the two runs of :func:`run_breakglass_case`); in parallel processes when
    ``parallel`` (each run is its own simulation: same results). ``progress(done, total)`` is
    called as runs finish."""
    jobs = list(strategies)
    if production_traffic:
        jobs.append("production-traffic")
    if breakglass:
        jobs += [f"breakglass-{case}" for case in BREAKGLASS_CASES]
    report = progress or (lambda done, total: None)
    report(0, len(jobs))
    if parallel and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            futures = [pool.submit(_run_job, job, scenario_name, seed) for job in jobs]
            for done, _ in enumerate(as_completed(futures), 1):
                report(done, len(jobs))
            results = [f.result() for f in futures]  # in the jobs' order
    else:
        results = []
        for job in jobs:
            results.append(_run_job(job, scenario_name, seed))
            report(len(results), len(jobs))
    cases = [_expect(BreakglassCase, results.pop()) for _ in BREAKGLASS_CASES][::-1] if breakglass else []
    hidden = _expect(StrategyResult, results.pop()) if production_traffic else None
    return DemoResult(scenario=scenario_name, strategies=[_expect(StrategyResult, r) for r in results],
                      production_traffic=hidden, seed=load_builtin(scenario_name).seed if seed is None else seed,
                      breakglass=breakglass_result(scenario_name, cases) if breakglass else None)


def _expect(kind: type[T], value: object) -> T:
    """``value``, which the job order says is a ``kind``."""
    assert isinstance(value, kind), (kind, value)
    return value


def _run_job(strategy: str, scenario_name: str, seed: int | None) -> StrategyResult | BreakglassCase:
    """One job of :func:`run_demo` (in a worker process when parallel): a strategy, the
    production-traffic case, or one case of the way back."""
    if strategy == "production-traffic":
        return run_hidden_cost_case(scenario_name, seed)
    if strategy.startswith("breakglass-"):
        return run_breakglass_case(strategy == "breakglass-isolated", scenario_name, seed)
    return run_strategy(strategy, load_builtin(scenario_name), seed)
