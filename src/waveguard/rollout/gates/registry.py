"""The gate registry: every gate is defined once, in its own module, by one decorator.

::

    @signal_gate("apiserver_p99_latency", reads="apiserver_request_duration_seconds p99 ...",
                 unit="seconds", default_threshold=1.0, source="sig-scalability SLO ... (domain.md §4)",
                 control_plane=True, default_on=True, reads_apiserver=True)
    def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult: ...

The plan model derives from here the gate kinds a plan may name (``GATE_KINDS``), the gates the
planner puts on every plan (:func:`default_gate_kinds`) and the control-plane set plan finding
WG203 asks for (:func:`control_plane_gate_kinds`); the engine evaluates through
:func:`evaluate` / :func:`evaluate_projection`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Protocol

from waveguard.model.readings import APISERVER_UP, Reading
from waveguard.rollout.gates.base import GateResult, Signals, read_figure

if TYPE_CHECKING:
    from waveguard.model.fleet import Cluster
    from waveguard.model.requests import RequestProfile

#: Reads one cluster's :class:`Signals` against ``limit``: (signals, cluster, limit) → result.
SignalCheck = Callable[[Signals, str, float], GateResult]
#: Costs request profiles on the clusters of the next wave before it is applied:
#: (profiles, clusters, cluster → node share, limit) → one result per cluster.
ProjectionCheck = Callable[["list[RequestProfile]", "list[Cluster]", "dict[str, float]", float], "list[GateResult]"]


class _Spec(Protocol):
    """What evaluation reads of a plan's gate (``waveguard.rollout.plan.GateSpec``)."""

    @property
    def kind(self) -> str: ...

    @property
    def limit(self) -> float: ...


@dataclass(frozen=True)
class Gate:
    """One gate, as registered.

    ``name``: the ``kind`` a plan names it by; ``reads``: the figure it reads (metric names as
    the components expose them); ``unit``: of the figure and the threshold; ``default_threshold``:
    used when a plan gives none; ``source``: where that threshold comes from (an SLO, domain.md,
    a tool's practice, or "policy" and why); ``control_plane``: it reads the control plane (a
    plan needs one such gate, WG203); ``default_on``: the planner puts it on every plan;
    ``reads_apiserver``: with no apiserver replica up (``up{job="apiserver"} == 0``) it fails
    without a figure (value None: nothing was read); ``reading``: the figure as data (:class:`~waveguard.model.readings.Reading`),
    which Prometheus reads as PromQL and ``waveguard export`` writes out (None: no one PromQL,
    e.g. DNS probes); ``most``: the largest figure it can read (a share of lookups or requests:
    1; None: unbounded), so a threshold at or above it could never fail. Exactly one of ``check`` (per cluster, from signals, during the bake)
    and ``project`` (before a wave is applied, from request profiles) is set.
    """

    name: str
    reads: str
    unit: str
    default_threshold: float
    source: str
    control_plane: bool = False
    default_on: bool = False
    reads_apiserver: bool = False
    check: SignalCheck | None = None
    project: ProjectionCheck | None = None
    reading: Reading | None = None
    most: float | None = None

    @property
    def before_apply(self) -> bool:
        """Evaluated before a wave is applied (a projection), not on signals during the bake."""
        return self.project is not None


#: The detail of an apiserver gate's result while no apiserver replica is up: the gate fails (a
#: down control plane is the failure the gates exist for: the rollout halts at once, as
#: docs/rollout.md says) and no figure was read, so its value is None — never a 0.0 that reads as
#: a real zero. State files written before this logged a value of 0.0 there, never read; reports
#: draw both as a gap.
APISERVER_DOWN_DETAIL = "no kube-apiserver replica is up (up == 0)"

#: Every registered gate by name, in registration order (the order ``gates/__init__`` imports
#: the gate modules: plans, the planner and error messages list gates in it).
GATES: dict[str, Gate] = {}


