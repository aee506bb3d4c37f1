"""A self-contained HTML page of a fidelity run (``waveguard fidelity --report fidelity.html``).

The comparison table, then per case the series behind its figures (matplotlib PNGs embedded as
data URIs): apiserver memory against its limit, replicas up, 429s, DNS failures.
"""

from __future__ import annotations

from pathlib import Path


from waveguard.fidelity import FidelityResult
from waveguard.fidelity.runs import Run
from waveguard.model.errors import InputError
from waveguard.model.extras import require_extra
from waveguard.report.sim import clock, figure_png

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>waveguard fidelity</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .85rem; } td, th { padding: .25rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; } img { max-width: 100%; } .note { color: #666; font-size: .85rem; }
</style></head><body>
<h1>waveguard fidelity</h1>
<p>{{ n_within }} of {{ n_rows }} figures within their bounds; {{ n_runs }} scenarios simulated in {{ wall }} s,
all on the one set of constants in <code>waveguard.model.constants</code>.</p>
<table><tr><th>case</th><th>source</th><th>what was measured</th><th>published</th><th>simulated</th>
<th>ratio</th><th>bounds</th><th>within</th></tr>
{% for r in rows %}<tr class="{{ '' if r.ok else 'bad' }}"><td>{{ r.name }}</td><td>{{ r.source }}</td><td>{{ r.measured }}</td>
<td>{{ r.published }}</td><td class="num">{{ r.simulated }}</td><td class="num">{{ r.ratio }}</td>
<td class="num">{{ r.bounds }}</td><td>{{ "yes" if r.ok else "NO" }}</td></tr>
{% endfor %}</table>
{% for fig in figures %}
<h2>{{ fig.title }}</h2><p class="note">{{ fig.note }}</p>
<img alt="{{ fig.title }}" src="data:image/png;base64,{{ fig.png }}">
{% endfor %}
<p class="note">Setups, constants each case exercises and the tensions between cases: docs/fidelity.md.</p>
</body></html>
"""


def write_report(result: FidelityResult, path: str | Path) -> None:
    """Render the report to ``path``. Raises InputError when it cannot be written."""
    html = render_report(result)
    try:
        Path(path).write_text(html)
    except OSError as exc:
        raise InputError(str(path), f"cannot write report: {exc.strerror}", hint="check --report") from exc


def render_report(result: FidelityResult) -> str:
    """The report's HTML (self-contained)."""
    require_extra("report", "--report (HTML)")
    import matplotlib
    from jinja2 import Environment, select_autoescape

    matplotlib.use("Agg")
    rows = [format_row(r) for r in result.rows]
    env = Environment(autoescape=select_autoescape(default=True))
    return env.from_string(_TEMPLATE).render(
        rows=rows, n_rows=len(rows), n_within=sum(r["ok"] for r in rows), n_runs=len(result.runs),
        wall=f"{result.wall_s:.1f}", figures=_figures(result.runs),
    )


#: Units of whole counts (printed without decimals).
_COUNTS = ("kills", "LISTs")


def format_row(row) -> dict:
    """A row's cells as text (shared by the CLI table and the HTML report)."""
    check = row.check
    return {
        "name": check.name, "source": check.source, "measured": check.measured, "published": check.published_text,
        "simulated": f"{_fmt(row.simulated, check.unit)} {check.unit}",
        "ratio": "—" if row.ratio is None else f"{row.ratio:.2f}",
        "bounds": f"{check.bounds_text} {check.unit}", "ok": row.within_bounds,
    }


def _fmt(value: float, unit: str = "") -> str:
    """A simulated figure as text: "—" for NaN (not measured), whole counts without decimals,
    else three significant figures or so."""
    if value != value:  # NaN
        return "—"
    if unit in _COUNTS:
        return f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _figures(runs: dict[str, Run]) -> list[dict]:
    figs = []
    memory = [n for n in ("antrea-1044", "antrea-1044-kubelet", "kindling-459", "kindling-459-max-unavailable-1")
              if n in runs]
    for pair in (memory[:2], memory[2:]):
        if pair:
            figs.append(_memory_plot([runs[n] for n in pair]))
    calico = [runs[n] for n in ("calico-1200", "calico-1200-backoff") if n in runs]
    if calico:
        figs.append(_calico_plot(calico))
    if "incident-2024-12-11" in runs:
        figs.append(_dns_plot(runs["incident-2024-12-11"]))
    return figs


def _memory_plot(pair: list[Run]) -> dict:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.2))
    for r in pair:
        minutes = r.result.times / 60.0
        line = ax.plot(minutes, r.result.series("process_resident_memory_bytes", r.cluster) / 2**30, linewidth=1.2,
                       label=r.scenario.name)
        limit = r.result.series("waveguard_sim_apiserver_memory_limit_bytes", r.cluster)[0] / 2**30
        ax.axhline(limit, color=line[0].get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("minutes")
    ax.set_ylabel("GiB")
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(alpha=0.3)
    names = " vs ".join(r.scenario.name for r in pair)
    return {"title": f"apiserver memory: {names}",
            "note": "process_resident_memory_bytes of the fullest replica; dashed: its memory limit (OOM kill above).",
            "png": figure_png(fig)}


def _calico_plot(runs: list[Run]) -> dict:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 4.4), sharex=True)
    for r in runs:
        minutes = r.result.times / 60.0
        axes[0].plot(minutes, r.result.series("up", r.cluster, job="apiserver"), linewidth=1.0, label=r.scenario.name)
        axes[1].plot(minutes, r.result.rate("apiserver_request_total", r.cluster, code="429"), linewidth=0.8,
                     label=r.scenario.name)
    axes[0].set_ylabel("replicas up")
    axes[1].set_ylabel("429s per second")
    axes[1].set_xlabel("minutes")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7)
    return {"title": "calico-1200: apiservers up and 429s, without and with back-off",
            "note": f"one of two replicas is held down from {clock(0)}; the other takes every client's relist.",
            "png": figure_png(fig)}


def _dns_plot(r: Run) -> dict:
    import matplotlib.pyplot as plt

    big = max(r.result.summary(), key=lambda s: s.nodes).name
    fig, ax = plt.subplots(figsize=(11, 3.2))
    minutes = r.result.times / 60.0
    ax.plot(minutes, r.result.series("waveguard_sim_dns_client_failure_ratio", big), label=f"{big}: DNS failing")
    ax.plot(minutes, r.result.series("waveguard_sim_rollout_share", big), label=f"{big}: rollout share", alpha=0.6)
    ax.plot(minutes, r.result.series("waveguard_sim_dns_client_failure_ratio", "staging"), label="staging: DNS failing")
    ax.set_xlabel("minutes")
    ax.set_ylabel("share")
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    return {"title": "incident-2024-12-11: DNS failures on the largest cluster and on staging",
            "note": "waveguard_sim_dns_client_failure_ratio: lookups failing after client and node-local caches.",
            "png": figure_png(fig)}
