"""``waveguard rollout report --state FILE``: a finished rollout as one self-contained HTML page.

Summary first (status, how far it got, why it stopped), then the waves as a timeline, every
gate's values over time against its threshold, the projection behind the halt, the tables of
waves, the halt's failed results and the rollout's other events. Read from the state file alone
(:mod:`waveguard.report.rollout_data`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from waveguard.report import rollout_charts
from waveguard.report.page import ReportMeta, render_page, write_page
from waveguard.report.rollout_data import RolloutRecord, projection_for_halt, read_rollout
from waveguard.report.sim import clock

_BODY = """
<div class="summary">{% for line in summary %}<p class="{{ line.cls }}">{{ line.text }}</p>{% endfor %}</div>
<p class="note">State file <code>{{ path }}</code> · {{ n_events }} events · backend {{ backend }} ·
times are H:MM:SS from the start of the rollout.</p>
{% for fig in figures %}<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img class="chart" alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">{% endfor %}
<h2>Waves</h2>
<table><tr><th>#</th><th>wave</th><th>share of nodes</th><th>bake</th><th>clusters</th><th>applied</th>
<th>started</th><th>ended</th><th>outcome</th></tr>
{% for w in waves %}<tr class="{{ 'bad' if w.outcome == 'halted' else '' }}"><td>{{ w.index }}</td><td>{{ w.name }}</td>
<td class="num">{{ '%.0f %%' % (w.node_share * 100) }}</td><td class="num">{{ clock(w.bake_s) }}</td>
<td class="num">{{ w.clusters }}</td><td class="num">{{ w.applied }}</td><td class="num">{{ clock(w.started_s) }}</td>
<td class="num">{{ clock(w.ended_s) }}</td><td>{{ w.outcome }}</td></tr>{% endfor %}</table>
{% if failed %}<h2>Why it halted: the failed results</h2>
<table><tr><th>gate</th><th>cluster</th><th>value</th><th>threshold</th><th>detail</th></tr>
{% for f in failed %}<tr class="bad"><td>{{ f.gate }}</td><td class="name">{{ f.cluster }}</td>
<td class="num">{{ '%.3g' % f.value if f.value is not none else 'not read' }}</td>
<td class="num">{{ '%g' % f.threshold if f.threshold is not none else '—' }}</td><td>{{ f.detail }}</td></tr>
{% endfor %}</table>{% endif %}
{% if projection %}<h2>The projection, per cluster</h2><p class="note">{{ projection_caption }}.</p>
<table><tr><th>cluster</th><th>projected</th><th>threshold</th><th>verdict</th><th>detail</th></tr>
{% for p in projection %}<tr class="{{ 'bad' if p.status == 'fail' else '' }}"><td class="name">{{ p.cluster }}</td>
<td class="num">{{ '%.2f' % p.value if p.value is not none else '—' }}</td>
<td class="num">{{ '%.2f' % p.threshold }}</td><td>{{ p.status }}</td><td>{{ p.detail }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Events</h2><p class="note">Every event but the gate results (charted above) and the per-cluster applies
(counted in the waves table).</p>
<table><tr><th>seq</th><th>time</th><th>event</th><th>wave</th><th>cluster</th><th>detail</th></tr>
{% for e in events %}<tr><td class="num">{{ e.seq }}</td><td class="num">{{ clock(e.t) }}</td><td>{{ e.kind }}</td>
<td class="num">{{ e.wave if e.wave is not none else '' }}</td><td class="name">{{ e.cluster or '' }}</td><td>{{ e.detail }}</td></tr>
{% endfor %}</table>
"""

#: Event kinds the events table leaves out (gate results are charted; applies are counted per wave).
_NOT_LISTED = {"gate", "apply_started", "applied"}


def write_report(state: str | Path, path: str | Path, meta: ReportMeta | None = None) -> RolloutRecord:
    """Render the rollout in the state file ``state`` to ``path`` (atomically); the record read.
    Raises InputError for an unreadable state file or an unwritable ``path``."""
    record = read_rollout(state)
    write_page(path, render_report(record, meta), option="--output-file")
    return record


def render_report(record: RolloutRecord, meta: ReportMeta | None = None) -> str:
    """The page's HTML (self-contained); ``meta`` defaults to this command, now."""
    from waveguard.rollout.gates import GATES

    units = {name: gate.unit for name, gate in GATES.items()}
    caption, projection = projection_for_halt(record)
    figures = [rollout_charts.waves_figure(record), rollout_charts.gates_figure(record, units),
               rollout_charts.gates_figure(record, units, close_up=True),
               rollout_charts.projection_figure(caption, projection)]
    return render_page(
        _BODY, f"waveguard rollout report — {Path(record.change).name or record.path}",
        meta or ReportMeta.now(record.seed), summary=summary_lines(record), path=record.path,
        n_events=len(record.events), backend=record.backend, figures=[f for f in figures if f is not None],
        waves=record.waves, clock=clock, failed=_failed(record),
        projection=projection, projection_caption=caption,
        events=[{"seq": e.seq, "t": e.t, "kind": str(e.kind), "wave": e.wave, "cluster": e.cluster,
                 "detail": _detail(e.data)} for e in record.events if e.kind not in _NOT_LISTED],
    )


def _failed(record: RolloutRecord) -> list[dict]:
    """The halt's failed results; one failed for want of an apiserver has no value (its 0.0 was not read)."""
    from waveguard.rollout.gates.registry import APISERVER_DOWN_DETAIL

    return [dict(f, value=None) if f.get("detail") == APISERVER_DOWN_DETAIL else f
            for f in (record.halt or {}).get("failed") or []]


def _detail(data: dict) -> str:
    """An event's payload as one short line (the plan, fleet and frozen change left out)."""
    shown = {k: v for k, v in data.items() if k not in ("plan", "fleet_model", "change", "failed", "previous")}
    return "; ".join(f"{k}: {_shown(v)}" for k, v in shown.items())


def _shown(value: Any) -> str:
    """A payload value as the state file and ``-o json`` spell it (``true``, ``kind=sim``), a
    number to 4 significant digits — not Python's ``True``, ``{'kind': 'sim'}``, 0.8429889652103619."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def halt_headline(record: RolloutRecord) -> str | None:
    """Why the rollout halted, first: when, in which wave, by which gate on which cluster (and,
    for the projection, that it was before the wave's apply), with the figure; None when it
    did not halt."""
    halt, waves = record.halt, record.waves
    if halt is None:
        return None
    index = halt.get("wave")
    wave = f"wave {index} ({waves[index].name})" if isinstance(index, int) and index < len(waves) else "the rollout"
    when = f"Halted at {clock(float(halt['t']))} in {wave}"
    gate = halt.get("gate")
    if not gate:  # an operator's abort, a lost target: the reason is the whole story
        return f"{when}: {halt.get('reason')}."
    before = ", before its apply," if halt.get("before_apply") else ""
    where = f" on {halt['cluster_failed']}" if halt.get("cluster_failed") else ""
    failed = [f for f in halt.get("failed") or [] if f.get("gate") == gate]
    detail = failed[0].get("detail") if failed else halt.get("reason")
    return f"{when}{before} by the {gate} gate{where}: {detail}."


def summary_lines(record: RolloutRecord) -> list[dict]:
    """Where the rollout ended, how far it got and why it stopped, from the log: a halt's
    headline (:func:`halt_headline`) first."""
    state, waves = record.state, record.waves
    passed = sum(w.outcome == "passed" for w in waves)
    stopped = state.status in ("halted", "rolled_back", "rolling_back")
    headline = halt_headline(record)
    lines = [{"text": headline, "cls": "bad headline"}] if headline else []
    lines.append({"text": f"Status: {state.status} after {clock(record.end_s)}; {passed} of {len(waves)} waves "
                  "passed.", "cls": "bad" if stopped else ""})
    reached = sorted({c for (_, c) in state.applied})
    if reached:
        running = sum(1 for s in state.shares.values() if s > 0)
        lines.append({"text": f"The change reached {_count(len(reached), 'cluster')}; {running} still run it; "
                      f"{len(state.rolled_back)} rolled back"
                      + (f"; rollback pending on {', '.join(sorted(state.rollback_pending))}"
                         if state.rollback_pending else "") + ".", "cls": ""})
    counted = {kind: sum(s.status.count(kind) for g in record.gates.values() for s in g.values())
               for kind in ("fail", "down", "no-data")}
    total = sum(len(s.status) for g in record.gates.values() for s in g.values())
    down = f" ({counted['down']:,} of them: no apiserver up, nothing read)" if counted["down"] else ""
    projected = " (the projection that halted the rollout is made before a wave's apply, not during a bake)" \
        if (record.halt or {}).get("before_apply") else ""
    lines.append({"text": f"{total:,} gate results during the bakes: {counted['fail'] + counted['down']:,} failed"
                  f"{down}, {counted['no-data']:,} without data{projected}.", "cls": ""})
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
