"""Render an :class:`~waveguard.analysis.AnalysisResult`: rich table, JSON, SARIF 2.1.0.

The JSON schema is documented in README.md ("analyse -o json"; waveguard schema analysis); SARIF is written by
:mod:`waveguard.report.sarif` (``to_sarif`` is re-exported here, its old import path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waveguard import __version__
from waveguard.analysis import AnalysisResult
from waveguard.model.cost import scaling_class

if TYPE_CHECKING:  # rich is imported by the table alone: `-o json` starts without it (issue 17)
    from rich.console import Console
    from waveguard.report.fit import Column

_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red", "ok": "green", "overload": "bold red"}


def to_json(result: AnalysisResult) -> dict[str, Any]:
    """The ``-o json`` document (without apiVersion/kind, which the CLI adds): findings[], projections[], agents[]."""
    return {
        "version": __version__,
        "documents": result.documents,
        "findings": [f.model_dump() for f in result.findings],
        "projections": [
            {
                "cluster": p.cluster, "nodes": p.nodes, "verdict": p.verdict, "utilisation": round(p.utilisation, 4),
                "memory_share": round(p.memory_share, 4), "etcd_memory_fraction": round(p.etcd_memory_fraction, 4),
                "etcd_utilisation": round(p.etcd_utilisation, 4), "scaling": p.scaling, "reasons": p.reasons,
                "memory_share_added": round(p.memory_share_added, 4),
                "etcd_memory_fraction_added": round(p.etcd_memory_fraction_added, 4),
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
                        "etcd_utilisation": round(l.etcd_utilisation, 4), "etcd_range_bytes": l.etcd_range_bytes,
                        "etcd_memory_fraction": round(l.etcd_memory_fraction, 4),
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
    """Findings (a list), then per-cluster projections (a table), fitting ``console.width``:
    too narrow, the table lists each cluster's reason under it, then drops scaling and fan-out."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    from waveguard.report.fit import cell, fits, fitted_table

    if result.findings:
        console.print(cell("Findings", "bold"))
        for f in result.findings:
            _print_finding(f, console)
    else:
        console.print("[green]No findings.[/]")
    if not result.profiles:
        console.print("No workload in this change sends requests to kube-apiserver.")
        return
    shown = [p for p in result.projections if p.worst is not None]
    columns, rows = _projection_rows(shown, detailed=True)
    # too narrow for +Δ→total (or only by dropping the etcd column): the totals alone, as the note says
    if not fits(console.width, columns, rows, keeping=[c.name for c in columns if c.name.endswith(_ADDED_AND_TOTAL)]):
        columns, rows = _projection_rows(shown, detailed=False)
    table, dropped = fitted_table(console, "Projected load per cluster (all workloads of the change together)",
                                  columns, rows)
    console.print(table)
    if "why" in dropped:  # one print of the indented lines: those of a print each, at half the cost
        console.print(Padding(Group(*(Text(f"{p.cluster}: {_why(p)}") for p in shown if _why(p))), (0, 0, 0, 2)))
    console.print("[dim]seats: share of the priority level's seats (nominal + borrowable, all apiservers) the change "
                  "needs over one 60 s client timeout; memory: an apiserver's peak during a relist storm / its limit; "
                  "etcd: the larger of the cluster's etcd read throughput its LISTs from etcd need over a timeout and an "
                  "etcd member's memory while they peak (each / its capacity); "
                  + ("memory and etcd, as +Δ→total: the change's part, then the total"
                     if columns[4].name.endswith(_ADDED_AND_TOTAL) else "memory and etcd: the total")
                  + " with what the cluster holds without the change (an apiserver's process and watch cache, an idle "
                  "etcd member), which the verdict judges; storm s: seconds to serve every agent's start-up LISTs.[/]")


