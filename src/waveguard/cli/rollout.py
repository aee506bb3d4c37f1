"""``waveguard rollout start|status|pause|resume|approve|abort``: guarded waves, durable state.

The state database (``--state``, SQLite in WAL mode) holds everything needed to resume: the
plan, the fleet, the backend's settings, the change's manifests frozen at start, every event,
and the lease of the one engine that drives the rollout (``start`` and ``resume`` take it; a
second one exits 2, naming the holder). ``pause``/``approve``/``abort`` only append an event;
the running engine acts on it at its next evaluation, else the next ``resume`` does.

Exit codes: 0 completed (or paused, for start/resume); 1 halted, awaiting approval of the
rollback, rolled back; 2 bad input or another engine drives the rollout; ``status``: 3 while
running or paused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, PROMETHEUS_URL_ENV, REFRESH_INTERVAL, SCRAPE_INTERVAL, command_group, context_map,
    duration_option, err_console, input_errors, legacy_json_option, output_file_option, output_option,
    path_argument, path_option, render_document, resolve_output, state_option, stdout_console,
)
from waveguard.cli.rollout_live import LiveReporter, print_status, watch
from waveguard.model.errors import InputError

if TYPE_CHECKING:  # pydantic models: imported where used, so `waveguard --help` stays fast
    from tempfile import TemporaryDirectory

    from waveguard.model.fleet import Fleet
    from waveguard.rollout.engine import Engine
    from waveguard.rollout.eventlog import Event, EventLog, RolloutState, Row
    from waveguard.rollout.plan import Plan

rollout_app = command_group(no_args_is_help=True, help="Roll a change out in guarded waves.")
DEFAULT_STATE = Path("waveguard-rollout.db")
#: `rollout status`: the rollout is still running or paused (CI waits while the exit is 3).
EXIT_RUNNING = 3
#: Output formats: start/resume stream one JSON object per event (-o json); status prints a document.
STREAM_FORMATS = ("table", "json")
STATUS_FORMATS = ("table", "json", "yaml")


def _as_json(output: str, legacy_json: bool, formats: tuple[str, ...] = STREAM_FORMATS) -> bool:
    """-o json (or the deprecated --json) was asked for. Raises InputError for another format
    (these commands stream events: no --output-file)."""
    return resolve_output(output, formats, legacy_json=legacy_json, file_option=False).format == "json"


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _open(state: Path, create: bool = False, read_only: bool = False) -> EventLog:
    from waveguard.rollout.eventlog import EventLog

    return EventLog(state, create=create, read_only=read_only)


def _fold(log: EventLog) -> RolloutState:
    """The state of ``log``; a note on stderr for events this version does not know (skipped)."""
    from waveguard.rollout.state import fold

    state = fold(log.events())
    if log.unknown_kinds:
        kinds = ", ".join(f"{kind} (event {seq})" for seq, kind in sorted(log.unknown_kinds.items())[:5])
        err_console.print(f"note: {log.path}: skipped events this waveguard does not know: {kinds}", markup=False)
    return state


def _started(log: EventLog, inputs: tuple[str, ...] = ()) -> Event:
    events = log.events(after=0)
    if not events or events[0].kind != "started" or None in (events[0].data.get(k) for k in inputs):
        raise InputError(str(log.path), "holds no started rollout" + " with its plan and fleet" * bool(inputs),
                         hint="start one first")
    return events[0]


def _engine(log: EventLog, use_changed: bool = False) -> tuple[Engine, TemporaryDirectory | None]:
    """Rebuild plan, fleet, the frozen change's profiles and the backend from the ``started``
    event; the engine and the temporary folder holding the frozen manifests (to clean up)."""
    from waveguard.analysis import build_profiles, load_change
    from waveguard.model.fleet import Fleet
    from waveguard.rollout.backend import BackendConfig, build_backend
    from waveguard.rollout.engine import Engine
    from waveguard.rollout.plan import Plan

    data = _started(log, ("plan", "fleet_model")).data
    plan = Plan.model_validate(data["plan"])
    fleet = Fleet.model_validate(data["fleet_model"])
    plan, workdir = _frozen_plan(log, plan, use_changed)
    backend = None
    try:
        profiles = build_profiles(load_change([plan.change]), silent=True)  # zero requests: a cost of zero
        config = BackendConfig.from_stored(data.get("backend") or {})
        backend = build_backend(config, plan, fleet, profiles, log=lambda msg: err_console.print(msg, markup=False))
        return Engine(plan=plan, fleet=fleet, target=backend, log=log, analysed_profiles=profiles), workdir
    except BaseException:
        if backend is not None:
            backend.close()
        if workdir is not None:
            workdir.cleanup()
        raise


def _frozen_plan(log: EventLog, plan: Plan, use_changed: bool) -> tuple[Plan, TemporaryDirectory | None]:
    """``plan`` reading the change frozen at start (materialised in a temporary folder). When the
    files on disk differ: one line, and the frozen ones — or, ``use_changed``, the ones on disk,
    recorded as ``change_replaced``. A state file from before the freeze reads the plan's path."""
    from waveguard.rollout.frozen import change_path, freeze, load_frozen, materialise, on_disk_differs

    state = _fold(log)
    if state.change is None:
        return plan, None
    frozen = load_frozen(state.change)
    note = on_disk_differs(frozen)
    if note and use_changed:
        from waveguard.analysis import load_change

        load_change([frozen.path])  # the files on disk must load before they replace anything
        frozen = freeze(frozen.path)
        log.append("change_replaced", state.last_t, change=frozen.model_dump(mode="json"))
        err_console.print(f"note: {note}; rolling out the files on disk from now on", markup=False)
    elif note:
        err_console.print(f"note: {note}; continuing with the frozen change "
                          "(--use-changed-manifests rolls out the files on disk)", markup=False)
    workdir = materialise(frozen)
    return plan.model_copy(update={"change": change_path(workdir, frozen)}), workdir


