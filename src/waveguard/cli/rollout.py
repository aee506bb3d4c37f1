"""``waveguard rollout start|status|pause|resume|approve|abort``: guarded waves, durable state.

The state database (``--state``, SQLite in WAL mode) holds everything needed to resume: the
plan, the fleet, the backend's settings and every event. ``pause``/``abort`` only append an
event; the running engine sees it at its next step (or ``resume``/``approve`` act on it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn

from waveguard.cli.common import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, err_console, input_errors, stdout_console
from waveguard.model.errors import InputError
from waveguard.model.fleet import Fleet, default_fleet, load_fleet
from waveguard.rollout.eventlog import Event, EventLog, RolloutState, fold
from waveguard.rollout.plan import Plan, load_plan, plan_findings

rollout_app = typer.Typer(no_args_is_help=True, help="Roll a change out in guarded waves.")
DEFAULT_STATE = Path("waveguard-rollout.db")


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _engine(log: EventLog, on_event=None):
    """Rebuild plan, fleet, change profiles and target from the ``started`` event."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.rollout.engine import Engine
    from waveguard.rollout.simtarget import SimTarget

    events = log.events()
    if not events or events[0].kind != "started":
        raise InputError(str(log.path), "the state database holds no started rollout", hint="start one first")
    data = events[0].data
    plan = Plan.model_validate(data["plan"])
    fleet = Fleet.model_validate(data["fleet_model"])
    profiles = build_profiles(load_change([plan.change]))
    backend = data.get("backend", {})
    target = SimTarget(fleet, profiles, seed=int(backend.get("seed", 0)))
    return Engine(plan=plan, fleet=fleet, target=target, log=log, analysed_profiles=profiles, on_event=on_event)


class _Reporter:
    """Progress bars per wave on stderr, or one JSON object per event on stdout."""

    def __init__(self, plan: Plan, fleet: Fleet, as_json: bool) -> None:
        self.as_json = as_json
        self.plan, self.fleet = plan, fleet
        self.progress = None if as_json else Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
            console=err_console, transient=False)
        self.tasks: dict[int, int] = {}

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def __call__(self, e: Event) -> None:
        if self.as_json:
            typer.echo(json.dumps(e.as_json(), default=float))
            return
        if e.wave is None or e.wave >= len(self.plan.waves):
            return
        wave = self.plan.waves[e.wave]
        if e.wave not in self.tasks:
            total = len(self.plan.clusters_of(wave, self.fleet))
            self.tasks[e.wave] = self.progress.add_task(f"wave {e.wave} {wave.name}", total=total + 1, status="")
        task = self.tasks[e.wave]
        if e.kind == "applied":
            self.progress.update(task, advance=1, status=f"applied {e.cluster}")
        elif e.kind == "wave_passed":
            self.progress.update(task, advance=1, status="passed")
        elif e.kind == "halted":
            self.progress.update(task, status=f"[red]halted[/]: {e.data.get('reason', '')}")
        elif e.kind == "paused":
            self.progress.update(task, status=f"[yellow]paused[/]: {e.data.get('reason', '')}")
        elif e.kind == "rolled_back" and e.cluster is None:
            self.progress.update(task, status="[red]rolled back[/]")


def _drive(log: EventLog, as_json: bool) -> RolloutState:
    with input_errors():
        probe = _engine(log)
    with _Reporter(probe.plan, probe.fleet, as_json) as reporter:
        probe.on_event = reporter
        state = probe.run()
    return state


def _finish(state: RolloutState, as_json: bool) -> None:
    if not as_json:
        _print_status(state)
    raise typer.Exit(EXIT_OK if state.status in ("completed", "paused", "awaiting_approval") else EXIT_FINDINGS)


def _print_status(state: RolloutState) -> None:
    console = stdout_console()
    console.print(f"status: [bold]{state.status}[/] at t={state.last_t:.0f} s, wave {state.wave}")
    if state.halt:
        console.print(f"halted: {state.halt.get('reason')}", highlight=False)
    if state.pause_reason:
        console.print(f"paused: {state.pause_reason}", highlight=False)
    running = {c: s for c, s in state.shares.items() if s > 0}
    console.print(f"clusters running the change: {len(running)}; rolled back: {len(state.rolled_back)}")


