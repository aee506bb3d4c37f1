"""``waveguard gate check``: every gate once on one cluster, for rollout tools to call.

Exit codes: 0 every gate passed; 1 a gate failed; 2 a gate had no data (and none failed), or bad
input. A Job, a Kargo verification, an Argo CD hook or a Flagger webhook runs it as is
(docs/integrations.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from waveguard.cli.common import (
    EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, PROMETHEUS_URL_ENV, QUERY_TIMEOUT, SCRAPE_INTERVAL, command_group,
    duration_option, err_console, input_errors, legacy_json_option, output_file_option, output_option,
    resolve_output,
)
from waveguard.cli.paths import manifests_path, path_option

if TYPE_CHECKING:
    from waveguard.cli.common import Output
    from waveguard.rollout.gates import GateResult
    from waveguard.rollout.plan import Plan

#: Output formats of ``gate check`` (the first is the default).
FORMATS = ("table", "json", "yaml")


def register(app: typer.Typer) -> None:
    gate_app = command_group(name="gate", no_args_is_help=True, help="Evaluate waveguard's gates for other tools.")
    gate_app.command("check")(check_command)
    app.add_typer(gate_app)


def check_command(
    cluster: str = typer.Option(..., "--cluster", help="The cluster (its 'cluster' label in Prometheus)."),
    prometheus_url: Optional[str] = typer.Option(None, "--prometheus-url", envvar=PROMETHEUS_URL_ENV,
                                                 help="Prometheus to read (or WAVEGUARD_PROMETHEUS_URL)."),
    change: Optional[str] = typer.Option(None, "--change", parser=manifests_path, help="Manifests of the change: also run the projection."),
    plan: Optional[Path] = path_option(None, "--plan", help="Gates, thresholds and interval from this plan."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML (plan check, projection; default built-in)."),
    scrape_interval: float = duration_option(30.0, "--scrape-interval", SCRAPE_INTERVAL,
                                             "Prometheus' scrape interval, seconds (freshness, rate window)."),
    timeout: float = duration_option(5.0, "--timeout", QUERY_TIMEOUT, "Seconds per Prometheus query."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the results"),
    legacy_json: bool = legacy_json_option(),
) -> None:
    """Evaluate every gate on CLUSTER once: exit 0 all pass, 1 a gate fails, 2 no data or bad input."""
    started = time.monotonic()
    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
        results, unreadable = _evaluate(cluster, prometheus_url, change, plan, fleet, scrape_interval, timeout)
    wall_s = time.monotonic() - started
    if unreadable:  # Prometheus itself did not answer: one cause, said once (documents still carry it)
        err_console.print(f"error: {unreadable}, check --prometheus-url", markup=False)
        if not out.structured:
            raise typer.Exit(EXIT_BAD_INPUT)
    status = "fail" if any(r.status == "fail" for r in results) else \
        "no-data" if any(r.status == "no-data" for r in results) else "pass"
    with input_errors():
        if out.structured:
            out.emit_document("GateCheck", {"cluster": cluster, "status": status, "wall_s": round(wall_s, 3),
                                            "results": [r.as_json() for r in results]})
        else:
            _print(results, cluster, status, out)
    raise typer.Exit({"pass": EXIT_OK, "fail": EXIT_FINDINGS, "no-data": EXIT_BAD_INPUT}[status])


def _evaluate(cluster: str, url: str | None, change: str | None, plan_path: Path | None, fleet_path: Path | None,
              scrape_interval_s: float, timeout_s: float) -> tuple[list[GateResult], str | None]:
    """The signal gates on ``cluster`` through Prometheus, then the projection when ``change``
    is given; and why Prometheus could not be read at all (None when it answered). Every input
    is checked before the first request; the first query is the probe: when Prometheus does
    not answer it, no other request is sent (the signals remember the failure). Raises
    InputError for bad input (no URL, a bad plan, a cluster the fleet lacks)."""
    from pydantic import ValidationError

    from waveguard.cli.export import load_plan_option
    from waveguard.export.gateset import DEFAULT_INTERVAL_S, gate_set
    from waveguard.model.errors import InputError
    from waveguard.rollout.gates import GATES, evaluate
    from waveguard.rollout.plan import GateSpec
    from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals

    if not url:
        raise InputError("--prometheus-url", "not given",
                         hint="give a URL, or set WAVEGUARD_PROMETHEUS_URL")
    try:
        config = PrometheusConfig(url=url, scrape_interval_s=scrape_interval_s, timeout_s=timeout_s)
    except ValidationError as exc:
        raise InputError("--prometheus-url", exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    plan = load_plan_option(plan_path, fleet_path)
    if plan is None:  # the registry's default control-plane gates, as `waveguard export` writes them
        gates = gate_set(None, config=config)
        specs = [GateSpec(kind=g.name, threshold=g.threshold) for g in gates.gates]
    else:  # every gate of the plan read during a bake (DNS probes, workload errors included)
        specs = [s for s in plan.gates if GATES[s.kind].check is not None]
    projection = _projection(cluster, change, plan, fleet_path) if change is not None else None
    signals = PrometheusSignals(config, float(plan.gate_interval_s) if plan else DEFAULT_INTERVAL_S)
    results = [evaluate(spec, signals, cluster) for spec in specs]
    return results + (projection() if projection is not None else []), signals.problem


def _projection(cluster: str, change: str, plan: Plan | None, fleet_path: Path | None):
    """The projection gate on ``cluster`` at the node share of the plan's wave that holds it
    (1.0 without a plan, or when no wave does), at the plan's threshold (else the default), as
    a function to call: its inputs (fleet, cluster, change) are read and checked now. Raises
    InputError."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.model.errors import InputError
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.gates import evaluate_projection
    from waveguard.rollout.plan import GateSpec

    fleet = load_fleet(fleet_path) if fleet_path else default_fleet()
    found = [c for c in fleet.clusters if c.name == cluster]
    if not found:
        raise InputError(str(fleet_path or "built-in fleet"), f"has no cluster {cluster!r}",
                         hint="give a --fleet that names it")
    share = 1.0
    spec = GateSpec(kind="projection")
    if plan is not None:
        share = next((w.node_share for w in plan.waves if w.clusters.matches(found[0])), 1.0)
        spec = next((s for s in plan.gates if s.kind == "projection"), spec)
    profiles = build_profiles(load_change([change]))
    return lambda: evaluate_projection(spec, profiles, found, {cluster: share})


