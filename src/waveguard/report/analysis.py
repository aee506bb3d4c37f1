"""Render an :class:`~waveguard.analysis.AnalysisResult`: rich table, JSON, SARIF 2.1.0.

The JSON schema is documented in README.md ("analyse --format json"); SARIF is written by
:mod:`waveguard.report.sarif` (``to_sarif`` is re-exported here, its old import path).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from waveguard import __version__
from waveguard.analysis import AnalysisResult
from waveguard.model.cost import scaling_class

_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red", "ok": "green", "overload": "bold red"}


def to_json(result: AnalysisResult) -> dict[str, Any]:
    """The ``--format json`` document: findings[], projections[], agents[]."""
    return {
        "version": __version__,
        "documents": result.documents,
        "findings": [f.model_dump() for f in result.findings],
        "projections": [
            {
                "cluster": p.cluster, "nodes": p.nodes, "verdict": p.verdict, "utilisation": round(p.utilisation, 4),
                "memory_share": round(p.memory_share, 4), "scaling": p.scaling, "reasons": p.reasons,
                "workloads": [
                    {
                        "workload": ref, "verdict": l.verdict, "priority_level": l.priority_level,
                        "replicas": l.replicas, "level_utilisation": round(l.level_utilisation, 4),
                        "server_utilisation": round(l.server_utilisation, 4),
                        "steady_seat_seconds_per_s": round(l.steady_seat_seconds_per_s, 3),
                        "storm_seat_seconds": round(l.storm_seat_seconds, 1), "storm_drain_s": round(l.storm_drain_s, 2),
                        "storm_bytes": l.storm_bytes, "storm_peak_memory_bytes": l.storm_peak_memory_bytes,
                        "memory_limit_bytes": l.memory_limit_bytes,
                        "fanout_events_per_s": round(l.fanout_events_per_s, 1),
                        "writer_extra_seat_seconds_per_s": round(l.writer_extra_seat_seconds_per_s, 3),
                        "list_seats": l.list_seats, "rejected_share": round(l.rejected_share, 4),
                        "storm_etcd_bytes": l.storm_etcd_bytes, "storm_etcd_s": round(l.storm_etcd_s, 2),
                        "etcd_utilisation": round(l.etcd_utilisation, 4),
                        "reasons": l.reasons,
                    }
                    for ref, l in p.loads.items()
                ],
            }
            for p in result.projections
        ],
        "agents": [
            {
                "workload": prof.client, "agent": prof.agent, "per_node": prof.per_node,
                "replicas": None if prof.per_node else prof.replicas, "scaling": scaling_class(prof),
                "upper_bound": prof.upper_bound, "evidence": result.evidence(prof),
                "requests": [
                    {"verb": rc.verb, "resource": rc.resource, "api_group": rc.api_group, "scope": rc.scope,
                     "trigger": rc.trigger, "rate_per_s": rc.rate_per_s, "resource_version": rc.resource_version,
                     "limit": rc.limit, "leader_only": rc.leader_only, "component": rc.component,
                     "config_key": rc.config_key}
                    for rc in prof.classes
                ],
            }
            for prof in result.profiles
        ],
    }


def render_table(result: AnalysisResult, console: Console) -> None:
    """Findings, then per-cluster projections, for a terminal."""
    if result.findings:
        table = Table(title="Findings", show_lines=True)
        for col in ("rule", "severity", "workload", "where", "what grows with what / fix"):
            table.add_column(col, overflow="fold")
        for f in result.findings:
            table.add_row(f.rule, f"[{_STYLE[f.severity]}]{f.severity}[/]", f.workload, f"{f.file}:{f.line}",
                          f"{f.message}\n[dim]fix:[/] {f.fix}")
        console.print(table)
    else:
        console.print("[green]No findings.[/]")
    if not result.profiles:
        console.print("No workload in this change sends requests to kube-apiserver.")
        return
    table = Table(title="Projected load per cluster (all workloads of the change together)")
    for col in ("cluster", "nodes", "verdict", "seats", "memory", "storm s", "fan-out ev/s", "scaling", "why"):
        table.add_column(col, justify="left" if col in ("cluster", "verdict", "scaling", "why") else "right",
                         overflow="fold")
    for p in result.projections:
        w = p.worst
        if w is None:
            continue
        table.add_row(p.cluster, f"{p.nodes:,}", f"[{_STYLE.get(p.verdict, 'yellow')}]{p.verdict}[/]",
                      f"{p.utilisation:.0%}", f"{p.memory_share:.0%}", f"{w.storm_drain_s:.1f}",
                      f"{sum(l.fanout_events_per_s for l in p.loads.values()):,.0f}", p.scaling,
                      p.reasons[0] if p.reasons and p.verdict != "ok" else "")
    console.print(table)
    console.print("[dim]seats: share of the priority level's seats (nominal + borrowable, all apiservers) the change "
                  "needs over one 60 s client timeout; memory: an apiserver's peak during a relist storm / its limit; "
                  "storm s: seconds to serve every agent's start-up LISTs.[/]")


def __getattr__(name: str) -> Any:
    """``to_sarif`` imported on first use: a table or JSON loads no SARIF code."""
    if name == "to_sarif":
        from waveguard.report.sarif import to_sarif

        return to_sarif
    raise AttributeError(name)


__all__ = ["render_table", "to_json", "to_sarif"]  # noqa: F822 - to_sarif: module __getattr__
