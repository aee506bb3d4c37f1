"""The demo's outputs: a terminal table and a self-contained HTML page (``waveguard demo
--report demo.html``) with the strategies' timelines side by side and, for waveguard, the gate
that fired, on what figure, and the projection it made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from jinja2 import Environment, select_autoescape
from rich.console import Console
from rich.table import Table

from waveguard.model.errors import InputError
from waveguard.rollout.demo import DemoResult, StrategyResult
from waveguard.sim.report import _png as figure_png
from waveguard.sim.report import clock

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


def write_report(demo: DemoResult, path: str | Path) -> None:
    """Write the HTML page. Raises InputError when it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    results = demo.strategies
    guard = next((r for r in results if r.name == "waveguard"), None)
    env = Environment(autoescape=select_autoescape(default=True))
    rows = [dict(zip(("name", "blast", "halted", "saturated", "impact", "rolled_back", "reason"), _row(r)))
            for r in results + ([demo.production_traffic] if demo.production_traffic else [])]
    html = env.from_string(_TEMPLATE).render(
        scenario=demo.scenario, rows=rows,
        figures=_figures(results), fired=guard.fired if guard else None,
        projections=sorted(guard.projections, key=lambda p: -(p.get("value") or 0))[:12] if guard else [],
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
            t = np.asarray(r.timeline["t"]) / 60.0
            ax.plot(t, r.timeline[key], label=r.name, linewidth=1.6)
            if r.halted_at_s is not None:
                ax.axvline(r.halted_at_s / 60.0, linestyle=":", linewidth=1, color=ax.lines[-1].get_color())
        ax.set_xlabel("minutes from the start")
        ax.legend(loc="upper left")
        ax.grid(alpha=.3)
        figs.append({"title": title, "note": note + "; dotted: where a strategy halted", "png": figure_png(fig)})
    return figs