#: Columns of the human output (a terminal's default width).
WIDTH = 80


def _print(results: list[GateResult], cluster: str, status: str, out: Output) -> None:
    """One line per gate (status, gate, figure and threshold in the gate's unit), and for a gate
    that did not pass its reason, wrapped: every line fits 80 columns."""
    import textwrap

    from waveguard.rollout.gates import GATES

    reasons = list(dict.fromkeys(r.detail for r in results if r.status != "pass"))
    causes = {r.detail.partition(": ")[2] for r in results}
    if results and all(r.status == "no-data" for r in results) and len(causes) == 1 and "" not in causes:
        # One cause for every gate ("no fresh …: Prometheus at … is unreachable"): one line.
        out.emit("\n".join(textwrap.wrap(f"{cluster}: no data from any of {len(results)} gates: {causes.pop()}",
                                         WIDTH, subsequent_indent=" " * 4)))
        return
    lines = [f"{cluster}: {status} ({len(results)} gates)"]
    for r in results:
        value = "no data" if r.value is None else f"{r.value:.4g}"
        mark = f" [{reasons.index(r.detail) + 1}]" if r.status != "pass" else ""
        lines.append(f"  {r.status:<8}{r.gate:<24}{value} (threshold {r.threshold:g} {GATES[r.gate].unit}){mark}")
    for i, reason in enumerate(reasons, 1):  # each cause once, however many gates it stopped
        lines += textwrap.wrap(f"[{i}] {reason}", WIDTH, initial_indent="  ", subsequent_indent=" " * 6)
    out.emit("\n".join(lines))
