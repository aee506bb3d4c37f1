"""``waveguard analyse``: a change's load on the control plane, before it ships."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import EXIT_FINDINGS, EXIT_OK, input_errors, stdout_console


class Format(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


class FailOn(str, Enum):
    warning = "warning"
    error = "error"


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse_command)


def analyse_command(
    paths: list[str] = typer.Argument(..., help="Rendered manifests: files or folders (helm template output)."),
    fleet: Optional[Path] = typer.Option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or sarif."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="Exit 1 when a finding reaches this severity."),
) -> None:
    """Which requests the change sends to kube-apiserver, how they grow, and where they overload.

    Exit 0: nothing reaches --fail-on; 1: something does; 2: bad input.
    """
    # Imported here: every command's start-up stays light (`waveguard --help` included).
    from waveguard.analysis import analyse
    from waveguard.breakglass.lint import lint_change
    from waveguard.model.findings import SEVERITY_RANK
    from waveguard.model.fleet import load_fleet
    from waveguard.report.analysis import render_table, to_json, to_sarif

    with input_errors():
        fleet_model = load_fleet(fleet) if fleet else None
        result = analyse(paths, fleet_model, lints=[lint_change])
    if fmt is Format.json:
        typer.echo(json.dumps(to_json(result), indent=2))
    elif fmt is Format.sarif:
        typer.echo(json.dumps(to_sarif(result), indent=2))
    else:
        render_table(result, stdout_console())
    worst = result.worst_severity()
    failed = worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on.value]
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)
