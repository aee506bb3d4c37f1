"""``waveguard plan``: propose a rollout plan for a change, or check one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, Output, err_console, input_errors, output_file_option, output_option, render_document,
    resolve_output, seconds_at_least, stdout_console,
)

if TYPE_CHECKING:
    from waveguard.model.findings import Finding
    from waveguard.rollout.plan import Plan


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


#: Output formats of `plan` (the first is the default).
FORMATS = ("yaml", "json")


def plan_yaml(plan: Plan) -> str:
    """The plan as YAML, commented, with ``apiVersion``/``kind: Plan`` (``load_plan`` reads it back)."""
    header = ("# waveguard rollout plan. Bake times cover the longest DNS cache TTL plus two gate evaluations;\n"
              "# the first production wave includes a slice of the largest clusters.\n")
    return header + render_document("Plan", plan.model_dump(mode="json", exclude_none=True), "yaml")


def plan_text(plan: Plan, out: Output) -> str:
    """The plan in ``out``'s format."""
    if out.format == "yaml":
        return plan_yaml(plan)
    return render_document("Plan", plan.model_dump(mode="json", exclude_none=True), "json")


def _print_findings(findings: list[Finding], console=None) -> None:
    console = console or stdout_console()
    for f in findings:
        console.print(f"[bold]{f.rule}[/] {f.severity}: {f.message}\n  fix: {f.fix}", highlight=False)


def print_gates(console=None) -> None:
    """The gate registry as a table: what a plan's ``gates`` may name, with defaults and sources."""
    from rich.table import Table

    from waveguard.rollout.gates import GATES

    table = Table(header_style="bold", box=None)
    for column in ("gate", "reads", "default threshold", "control plane", "on by default", "threshold's source"):
        table.add_column(column)
    for gate in GATES.values():
        table.add_row(gate.name, gate.reads, f"{gate.default_threshold:g} {gate.unit}",
                      "yes" if gate.control_plane else "no", "yes" if gate.default_on else "no", gate.source)
    (console or stdout_console()).print(table, highlight=False)


def plan_command(
    change: Optional[str] = typer.Argument(None, help="Rendered manifests of the change (files or folder)."),
    fleet: Optional[Path] = typer.Option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the plan"),
    check: Optional[Path] = typer.Option(None, "--check", help="Check an existing plan file instead."),
    gate_interval_s: float = typer.Option(30.0, "--gate-interval", parser=seconds_at_least(1.0),
                                          help="Seconds between gate evaluations (or a duration: 30s, 1m)."),
    gates: bool = typer.Option(False, "--gates", help="List the gates a plan may name (defaults, sources) and exit."),
) -> None:
    """Propose waves, bake times and gates for CHANGE, or --check a plan. Exit 1 on plan errors."""
    if gates:
        print_gates()
        raise typer.Exit(EXIT_OK)
    # Imported here, not at start-up: pydantic models (`waveguard --help` stays fast).
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.plan import load_plan, plan_findings, propose_plan

    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file)
        fleet_model = load_fleet(fleet) if fleet else default_fleet()
        if check is not None:
            plan = load_plan(check, fleet_model)
            findings = plan_findings(plan, fleet_model, source=str(check))
            _print_findings(findings)
            if not findings:
                stdout_console().print(f"{check}: no plan findings ({len(plan.waves)} waves)")
            raise typer.Exit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK)
        if change is None:
            raise typer.BadParameter("give CHANGE (manifests) or --check PLAN.yaml")
        from waveguard.analysis import build_profiles, load_change

        profiles = build_profiles(load_change([change]))
        plan = propose_plan(change, fleet_model, per_node=any(p.per_node for p in profiles),
                            gate_interval_s=gate_interval_s)
    with input_errors():
        out.emit(plan_text(plan, out))
    if out.file is not None:
        stdout_console().print(f"wrote {out.file}: {len(plan.waves)} waves, bake {plan.waves[0].bake_s:.0f} s each")
    findings = plan_findings(plan, fleet_model, source=str(out.file or "<stdout>"))
    # With the plan on stdout, findings go to stderr: stdout stays valid YAML.
    _print_findings(findings, err_console if out.file is None else None)
    raise typer.Exit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK)
