"""``waveguard schema NAME``: the JSON Schema of a file waveguard reads or a document it prints."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import input_errors, output_file_option, output_option, resolve_output

#: Output formats of `schema` (the first is the default).
FORMATS = ("json", "yaml")


class SchemaName(str, Enum):
    fleet = "fleet"
    plan = "plan"
    backend = "backend"
    scenario = "scenario"
    events = "events"
    analysis = "analysis"
    status = "status"
    view = "view"


def register(app: typer.Typer) -> None:
    app.command("schema")(schema_command)


def schema_command(
    name: SchemaName = typer.Argument(..., help="fleet, plan, backend or scenario (files waveguard reads); events, "
                                      "analysis, status or view (what rollout start -o json, analyse -o json, "
                                      "rollout status -o json and rollout status --watch -o json print)."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the schema"),
) -> None:
    """Print the JSON Schema (draft 2020-12) generated from waveguard's models, for editors and
    CI validation (docs/schemas.md)."""
    from waveguard.report.schemas import json_schema

    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file)
        schema = json_schema(name.value)
        if out.format == "yaml":
            import yaml

            out.emit(yaml.safe_dump(schema, sort_keys=False))
        else:
            out.emit(json.dumps(schema, indent=2) + "\n")
