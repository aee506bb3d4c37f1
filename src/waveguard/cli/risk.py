"""``waveguard risk``: how likely a plan is to hurt, given what is not known (a Monte-Carlo
sweep of simulated rollouts), and the ``plan --risk-budget`` search built on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from waveguard.cli.common import (
    EXIT_BAD_INPUT, EXIT_OK, err_console, input_errors, legacy_json_option, output_file_option, output_option,
    profiles_option, resolve_output,
)
from waveguard.cli.paths import path_argument, path_option

#: Output formats of ``risk`` (the first is the default).
FORMATS = ("table", "json", "yaml")

if TYPE_CHECKING:
    from waveguard.model.fleet import Fleet
    from waveguard.model.requests import RequestProfile
    from waveguard.risk import SweepInputs, Uncertainty
    from waveguard.risk.sweep import Sweep
    from waveguard.rollout.plan import Plan

#: Most samples a sweep takes. A sample is one simulated rollout, ~1.07 s of CPU (README
#: "Figures", ``benchmarks/bench_risk.py``): 100,000 are ~30 CPU-hours (~18 min on a 100-core Ray
#: cluster), and with no saturation seen bound the risk at 3.84 / 100,000 ≈ 0.004 % (Wilson,
#: docs/risk.md), finer than the least ``plan --risk-budget`` (:data:`MIN_RISK_BUDGET`).
MAX_SAMPLES = 100_000
#: Least ``plan --risk-budget``, a probability: 0.01 % needs 38,411 samples with none saturated
#: (``risk.budget.samples_for_budget``), within :data:`MAX_SAMPLES`; 0 needs infinitely many.
MIN_RISK_BUDGET = 1e-4
SAMPLES_WHY = "at most 100,000: a sample is ~1 s of CPU, 100,000 ~30 CPU-hours."


def register(app: typer.Typer) -> None:
    app.command("risk")(risk_command)


def check_counts(samples: int | None, flag: str, workers: int | None = None) -> None:
    """Raises InputError for more samples than :data:`MAX_SAMPLES` (``flag`` names the option) or
    more ``--workers`` than this machine's cores (``os.cpu_count``, the pool's default): a process
    each, and more than the cores run no faster."""
    import os

    from waveguard.model.errors import InputError

    if samples is not None and samples > MAX_SAMPLES:
        raise InputError(flag, f"{samples:,} is over {MAX_SAMPLES:,} samples (~1 CPU-second each)")
    cores = os.cpu_count() or 1
    if workers is not None and workers > cores:
        raise InputError("--workers", f"{workers} is over the {cores} cores here", hint=f"give at most {cores}")

def load_uncertainty(path: Path | None) -> "Uncertainty":
    """The ranges of ``--assumptions FILE`` (YAML; keys of :class:`Uncertainty`), or the
    defaults. Raises InputError naming the file, key and line."""
    from pydantic import ValidationError

    from waveguard.model.errors import first_error, key_error
    from waveguard.model.yamlio import line_of, read_yaml_file
    from waveguard.risk import Uncertainty

    if path is None:
        return Uncertainty()
    data, node, _ = read_yaml_file(path, "assumptions")
    try:
        return Uncertainty.model_validate(data or {})
    except ValidationError as exc:
        err = first_error(exc)
        raise key_error(str(path), err, line=line_of(node, err["loc"]),
                        hint="docs/risk.md lists the assumptions' keys and ranges") from exc

def sweep_inputs(plan: "Plan", fleet: "Fleet", measured: list[Path], uncertainty: "Uncertainty",
                 seed: int, plan_path: Path | str = "plan") -> "SweepInputs":
    """What every sample shares: the plan's change analysed, and the canaries measured (each
    ``--profiles`` file is one canary; without any, the analysed profiles are the change)."""
    from waveguard.analysis import build_profiles
    from waveguard.model.profiles_io import load_profiles
    from waveguard.risk import SweepInputs
    from waveguard.rollout.plan.schema import load_plan_change

    analysed: list[RequestProfile] = build_profiles(load_plan_change(plan, plan_path))
    sets = [load_profiles(p) for p in measured] or [analysed]
    return SweepInputs(plan=plan, fleet=fleet, analysed=analysed, profile_sets=sets, uncertainty=uncertainty,
                       seed=seed)

def run_with_progress(inputs: "SweepInputs", samples: int, workers: int | None, ray_address: str | None,
                      label: str) -> "Sweep":
    """Run the sweep with a progress bar on stderr (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from waveguard.risk import run_sweep

    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, disable=not err_console.is_terminal, transient=True) as bar:
        task = bar.add_task(label, total=samples)
        return run_sweep(inputs, samples, workers=workers, ray_address=ray_address,
                         progress=lambda n: bar.advance(task, n))

