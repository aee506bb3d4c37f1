"""Scenario files: the fleet, the change, its rollout schedule and the switches of a simulation.

A scenario YAML looks like::

    name: my-rollout
    duration_s: 3600          # simulated seconds
    step_s: 1                 # time step, 0 < step_s <= 1, at most 604,800 steps
    seed: 7                   # default seed (--seed overrides)
    fleet: default            # "default", a fleet YAML path, or {clusters: [...]} inline
    change:                   # or just ``change: PATH`` (rendered manifests)
      manifests: [examples/incident-telemetry]   # rendered manifests (analysed), or
      # profile: {client: ..., agent: ..., per_node: true, classes: [...]}   # inline profiles
      backoff: true           # the change's clients back off on failure (client-go default)
      initial_share: 0        # share of every cluster already running the change at t=0
    schedule:                 # when the change reaches which cluster
      - cluster: staging
        at_s: 0
      - selector: {env: prod}     # or clusters: [a, b]
        at_s: 600
        stagger_s: 75             # each next cluster this much later
    dns: {mode: informer}     # or api_per_answer: every answer needs the control plane
    baseline: {backoff: true} # kubelets, controllers, CoreDNS back off on failure
    events:
      - at_s: 900
        restart_apiserver: {cluster: prod-24-7500, replica: 0}
      - at_s: 0               # a replica's node or zone out for 30 minutes
        apiserver_down: {cluster: prod-24-7500, replica: 1, duration_s: 1800}
      - at_s: 2400            # the change's rollback, sent as breakglass | controller | user
        rollback: {cluster: prod-24-7500, as: breakglass}   # optional requests: [delete daemonsets, ...]
    apf: {levels: [...], flow_schemas: [...]}   # optional custom APF configuration

Every key is checked (unknown keys, negative sizes, schedules naming missing clusters, a zero
time step): bad input raises :class:`~waveguard.model.errors.InputError` naming the file,
line and key.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig
from waveguard.model.errors import InputError, key_error
from waveguard.model.strict_types import Count
from waveguard.model.fleet import Fleet, default_fleet, load_fleet
from waveguard.model.requests import RequestProfile
from waveguard.model.yamlio import line_of as _line_of
from waveguard.model.yamlio import read_yaml_file
from waveguard.model.durations import Seconds
from waveguard.sim.clients import CrashLoop
from waveguard.sim.options import SimulatorOptions, simulator_clients
from waveguard.sim.scenario_spec import (
    STRICT, APFSpec, ApiserverDown, BaselineSpec, ChangeSpec, CrashLoopSpec, DNSSpec, EventSpec, InlineFleet,
    RestartApiserver, RollbackEvent, ScheduleStep,
)

__all__ = [
    "APFSpec", "ApiserverDown", "BaselineSpec", "ChangeSpec", "DNSSpec", "EventSpec", "InlineFleet", "RestartApiserver",
    "RollbackEvent", "Scenario", "ScheduleStep", "builtin_names", "builtin_path", "find_project_path", "load_builtin",
    "load_scenario", "scenario_from_data",
]


#: Most steps a scenario may take: a week of one-second steps (the bound of ``duration_s``).
MAX_STEPS = 7 * 86400


class Scenario(BaseModel):
    """A validated scenario. ``fleet_model`` and ``profiles`` are resolved by
    :func:`load_scenario` (the fleet and the change's request profiles)."""

    model_config = STRICT
    name: str = Field(min_length=1)
    description: str = ""
    #: At most a week: a sanity bound (the simulator steps every step_s and records as it goes;
    #: a typo such as "1y" would run for hours or exhaust memory), not a modelling limit.
    duration_s: Seconds = Field(gt=0, le=7 * 86400.0)
    step_s: Seconds = Field(default=1.0, gt=0, le=1.0)
    seed: Count = Field(0, ge=0)  # numpy's SeedSequence takes non-negative integers only
    fleet: Literal["default"] | str | InlineFleet = "default"
    change: ChangeSpec | None = None
    schedule: list[ScheduleStep] = Field(default_factory=list)
    dns: DNSSpec = Field(default_factory=DNSSpec)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    events: list[EventSpec] = Field(default_factory=list)
    apf: APFSpec | None = None
    crashloop: CrashLoopSpec | None = None  # issue 12: a crash-looping DaemonSet's Events

    @field_validator("step_s")
    @classmethod
    def _steps_bounded(cls, step_s: float, info: ValidationInfo) -> float:
        # The same sanity bound as duration_s's, in steps: the recorder keeps a frame per step
        # (step_s: 1e-7 over 30 min asked numpy for TiB and raised MemoryError).
        duration = info.data.get("duration_s")
        if duration is not None and duration / step_s > MAX_STEPS:
            raise ValueError(f"{duration:g} s in steps of {step_s:g} s is {duration / step_s:,.0f} steps, more than "
                             f"{MAX_STEPS:,} (a week of one-second steps); use a larger step_s or a shorter duration_s")
        return step_s

    @model_validator(mode="before")
    @classmethod
    def _change_as_path(cls, data: Any) -> Any:
        # ``change: PATH`` is short for ``change: {manifests: [PATH]}``.
        if isinstance(data, dict) and isinstance(data.get("change"), (str, list)):
            data = {**data, "change": {"manifests": data["change"]}}
        return data

    # Resolved by load_scenario / resolve(): not part of the file format.
    _fleet: Fleet | None = None
    _profiles: list[RequestProfile] | None = None
    _source: str = "<scenario>"

    @property
    def fleet_model(self) -> Fleet:
        if self._fleet is None:
            raise RuntimeError("scenario not resolved: use load_scenario()")
        return self._fleet

    @property
    def profiles(self) -> list[RequestProfile]:
        return list(self._profiles or [])

    @property
    def apf_config(self) -> APFConfig:
        return self.apf.config() if self.apf else APFConfig()

    @property
    def source(self) -> str:
        return self._source

    def rollback_identities(self) -> list[str]:
        """Identities the scenario's rollback events send as (the simulator compiles their flows)."""
        return sorted({ev.rollback.identity for ev in self.events if ev.rollback is not None})

    @property
    def n_steps(self) -> int:
        """Steps of ``step_s`` that cover ``duration_s``."""
        return int(math.ceil(self.duration_s / self.step_s - 1e-9))

    def simulator_options(self, seed: int | None = None, *, apf: APFConfig | None = None,
                          rollback_as: Sequence[str] = (), noise_keys: Sequence[int] | None = None,
                          with_change_state: bool = True) -> SimulatorOptions:
        """The one mapping from a scenario to simulator switches: its seed (``seed`` overrides),
        step, APF objects (``apf`` replaces them), DNS design, client back-off, the change's
        initial share, its run length (``expected_steps``) and the rollback identities of its
        events plus ``rollback_as``. ``with_change_state=False``: the change starts nowhere and
        no rollback flows are compiled (a rollout engine drives the change instead)."""
        change = self.change
        rollback = sorted({*self.rollback_identities(), *rollback_as}) if with_change_state else list(rollback_as)
        return SimulatorOptions(
            apf=self.apf_config if apf is None else apf, seed=self.seed if seed is None else seed,
            step_s=self.step_s, dns_mode=self.dns.mode, baseline_backoff=self.baseline.backoff,
            change_backoff=change.backoff if change else True,
            initial_share=change.initial_share if change and with_change_state else 0.0,
            expected_steps=self.n_steps, noise_keys=None if noise_keys is None else tuple(noise_keys),
            rollback_as=tuple(rollback), change_retry=change.retry if change else "client-go",
            crashloop=None if self.crashloop is None else CrashLoop(
                at_s=float(self.crashloop.at_s), share=float(self.crashloop.share),
                clusters=None if self.crashloop.clusters is None else tuple(self.crashloop.clusters)))

    def start_times(self) -> dict[str, tuple[float, float, float]]:
        """Cluster → (start second, target share, pods per second) from the schedule; later
        steps override earlier ones for the same cluster."""
        fleet = self.fleet_model
        out: dict[str, tuple[float, float, float]] = {}
        for step in self.schedule:
            names = _step_clusters(step, fleet)
            for i, name in enumerate(names):
                out[name] = (step.at_s + i * step.stagger_s, step.share,
                             step.pods_per_s or C.DAEMONSET_PODS_CREATED_PER_S)
        return out


def _step_clusters(step: ScheduleStep, fleet: Fleet) -> list[str]:
    if step.cluster is not None:
        return [step.cluster]
    if step.clusters is not None:
        return list(step.clusters)
    sel = step.selector or {}
    return [c.name for c in fleet.clusters if all(c.labels.get(k) == v for k, v in sel.items())]


# --- Loading -------------------------------------------------------------------------------

BUILTIN_PACKAGE = "waveguard"
BUILTIN_DIR = "data/scenarios"


def builtin_names() -> list[str]:
    """Names of the shipped scenarios (``waveguard simulate --list``)."""
    folder = resources.files(BUILTIN_PACKAGE).joinpath(*BUILTIN_DIR.split("/"))
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_path(name: str) -> Path:
    """Path of a shipped scenario. Raises InputError for an unknown name."""
    if name not in builtin_names():
        raise InputError(f"--builtin {name}", "no built-in scenario of that name",
                         hint="waveguard simulate --list shows them")
    return Path(str(resources.files(BUILTIN_PACKAGE).joinpath(*BUILTIN_DIR.split("/"), f"{name}.yaml")))


def load_builtin(name: str) -> Scenario:
    return load_scenario(builtin_path(name))


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario YAML (fleet, change profiles).

    Raises :class:`InputError` (file, line, key) on any problem; nothing is half-loaded."""
    path = Path(path)
    data, node, _ = read_yaml_file(path, "scenario")
    if not isinstance(data, dict):
        raise InputError(str(path), "a scenario is a mapping (name, duration_s, fleet, change, schedule ...)",
                         line=1, hint="see docs/simulator.md")
    return scenario_from_data(data, source=str(path), node=node, base_dir=path.parent)


def scenario_from_data(data: dict, *, source: str = "<scenario>", node: yaml.Node | None = None,
                       base_dir: Path | None = None) -> Scenario:
    """Validate and resolve a scenario given as a mapping (as read from YAML)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        # Of a union's alternatives, report the one that got furthest into the input; an unknown
        # key before the "missing" its right spelling leaves (duraton_s: not "duration_s: required").
        err = max(exc.errors(), key=lambda e: (len([p for p in e["loc"] if not _is_union_tag(p)]),
                                               e["type"] == "extra_forbidden"))
        loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        raise key_error(source, {**err, "loc": loc}, line=_line_of(node, loc), known=Scenario.model_fields) from exc
    scenario._source = source
    base_dir = base_dir or Path.cwd()
    scenario._fleet = _resolve_fleet(scenario, source, node, base_dir)
    _check_cluster_names(scenario, source, node)
    _check_times(scenario, source, node)
    scenario._profiles = _resolve_profiles(scenario, source, node, base_dir)
    _check_apf(scenario, source, node)
    return scenario


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the union member's name to error locations (e.g. "InlineFleet", "str",
    # "list[_StrictProfile]", "literal['default']").
    return isinstance(part, str) and (part[:1].isupper() or part[:1] == "_" or part == "str"
                                      or part.startswith(("list[", "literal[")))


def _resolve_fleet(scenario: Scenario, source: str, node: yaml.Node | None, base_dir: Path) -> Fleet:
    if isinstance(scenario.fleet, InlineFleet):
        try:
            return Fleet(clusters=scenario.fleet.clusters)
        except ValidationError as exc:
            raise InputError(source, f"fleet.clusters: {exc.errors()[0]['msg']}",
                             line=_line_of(node, ("fleet", "clusters")), hint="cluster names must be unique") from exc
    if scenario.fleet == "default":
        return default_fleet()
    path = _find_path(scenario.fleet, base_dir)
    if path is None:
        raise InputError(source, f"fleet: no fleet file {scenario.fleet!r}", line=_line_of(node, ("fleet",)),
                         hint="give 'default', a fleet YAML path, or {clusters: [...]}")
    return load_fleet(path)


def _check_cluster_names(scenario: Scenario, source: str, node: yaml.Node | None) -> None:
    names = {c.name for c in scenario.fleet_model.clusters}
    for i, step in enumerate(scenario.schedule):
        wanted = [step.cluster] if step.cluster else step.clusters or []
        key = "cluster" if step.cluster else "clusters"
        for j, name in enumerate(wanted):
            if name not in names:
                loc = ("schedule", i, key) if step.cluster else ("schedule", i, key, j)
                raise InputError(source, f"schedule.{i}.{key}: no cluster named {name!r} in the fleet",
                                 line=_line_of(node, loc), hint="name a cluster of the scenario's fleet")
        if step.selector is not None and not _step_clusters(step, scenario.fleet_model):
            raise InputError(source, f"schedule.{i}.selector: matches no cluster of the fleet",
                             line=_line_of(node, ("schedule", i, "selector")), hint="check the labels")
    for i, ev in enumerate(scenario.events):
        key, target = ev.action
        if target.cluster not in names:
            raise InputError(source, f"events.{i}.{key}.cluster: no cluster named {target.cluster!r}",
                             line=_line_of(node, ("events", i, key, "cluster")),
                             hint="name a cluster of the scenario's fleet")
        if isinstance(target, RollbackEvent):
            continue
        replicas = scenario.fleet_model.cluster(target.cluster).replicas
        if target.replica >= replicas:
            raise InputError(source, f"events.{i}.{key}.replica: {target.cluster} has {replicas} "
                             f"apiserver replicas (0..{replicas - 1})",
                             line=_line_of(node, ("events", i, key, "replica")),
                             hint="pick an existing replica")
    for j, name in enumerate(scenario.crashloop.clusters or [] if scenario.crashloop else []):
        if name not in names:
            raise InputError(source, f"crashloop.clusters.{j}: no cluster named {name!r} in the fleet",
                             line=_line_of(node, ("crashloop", "clusters", j)), hint="name a cluster of the scenario's fleet")
    if scenario.schedule and scenario.change is None:
        raise InputError(source, "schedule: a schedule needs a change to roll out",
                         line=_line_of(node, ("schedule",)), hint="add change: {manifests: ...} or remove schedule")


def _check_times(scenario: Scenario, source: str, node: yaml.Node | None) -> None:
    """Every schedule step, event and the crash loop starts within the run: one after
    ``duration_s`` never happens, and the run would read as if it had been survived."""
    starts: list[tuple[tuple[str | int, ...], float]] = [
        (("schedule", i, "at_s"), step.at_s) for i, step in enumerate(scenario.schedule)]
    starts += [(("events", i, "at_s"), ev.at_s) for i, ev in enumerate(scenario.events)]
    if scenario.crashloop is not None:
        starts.append((("crashloop", "at_s"), scenario.crashloop.at_s))
    for loc, at_s in starts:
        if at_s > scenario.duration_s:
            raise InputError(source, f"{'.'.join(map(str, loc))}: {at_s:g} s is after the end of the run "
                             f"(duration_s: {scenario.duration_s:g}), so it would never happen",
                             line=_line_of(node, loc), hint="move it within duration_s or lengthen the run")


def _resolve_profiles(scenario: Scenario, source: str, node: yaml.Node | None,
                      base_dir: Path) -> list[RequestProfile]:
    change = scenario.change
    if change is None:
        return []
    if change.profile is not None:
        return change.inline_profiles()
    paths = []
    for i, raw in enumerate(change.manifests or []):
        found = _find_path(raw, base_dir)
        if found is None:
            raise InputError(source, f"change.manifests.{i}: no file or folder {raw!r}",
                             line=_line_of(node, ("change", "manifests", i)),
                             hint="paths are relative to the scenario file, the working folder or the project")
        paths.append(str(found))
    from waveguard.analysis import build_profiles, load_change

    profiles = build_profiles(load_change(paths))
    if not profiles:
        raise InputError(source, "change.manifests: no workload in them sends requests to kube-apiserver",
                         line=_line_of(node, ("change", "manifests")), hint="nothing to simulate")
    return profiles


def _check_apf(scenario: Scenario, source: str, node: yaml.Node | None) -> None:
    if scenario.apf is None:
        return
    cfg = scenario.apf_config
    names = {l.name for l in cfg.levels}
    for i, fs in enumerate(cfg.flow_schemas):
        if fs.priority_level not in names:
            raise InputError(source, f"apf.flow_schemas.{i}.priority_level: no level named {fs.priority_level!r}",
                             line=_line_of(node, ("apf", "flow_schemas", i, "priority_level")),
                             hint="declare the level under apf.levels")
    if not any(not l.exempt and l.shares > 0 for l in cfg.levels):
        raise InputError(source, "apf.levels: at least one limited level with shares > 0 is needed",
                         line=_line_of(node, ("apf", "levels")), hint="add a level")
    options = scenario.simulator_options()
    for client in simulator_clients(scenario.profiles, dns_mode=options.dns_mode, rollback_as=options.rollback_as):
        for rc in client.profile.classes:
            try:
                cfg.classify(client.subject, rc.verb, rc.resource)
            except LookupError:
                raise InputError(source, f"apf.flow_schemas: no FlowSchema matches {client.subject.user} "
                                 f"({rc.verb} {rc.resource})", line=_line_of(node, ("apf", "flow_schemas")),
                                 hint="add a catch-all FlowSchema (users: ['*'])") from None


def find_project_path(raw: str) -> Path | None:
    """A path relative to the working folder or the project root (see :func:`_find_path`)."""
    return _find_path(raw, Path.cwd())


def _find_path(raw: str, base_dir: Path) -> Path | None:
    """A path as written, relative to the scenario's folder, the working folder, or the
    package's data folder (``examples/...`` of the built-in scenarios). None for an empty path
    (it would be the scenario's own folder, read whole)."""
    if not raw.strip():
        return None
    candidates = [Path(raw)] if Path(raw).is_absolute() else [base_dir / raw, Path.cwd() / raw]
    # The shipped examples are package data (src/waveguard/data/examples; the repository's
    # examples/ links there), so the built-in scenarios work from any install.
    candidates.append(Path(__file__).resolve().parents[1] / "data" / raw)
    return next((c for c in candidates if c.exists()), None)