def _drive(log: EventLog, as_json: bool, use_changed: bool = False) -> RolloutState:
    """Run the engine on ``log`` (which holds the lease), heartbeat beside it; release the lease
    however it ends."""
    from waveguard.rollout.k8s_target import KubernetesError
    from waveguard.rollout.lease import Heartbeat

    assert log.owner is not None  # start/acquire took the lease
    try:
        with input_errors():
            engine, workdir = _engine(log, use_changed)
        try:
            with input_errors(), Heartbeat(log.path, log.owner), \
                    LiveReporter(log, as_json) as reporter:
                engine.on_event = reporter
                return engine.run()
        except KubernetesError as exc:
            # The apiserver refused or did not answer: the log says where the rollout stands;
            # `resume` retries (applies are idempotent).
            err_console.print(f"error: {exc} (the rollout stopped here; waveguard rollout resume retries)",
                              markup=False)
            raise typer.Exit(EXIT_FINDINGS) from None
        finally:
            engine.target.close()  # stop the exporter's servers, close clients
            if workdir is not None:
                workdir.cleanup()
    finally:
        log.release()


def _exit_code(status: str, *, waiting: int = EXIT_OK) -> int:
    """0 completed; 1 halted, awaiting approval (after a failed gate), rolling back or rolled
    back; ``waiting`` (start/resume: 0; status: 3) when running, paused or new."""
    if status == "completed":
        return EXIT_OK
    if status in ("halted", "awaiting_approval", "rolling_back", "rolled_back"):
        return EXIT_FINDINGS
    return waiting


def _finish(state: RolloutState, as_json: bool) -> None:
    if not as_json:
        print_status(state)
    raise typer.Exit(_exit_code(state.status))


def require_backend_extras(target: str, signals: str) -> None:
    """Raise MissingExtraError (one line naming the extra) before a rollout writes anything,
    when the libraries of its target or signals are not installed."""
    from waveguard.model.extras import require_extra

    if "sim" in (target, signals):
        require_extra("sim", "a rollout on the simulated fleet")
    if target == "kubernetes":
        require_extra("kubernetes", "rollout --target kubernetes")


