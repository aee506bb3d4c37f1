"""``waveguard plan``: propose a rollout plan for a change, or check one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, Output, err_console, input_errors, output_file_option, output_option, render_document,
    GATE_INTERVAL, duration_option, resolve_output, stderr_wrapping_console, stdout_console, table_console,
    wrapped_lines,
)
from waveguard.cli.paths import manifests_path, path_option
from waveguard.cli.numbers import finite_number
from waveguard.cli.risk import MIN_RISK_BUDGET, SAMPLES_WHY, check_counts

if TYPE_CHECKING:
    from waveguard.model.fleet import Fleet
    from waveguard.model.findings import Finding
    from waveguard.rollout.plan import Plan


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


#: Output formats of `plan` (the first is the default).
FORMATS = ("yaml", "json")


def plan_yaml(plan: Plan) -> str:
    """The plan as YAML, commented, with ``apiVersion``/``kind: Plan`` (``load_plan`` reads it back)."""
    header = ("# waveguard rollout plan. Bake times cover the longest DNS cache TTL plus two\n"
              "# gate evaluations; the first production wave includes a slice of the largest\n"
              "# clusters.\n")
    return header + render_document("Plan", plan.model_dump(mode="json", exclude_none=True), "yaml")


def plan_text(plan: Plan, out: Output) -> str:
    """The plan in ``out``'s format."""
    if out.format == "yaml":
        return plan_yaml(plan)
    return render_document("Plan", plan.model_dump(mode="json", exclude_none=True), "json")


def _change_beside(plan: Plan, file: Path | None) -> Plan:
    """``plan`` to be written to ``file``: a relative ``change`` path rewritten relative to the
    file's folder, so the plan works from any folder (load_plan looks beside the plan)."""
    import os

    change = Path(plan.change)
    if file is None or change.is_absolute() or not change.exists():
        return plan
    return plan.model_copy(update={"change": os.path.relpath(os.path.abspath(change), os.path.abspath(file.parent))})


def _print_findings(findings: list[Finding], console=None) -> None:
    from rich.text import Text

    console = console or stdout_console()
    for f in findings:
        lines = wrapped_lines(f"{f.rule} {f.severity}: {f.message}", console.width)
        lines += wrapped_lines(f"fix: {f.fix}", console.width, first="  ", hang="    ")
        head = Text(lines[0])
        head.stylize("bold", 0, len(f.rule))
        console.print(head, highlight=False)
        for line in lines[1:]:
            console.print(line, highlight=False, markup=False)


def print_gates(console=None) -> None:
    """The gate registry, one block per gate (name, default threshold with its unit, whether it
    watches the control plane and is on by default; what it reads; the threshold's source),
    wrapped to the console's width: what a plan's ``gates`` may name."""
    import textwrap

    from rich.text import Text

    from waveguard.rollout.gates import GATES

    console = console or table_console()
    for gate in GATES.values():
        head = Text(gate.name, style="bold")
        head.append(f"  {gate.default_threshold:g} {gate.unit}")
        head.append(("  control plane" if gate.control_plane else "") + ("  on by default" if gate.default_on else ""),
                    style="dim")
        console.print(head)
        for label, text, style in (("reads", gate.reads, ""), ("source", gate.source, "dim")):
            for line in textwrap.wrap(f"{label}: {text}", console.width - 2, subsequent_indent="  "):
                console.print("  " + line, style=style, highlight=False, markup=False)
        console.print()


def _emit_patches(plan: Plan, fleet, change: list[str], folder: Path, nodes: Path | None,
                  findings: list[Finding]) -> None:
    """Write ``plan``'s waves as GitOps patches into ``folder`` (waveguard.export.patches); not
    for a plan with errors (``findings``). Raises InputError (bad --nodes, a folder that is not
    new or empty)."""
    if any(f.severity == "error" for f in findings):
        err_console.print(f"not writing {folder}: the plan has errors (fix them first)", markup=False)
        return
    from waveguard.analysis import load_change
    from waveguard.export.patches import emit, load_nodes, write_tree
    from waveguard.model.yamlio import read_yaml_file

    node_names = load_nodes(read_yaml_file(nodes, "--nodes file")[0], str(nodes)) if nodes is not None else None
    files = emit(plan, fleet, load_change(change), node_names, nodes_source=str(nodes or "--nodes"))
    write_tree(folder, files)
    err_console.print(f"wrote {folder}: {len(plan.waves)} waves, {len(files) - 1} patch files", markup=False)


def _check_alone(change: str | None, output_file: Path | None) -> None:
    """Raises InputError for what ``--check`` would ignore: a CHANGE (no plan is proposed) or
    ``--output-file`` (it prints findings and writes no plan)."""
    from waveguard.model.errors import InputError

    if change is not None:
        raise InputError("--check", f"and CHANGE {change}: give one (--check checks a written plan)")
    if output_file is not None:
        raise InputError("--check", f"writes no plan: leave out --output-file {output_file}")


def _check_companions(emit_patches: Path | None, nodes: Path | None, risk_budget: float | None,
                      risk_samples: int | None) -> None:
    """Raises InputError for an option that only shapes another one that is not given."""
    from waveguard.model.errors import InputError

    if nodes is not None and emit_patches is None:
        raise InputError("--nodes", "is for --emit-patches", hint="add --emit-patches DIR or leave it out")
    if risk_samples is not None and risk_budget is None:
        raise InputError("--risk-samples", "is for --risk-budget", hint="add --risk-budget or leave it out")
    check_counts(risk_samples, "--risk-samples")


