"""``waveguard simulate``: run a scenario through the fleet simulator and summarise it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from waveguard.cli.common import (
    input_errors, legacy_json_option, output_file_option, output_option, resolve_output, stdout_console,
)
from waveguard.cli.paths import path_argument, path_option
from waveguard.cli.progress import progress
from waveguard.model.errors import InputError


#: Output formats of `simulate` (the first is the default).
FORMATS = ("table", "json", "yaml")


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""

    @app.command("simulate")
    def simulate_cmd(
        scenario: Optional[Path] = path_argument(None, help="Scenario YAML (see docs/simulator.md).",
                                                  show_default=False),
        builtin: Optional[str] = typer.Option(None, "--builtin", help="Run a shipped scenario by name."),
        list_: bool = typer.Option(False, "--list", help="List the shipped scenarios and exit."),
        seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Random seed (default: the scenario's)."),
        output: str = output_option(FORMATS),
        output_file: Optional[Path] = output_file_option("the summary"),
        legacy_json: bool = legacy_json_option(),
        report: Optional[Path] = path_option(None, "--report", help="Write a self-contained HTML report."),
        metrics_out: Optional[Path] = path_option(None, "--metrics-out", help="Write every series as CSV."),
        workers: Optional[int] = typer.Option(None, "--workers", min=0,
                                              help="Processes to use (default 1; 0: one per CPU for large fleets)."),
    ) -> None:
        """Watch what a change does to a fleet, second by second, with no cluster at all."""
        from waveguard.sim import builtin_names, load_builtin, load_scenario, simulate
        from waveguard.sim.scenario import builtin_path

        with input_errors():
            out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
            if list_ and (scenario is not None or builtin is not None):
                raise InputError("--list", "only lists the scenarios", hint="leave out SCENARIO and --builtin")
            if list_:
                _print_builtins(builtin_names(), builtin_path)
                return
            from waveguard.model.yamlio import check_distinct_outputs, check_output_path

            check_output_path(report, "--report")
            check_output_path(metrics_out, "--metrics-out")
            check_distinct_outputs({"--output-file": out.file, "--report": report, "--metrics-out": metrics_out},
                                   [scenario] if scenario is not None else [])
            if (scenario is None) == (builtin is None):
                raise InputError("simulate", "give a SCENARIO.yaml or --builtin NAME"
                                 + (", not both" if scenario is not None else ""), hint="see simulate --list")
            sc = load_builtin(builtin) if builtin is not None else load_scenario(_given(scenario))
            result = _run(simulate, sc, seed, workers)
            if report is not None:
                from waveguard.report.sim import write_report

                write_report(result, report, seed=sc.seed if seed is None else seed)
            if metrics_out is not None:
                from waveguard.sim.export import write_csv

                write_csv(result, metrics_out)
            if out.structured:
                out.emit_document("SimulationResult", result.to_json() | {"seed": sc.seed if seed is None else seed})
            else:
                with out.console() as console:
                    _print_summary(result, report, metrics_out, console)


def _given(path: Path | None) -> Path:
    """The scenario path the caller checked was given."""
    if path is None:
        raise InputError("waveguard simulate", "give a SCENARIO.yaml", hint="or --builtin NAME")
    return path


def _run(simulate, scenario, seed, workers):
    """Simulate with a progress bar on stderr (none when stderr is not a terminal)."""
    with progress(f"simulating {scenario.name}", 1, counts=False) as update:
        return simulate(scenario, seed=seed, workers=workers, progress=update)


def _print_builtins(names, path_of) -> None:
    import yaml

    console = stdout_console()
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("name")
    table.add_column("description")
    for name in names:
        data = yaml.safe_load(path_of(name).read_text()) or {}
        table.add_row(name, " ".join(str(data.get("description", "")).split()))
    console.print(table)


def _print_summary(result, report, metrics_out, console) -> None:
    from waveguard.report.sim import clock

    rows = result.summary()
    table = Table(title=f"waveguard simulate — {result.scenario}", header_style="bold", box=None)
    # A cluster's name identifies the row: never cut it, let the figures' headers wrap instead.
    table.add_column("cluster", justify="left", no_wrap=True, min_width=max((len(r.name) for r in rows), default=7))
    for col in ("nodes", "change at", "saturated at", "DNS failing at", "peak error", "impact min"):
        table.add_column(col, justify="right")
    for r in rows:
        style = "red" if r.dns_failing_at_s is not None else "yellow" if r.saturated_at_s is not None else ""
        table.add_row(r.name, f"{r.nodes:,}", clock(r.change_at_s), clock(r.saturated_at_s), clock(r.dns_failing_at_s),
                      f"{r.peak_error_rate:.1%}", f"{r.impact_minutes:.0f}", style=style)
    console.print(table)
    saturated = sum(r.saturated_at_s is not None for r in rows)
    dns = sum(r.dns_failing_at_s is not None for r in rows)
    console.print(f"{saturated}/{len(rows)} control planes saturated, DNS failing in {dns}; "
                  f"{sum(r.impact_minutes for r in rows):,.0f} customer-impact minutes. "
                  "Times are H:MM:SS from the start.")
    for rb in result.rollbacks:
        from waveguard.sim.rollback import seconds

        done = f"completed in {seconds(rb.duration_s)}" if rb.duration_s is not None else "not completed"
        console.print(f"rollback on {rb.cluster} as {rb.identity} → {', '.join(rb.priority_levels)}, from "
                      f"{clock(rb.started_at_s)}: {done}; {rb.rejected} × 429, {rb.failed} failed attempts, "
                      f"{seconds(rb.queue_wait_s)} queued", highlight=False)
    if report is not None:
        console.print(f"report: {report}")
    if metrics_out is not None:
        console.print(f"series: {metrics_out}")
