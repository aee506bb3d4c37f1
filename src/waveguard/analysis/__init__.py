"""Analyse a change before it ships: parse manifests, recognise agents, project their load.

Public entry points:

* :func:`load_change` (paths → Change), :func:`build_profiles` (Change → RequestProfiles);
* :func:`analyse` (paths + fleet → :class:`AnalysisResult` with findings and projections).
"""

from __future__ import annotations

from typing import Callable, Iterable

from pydantic import BaseModel

from waveguard.analysis.loader import load_change
from waveguard.analysis.measured import apply_measured
from waveguard.analysis.profiles import Agent, build_profiles, recognise_agents
from waveguard.analysis.projection import ClusterProjection, project_fleet
from waveguard.analysis.rules import agent_findings, parse_findings
from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.cost import scaling_class
from waveguard.model.findings import SEVERITY_RANK, Finding
from waveguard.model.fleet import Fleet, default_fleet
from waveguard.model.manifests import Change
from waveguard.model.requests import RequestProfile


class AnalysisResult(BaseModel):
    """Findings (most severe first), per-cluster projections, and each agent's profile."""

    findings: list[Finding]
    projections: list[ClusterProjection]
    profiles: list[RequestProfile]
    documents: int
    #: Clients whose profile was measured from audit logs (``analyse --profiles``).
    measured: list[str] = []

    def evidence(self, profile: RequestProfile) -> str:
        """Where ``profile`` comes from: ``measured``, ``rbac-upper-bound`` or ``recognised``."""
        if profile.client in self.measured:
            return "measured"
        return "rbac-upper-bound" if profile.upper_bound else "recognised"

    def worst_severity(self) -> str | None:
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__, default=None)


def analyse(paths: list[str], fleet: Fleet | None = None, apf: APFConfig = DEFAULT_APF,
            validate: bool = True, lints: Iterable[Callable[[Change], list[Finding]]] = (), *,
            profiles: list[RequestProfile] | None = None, profiles_source: str = "profiles",
            strict: bool = False) -> AnalysisResult:
    """Analyse the manifests under ``paths`` against ``fleet`` (default: the built-in fleet).

    ``lints``: further rules over the whole change from packages that build on this one (the
    CLI passes break-glass's WG114), so that dependencies keep pointing towards ``model``.
    ``profiles``: measured request profiles (``waveguard measure -o``, read from
    ``profiles_source``) that replace the analysed or bounded profiles of the workloads they
    name (analysis/measured.py); ``paths`` may then be empty. ``strict``: an RBAC upper bound's
    projected overload is an error (WG107, WG105). Raises
    :class:`waveguard.model.errors.InputError` on bad input (nothing is returned then).
    """
    fleet = fleet or default_fleet()
    change = load_change(paths, validate=validate) if paths or not profiles else Change()
    agents = recognise_agents(change)
    measured: set[str] = set()
    if profiles:
        agents, measured = apply_measured(agents, profiles, profiles_source, change.workloads)
    profile_list = [a.profile for a in agents]
    projections = project_fleet(profile_list, fleet, apf)
    findings = parse_findings(change)
    for lint in lints:
        findings += lint(change)
    for agent in agents:
        loads = [p.loads[agent.profile.client] for p in projections]
        findings += agent_findings(agent, loads, fleet, measured=agent.profile.client in measured, strict=strict)
    findings.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.file, f.line, f.rule))
    return AnalysisResult(findings=findings, projections=projections, profiles=profile_list,
                          documents=len(change.documents), measured=sorted(measured))


__all__ = ["AnalysisResult", "Agent", "analyse", "build_profiles", "load_change", "project_fleet",
           "recognise_agents", "scaling_class"]
