"""The demo's outputs: a terminal table and a self-contained HTML page (``waveguard demo
--report demo.html``) with the strategies' timelines side by side and, for waveguard, the gate
that fired, on what figure, and the projection it made."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from waveguard.report.fit import Column, fitted_table
from waveguard.report.demo_results import BreakglassResult, DemoResult, StrategyResult
from waveguard.report.page import ReportMeta, render_page, write_page
from waveguard.report.sim import clock
from waveguard.sim.result import IMPACT_ERROR_RATIO, SATURATED_MEANS
from waveguard.sim.rollback import seconds

_BODY = """
<div class="summary">{% for line in summary %}<p class="{{ line.cls }}">{{ line.text }}</p>{% endfor %}</div>
<p class="note">Same simulated fleet, same change, same seed; only the rollout strategy differs. Each run goes on to
the scenario's end after the rollout stops, so damage done after a halt counts.</p>
<table><tr><th>strategy</th><th>blast radius</th><th>halted at</th><th>production clusters saturated</th>
<th>customer-impact minutes</th><th>rolled back</th><th>why it stopped</th></tr>
{% for r in rows %}<tr><td>{{ r.name }}</td><td class="num">{{ r.blast }}</td><td class="num">{{ r.halted }}</td>
<td class="num">{{ r.saturated }}</td><td class="num">{{ r.impact }}</td><td>{{ r.rolled_back }}</td>
<td>{{ r.reason }}</td></tr>{% endfor %}</table>
<p class="definition"><b>Saturated</b> (the table and every chart): {{ saturated_means }}; a cluster counts in the
table when it was saturated at some moment of the run. <b>Blast radius</b>: the highest share of production nodes that
ran the change. <b>Impact</b>: minutes a production cluster's workload error ratio is at least {{ impact_pct }}.</p>
{% for fig in figures %}<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img class="chart" alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">{% endfor %}
{% if fired %}<h2>waveguard: the gate that fired</h2>
<p><b>{{ fired.gate }}</b> on <b>{{ fired.cluster }}</b>: {{ fired.reason }}
{% if fired.before_apply %}(before the wave was applied: the change never reached it){% endif %}</p>{% endif %}
{% if projections %}<h2>waveguard: the projection it made for the next wave</h2>
<table><tr><th>cluster</th><th>projected utilisation</th><th>threshold</th><th>verdict</th><th>detail</th></tr>
{% for p in projections %}<tr class="{{ 'bad' if p.status == 'fail' else '' }}"><td>{{ p.cluster }}</td>
<td class="num">{{ '%.2f' % p.value if p.value is not none else '—' }}</td><td class="num">{{ '%.2f' % p.threshold }}</td>
<td>{{ p.status }}</td><td>{{ p.detail }}</td></tr>{% endfor %}</table>{% endif %}
{% if bg %}<h2>The way back: the incident's rollback without and with break-glass isolation</h2>
<p class="note">{{ bg.note }}</p>
<table><tr>{% for h in bg.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in bg.rows %}<tr class="{{ 'bad' if row[-1] == 'not within the run' else '' }}">{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table><img class="chart" alt="rollback timeline" src="data:image/png;base64,{{ bg.png }}">{% endif %}
"""


def _row(r: StrategyResult) -> list[str]:
    return [r.name, f"{r.blast_radius_pct:.1f} %", clock(r.halted_at_s), str(r.saturated_clusters),
            f"{r.impact_minutes:,.0f}", "yes" if r.rolled_back else "no",
            r.halt_reason or "did not stop: reached the whole fleet"]


#: The strategy table's columns: too narrow, "why it stopped" is listed under the table.
STRATEGY_COLUMNS = (Column("strategy", wrap=True), Column("blast radius", "right"), Column("halted at"),
                    Column("saturated", "right"), Column("impact min", "right"), Column("rolled back", drop=1),
                    Column("why it stopped", drop=2))


def render_table(demo: DemoResult, console: Console) -> None:
    """The three strategies (and the production-traffic case) fitting ``console.width``."""
    _strategy_table(f"waveguard demo: {demo.scenario} replayed three ways", demo.strategies, console)
    if demo.production_traffic is not None:
        _strategy_table("…and a change whose cost only production traffic reveals (the projection cannot know)",
                        [demo.production_traffic], console)


def _strategy_table(title: str, results: list[StrategyResult], console: Console) -> None:
    rows = [_row(r) for r in results]
    table, dropped = fitted_table(console, title, STRATEGY_COLUMNS, rows)
    console.print(table)
    if "why it stopped" in dropped:
        for row in rows:
            console.print(Padding(Text(f"{row[0]}: {row[-1]}"), (0, 0, 0, 2)))


BREAKGLASS_HEADER = ("case", "cluster", "sent as → priority level", "saturated at", "rollback at", "completed in",
                     "429s", "failed attempts", "queued", "control plane back at")
#: The break-glass table's columns (BREAKGLASS_HEADER): the optional ones go first when narrow.
BREAKGLASS_COLUMNS = (Column("case", wrap=True), Column("cluster", wrap=True), Column(BREAKGLASS_HEADER[2], flex=True,
                                                                                      drop=6),
                      Column("saturated at", drop=2), Column("rollback at"), Column("completed in", wrap=True),
                      Column("429s", "right", drop=5), Column("failed attempts", "right", drop=4),
                      Column("queued", "right", drop=3), Column("control plane back at", wrap=True, drop=1))


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
            f"refused), replica died, timed out, or etcd had no leader (500); each retried after client-go's "
            f"back-off.{ratio}" + (f" {etcd_cause(bg)}" if etcd_cause(bg) else ""))


def etcd_cause(bg: BreakglassResult) -> str | None:
    """What etcd did to the way back, from the cases' figures; None when etcd kept its leader
    while every rollback ran. A request needs etcd's leader: break-glass isolation (an APF
    level) cannot get one through while etcd has none (sim/rollback.py)."""
    without, with_ = bg.leaderless_s(False), bg.leaderless_s(True)
    if without <= 0 and with_ <= 0:
        return None
    failed = sum(r.etcd_timeouts for r in bg.case(False).rollbacks)
    text = (f"etcd had no leader for up to {without:,.0f} s while the rollback without isolation ran ({failed} of its "
            "requests failed: 500 'etcdserver: request timed out'): isolation cannot help a request through "
            "an etcd without a leader; ")
    if with_ <= 0:
        text += ("with isolation etcd kept its leader: the isolation also caps the change's agent, so its relists "
                 "did not OOM-kill etcd. ")
    else:
        text += f"with isolation too it had none for {with_:,.0f} s. "
    return text + ("Up to 1.30 a filling watch cache sends every relist to etcd; 1.31-1.33 answer the "
                   "unpaginated ones 429 but still send client-go informers' (limit=500, no selector) to etcd "
                   "(KEP-4568); from 1.34 the cache serves those pages from its snapshots.")


def render_breakglass_table(bg: BreakglassResult, console: Console) -> None:
    """The break-glass comparison as a terminal table."""
    table, _ = fitted_table(console, "…and the way back: the rollback without and with break-glass isolation",
                            BREAKGLASS_COLUMNS, _breakglass_rows(bg))
    console.print(table)
    speedup = bg.speedup()
    if speedup:
        console.print(f"slowest rollback: {speedup:,.0f}× longer without isolation (an unfinished one counts until "
                      "the end of the run). Times are H:MM:SS from the start.")
    cause = etcd_cause(bg)
    if cause:
        console.print(cause)


def write_report(demo: DemoResult, path: str | Path, meta: ReportMeta | None = None) -> None:
    """Write the HTML page (atomically). Raises InputError when it cannot be written."""
    write_page(path, render_report(demo, meta))


def render_report(demo: DemoResult, meta: ReportMeta | None = None) -> str:
    """The page's HTML (self-contained); ``meta`` defaults to this command, now."""
    from waveguard.report import demo_charts

    results = demo.strategies
    runs = results + ([demo.production_traffic] if demo.production_traffic else [])
    guard = next((r for r in results if r.name == "waveguard"), None)
    rows = [dict(zip(("name", "blast", "halted", "saturated", "impact", "rolled_back", "reason"), _row(r), strict=True))
            for r in runs]
    figures = [demo_charts.share_figure(runs), demo_charts.saturation_figure(runs), demo_charts.error_figure(runs)]
    return render_page(
        _BODY, f"waveguard demo — {demo.scenario} replayed three ways", meta or ReportMeta.now(demo.seed),
        summary=summary_lines(demo), rows=rows, saturated_means=SATURATED_MEANS,
        impact_pct=f"{IMPACT_ERROR_RATIO:.0%}", figures=figures, fired=guard.fired if guard else None,
        projections=sorted(guard.projections, key=lambda p: -(p.get("value") or 0))[:12] if guard else [],
        bg=_breakglass_section(demo.breakglass) if demo.breakglass is not None else None,
    )


