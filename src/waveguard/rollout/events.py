"""What the event log holds: event kinds, rollout and cluster statuses, one payload model per kind.

Kinds and statuses are :class:`enum.StrEnum`: their values are the strings the log, ``rollout
status -o json`` and the ``-o json`` streams carry, so state files and output are
unchanged. A payload is validated against its model when it is written
(:meth:`EventLog.append_many <waveguard.rollout.eventlog.EventLog.append_many>`) and stored as
given; :meth:`Event.payload` reads it back typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EventKind(StrEnum):
    """Event kinds, in the order a rollout meets them."""

    STARTED = "started"
    WAVE_STARTED = "wave_started"
    APPLY_STARTED = "apply_started"
    APPLIED = "applied"
    GATE = "gate"
    PAUSED = "paused"
    RESUMED = "resumed"
    APPROVED = "approved"
    WAVE_PASSED = "wave_passed"
    HALTED = "halted"
    ROLLBACK_STARTED = "rollback_started"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"
    ABORTED = "aborted"
    CHANGE_REPLACED = "change_replaced"
    #: A cluster whose rollback did not get through before its deadline (issue 14): the others
    #: went on; ``resume`` tries it again.
    ROLLBACK_PENDING = "rollback_pending"


class RolloutStatus(StrEnum):
    """Where a rollout stands. An abort is ``abort_requested``, then halted and rolled back."""

    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"


class ClusterStatus(StrEnum):
    """Where one cluster stands in the rollout."""

    APPLYING = "applying"
    BAKING = "baking"
    PASSED = "passed"
    HALTED = "halted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    #: Its rollback was refused or not answered: retried by the next ``resume``.
    ROLLBACK_PENDING = "rollback_pending"


class Payload(BaseModel):
    """Base of the per-kind payloads: unknown keys are an error when writing."""

    model_config = ConfigDict(extra="forbid")


class Started(Payload):
    """The rollout's inputs: plan and fleet (model dumps), the backend settings ``resume``
    rebuilds the same backend from (:class:`~waveguard.rollout.backend.BackendConfig` dump)
    and the change frozen at start (:class:`~waveguard.rollout.frozen.FrozenChange` dump:
    its manifests' content and hash; None in state files from before it was frozen)."""

    plan: dict[str, Any] | None = None
    fleet_model: dict[str, Any] | None = None
    backend: dict[str, Any] | None = None
    change: dict[str, Any] | None = None


class ChangeReplaced(Payload):
    """``resume --use-changed-manifests``: the manifests on disk replace the frozen ones from
    here on (a :class:`~waveguard.rollout.frozen.FrozenChange` dump)."""

    change: dict[str, Any]


class WaveStarted(Payload):
    name: str
    node_share: float
    bake_s: float


#: A share of a cluster's nodes, 0..1.
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class ApplyStarted(Payload):
    """``share`` of nodes (0..1) about to run the change; ``previous``: the objects the apply
    replaces (object ref → object, None when it did not exist), recorded by real clusters."""

    share: Share
    previous: dict[str, dict[str, Any] | None] | None = None


class Applied(Payload):
    share: Share


class Gate(Payload):
    """One gate result (:class:`~waveguard.rollout.gates.GateResult`), and whether it was read
    before the wave's apply (the projection)."""

    gate: str
    cluster: str
    status: Literal["pass", "fail", "no-data"]
    value: float | None
    threshold: float
    detail: str
    before_apply: bool = False


class Paused(Payload):
    """``no_data``: the engine paused because a gate had no data; it keeps evaluating, resumes
    by itself when data returns and halts past the plan's ``no_data_timeout_s``."""

    reason: str | None = None
    needs_approval: bool = False
    no_data: bool = False


class Halted(Payload):
    """Why the rollout stopped: an operator's abort (``reason`` only) or a gate's failure."""

    reason: str
    gate: str | None = None
    cluster_failed: str | None = None
    value: float | None = None
    threshold: float | None = None
    failed: list[dict[str, Any]] | None = None
    before_apply: bool | None = None


class WavePassed(Payload):
    name: str


class RollbackPending(Payload):
    """Why a cluster's rollback did not get through (the target's last error, after its retries,
    one line): it stays to be rolled back by the next ``resume``."""

    reason: str


class Empty(Payload):
    """Kinds that carry nothing: resumed, approved, rollback_started, rolled_back, completed,
    aborted."""


PAYLOADS: dict[EventKind, type[Payload]] = {
    EventKind.STARTED: Started, EventKind.WAVE_STARTED: WaveStarted, EventKind.APPLY_STARTED: ApplyStarted,
    EventKind.APPLIED: Applied, EventKind.GATE: Gate, EventKind.PAUSED: Paused, EventKind.RESUMED: Empty,
    EventKind.APPROVED: Empty, EventKind.WAVE_PASSED: WavePassed, EventKind.HALTED: Halted,
    EventKind.ROLLBACK_STARTED: Empty, EventKind.ROLLED_BACK: Empty, EventKind.COMPLETED: Empty,
    EventKind.ABORTED: Empty, EventKind.CHANGE_REPLACED: ChangeReplaced,
    EventKind.ROLLBACK_PENDING: RollbackPending,
}


def check_payload(kind: str, data: dict[str, Any]) -> EventKind:
    """The kind as an :class:`EventKind`, after validating ``data`` against its payload model.
    Raises ValueError for an unknown kind and pydantic's ValidationError for a bad payload."""
    try:
        typed = EventKind(kind)
    except ValueError:
        raise ValueError(f"unknown event kind {kind!r}") from None
    PAYLOADS[typed].model_validate(data)
    return typed


def stored_payload_problem(kind: EventKind, data: dict[str, Any]) -> str | None:
    """Why ``data``, read from a state file, is not a payload of ``kind`` as waveguard writes it
    (``"share: Input should be less than or equal to 1"``), or None. Keys this version does not
    know are ignored (a newer waveguard wrote them); the ``started`` event's plan, fleet and
    frozen change are read as ``resume`` reads them, so a damaged one is found by every reader
    (status, report, dashboard), not as a traceback in ``resume``."""
    model = PAYLOADS[kind]
    checks: list[tuple[type[BaseModel], Any, str]] = [
        (model, {k: v for k, v in data.items() if k in model.model_fields}, "")]
    if kind == EventKind.STARTED and isinstance(data, dict):
        from waveguard.model.fleet import Fleet
        from waveguard.rollout.frozen import FrozenChange
        from waveguard.rollout.plan.schema import Plan

        checks += [(m, data[key], f"{key}.") for m, key in ((Plan, "plan"), (Fleet, "fleet_model"),
                                                             (FrozenChange, "change")) if data.get(key) is not None]
    for m, value, prefix in checks:
        try:
            m.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = prefix + ".".join(str(p) for p in err["loc"])
            return f"{where.rstrip('.') or 'payload'}: {err['msg']}"
    return None


@dataclass(frozen=True)
class Event:
    """One logged event: ``seq`` (1, 2, …), ``t`` (rollout seconds), ``kind``, the wave index and
    cluster it concerns (None: the rollout as a whole), and its payload as stored (JSON)."""

    seq: int
    t: float
    kind: EventKind
    wave: int | None
    cluster: str | None
    data: dict[str, Any]
    #: Wall-clock time it was written (Unix seconds); None when unknown (0 in the log).
    wall: float | None = None

    @property
    def time(self) -> str | None:
        """The wall-clock time it was written, RFC 3339 in UTC (None when unknown)."""
        if not self.wall:
            return None
        from datetime import datetime, timezone

        return datetime.fromtimestamp(self.wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def payload(self) -> Payload:
        """The payload, typed (its kind's model). Raises ValidationError for a bad payload."""
        return PAYLOADS[self.kind].model_validate(self.data)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "t": round(self.t, 3), "kind": self.kind, "wave": self.wave,
                "cluster": self.cluster, **self.data}
