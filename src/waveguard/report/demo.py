"""The demo's outputs: a terminal table and a self-contained HTML page (``waveguard demo
--report demo.html``) with the strategies' timelines side by side and, for waveguard, the gate
that fired, on what figure, and the projection it made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from waveguard.model.errors import InputError
from waveguard.model.extras import require_extra
from waveguard.report.demo_results import BreakglassResult, DemoResult, StrategyResult
from waveguard.sim.rollback import seconds
from waveguard.report.sim import clock, figure_png

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>waveguard demo — {{ scenario }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .9rem; } td, th { padding: .3rem .7rem; border-bottom: 1px solid #ddd; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fdecea; } img { max-width: 100%; } .note { color: #666; font-size: .85rem; }
</style></head><body>
<h1>waveguard demo — {{ scenario }} replayed three ways</h1>
<p class="note">Same simulated fleet, same change, same seed; only the rollout strategy differs. Each run goes on to
the scenario's end after the rollout stops, so damage done after a halt counts.</p>
<table><tr><th>strategy</th><th>blast radius</th><th>halted at</th><th>production clusters saturated</th>
<th>customer-impact minutes</th><th>rolled back</th><th>why it stopped</th></tr>
{% for r in rows %}<tr><td>{{ r.name }}</td><td class="num">{{ r.blast }}</td><td class="num">{{ r.halted }}</td>
<td class="num">{{ r.saturated }}</td><td class="num">{{ r.impact }}</td><td>{{ r.rolled_back }}</td>
<td>{{ r.reason }}</td></tr>{% endfor %}</table>
{% for fig in figures %}<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">{% endfor %}
{% if fired %}<h2>waveguard: the gate that fired</h2>
<p><b>{{ fired.gate }}</b> on <b>{{ fired.cluster }}</b>: {{ fired.reason }}
{% if fired.before_apply %}(before the wave was applied: the change never reached it){% endif %}</p>{% endif %}
{% if projections %}<h2>waveguard: the projection it made for the next wave</h2>
<table><tr><th>cluster</th><th>projected utilisation</th><th>threshold</th><th>verdict</th><th>detail</th></tr>
{% for p in projections %}<tr class="{{ 'fail' if p.status == 'fail' else '' }}"><td>{{ p.cluster }}</td>
<td class="num">{{ '%.2f' % p.value if p.value is not none else '—' }}</td><td class="num">{{ '%.2f' % p.threshold }}</td>
<td>{{ p.status }}</td><td>{{ p.detail }}</td></tr>{% endfor %}</table>{% endif %}
{% if bg %}<h2>The way back: the incident's rollback without and with break-glass isolation</h2>
<p class="note">{{ bg.note }}</p>
<table><tr>{% for h in bg.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in bg.rows %}<tr class="{{ 'fail' if row[-1] == 'not within the run' else '' }}">{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table><img alt="rollback timeline" src="data:image/png;base64,{{ bg.png }}">{% endif %}
<p class="note">Blast radius: the highest share of production nodes that ran the change. Saturated: sustained 429s,
p99 latency over the SLO or no apiserver up, for 60 s. Impact: a cluster's workload error ratio ≥ 1 %, in minutes.</p>
</body></html>
"""


def _row(r: StrategyResult) -> list[str]:
    return [r.name, f"{r.blast_radius_pct:.1f} %", clock(r.halted_at_s), str(r.saturated_clusters),
            f"{r.impact_minutes:,.0f}", "yes" if r.rolled_back else "no",
            r.halt_reason or "did not stop: reached the whole fleet"]


def render_table(demo: DemoResult, console: Console) -> None:
    columns = ("strategy", "blast radius", "halted at", "saturated", "impact min", "rolled back", "why it stopped")
    table = Table(title=f"waveguard demo: {demo.scenario} replayed three ways")
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in demo.strategies:
        table.add_row(*_row(r))
    console.print(table)
    if demo.production_traffic is not None:
        extra = Table(title="…and a change whose cost only production traffic reveals (the projection cannot know)")
        for col in columns:
            extra.add_column(col, overflow="fold")
        extra.add_row(*_row(demo.production_traffic))
        console.print(extra)


BREAKGLASS_HEADER = ("case", "cluster", "sent as → priority level", "saturated at", "rollback at", "completed in",
                     "429s", "failed attempts", "queued", "control plane back at")


def _breakglass_rows(bg: BreakglassResult) -> list[list[str]]:
    rows = []
    for case in bg.cases:
        for r in case.rollbacks:
            done = seconds(r.duration_s) if r.duration_s is not None else \
                f"not within the run (> {seconds(case.timeline['t'][-1] - r.started_at_s)})"
            rows.append([case.name, r.cluster, f"{bg.identity} → {r.priority_level}", clock(r.saturated_at_s),
                         clock(r.started_at_s), done, str(r.rejected), str(r.failed), seconds(r.queue_wait_s),
                         clock(r.recovered_at_s) if r.recovered_at_s is not None else "not within the run"])
    return rows