def summary_lines(demo: DemoResult) -> list[dict]:
    """One line per strategy, from the table's figures: how far it got, when it stopped, the damage."""
    lines = []
    for r in demo.strategies + ([demo.production_traffic] if demo.production_traffic else []):
        stop = f"halted at {clock(r.halted_at_s)}" if r.halted_at_s is not None else "never stopped"
        back = ", rolled back" if r.rolled_back else ""
        text = (f"{r.name}: reached {r.blast_radius_pct:.1f} % of production nodes, {stop}{back}; "
                f"{r.saturated_clusters} of {r.production_clusters} production control planes saturated, "
                f"{r.impact_minutes:,.0f} customer-impact minutes.")
        lines.append({"text": text, "cls": "bad" if r.saturated_clusters else ""})
    if demo.breakglass is not None and demo.breakglass.speedup():
        lines.append({"text": f"The way back: the slowest rollback took {demo.breakglass.speedup():,.0f}× longer "
                      "without break-glass isolation.", "cls": ""})
    if demo.breakglass is not None and etcd_cause(demo.breakglass):
        lines.append({"text": f"The way back: {etcd_cause(demo.breakglass)}", "cls": ""})
    return lines


def _breakglass_section(bg: BreakglassResult) -> dict:
    from waveguard.report.demo_charts import breakglass_figure

    return {"header": BREAKGLASS_HEADER, "rows": _breakglass_rows(bg), "note": _breakglass_note(bg),
            "png": breakglass_figure(bg)["png"]}