@rollout_app.command("start")
def start(
    plan_path: Path = typer.Argument(..., help="Plan YAML (waveguard plan -o plan.yaml)."),
    fleet: Optional[Path] = typer.Option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    state: Path = typer.Option(DEFAULT_STATE, "--state", help="SQLite state database to create."),
    seed: int = typer.Option(0, "--seed", help="Simulator seed (backend sim)."),
    as_json: bool = typer.Option(False, "--json", help="Stream one JSON object per event."),
    force: bool = typer.Option(False, "--force", help="Start even when the plan has error findings."),
) -> None:
    """Start a rollout on the simulated fleet (the embedded default backend)."""
    with input_errors():
        fleet_model = load_fleet(fleet) if fleet else default_fleet()
        plan = load_plan(plan_path, fleet_model)
        from waveguard.analysis import load_change

        load_change([plan.change])  # fail now, not mid-rollout, on a bad change
        errors = [f for f in plan_findings(plan, fleet_model, str(plan_path)) if f.severity == "error"]
        if errors and not force:
            raise InputError(str(plan_path), f"{errors[0].rule}: {errors[0].message}",
                             hint=f"{errors[0].fix}; or pass --force")
        log = EventLog(state, create=True)
        log.append("started", 0.0, plan=plan.model_dump(mode="json"), fleet_model=fleet_model.model_dump(mode="json"),
                   backend={"kind": "sim", "seed": seed})
    _finish(_drive(log, as_json), as_json)


@rollout_app.command("status")
def status(state: Path = typer.Option(DEFAULT_STATE, "--state"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Where the rollout stands, from the state database alone."""
    with input_errors():
        s = fold(EventLog(state).events())
    if as_json:
        typer.echo(json.dumps({"status": s.status, "t": s.last_t, "wave": s.wave, "halt": s.halt,
                               "pause_reason": s.pause_reason, "shares": s.shares,
                               "clusters": s.cluster_state}, default=float))
    else:
        _print_status(s)


def _append_and_drive(state: Path, kind: str, as_json: bool, drive: bool = True, **data) -> None:
    with input_errors():
        log = EventLog(state)
        s = fold(log.events())
        if s.status in ("completed", "rolled_back"):
            raise InputError(str(state), f"the rollout has already ended ({s.status})", hint="nothing to do")
        log.append(kind, s.last_t, wave=s.wave, **data)
    if drive:
        _finish(_drive(log, as_json), as_json)
    raise typer.Exit(EXIT_OK)


@rollout_app.command("pause")
def pause(state: Path = typer.Option(DEFAULT_STATE, "--state"),
          reason: str = typer.Option("paused by an operator", "--reason")) -> None:
    """Ask the running rollout to pause after its current step."""
    _append_and_drive(state, "paused", False, drive=False, reason=reason, needs_approval=False)


@rollout_app.command("resume")
def resume(state: Path = typer.Option(DEFAULT_STATE, "--state"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Continue a paused or interrupted (even kill -9) rollout from its event log."""
    with input_errors():
        s = fold(EventLog(state).events())
    if s.status == "paused":
        _append_and_drive(state, "resumed", as_json)
    with input_errors():
        _finish(_drive(EventLog(state), as_json), as_json)


@rollout_app.command("approve")
def approve(state: Path = typer.Option(DEFAULT_STATE, "--state"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Approve what the rollout waits for (a manual rollback, or going on after a pause)."""
    _append_and_drive(state, "approved", as_json)


@rollout_app.command("abort")
def abort(state: Path = typer.Option(DEFAULT_STATE, "--state"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Halt now and roll back every cluster the change reached."""
    _append_and_drive(state, "aborted", as_json)


__all__ = ["register", "EXIT_BAD_INPUT"]