def _propose(change: str, fleet: "Fleet", gate_interval_s: float, risk_budget: float | None,
             risk_samples: int | None) -> "tuple[Plan, list]":
    """The planner's plan for ``change`` (with a risk budget, tightened until it fits) and the
    change's analysed profiles."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.rollout.plan import propose_plan

    profiles = build_profiles(load_change([change]))
    plan = propose_plan(change, fleet, per_node=any(p.per_node for p in profiles), gate_interval_s=gate_interval_s)
    if risk_budget is None:
        return plan, profiles
    from waveguard.cli.risk import fit_plan_to_budget

    return fit_plan_to_budget(plan, fleet, risk_budget, risk_samples, seed=0), profiles


def _note_projected_overload(profiles: list, fleet: "Fleet", plan: "Plan") -> None:
    """A note on stderr when ``analyse``'s projection says the change overloads clusters of
    ``fleet`` at full rollout: a plan is written all the same (its waves are how the change gets
    stopped), but whoever reads it should expect the halt, and know which gate will call it."""
    from waveguard.analysis.projection import project_fleet

    overloaded = [c.cluster for c in project_fleet(profiles, fleet) if c.verdict == "overload"]
    if not overloaded:
        return
    named = ", ".join(overloaded[-2:]) + (f" and {len(overloaded) - 2} more" if len(overloaded) > 2 else "")
    gated = any(g.kind == "projection" for g in plan.gates)
    console = stderr_wrapping_console()
    text = (f"note: analyse projects this change to overload {len(overloaded)} of {len(fleet.clusters)} clusters "
            f"at full rollout ({named}); "
            + ("the plan's projection gate checks every wave before it starts: expect a halt" if gated else
               "the plan has no projection gate: add {kind: projection} to stop it before those waves"))
    for line in wrapped_lines(text, console.width):
        console.print(line, highlight=False, markup=False)


def plan_command(
    change: Optional[str] = typer.Argument(None, parser=manifests_path, help="Rendered manifests of the change (files or folder)."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option("the plan"),
    check: Optional[Path] = path_option(None, "--check", help="Check an existing plan file instead."),
    gate_interval_s: float = duration_option(30.0, "--gate-interval", GATE_INTERVAL,
                                             "Seconds between gate evaluations (or a duration: 30s, 1m)."),
    gates: bool = typer.Option(False, "--gates", help="List the gates a plan may name (defaults, sources) and exit."),
    emit_patches: Optional[Path] = path_option(None, "--emit-patches", folder=True,
                                                help="Also write each wave's node-label and affinity patches here "
                                                     "(for GitOps; docs/integrations.md)."),
    nodes: Optional[Path] = path_option(None, "--nodes", help="YAML: cluster → node names (for --emit-patches)."),
    risk_budget: Optional[float] = typer.Option(
        None, "--risk-budget", metavar="P",
        parser=finite_number(MIN_RISK_BUDGET, 1.0, "the least budget samples can show (it takes 38,411)"),
        help="Tighten the plan until P(a production control plane saturates) is within this (upper 95 % bound; "
             "waveguard risk); at least 0.0001, which 38,411 samples show."),
    risk_samples: Optional[int] = typer.Option(
        None, "--risk-samples", min=1, help=f"Samples per plan tried (default: enough for the budget); {SAMPLES_WHY}"),
) -> None:
    """Propose waves, bake times and gates for CHANGE, or --check a plan. Exit 1 on plan errors."""
    if gates:
        print_gates()
        raise typer.Exit(EXIT_OK)
    # Imported here, not at start-up: pydantic models (`waveguard --help` stays fast).
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.plan import load_plan, plan_findings

    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file)
        fleet_model = load_fleet(fleet) if fleet else default_fleet()
        _check_companions(emit_patches, nodes, risk_budget, risk_samples)
        if check is not None:
            _check_alone(change, out.file)
            plan = load_plan(check, fleet_model)
            from waveguard.rollout.plan.schema import load_plan_change

            load_plan_change(plan, check)  # as rollout start reads it: a plan it refuses does not pass
            findings = plan_findings(plan, fleet_model, source=str(check))
            _print_findings(findings)
            if not findings:
                stdout_console().print(f"{check}: no plan findings ({len(plan.waves)} waves)")
            if emit_patches is not None:
                _emit_patches(plan, fleet_model, [plan.change], emit_patches, nodes, findings)
            raise typer.Exit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK)
        if change is None:
            raise typer.BadParameter("give CHANGE (manifests) or --check PLAN.yaml")
        plan, profiles = _propose(change, fleet_model, gate_interval_s, risk_budget, risk_samples)
        findings = plan_findings(plan, fleet_model, source=str(out.file or "<stdout>"))
        if emit_patches is not None:  # bad --nodes or folder: its one error line, before any note
            _emit_patches(plan, fleet_model, [change], emit_patches, nodes, findings)
        _note_projected_overload(profiles, fleet_model, plan)
    with input_errors():
        out.emit(plan_text(_change_beside(plan, out.file), out))
    if out.file is not None:
        stdout_console().print(f"wrote {out.file}: {len(plan.waves)} waves, bake {plan.waves[0].bake_s:.0f} s each")
    # With the plan on stdout, findings go to stderr: stdout stays valid YAML.
    _print_findings(findings, stderr_wrapping_console() if out.file is None else None)
    raise typer.Exit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else EXIT_OK)