def _with_contexts(backend, values: list[str], clusters: list[str]):
    """``backend`` with ``--context`` values merged into its kubernetes contexts. Raises InputError."""
    if not values:
        return backend
    if backend.kubernetes is None:
        raise InputError("--context", "only used with --target kubernetes", hint="add --target kubernetes")
    contexts = {**backend.kubernetes.contexts, **context_map(values, clusters)}
    return backend.model_copy(update={"kubernetes": backend.kubernetes.model_copy(update={"contexts": contexts})})


def _checked_plan(plan_path: Path, fleet_model: Fleet, force: bool):
    """(plan, the change frozen now) of ``plan_path``. Raises InputError for a bad plan or
    change, or a plan with error findings (unless ``force``)."""
    from waveguard.rollout.frozen import freeze
    from waveguard.rollout.plan import load_plan, plan_findings
    from waveguard.rollout.plan.schema import load_plan_change

    plan = load_plan(plan_path, fleet_model)
    load_plan_change(plan, plan_path)  # fail now, not mid-rollout, on a bad change
    frozen = freeze(plan.change)  # what resume rolls out, from any folder
    errors = [f for f in plan_findings(plan, fleet_model, str(plan_path)) if f.severity == "error"]
    if errors and not force:
        raise InputError(str(plan_path), f"{errors[0].rule}: {errors[0].message}",
                         hint=f"{errors[0].fix}; or pass --force")
    return plan, frozen


