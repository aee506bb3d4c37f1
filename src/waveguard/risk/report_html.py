"""``waveguard risk --report FILE``: the sweep as one self-contained HTML page (summary first,
then the blast-radius distribution, the sensitivity chart, the assumptions and their bases, and
who made it)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from waveguard.model.yamlio import write_text_atomically
from waveguard.risk.assumptions import BASES
from waveguard.risk.render import summary_rows
from waveguard.risk.sweep import Sweep

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>waveguard risk: {{ meta.plan }}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
img{width:100%}.meta{color:#666;font-size:13px}</style></head><body>
<h1>Risk of rolling out {{ meta.plan }}</h1>
<p>{{ samples }} sampled worlds, each a full simulated rollout of the plan with its gates. A production
control plane <em>saturates</em> when it answers 429s, breaks a latency SLO or has no apiserver up, for
a sustained period (the simulator's one definition). Intervals are 95 %.</p>
<table>{% for k, v in rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>Blast radius across samples</h2><img alt="blast radius histogram" src="data:image/png;base64,{{ blast_png }}">
{% if sensitivity %}<h2>What drives the risk</h2>
<p>Spearman's rank correlation of each drawn assumption with harm (saturated control planes, then blast radius).</p>
<table><tr><th>assumption</th><th>ρ</th><th>95 %</th><th>range drawn</th></tr>
{% for name, e in sensitivity %}<tr><td>{{ name }}</td><td>{{ "%+.2f"|format(e.value) }}</td>
<td>{{ "%+.2f"|format(e.low) }} … {{ "%+.2f"|format(e.high) }}</td><td>{{ bases.get(name, "") }}</td></tr>{% endfor %}
</table>{% else %}<p>The outcome did not vary across samples: no assumption drives it.</p>{% endif %}
<h2>Assumptions</h2><ul>{% for k, v in bases.items() %}<li><b>{{ k }}</b>: {{ v }}</li>{% endfor %}</ul>
<p class="meta">waveguard {{ meta.version }} · seed {{ meta.seed }} · {{ meta.executor }} · generated
{{ meta.generated }}<br><code>{{ meta.command }}</code></p></body></html>
"""


def _blast_png(blast: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.2), dpi=160)
    ax.hist(blast, bins=[2.5 * k for k in range(41)], color="#4c72b0")
    ax.set_xlabel("blast radius (% of production nodes that ran the change)")
    ax.set_ylabel("samples")
    ax.set_xlim(0, 100)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(sweep: Sweep, meta: dict, path: Path) -> None:
    """Write the page to ``path`` whole or not at all (UTF-8). Raises InputError when it cannot,
    or when the ``report`` extra (Jinja2, matplotlib) is not installed."""
    from waveguard.model.extras import require_extra

    require_extra("report", "--report (HTML)")
    from jinja2 import Environment

    kept = [o for o in sweep.outcomes if o.baseline_saturated == 0]
    html = Environment(autoescape=True).from_string(_TEMPLATE).render(
        meta=meta, samples=sweep.summary.samples, rows=summary_rows(sweep.summary),
        blast_png=_blast_png(np.array([o.blast_radius_pct for o in kept])),
        sensitivity=list(sweep.summary.sensitivity.items()),
        bases=BASES)
    write_text_atomically(path, html)