def _breakglass_note(bg: BreakglassResult) -> str:
    speedup = bg.speedup()
    ratio = f" The slowest rollback took {speedup:,.0f}× longer without isolation." if speedup else ""
    return (f"{bg.scenario}, the 'none' rollout of {bg.change}. On each of the largest clusters an operator with the "
            f"emergency credential ({bg.identity}) runs `kubectl delete -f` of the change (5 sequential requests) "
            "when the saturation alert fires (symptoms for 60 s since 'saturated at'). Without isolation its requests share the default "
            "levels and need an apiserver that is up; with the isolation `waveguard breakglass generate` writes, "
            "they have their own level and the agent is capped. Failed attempts: no apiserver replica up (connection "
            f"refused), replica died, or timed out; each retried after client-go's back-off.{ratio}")


def render_breakglass_table(bg: BreakglassResult, console: Console) -> None:
    """The break-glass comparison as a terminal table."""
    table = Table(title="…and the way back: the rollback without and with break-glass isolation")
    for col in BREAKGLASS_HEADER:
        table.add_column(col, overflow="fold")
    for row in _breakglass_rows(bg):
        table.add_row(*row)
    console.print(table)
    speedup = bg.speedup()
    if speedup:
        console.print(f"slowest rollback: {speedup:,.0f}× longer without isolation (an unfinished one counts until "
                      "the end of the run). Times are H:MM:SS from the start.")


def write_report(demo: DemoResult, path: str | Path) -> None:
    """Write the HTML page. Raises InputError when it cannot be written."""
    require_extra("report", "--report (HTML)")
    import matplotlib
    from jinja2 import Environment, select_autoescape

    matplotlib.use("Agg")
    results = demo.strategies
    guard = next((r for r in results if r.name == "waveguard"), None)
    env = Environment(autoescape=select_autoescape(default=True))
    rows = [dict(zip(("name", "blast", "halted", "saturated", "impact", "rolled_back", "reason"), _row(r), strict=True))
            for r in results + ([demo.production_traffic] if demo.production_traffic else [])]
    html = env.from_string(_TEMPLATE).render(
        scenario=demo.scenario, rows=rows,
        figures=_figures(results), fired=guard.fired if guard else None,
        projections=sorted(guard.projections, key=lambda p: -(p.get("value") or 0))[:12] if guard else [],
        bg=_breakglass_section(demo.breakglass) if demo.breakglass is not None else None,
    )
    try:
        Path(path).write_text(html)
    except OSError as exc:
        raise InputError(str(path), f"cannot write report: {exc.strerror}", hint="check --report") from exc


def _figures(results: list[StrategyResult]) -> list[dict]:
    import matplotlib.pyplot as plt

    panels = (
        ("production_share_pct", "Production nodes running the change (%)", "the blast radius over time"),
        ("saturated_clusters", "Production control planes showing saturation",
         "count of clusters with 429s, p99 over the SLO or no apiserver up at that moment"),
        ("error_ratio", "Workload error ratio (production, node-weighted)", "share of requests failing"),
    )
    figs = []
    for key, title, note in panels:
        fig, ax = plt.subplots(figsize=(11, 3.0))
        for r in results:
            minutes = np.asarray(r.timeline["t"]) / 60.0
            ax.plot(minutes, r.timeline[key], label=r.name, linewidth=1.6)
            if r.halted_at_s is not None:
                ax.axvline(r.halted_at_s / 60.0, linestyle=":", linewidth=1, color=ax.lines[-1].get_color())
        ax.set_xlabel("minutes from the start")
        ax.legend(loc="upper left")
        ax.grid(alpha=.3)
        figs.append({"title": title, "note": note + "; dotted: where a strategy halted", "png": figure_png(fig)})
    return figs


def _breakglass_section(bg: BreakglassResult) -> dict:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.0), sharey=True)
    for ax, case in zip(axes, bg.cases, strict=True):  # two cases: without and with isolation
        minutes = np.asarray(case.timeline["t"]) / 60.0
        ax.step(minutes, case.timeline["up"], where="post", label="apiserver replicas up", linewidth=1.4)
        ax.step(minutes, case.timeline["pending"], where="post", label="rollback requests not yet served", linewidth=1.4)
        ax.plot(minutes, np.asarray(case.timeline["rollout_share"]) * 5, label="nodes running the change (× 5)",
                linewidth=1.0, linestyle=":")
        starts = [r.started_at_s for r in case.rollbacks if r.cluster == case.timeline["cluster"][0]]
        if starts:
            ax.set_xlim(starts[0] / 60.0 - 5, min(minutes[-1], starts[0] / 60.0 + 40))
        ax.set_title(f"{case.timeline['cluster'][0]}, {case.name}", fontsize=10)
        ax.set_xlabel("minutes from the start")
        ax.grid(alpha=.3)
    axes[0].legend(loc="upper right", fontsize=8)
    return {"header": BREAKGLASS_HEADER, "rows": _breakglass_rows(bg), "note": _breakglass_note(bg),
            "png": figure_png(fig)}