def _projection_rows(shown: list[Any], detailed: bool) -> tuple[tuple[Column, ...], list[list[str]]]:
    """The projection table's columns and rows: memory and etcd as ``+Δ→total`` (``detailed``)
    or as the total alone (a console too narrow for both)."""
    def figure(added: float, total: float) -> str:
        return _added_and_total(added, total) if detailed else f"{total:.0%}"

    rows = [[p.cluster, f"{p.nodes:,}", f"[{_STYLE.get(p.verdict, 'yellow')}]{p.verdict}[/]", f"{p.utilisation:.0%}",
             figure(p.memory_share_added, p.memory_share), figure(*_etcd_pressure(p)),
             f"{p.worst.storm_drain_s:.1f}" if p.worst else "",
             f"{sum(l.fanout_events_per_s for l in p.loads.values()):,.0f}", p.scaling, _why(p)] for p in shown]
    return _projection_columns(detailed), rows


def _projection_columns(detailed: bool = True) -> tuple[Column, ...]:
    """The projection table's columns (``drop``: the order they go in when the width is short);
    ``detailed``: memory and etcd headed ``+Δ→total`` on a second line."""
    from waveguard.report.fit import Column

    second = f"\n{_ADDED_AND_TOTAL}" if detailed else ""
    return (Column("cluster", wrap=True), Column("nodes", "right"), Column("verdict"), Column("seats", "right"),
            Column(f"memory{second}", "right"), Column(f"etcd{second}", "right", drop=1),
            Column("storm s", "right"),
            Column("fan-out ev/s", "right", drop=1), Column("scaling", drop=2), Column("why", drop=3))


#: The second line of the memory and etcd headers: what the change adds → the total.
_ADDED_AND_TOTAL = "+Δ→total"


def _added_and_total(added: float, total: float) -> str:
    """A memory or etcd cell: ``+added→total%`` (percentage points of the same capacity: the
    change's part, then with what the cluster holds without the change), ``+0→12%`` for a change
    that adds next to nothing to a cluster using 12 %."""
    return f"+{added * 100:.0f}→{total:.0%}"


def _etcd_pressure(p: Any) -> tuple[float, float]:
    """The etcd column (the change's part, the total): whichever of etcd's read throughput and
    a member's memory is nearer its capacity (each overloads at 1.0, as the verdict's reasons
    say). Only the memory has a part without the change (an idle member's); the read throughput
    the change needs is all its own."""
    if p.etcd_utilisation >= p.etcd_memory_fraction:
        return p.etcd_utilisation, p.etcd_utilisation
    return p.etcd_memory_fraction_added, p.etcd_memory_fraction


def _why(p: Any) -> str:
    return p.reasons[0] if p.reasons and p.verdict != "ok" else ""


def _print_finding(f: Any, console: Console) -> None:
    """``RULE severity workload`` and ``file:line`` on a line each (cut to the width), then what
    grows with what and the fix as paragraphs."""
    from rich.padding import Padding
    from rich.text import Text

    about_the_file = f.workload == f"file {f.file}"  # WG121: the subject is the file itself
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f.rule, style="bold")
    head.append(f" {f.severity}", style=_STYLE[f.severity])
    head.append("  file" if about_the_file else f"  {f.workload}")  # the path follows, indented
    console.print(head)
    # a path is kept whole (folded if longer than the line): its end is the line number
    where = f.file if about_the_file else f"{f.file}:{f.line}"
    console.print(Padding(Text(where, style="dim", overflow="fold"), (0, 0, 0, 2)))
    # the file is named once, not again as the subject of the message
    message = f.message.removeprefix(f"{f.file} ") if about_the_file else f.message
    console.print(Padding(Text(message), (0, 0, 0, 2)))
    fix = Text("fix: ", style="dim")
    fix.append(f.fix, style="")
    console.print(Padding(fix, (0, 0, 1, 2)))


def __getattr__(name: str) -> Any:
    """``to_sarif`` imported on first use: a table or JSON loads no SARIF code."""
    if name == "to_sarif":
        from waveguard.report.sarif import to_sarif

        return to_sarif
    raise AttributeError(name)


__all__ = ["render_table", "to_json", "to_sarif"]  # noqa: F822 - to_sarif: module __getattr__
