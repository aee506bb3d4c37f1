"""``waveguard fidelity``: the simulator against public measurements of real clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, input_errors, legacy_json_option, output_file_option, output_option, resolve_output,
)
from waveguard.cli.paths import path_option

#: Output formats of `fidelity` (the first is the default).
FORMATS = ("table", "json", "yaml")
from waveguard.cli.progress import progress


def register(app: typer.Typer) -> None:
    """Add the ``fidelity`` command to ``app``."""
    app.command("fidelity")(fidelity_command)


def fidelity_command(
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the comparison"),
    legacy_json: bool = legacy_json_option(),
    report: Optional[Path] = path_option(None, "--report", help="Write a self-contained HTML report."),
) -> None:
    """Run one scenario per published case and compare the simulated figures with the published ones.

    Exit 0 when every figure is within its bounds, 1 when one is not, 2 on bad input (an
    unwritable --report).
    """
    from waveguard.fidelity import run_fidelity

    with input_errors():
        from waveguard.model.yamlio import check_distinct_outputs, check_output_path

        out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
        check_output_path(report, "--report")
        check_distinct_outputs({"--output-file": out.file, "--report": report})
        with progress("simulating the published cases") as update:
            result = run_fidelity(progress=update)
        if report is not None:
            from waveguard.report.fidelity import write_report

            write_report(result, report)
        if out.structured:
            out.emit_document("FidelityResult", result.to_json())
        else:
            with out.console() as console:
                _print_table(result, report, console)
    raise typer.Exit(EXIT_OK if result.all_within_bounds else EXIT_FINDINGS)


def _print_table(result, report: Path | None, console) -> None:
    """The comparison, fitted to the console's width (report.fit: the measured figure's wording
    gives way first, then the source and the bounds; the published figure — what the simulated
    one is checked against — wraps and is never cut)."""
    from waveguard.report.fidelity import format_row
    from waveguard.report.fit import Column, cell, fitted_table

    columns = (Column("case"), Column("source", drop=2), Column("what was measured", flex=True, drop=3),
               Column("published", wrap=True), Column("simulated", "right"), Column("ratio", "right", drop=1),
               Column("bounds", "right", drop=2), Column("within"))
    rows = []
    for row in result.rows:
        c = format_row(row)
        rows.append([c["name"], c["source"], c["measured"], c["published"], c["simulated"], c["ratio"], c["bounds"],
                     cell("yes") if c["ok"] else cell("NO", "red")])
    table, _ = fitted_table(console, "waveguard fidelity — simulated vs published", columns, rows)
    console.print(table)
    within = sum(r.within_bounds for r in result.rows)
    console.print(f"{within}/{len(result.rows)} figures within bounds; {len(result.runs)} scenarios in "
                  f"{result.wall_s:.1f} s on one set of constants (docs/fidelity.md).")
    if report is not None:
        console.print(f"report: {report}")
