"""``waveguard rollout start|status|pause|resume|approve|abort``: guarded waves, durable state.

The state database (``--state``, SQLite in WAL mode) holds everything needed to resume: the
plan, the fleet, the backend's settings and every event. ``pause``/``abort`` only append an
event; the running engine sees it at its next step (or ``resume``/``approve`` act on it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from waveguard.cli.common import EXIT_FINDINGS, EXIT_OK, err_console, input_errors, stdout_console
from waveguard.model.errors import InputError

if TYPE_CHECKING:  # pydantic models: imported where used, so `waveguard --help` stays fast
    from waveguard.model.fleet import Fleet
    from waveguard.rollout.eventlog import Event, EventLog, RolloutState
    from waveguard.rollout.plan import Plan

rollout_app = typer.Typer(no_args_is_help=True, help="Roll a change out in guarded waves.")
DEFAULT_STATE = Path("waveguard-rollout.db")


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _open(state: Path, create: bool = False) -> EventLog:
    from waveguard.rollout.eventlog import EventLog

    return EventLog(state, create=create)


def _fold(log: EventLog) -> RolloutState:
    from waveguard.rollout.state import fold

    return fold(log.events())


def _engine(log: EventLog, on_event=None):
    """Rebuild plan, fleet, change profiles and backend from the ``started`` event."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.model.fleet import Fleet
    from waveguard.rollout.backend import BackendConfig, build_backend
    from waveguard.rollout.engine import Engine
    from waveguard.rollout.plan import Plan

    events = log.events()
    if not events or events[0].kind != "started":
        raise InputError(str(log.path), "the state database holds no started rollout", hint="start one first")
    data = events[0].data
    plan = Plan.model_validate(data["plan"])
    fleet = Fleet.model_validate(data["fleet_model"])
    profiles = build_profiles(load_change([plan.change]))
    config = BackendConfig.from_stored(data.get("backend") or {})
    backend = build_backend(config, plan, fleet, profiles, log=lambda msg: err_console.print(msg, markup=False))
    return Engine(plan=plan, fleet=fleet, target=backend, log=log, analysed_profiles=profiles, on_event=on_event)


class _Reporter:
    """Progress bars per wave on stderr, or one JSON object per event on stdout."""

    def __init__(self, plan: Plan, fleet: Fleet, as_json: bool) -> None:
        self.as_json = as_json
        self.plan, self.fleet = plan, fleet
        self.progress = None if as_json else Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
            console=err_console, transient=False)
        self.tasks: dict[int, TaskID] = {}

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
        progress = self.progress
        if progress is None or e.wave is None or e.wave >= len(self.plan.waves):
            return
        wave = self.plan.waves[e.wave]
        if e.wave not in self.tasks:
            total = len(self.plan.clusters_of(wave, self.fleet))
            self.tasks[e.wave] = progress.add_task(f"wave {e.wave} {wave.name}", total=total + 1, status="")
        task = self.tasks[e.wave]
        if e.kind == "applied":
            progress.update(task, advance=1, status=f"applied {e.cluster}")
        elif e.kind == "wave_passed":
            progress.update(task, advance=1, status="passed")
        elif e.kind == "halted":
            progress.update(task, status=f"[red]halted[/]: {e.data.get('reason', '')}")
        elif e.kind == "paused":
            progress.update(task, status=f"[yellow]paused[/]: {e.data.get('reason', '')}")
        elif e.kind == "rolled_back" and e.cluster is None:
            progress.update(task, status="[red]rolled back[/]")


def _drive(log: EventLog, as_json: bool) -> RolloutState:
    from waveguard.rollout.k8s_target import KubernetesError

    with input_errors():
        probe = _engine(log)
    try:
        with _Reporter(probe.plan, probe.fleet, as_json) as reporter:
            probe.on_event = reporter
            state = probe.run()
    except KubernetesError as exc:
        # The apiserver refused or did not answer: the log says where the rollout stands;
        # `resume` retries (applies are idempotent).
        err_console.print(f"error: {exc} (the rollout stopped here; waveguard rollout resume retries)", markup=False)
        raise typer.Exit(EXIT_FINDINGS) from None
    except InputError as exc:  # e.g. a kubeconfig gone since start: one line, not a traceback
        err_console.print(f"error: {exc} (the rollout stopped here; fix it and run waveguard rollout resume)",
                          markup=False)
        raise typer.Exit(2) from None
    finally:
        probe.target.close()  # stop the exporter's servers, close clients
    return state


def _finish(state: RolloutState, as_json: bool) -> None:
    if not as_json:
        _print_status(state)
    from waveguard.rollout.events import RolloutStatus

    done = (RolloutStatus.COMPLETED, RolloutStatus.PAUSED, RolloutStatus.AWAITING_APPROVAL)
    raise typer.Exit(EXIT_OK if state.status in done else EXIT_FINDINGS)


def _print_status(state: RolloutState) -> None:
    console = stdout_console()
    console.print(f"status: [bold]{state.status}[/] at t={state.last_t:.0f} s, wave {state.wave}")
    if state.halt:
        console.print(f"halted: {state.halt.get('reason')}", highlight=False)
    if state.pause_reason:
        console.print(f"paused: {state.pause_reason}", highlight=False)
    running = {c: s for c, s in state.shares.items() if s > 0}
    console.print(f"clusters running the change: {len(running)}; rolled back: {len(state.rolled_back)}")
    for cluster, where in sorted(state.cluster_state.items()):  # issue 14: each cluster's rollback state
        if cluster in state.rollback_pending:
            console.print(f"rollback pending on {cluster}: {state.rollback_pending[cluster]} "
                          "(waveguard rollout resume retries)", highlight=False, markup=False)
        elif where in ("rolling_back", "rolled_back"):
            console.print(f"{cluster}: {where}", highlight=False, markup=False)


