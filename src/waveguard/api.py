"""waveguard's Python API: what the CLI does, as functions (docs/api.md shows each in use).

* :func:`analyse` — rendered manifests → findings, per-cluster projections and each agent's
  request profile (``waveguard analyse``); :func:`analysis_document` its ``-o json`` document.
* :func:`project` — one request profile on one cluster → :class:`ClusterLoad` (seat-seconds,
  bytes, utilisations as shares of 1, and a verdict).
* :class:`FleetSimulator` — step a fleet second by second (the ``sim`` extra: numpy).
* :func:`propose_plan` / :func:`load_plan` / :func:`plan_findings` — rollout plans.
* :func:`build_backend` — the simulated fleet, or real clusters and Prometheus, as a rollout
  backend (actuator, clock and signals).
* :func:`gates` / :func:`gate` / :func:`evaluate_gate` — the gate registry: every gate's
  name, what it reads, threshold and source, and its evaluation on one cluster.

Errors: :class:`~waveguard.model.errors.InputError` for bad input (its ``str`` is the CLI's one
line); :class:`~waveguard.model.extras.MissingExtraError` (an InputError) when an optional
library is not installed, naming the extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from waveguard.analysis import AnalysisResult, build_profiles, load_change
from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.cost import ClusterLoad
from waveguard.model.cost import project as _project
from waveguard.model.errors import InputError
from waveguard.model.extras import MissingExtraError
from waveguard.model.fleet import Cluster, Fleet, default_fleet, load_fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.backend import BackendConfig, build_backend
from waveguard.rollout.gates import GATES, GateResult, evaluate
from waveguard.rollout.gates.registry import Gate
from waveguard.rollout.plan import GateSpec, Plan, load_plan, plan_findings, propose_plan

if TYPE_CHECKING:
    from waveguard.sim import FleetSimulator


def analyse(*paths: str | Path, fleet: Fleet | str | Path | None = None,
            profiles: list[RequestProfile] | None = None, strict: bool = False) -> AnalysisResult:
    """Analyse rendered manifests (files or folders) as ``waveguard analyse`` does, break-glass
    lint (WG114) included. ``fleet``: a :class:`Fleet`, a fleet YAML path, or None for the
    built-in fleet; ``profiles``: measured request profiles that replace the analysed ones of the
    workloads they name; ``strict``: an RBAC upper bound that overloads is an error. Raises
    InputError for unreadable or invalid input."""
    from waveguard.breakglass.lint import lint_change

    fleet_model = load_fleet(fleet) if isinstance(fleet, (str, Path)) else fleet
    return _analyse([str(p) for p in paths], fleet_model, lints=[lint_change], profiles=profiles, strict=strict)


def analysis_document(result: AnalysisResult) -> dict[str, Any]:
    """The ``waveguard analyse -o json`` document of ``result`` (``apiVersion``, ``kind:
    Analysis``; schema: ``waveguard schema analysis``)."""
    from waveguard.model.apiversion import versioned
    from waveguard.report.analysis import to_json

    return versioned("Analysis", to_json(result))


def project(profile: RequestProfile, cluster: Cluster, apf: APFConfig = DEFAULT_APF, *,
            node_share: float = 1.0) -> ClusterLoad:
    """What ``profile`` adds to ``cluster``'s control plane with ``node_share`` (0..1) of its
    nodes running it (a DaemonSet wave): :class:`ClusterLoad` (seat-seconds per second, storm
    seat-seconds, bytes, utilisations as shares of 1, and ``verdict``: ok, warning or overload)."""
    return _project(profile, cluster, apf, node_share=node_share)


def gates() -> list[Gate]:
    """Every registered gate, in registration order: ``name``, ``reads``, ``unit``,
    ``default_threshold``, ``source`` (where the threshold comes from), ``control_plane``,
    ``default_on``."""
    return list(GATES.values())


def gate(name: str) -> Gate:
    """The gate called ``name``. Raises ValueError naming the registered ones."""
    try:
        return GATES[name]
    except KeyError:
        raise ValueError(f"no gate {name!r}; registered: {', '.join(GATES)}") from None


def evaluate_gate(name: str, signals: Any, cluster: str, limit: float | None = None) -> GateResult:
    """Gate ``name`` on ``cluster`` read from ``signals`` (a backend's ``signals()``) at
    ``limit`` (default: the gate's default threshold): a :class:`GateResult` with ``status``
    pass, fail or no-data, ``value``, ``threshold`` and ``detail``. Raises ValueError for an
    unknown gate or one evaluated before apply (the projection)."""
    spec = GateSpec(kind=gate(name).name, threshold=limit)
    return evaluate(spec, signals, cluster)


def __getattr__(name: str) -> Any:
    """``FleetSimulator`` and ``simulate`` on first use: they need the ``sim`` extra (numpy)."""
    if name in ("FleetSimulator", "simulate"):
        from waveguard.model.extras import require_extra

        require_extra("sim", f"waveguard.api.{name}")
        import waveguard.sim

        return getattr(waveguard.sim, name)
    raise AttributeError(f"module 'waveguard.api' has no attribute {name!r}")


def _analyse(paths: list[str], fleet: Fleet | None, **options: Any) -> AnalysisResult:
    from waveguard.analysis import analyse as analyse_paths

    return analyse_paths(paths, fleet, **options)


__all__ = [
    "AnalysisResult", "BackendConfig", "Cluster", "ClusterLoad", "Fleet", "FleetSimulator", "Gate", "GateResult",
    "InputError", "MissingExtraError", "Plan", "RequestProfile", "analyse", "analysis_document", "build_backend",
    "build_profiles", "default_fleet", "evaluate_gate", "gate", "gates", "load_change", "load_fleet", "load_plan",
    "plan_findings", "project", "propose_plan",
]
