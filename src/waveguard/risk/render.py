"""A sweep as people read it: a terminal table (80 columns), JSON, and an HTML report."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timezone

from rich.console import Console
from rich.table import Table

from waveguard.risk.assumptions import BASES
from waveguard.risk.summary import Estimate, RiskSummary

def percent_text(e: Estimate, digits: int = 1) -> str:
    if math.isnan(e.value):
        return "n/a"
    return f"{e.value * 100:.{digits}f} % ({e.low * 100:.{digits}f}–{e.high * 100:.{digits}f})"


def _plain(e: Estimate, unit: str = "") -> str:
    if math.isnan(e.value):
        return "n/a"
    return f"{e.value:.1f}{unit} ({e.low:.1f}–{e.high:.1f})"


def summary_rows(s: RiskSummary) -> list[tuple[str, str]]:
    """(figure, value with its 95 % interval) — the table's and the report's first rows."""
    return [
        ("samples (ruled out)", f"{s.samples} ({s.ruled_out})"),
        ("P(a production control plane saturates)", percent_text(s.p_saturation)),
        ("expected blast radius, % of production nodes", _plain(s.expected_blast_radius_pct, " %")),
        ("95th-percentile blast radius", _plain(s.p95_blast_radius_pct, " %")),
        *((f"halted by {gate}" if gate != "completed" else "completed (no halt)", percent_text(e))
          for gate, e in s.gate_halts.items()),
    ]


def print_summary(s: RiskSummary, console: Console) -> None:
    """The summary and sensitivity tables; 95 % intervals in brackets. Fits 80 columns."""
    table = Table(title="risk (95 % intervals)", header_style="bold", box=None, expand=False)
    table.add_column("figure", overflow="fold", max_width=44)
    table.add_column("value", overflow="fold")
    for row in summary_rows(s):
        table.add_row(*row)
    console.print(table, highlight=False)
    if not s.sensitivity:
        console.print("sensitivity: the outcome did not vary across samples", highlight=False)
        return
    sens = Table(title="what drives the risk (Spearman ρ with harm)", header_style="bold", box=None)
    sens.add_column("assumption", overflow="fold", max_width=22)
    sens.add_column("ρ (95 %)", no_wrap=True)
    sens.add_column("range drawn", overflow="fold", max_width=40)
    for name, e in s.sensitivity.items():
        sens.add_row(name, f"{e.value:+.2f} ({e.low:+.2f}…{e.high:+.2f})", BASES.get(name, ""))
    console.print(sens, highlight=False)


def document(s: RiskSummary, meta: dict) -> dict:
    """The body of ``risk -o json|yaml`` (the CLI adds ``apiVersion`` and ``kind: RiskSweep``)."""
    return {"metadata": meta, **s.as_json(), "assumptions": BASES}


def metadata(seed: int, samples: int, plan: str, executor: str) -> dict:
    """Who made this answer: version, command line, seed, executor, time (UTC)."""
    from waveguard import __version__

    return {"version": __version__, "command": " ".join(sys.argv), "seed": seed, "samples": samples,
            "plan": plan, "executor": executor,
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