@rollout_app.command("start")
def start(
    plan_path: Path = typer.Argument(..., help="Plan YAML (waveguard plan -o plan.yaml)."),
    fleet: Optional[Path] = typer.Option(None, "--fleet", help="Fleet YAML (default: the scenario's, else built-in)."),
    state: Path = typer.Option(DEFAULT_STATE, "--state", help="SQLite state database to create."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Simulator seed (default: the scenario's, else 0)."),
    as_json: bool = typer.Option(False, "--json", help="Stream one JSON object per event."),
    force: bool = typer.Option(False, "--force", help="Start even when the plan has error findings."),
    scenario: Optional[str] = typer.Option(None, "--scenario", help="Simulated fleet: fleet, DNS design, APF objects "
                                           "and seed of a scenario (built-in name or YAML); the plan decides when "
                                           "the change goes where."),
    target: str = typer.Option("sim", "--target", help="sim (the simulated fleet) or kubernetes (real clusters)."),
    signals: str = typer.Option("sim", "--signals", help="Where gates read: sim (the simulator) or prometheus."),
    prometheus_url: Optional[str] = typer.Option(None, "--prometheus-url", help="Prometheus base URL."),
    scrape_interval: Optional[float] = typer.Option(None, "--scrape-interval", help="Prometheus' scrape interval "
                                                    "for these targets, wall seconds (default 30)."),
    time_scale: Optional[float] = typer.Option(None, "--time-scale", help="Simulated seconds per wall second "
                                               "(simulated fleet behind Prometheus; default 1)."),
    serve_metrics: Optional[str] = typer.Option(None, "--serve-metrics", help="127.0.0.1:PORT: serve the simulated "
                                                "fleet's /metrics and DNS there for Prometheus."),
    dns_mode: str = typer.Option("probe", "--dns", help="probe (cache-bypassing DNS probes where a server is known) "
                                 "or metrics (CoreDNS SERVFAIL ratio from Prometheus)."),
    backend_config: Optional[Path] = typer.Option(None, "--backend-config", help="YAML with prometheus / dns / "
                                                  "kubernetes sections (README: Real clusters)."),
    kubeconfig: Optional[Path] = typer.Option(None, "--kubeconfig", help="kubeconfig for --target kubernetes."),
) -> None:
    """Start a rollout on the simulated fleet (the default) or on real clusters."""
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.backend import BackendOptions, backend_from_options, load_scenario_ref
    from waveguard.rollout.plan import load_plan, plan_findings

    with input_errors():
        backend = backend_from_options(BackendOptions(
            target=target, signals=signals, prometheus_url=prometheus_url, scrape_interval=scrape_interval,
            time_scale=time_scale, serve_metrics=serve_metrics, dns_mode=dns_mode,
            backend_config=str(backend_config) if backend_config is not None else None,
            kubeconfig=str(kubeconfig) if kubeconfig is not None else None, scenario=scenario))
        sc = load_scenario_ref(scenario) if scenario else None
        fleet_model = load_fleet(fleet) if fleet else sc.fleet_model if sc else default_fleet()
        backend = backend.model_copy(update={"seed": seed if seed is not None else sc.seed if sc else 0})
        plan = load_plan(plan_path, fleet_model)
        from waveguard.analysis import load_change

        load_change([plan.change])  # fail now, not mid-rollout, on a bad change
        errors = [f for f in plan_findings(plan, fleet_model, str(plan_path)) if f.severity == "error"]
        if errors and not force:
            raise InputError(str(plan_path), f"{errors[0].rule}: {errors[0].message}",
                             hint=f"{errors[0].fix}; or pass --force")
        from waveguard.rollout.backend import preflight

        preflight(backend, plan, fleet_model)  # real clusters: checked before anything is written
        log = _open(state, create=True)
        log.append("started", 0.0, plan=plan.model_dump(mode="json"), fleet_model=fleet_model.model_dump(mode="json"),
                   backend=backend.stored())
    _finish(_drive(log, as_json), as_json)


@rollout_app.command("status")
def status(state: Path = typer.Option(DEFAULT_STATE, "--state"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Where the rollout stands, from the state database alone."""
    with input_errors():
        s = _fold(_open(state))
    if as_json:
        typer.echo(json.dumps({"status": s.status, "t": s.last_t, "wave": s.wave, "halt": s.halt,
                               "pause_reason": s.pause_reason, "shares": s.shares,
                               "clusters": s.cluster_state, "rollback_pending": s.rollback_pending},
                              default=float))
    else:
        _print_status(s)


def _append_and_drive(state: Path, kind: str, as_json: bool, drive: bool = True, **data) -> None:
    with input_errors():
        log = _open(state)
        s = _fold(log)
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
        s = _fold(_open(state))
    if s.status == "paused":
        _append_and_drive(state, "resumed", as_json)
    with input_errors():
        _finish(_drive(_open(state), as_json), as_json)


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