def risk_command(
    plan_path: Path = path_argument(..., metavar="PLAN", help="Plan file (waveguard plan CHANGE --output-file plan.yaml)."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    samples: int = typer.Option(200, "--samples", min=1, help=f"Sampled worlds, each one simulated rollout; {SAMPLES_WHY}"),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the sweep: the same seed gives the same answer anywhere."),
    assumptions: Optional[Path] = path_option(None, "--assumptions",
                                               help="YAML overriding the ranges drawn (see docs/risk.md)."),
    profiles: list[Path] = profiles_option([], help="Measured canary profile file (repeat: each sample takes one)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local processes (default and most: one per core)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Run on this Ray cluster (ray://HOST:10001), or 'local'."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the figures"),
    legacy_json: bool = legacy_json_option(),
    report: Optional[Path] = path_option(None, "--report", help="Write a self-contained HTML report here."),
) -> None:
    """Estimate how likely PLAN is to saturate a production control plane, its blast radius,
    which gate halts it and which assumption drives the risk — over worlds drawn from what the
    fleet file does not measure. Exit 2 on bad input."""
    from waveguard.model.errors import SourceUnavailableError
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.model.yamlio import check_distinct_outputs, check_output_path
    from waveguard.risk.render import document, metadata, print_summary
    from waveguard.rollout.plan import load_plan

    with input_errors():
        check_counts(samples, "--samples", workers)
        out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
        check_output_path(report, "--report")
        check_distinct_outputs({"--output-file": out.file, "--report": report},
                               [plan_path, *(p for p in (fleet, assumptions) if p is not None), *(profiles or [])])
        fleet_model = load_fleet(fleet) if fleet else default_fleet()
        plan = load_plan(plan_path, fleet_model)
        inputs = sweep_inputs(plan, fleet_model, profiles, load_uncertainty(assumptions), seed, plan_path)
    try:
        sweep = run_with_progress(inputs, samples, workers, ray_address, f"sampling {plan_path}")
    except SourceUnavailableError as exc:
        err_console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    meta = metadata(seed, samples, str(plan_path), f"ray {ray_address}" if ray_address else "local process pool")
    if report is not None:
        from waveguard.risk.report_html import write_report

        with input_errors():
            write_report(sweep, meta, report)
    with input_errors():
        if out.structured:
            out.emit_document("RiskSweep", document(sweep.summary, meta))
        else:
            with out.console() as console:
                print_summary(sweep.summary, console)
                if report is not None:
                    console.print(f"report: {report}")
    raise typer.Exit(EXIT_OK)

def fit_plan_to_budget(plan: "Plan", fleet: "Fleet", budget: float, samples: int | None, seed: int) -> "Plan":
    """``plan`` tightened until its risk is within ``budget`` (``plan --risk-budget``), printing
    each step on stderr. Exits 1 when no tightening fits."""
    from waveguard.risk import Uncertainty
    from waveguard.risk.budget import fit_to_budget, samples_for_budget
    from waveguard.risk.render import percent_text

    n = samples or samples_for_budget(budget)
    err_console.print(f"risk budget {budget:.2%}: {n} samples per plan tried", highlight=False)

    def estimate(candidate: "Plan"):
        inputs = sweep_inputs(candidate, fleet, [], Uncertainty(), seed)
        return run_with_progress(inputs, n, None, None, f"{len(candidate.waves)} waves").summary

    fitted, tried = fit_to_budget(plan, budget, estimate)
    for what, candidate, summary in tried:
        err_console.print(f"  {what}: {len(candidate.waves)} waves, P(saturation) {percent_text(summary.p_saturation)}",
                          highlight=False)
    if fitted is None:
        err_console.print(f"error: no plan within {budget:.2%} after {len(tried) - 1} tightenings; "
                          "raise --risk-samples, split the fleet, or reduce the change's cost", highlight=False)
        raise typer.Exit(1)
    return fitted

