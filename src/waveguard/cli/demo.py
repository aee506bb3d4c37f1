"""``waveguard demo``: the incident replayed with no gates, workload-error gates, and waveguard."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import (
    input_errors, legacy_json_option, output_file_option, output_option, resolve_output,
)
from waveguard.cli.paths import path_option

#: Output formats of `demo` (the first is the default).
FORMATS = ("table", "json", "yaml")
from waveguard.cli.progress import progress


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the comparison"),
    legacy_json: bool = legacy_json_option(),
    report: Optional[Path] = path_option(None, "--report", help="Write a self-contained HTML page here."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Simulator seed (default: the scenario's)."),
    breakglass: bool = typer.Option(False, "--breakglass",
                                    help="Also send the incident's rollback on the largest clusters without and with "
                                         "the break-glass isolation, and report how long it takes."),
) -> None:
    """Replay the 11 Dec 2024 incident three ways on the simulated fleet, side by side."""
    from waveguard.report.demo import render_breakglass_table, render_table, write_report
    from waveguard.demo import DEFAULT_SCENARIO, run_demo

    with input_errors():
        from waveguard.model.yamlio import check_distinct_outputs, check_output_path

        out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
        check_output_path(report, "--report")
        check_distinct_outputs({"--output-file": out.file, "--report": report})
        with progress("simulating the incident's rollouts") as update:
            demo = run_demo(DEFAULT_SCENARIO, seed=seed, breakglass=breakglass, progress=update)
        if report is not None:
            write_report(demo, report)
        if out.structured:
            out.emit_document("DemoResult", demo.as_json())
            return
        with out.console() as console:
            render_table(demo, console)
            if demo.breakglass is not None:
                render_breakglass_table(demo.breakglass, console)
            if report is not None:
                console.print(f"report: {report}")


__all__ = ["register"]
