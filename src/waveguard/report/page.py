"""What every HTML report shares: the page around it, the line saying what made it, the writer.

Every report (``demo``, ``simulate``, ``fidelity``, ``rollout report``) is one self-contained
UTF-8 page: a header with the version, the command line, the seed and the time of generation,
a summary, then tables and charts (:mod:`waveguard.report.charts`). It is written atomically
(:func:`waveguard.model.yamlio.write_text_atomically`): a failure leaves no partial page.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from waveguard.model.errors import InputError
from waveguard.report.charts import PAGE_WIDTH_PX

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="waveguard {{ meta.version }}">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: {{ width }}px; padding: 0 1rem;
       color: #1d1d1d; line-height: 1.4; }
h1 { font-size: 1.55rem; margin-bottom: .3rem; } h2 { font-size: 1.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .6rem 0; }
td, th { padding: .3rem .65rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { text-align: left; background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { white-space: nowrap; } /* a cluster name (DNS label, ≤ 63 characters) is read whole */
tr.bad td { background: #fde3e0; } tr.warn td { background: #fff4d6; }
img.chart { width: 100%; height: auto; display: block; margin: .4rem 0 1rem; }
.meta { color: #555; font-size: .85rem; border-bottom: 1px solid #ddd; padding-bottom: .5rem; }
.meta code { background: #f4f4f4; padding: 0 .25rem; }
.summary { background: #f5f8fc; border-left: 4px solid #2c6db3; padding: .7rem 1rem; margin: 1rem 0; }
.summary p { margin: .3rem 0; } .summary .bad { color: #b3261e; font-weight: 600; }
.definition { background: #fafafa; border: 1px solid #ddd; padding: .5rem .8rem; font-size: .9rem; }
.note { color: #555; font-size: .88rem; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">waveguard {{ meta.version }} · <code>{{ meta.command }}</code> ·
seed {{ meta.seed if meta.seed is not none else "none (nothing random)" }} · generated {{ meta.generated }}</p>
{% block body %}{% endblock %}
</body></html>
"""


@dataclass(frozen=True)
class ReportMeta:
    """What made a report: waveguard's version, the command line, the simulator's seed (a number;
    a phrase when there are several, e.g. fidelity's "each scenario's own"; None: nothing random,
    a rollout on real clusters) and the time of generation (UTC)."""

    version: str
    command: str
    seed: int | str | None
    generated: str

    @classmethod
    def now(cls, seed: int | str | None) -> ReportMeta:
        from waveguard import __version__

        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return cls(version=__version__, command=command_line(), seed=seed, generated=stamp)


def command_line(argv: list[str] | None = None) -> str:
    """The command line of this process (``argv``, default ``sys.argv``) as a shell would take
    it: ``waveguard …`` when it runs the ``waveguard`` entry point (or ``python -m
    waveguard.cli.main``), else the program and its arguments as they are (a test runner)."""
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else "python"
    if program == "waveguard" or Path(argv[0] if argv else "").as_posix().endswith("waveguard/cli/main.py"):
        return shlex.join(["waveguard", *argv[1:]])
    return shlex.join([program, *argv[1:]])


def count(n: float, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 cluster", "15 clusters", "1,041 OOM kills"."""
    return f"{n:,.0f} {noun}" + ("" if round(n) == 1 else "s")


def render_page(body: str, title: str, meta: ReportMeta, **context) -> str:
    """The HTML of a report: ``body`` (a Jinja template of ``{% block body %}``, autoescaped)
    rendered with ``context`` inside the shared page. Raises InputError naming the ``report``
    extra when Jinja2 or matplotlib is not installed."""
    from waveguard.model.extras import require_extra

    require_extra("report", "--report (HTML)")
    from jinja2 import DictLoader, Environment, select_autoescape

    env = Environment(loader=DictLoader({"base": _BASE, "page": '{% extends "base" %}{% block body %}'
                                         + body + "{% endblock %}"}),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    return env.get_template("page").render(title=title, meta=meta, width=PAGE_WIDTH_PX, **context)


def write_page(path: str | Path, html: str, option: str = "--report") -> None:
    """Write ``html`` to ``path`` atomically as UTF-8. Raises InputError naming ``path`` (and
    ``option``) when it cannot be written; nothing partial is left."""
    from waveguard.model.yamlio import write_text_atomically

    try:
        write_text_atomically(path, html)
    except InputError as exc:
        raise InputError(str(path), f"cannot write report: {exc.message.removeprefix('cannot write: ')}", hint=f"check {option}") from None