@rollout_app.command("start")
def start(
    plan_path: Path = path_argument(..., help="Plan YAML (waveguard plan --output-file plan.yaml)."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML (default: the scenario's, else built-in)."),
    state: Path = state_option(DEFAULT_STATE),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Simulator seed (default: the scenario's, else 0)."),
    output: str = output_option(STREAM_FORMATS),
    legacy_json: bool = legacy_json_option(),
    force: bool = typer.Option(False, "--force", help="Start even when the plan has error findings."),
    scenario: Optional[str] = typer.Option(None, "--scenario", help="Simulated fleet: fleet, DNS design, APF objects "
                                           "and seed of a scenario (built-in name or YAML); the plan decides when "
                                           "the change goes where."),
    target: str = typer.Option("sim", "--target", help="sim (the simulated fleet) or kubernetes (real clusters)."),
    signals: str = typer.Option("sim", "--signals", help="Where gates read: sim (the simulator) or prometheus."),
    prometheus_url: Optional[str] = typer.Option(None, "--prometheus-url", envvar=PROMETHEUS_URL_ENV,
                                                 help="Prometheus base URL."),
    scrape_interval: Optional[float] = duration_option(None, "--scrape-interval", SCRAPE_INTERVAL,
                                                       "Prometheus' scrape interval for these targets, wall "
                                                       "seconds or a duration like 30s (default 30)."),
    time_scale: Optional[float] = typer.Option(None, "--time-scale", help="Simulated seconds per wall second "
                                               "(simulated fleet behind Prometheus; default 1)."),
    serve_metrics: Optional[str] = typer.Option(None, "--serve-metrics", help="127.0.0.1:PORT: serve the simulated "
                                                "fleet's /metrics and DNS there for Prometheus."),
    dns_mode: str = typer.Option("probe", "--dns", help="probe (cache-bypassing DNS probes where a server is known) "
                                 "or metrics (CoreDNS SERVFAIL ratio from Prometheus)."),
    backend_config: Optional[Path] = path_option(None, "--backend-config", help="YAML with prometheus / dns / "
                                                  "kubernetes sections (README: Real clusters)."),
    kubeconfig: Optional[Path] = path_option(None, "--kubeconfig", help="kubeconfig for --target kubernetes."),
    context: Optional[list[str]] = typer.Option(None, "--context", help="kubeconfig context, CLUSTER=CONTEXT per "
                                                "cluster (or CONTEXT for a one-cluster fleet; default: its name)."),
) -> None:
    """Start a rollout on the simulated fleet (the default) or on real clusters."""
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.backend import BackendOptions, backend_from_options, check_backend_clusters, load_scenario_ref

    with input_errors():
        as_json = _as_json(output, legacy_json)
        backend = backend_from_options(BackendOptions(
            target=target, signals=signals, prometheus_url=prometheus_url, scrape_interval=scrape_interval,
            time_scale=time_scale, serve_metrics=serve_metrics, dns_mode=dns_mode,
            backend_config=str(backend_config) if backend_config is not None else None,
            kubeconfig=str(kubeconfig) if kubeconfig is not None else None, scenario=scenario))
        sc = load_scenario_ref(scenario) if scenario else None
        fleet_model = load_fleet(fleet) if fleet else sc.fleet_model if sc else default_fleet()
        backend = backend.model_copy(update={"seed": seed if seed is not None else sc.seed if sc else 0})
        backend = _with_contexts(backend, context or [], [c.name for c in fleet_model.clusters])
        check_backend_clusters(backend, [c.name for c in fleet_model.clusters], str(backend_config or "--context"))
        plan, frozen = _checked_plan(plan_path, fleet_model, force)
        from waveguard.rollout.backend import preflight
        from waveguard.rollout.lease import Owner

        preflight(backend, plan, fleet_model)  # Prometheus, real clusters: checked before anything is written
        require_backend_extras(backend.kind, backend.signals)
        log = _open(state, create=True)
        log.start([("started", 0.0, None, None, {
            "plan": plan.model_dump(mode="json"), "fleet_model": fleet_model.model_dump(mode="json"),
            "backend": backend.stored(), "change": frozen.model_dump(mode="json")})], Owner.this_process())
    _finish(_drive(log, as_json), as_json)


@rollout_app.command("status")
def status(state: Path = state_option(DEFAULT_STATE),
           output: str = output_option(STATUS_FORMATS),
           output_file: Optional[Path] = output_file_option("the status (not with --watch)"),
           legacy_json: bool = legacy_json_option(),
           watch_it: bool = typer.Option(False, "--watch", help="Follow the rollout live until it ends (Ctrl-C "
                                         "stops watching): waves, bake clock, clusters, gates, last events; "
                                         "with -o json one object per refresh that saw new events."),
           interval: float = duration_option(1.0, "--interval", REFRESH_INTERVAL,
                                             "--watch: seconds between refreshes.")
           ) -> None:
    """Where the rollout stands, from the state database alone. Exit 0 completed, 1 halted or
    rolled back (or awaiting approval of the rollback), 3 running or paused (CI waits on it)."""
    with input_errors():
        out = resolve_output(output, STATUS_FORMATS, output_file=output_file, legacy_json=legacy_json)
        if watch_it and out.file is not None:
            raise InputError("--output-file", "--watch prints a live view, not a file",
                             hint="drop --watch")
    if watch_it:
        raise typer.Exit(_exit_code(watch(state, out.format == "json", interval), waiting=EXIT_RUNNING))
    with input_errors():
        log = _open(state, read_only=True)  # a reader: a state file it may only read will do
        s, engine = _fold(log), _engine_running(log)
    if out.structured:
        out.emit_document("RolloutStatus", {
            "status": s.status, "t": s.last_t, "wave": s.wave, "halt": s.halt, "pause_reason": s.pause_reason,
            "shares": s.shares, "clusters": s.cluster_state, "rollback_pending": s.rollback_pending,
            "engine": engine})
    else:
        with input_errors(), out.console() as console:
            print_status(s, console)
            if s.status not in ("completed", "rolled_back"):
                console.print(f"driven by {engine}" if engine else "no engine is driving it", highlight=False)
    raise typer.Exit(_exit_code(s.status, waiting=EXIT_RUNNING))


def _engine_running(log: EventLog) -> str | None:
    """Who drives the rollout ("PID N on HOST since …"), or None when no live engine does."""
    holder = log.lease()
    return holder.owner.describe() if holder is not None and holder.alive() else None


#: What resuming does after each operator request, for the line printed when no engine runs.
_NEXT = {"paused": "continues it", "approved": "acts on the approval", "aborted": "rolls it back"}


def _request(state: Path, kind: str, as_json: bool = False, **data) -> None:
    """Append an operator's request; the running engine acts on it at its next evaluation. No
    engine is started here: without one, say how to resume."""
    with input_errors():
        log = _open(state)
        _started(log)
        s = _fold(log)
        if s.status in ("completed", "rolled_back"):
            raise InputError(str(state), f"the rollout has already ended ({s.status})", hint="nothing to do")
        log.append(kind, s.last_t, wave=s.wave, **data)
        engine = _engine_running(log)
    if engine:
        line = f"{kind}: recorded; the engine ({engine}) acts on it at its next evaluation"
    else:
        line = (f"{kind}: recorded; no engine is driving this rollout: "
                f"waveguard rollout resume --state {state} {_NEXT[kind]}")
    if as_json:
        typer.echo(render_document("RolloutRequest", {"recorded": kind, "engine": engine, "message": line}, "json",
                                   indent=None))
    else:
        stdout_console().print(line, highlight=False, markup=False)
    raise typer.Exit(EXIT_OK)


@rollout_app.command("pause")
def pause(state: Path = state_option(DEFAULT_STATE),
          reason: str = typer.Option("paused by an operator", "--reason")) -> None:
    """Ask the running rollout to pause after its current step."""
    _request(state, "paused", reason=reason, needs_approval=False)


@rollout_app.command("resume")
def resume(state: Path = state_option(DEFAULT_STATE),
           output: str = output_option(STREAM_FORMATS),
           legacy_json: bool = legacy_json_option(),
           use_changed: bool = typer.Option(False, "--use-changed-manifests", help="Roll out the change's files "
                                            "as they are on disk now, not as frozen at start.")) -> None:
    """Continue a paused or interrupted (even kill -9) rollout from its event log, from any
    folder, with the change frozen at start. Refused (exit 2) while another engine drives it."""
    from waveguard.rollout.lease import Owner

    with input_errors():
        as_json = _as_json(output, legacy_json)
        log = _open(state)
        _started(log)
        s = _fold(log)
        if s.status in ("completed", "rolled_back"):
            err_console.print(f"the rollout has already finished ({s.status}): nothing to resume", markup=False)
            if not as_json:
                print_status(s)
            raise typer.Exit(_exit_code(s.status))
        lift = s.status == "paused" and not s.paused_for_no_data  # not the engine's own no-data wait
        rows: list[Row] = [("resumed", s.last_t, s.wave, None, {})] if lift else []
        log.acquire(Owner.this_process(), rows)  # with the `resumed`, atomically
    _finish(_drive(log, as_json, use_changed), as_json)


@rollout_app.command("approve")
def approve(state: Path = state_option(DEFAULT_STATE),
            output: str = output_option(STREAM_FORMATS),
            legacy_json: bool = legacy_json_option()) -> None:
    """Approve what the rollout waits for (a manual rollback, or going on after a pause)."""
    with input_errors():
        as_json = _as_json(output, legacy_json)
    _request(state, "approved", as_json)


@rollout_app.command("abort")
def abort(state: Path = state_option(DEFAULT_STATE),
          output: str = output_option(STREAM_FORMATS),
          legacy_json: bool = legacy_json_option()) -> None:
    """Halt and roll back every cluster the change reached (by the running engine, or the next
    resume)."""
    with input_errors():
        as_json = _as_json(output, legacy_json)
    _request(state, "aborted", as_json)


from waveguard.cli import rollout_report as _rollout_report  # noqa: E402,F401  (registers `rollout report`)