def register(gate: Gate) -> Gate:
    """Add ``gate`` to :data:`GATES`. Raises ValueError for a name already registered or a gate
    without exactly one evaluate function (``check`` or ``project``)."""
    if gate.name in GATES:
        raise ValueError(f"gate {gate.name!r} is registered twice")
    if (gate.check is None) == (gate.project is None):
        raise ValueError(f"gate {gate.name!r} needs exactly one of check (signals) and project (profiles)")
    GATES[gate.name] = gate
    return gate


def signal_gate(name: str, *, reads: str, unit: str, default_threshold: float, source: str,
                control_plane: bool = False, default_on: bool = False,
                reads_apiserver: bool = False, reading: Reading | None = None, most: float | None = None
                ) -> Callable[[SignalCheck], SignalCheck]:
    """Decorator: register the decorated ``(signals, cluster, limit) -> GateResult`` as gate
    ``name`` (the fields are :class:`Gate`'s). Returns the function unchanged."""
    def decorate(check: SignalCheck) -> SignalCheck:
        register(Gate(name, reads, unit, default_threshold, source, control_plane, default_on, reads_apiserver,
                      check=check, reading=reading, most=most))
        return check
    return decorate


def projection_gate(name: str, *, reads: str, unit: str, default_threshold: float, source: str,
                    control_plane: bool = False, default_on: bool = False) -> Callable[[ProjectionCheck],
                                                                                     ProjectionCheck]:
    """Decorator: register the decorated ``(profiles, clusters, shares, limit) -> [GateResult]``
    as gate ``name``, evaluated before each wave. Returns the function unchanged."""
    def decorate(project: ProjectionCheck) -> ProjectionCheck:
        register(Gate(name, reads, unit, default_threshold, source, control_plane, default_on, project=project))
        return project
    return decorate


def default_gate_kinds() -> tuple[str, ...]:
    """The gates the planner puts on every plan, in registration order."""
    return tuple(name for name, gate in GATES.items() if gate.default_on)


def control_plane_gate_kinds() -> frozenset[str]:
    """The gates that read the control plane (a plan without one gets WG203)."""
    return frozenset(name for name, gate in GATES.items() if gate.control_plane)


def evaluate(spec: _Spec, signals: Signals, cluster: str) -> GateResult:
    """Evaluate gate ``spec.kind`` at ``spec.limit`` on one cluster. A no-data result says why
    when the source can (``signals.explain(cluster)``: Prometheus unreachable, stale...). With no
    apiserver replica up an apiserver gate fails with no value (:data:`APISERVER_DOWN_DETAIL`). Raises KeyError for an
    unregistered kind, ValueError for a gate evaluated before apply (the projection:
    :func:`evaluate_projection`)."""
    gate, limit = GATES[spec.kind], spec.limit
    if gate.check is None:
        raise ValueError(f"gate {gate.name!r} is not evaluated per cluster")
    if gate.reads_apiserver and read_figure(signals, APISERVER_UP, cluster) == 0:
        return GateResult.of(gate.name, cluster, "fail", None, limit, APISERVER_DOWN_DETAIL)
    result = gate.check(signals, cluster, limit)
    if result.status == "no-data":
        why = signals.explain(cluster)
        if why:
            result = replace(result, value=None, detail=f"{result.detail}: {why}")
    return result


def evaluate_projection(spec: _Spec, profiles: list[RequestProfile], clusters: list[Cluster],
                        shares: dict[str, float]) -> list[GateResult]:
    """Evaluate the before-apply gate ``spec.kind`` (the projection) at ``spec.limit`` on the
    ``clusters`` of the next wave, each at its node share in ``shares`` (missing: 0). Raises
    ValueError for a gate read from signals."""
    gate = GATES[spec.kind]
    if gate.project is None:
        raise ValueError(f"gate {gate.name!r} is evaluated on signals, not projected")
    return gate.project(profiles, clusters, shares, spec.limit)
