"""The plan file: waves over a fleet, bake times, gates, parallelism, rollback policy.

A plan is YAML (``waveguard plan`` writes one; users write or edit them)::

    change: examples/incident-telemetry
    waves:
      - name: staging
        clusters: {labels: {env: staging}}
        node_share: 1.0
        bake_s: 1260
      - name: canary
        clusters: {labels: {env: prod}}
        node_share: 0.01
        bake_s: 1260
    gates:
      - {kind: apiserver_p99_latency, threshold: 1.0}
      - {kind: projection, threshold: 0.5}
    gate_interval_s: 30
    max_parallel_clusters: 25
    rollback: automatic

Gate kinds are the gates of the registry (``waveguard.rollout.gates``): a gate registered there
is a kind a plan may name, with its default threshold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from waveguard.model.apiversion import strip_api_header
from waveguard.model.errors import InputError, first_error, key_error
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.strict_types import Count, Number
from waveguard.model.yamlio import line_of, read_yaml_file
from waveguard.model.durations import Seconds
from waveguard.rollout.gates.registry import GATES

#: Gate kinds by name → :class:`~waveguard.rollout.gates.registry.Gate` (what it reads, unit,
#: default threshold and its source): the registry itself, so a gate registered later is a kind too.
GATE_KINDS = GATES



#: Shortest gate interval in a plan file, seconds: under 100 ms even a Prometheus on the same host
#: rarely answers a query (the lower bound of --query-timeout, cli.common.QUERY_TIMEOUT). The
#: --gate-interval option asks for 1 s (gates read per-second rates); sub-second intervals are for
#: tests against real clusters, whose clock is the wall clock.
MIN_GATE_INTERVAL_S = 0.1
#: Longest bake a plan may ask for, seconds: a sanity bound (one week), not advice — longer ones
#: are typing mistakes ("1y") that would hold the rollout in its first wave.
MAX_BAKE_S = 7 * 86400.0

class GateSpec(BaseModel):
    """One gate of a plan: a registered gate ``kind``, its ``threshold`` (in the gate's unit;
    None: the gate's default) and ``failures_to_halt``."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    #: None: the gate's default threshold. Finite and ≥ 0: every gate reads a count, rate, ratio,
    #: seconds or bytes, and compares ``value > threshold`` — NaN would never fail (the gate
    #: would pass whatever it reads) and a negative one would always fail.
    threshold: Annotated[Number, Field(allow_inf_nan=False), Field(ge=0)] | None = None
    #: Failed evaluations of this gate on one cluster within a wave before the rollout halts
    #: (Flagger's ``analysis.threshold``). 1: the first failure halts.
    failures_to_halt: Count = Field(default=1, ge=1)

    @field_validator("kind", mode="before")
    @classmethod
    def _registered(cls, kind: Any) -> Any:
        if not (isinstance(kind, str) and kind in GATE_KINDS):
            raise PydanticCustomError("unknown_gate", "unknown gate {kind}; known: {known}",
                                      {"kind": repr(kind), "known": ", ".join(GATE_KINDS)})
        return kind

    @model_validator(mode="after")
    def _threshold_can_fail(self) -> "GateSpec":
        """Raises ValueError for a threshold a share gate's figure can never exceed (``5`` meant
        as 5 %): the gate would pass whatever it reads."""
        most = GATE_KINDS[self.kind].most
        if self.threshold is not None and most is not None and self.threshold >= most:
            raise ValueError(f"threshold {self.threshold:g}: {self.kind} reads a share (0 to {most:g}), which never "
                             f"exceeds it, so the gate could never fail; give a fraction ({self.threshold:g} % is "
                             f"{self.threshold / 100:g})")
        return self

    @property
    def limit(self) -> float:
        """The threshold evaluated against: the plan's, else the gate's default."""
        return GATE_KINDS[self.kind].default_threshold if self.threshold is None else self.threshold


class ClusterSelector(BaseModel):
    """Which clusters a wave touches: by ``names``, ``labels`` (all must match), and node range."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    min_nodes: Count = Field(default=0, ge=0)
    max_nodes: Count | None = Field(default=None, ge=0)

    def matches(self, cluster: Cluster) -> bool:
        if self.names and cluster.name not in self.names:
            return False
        if any(cluster.labels.get(k) != v for k, v in self.labels.items()):
            return False
        if cluster.nodes < self.min_nodes:
            return False
        return self.max_nodes is None or cluster.nodes <= self.max_nodes


class Wave(BaseModel):
    """One wave: clusters, the share of each cluster's nodes that runs the change afterwards
    (DaemonSets; 1.0 for other workloads), and the bake time in seconds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    clusters: ClusterSelector
    node_share: Number = Field(default=1.0, gt=0, le=1)
    bake_s: Seconds

    @field_validator("bake_s")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("bake time must be > 0 seconds")
        if v > MAX_BAKE_S:
            raise ValueError(f"bake time {v:g} s is over a week ({MAX_BAKE_S:g} s), the longest a plan may ask for")
        return v


class Plan(BaseModel):
    """A rollout plan. Times in seconds."""

    model_config = ConfigDict(extra="forbid")

    change: str
    waves: list[Wave] = Field(min_length=1)
    gates: list[GateSpec] = Field(default_factory=list)
    gate_interval_s: Seconds = Field(default=30.0, ge=MIN_GATE_INTERVAL_S)
    max_parallel_clusters: Count = Field(default=25, ge=1)
    rollback: Literal["automatic", "manual"] = "automatic"
    #: Seconds a gate may stay without data on a cluster before the rollout halts and rolls back
    #: (the engine pauses at the first no-data, keeps evaluating, and resumes when data returns).
    #: Default 600 s: ten minutes, the ``for:`` of kube-prometheus' TargetDown alert, so the
    #: monitoring has paged someone by then; past it the change has run unobserved too long.
    no_data_timeout_s: Seconds = Field(default=600.0, gt=0)

    @field_validator("change")
    @classmethod
    def _change_named(cls, change: str) -> str:
        """Raises ValueError for an empty path: it would be read as the current folder, whole."""
        if not change.strip():
            raise ValueError("the change's path is empty: give the file or folder of its rendered manifests")
        return change

    @field_validator("gates")
    @classmethod
    def _one_setting_per_gate(cls, gates: list[GateSpec]) -> list[GateSpec]:
        """Raises ValueError for a gate kind listed twice with different settings: the engine
        keeps one failure count per gate and cluster, the projection reads the first entry's
        threshold and the halt the last one's ``failures_to_halt`` — each entry would silently
        weaken the other (the same gate twice, alike, is one gate)."""
        for i, gate in enumerate(gates):
            first = next((j for j, g in enumerate(gates[:i]) if g.kind == gate.kind and g != gate), None)
            if first is not None:
                raise ValueError(f"gates.{i} names gate {gate.kind} again, with other settings than gates.{first}: "
                                 "keep one entry per gate")
        return gates

    @model_validator(mode="after")
    def _gates_evaluated_before_the_no_data_timeout(self) -> "Plan":
        if self.gate_interval_s > self.no_data_timeout_s:
            raise ValueError(f"gate_interval_s {self.gate_interval_s:g} is over no_data_timeout_s "
                             f"{self.no_data_timeout_s:g}: a gate without data must be evaluated again before it")
        return self

    @model_validator(mode="after")
    def _failures_that_can_accrue(self) -> "Plan":
        """Raises ValidationError at ``gates.N.failures_to_halt`` for a count no wave can reach, so
        that the gate could never halt: the projection is evaluated once before each wave's apply
        (it needs 1); the other gates every ``gate_interval_s`` of a bake, ⌈bake_s / gate_interval_s⌉
        times."""
        wave = min(self.waves, key=lambda w: w.bake_s)
        times = math.ceil(wave.bake_s / self.gate_interval_s - 1e-9)
        for i, gate in enumerate(self.gates):
            if gate.kind == "projection" and gate.failures_to_halt != 1:
                why = ("the projection is evaluated once, before each wave is applied, so {n} failures never "
                       "accrue: give 1")
            elif gate.kind != "projection" and gate.failures_to_halt > times:
                why = (f"{{n}} failures never accrue in wave {wave.name!r}, which evaluates the gate {times} times "
                       f"(bake_s {wave.bake_s:g} / gate_interval_s {self.gate_interval_s:g}): give at most {times}")
            else:
                continue
            error = PydanticCustomError("failures_never_accrue", why, {"n": gate.failures_to_halt})
            raise ValidationError.from_exception_data("Plan", [InitErrorDetails(
                type=error, loc=("gates", i, "failures_to_halt"), input=gate.failures_to_halt)])
        return self

    @model_validator(mode="after")
    def _unique_wave_names(self) -> "Plan":
        names = [w.name for w in self.waves]
        if len(set(names)) != len(names):
            raise ValueError("wave names must be unique")
        return self

    def clusters_of(self, wave: Wave, fleet: Fleet) -> list[Cluster]:
        return [c for c in fleet.clusters if wave.clusters.matches(c)]


#: Where a person reads the plan format (named in the errors of a bad plan file).
PLAN_FORMAT_HINT = "the plan format: docs/rollout.md, its JSON Schema: waveguard schema plan"


def load_plan(path: str | Path, fleet: Fleet) -> Plan:
    """Read and check a plan file against ``fleet``. Raises InputError (file, key, line): an
    unknown gate kind names the registered ones."""
    path = Path(path)
    data, node, _ = read_yaml_file(path, "plan")
    if not isinstance(data, dict):  # pydantic's words: "a valid dictionary or instance of Plan"
        what = "an empty file" if data is None else f"a {'list' if isinstance(data, list) else 'single value'}"
        raise InputError(str(path), f"is {what}, not a plan (a mapping with change, waves and gates)", line=1,
                         hint="waveguard plan CHANGE --output-file plan.yaml writes one")
    try:
        plan = Plan.model_validate(strip_api_header(data, "Plan", str(path)))
    except ValidationError as exc:
        err = first_error(exc)
        raise key_error(str(path), err, line=line_of(node, err["loc"]), hint=PLAN_FORMAT_HINT,
                        known=Plan.model_fields) from exc
    plan = _with_change_found(plan, path)
    known = {c.name for c in fleet.clusters}
    for i, wave in enumerate(plan.waves):
        missing = [(j, n) for j, n in enumerate(wave.clusters.names) if n not in known]
        if missing:
            j, name = missing[0]  # the line of that name, not of the list's key
            raise InputError(str(path), f"waves.{i}.clusters.names.{j}: no cluster named {name!r} in the fleet",
                             line=line_of(node, ("waves", i, "clusters", "names", j)),
                             hint="fix the name or pass the right --fleet")
        if not plan.clusters_of(wave, fleet):
            raise InputError(str(path), f"waves.{i} ({wave.name}): selects no cluster of the fleet",
                             line=line_of(node, ("waves", i)), hint="check its labels/names/node range")
    return plan


def _with_change_found(plan: Plan, path: Path) -> Plan:
    """``plan`` whose relative ``change`` path is found from where the command runs or, failing
    that, from the plan file's folder (a plan written next to the manifests it names, used from
    elsewhere). A path found in neither is left as written: loading the change says so."""
    change = Path(plan.change)
    if change.is_absolute() or change.exists() or plan.change == "-":
        return plan
    beside = path.parent / change
    return plan.model_copy(update={"change": str(beside)}) if beside.exists() else plan


def load_plan_change(plan: Plan, plan_path: str | Path) -> Any:
    """The plan's change (:class:`waveguard.model.manifests.Change`), loaded. Raises InputError
    naming the plan file and its ``change`` key when the manifests are missing or bad."""
    from waveguard.analysis import load_change

    try:
        return load_change([plan.change])
    except InputError as exc:
        if exc.source != plan.change:
            raise
        where = f"{plan.change}:{exc.line}" if exc.line else plan.change
        missing = not Path(plan.change).exists()
        raise InputError(str(plan_path), f"change: {where}: {exc.message}",
                         hint="a relative path is read from the current folder, else beside the plan file" if missing
                         else exc.hint) from exc
