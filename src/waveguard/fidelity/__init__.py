"""``waveguard fidelity``: does the simulator reproduce what others measured on real clusters?

One scenario per published case, built only from the setup the source describes (cluster size,
object counts, client behaviour, Kubernetes version), run on the one set of physical constants
in :mod:`waveguard.model.constants`; each figure compared with the published one. Cases and
bounds: :mod:`waveguard.fidelity.cases`; discussion, tensions: docs/fidelity.md.

Public API: :func:`run_fidelity` → :class:`FidelityResult` (``rows``, ``to_json()``).
Depends on :mod:`waveguard.sim` and :mod:`waveguard.model` only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from waveguard.fidelity.cases import CHECKS, Check
from waveguard.fidelity.runs import Run, Runs

__all__ = ["CHECKS", "Check", "FidelityResult", "FidelityRow", "run_fidelity"]


@dataclass(frozen=True)
class FidelityRow:
    """One compared figure: the check and its simulated value (in the check's unit).
    ``ratio`` = simulated / published, None when the source gives no number (or 0)."""

    check: Check
    simulated: float

    @property
    def ratio(self) -> float | None:
        published = self.check.published
        if not published or not math.isfinite(self.simulated):
            return None
        return self.simulated / published

    @property
    def within_bounds(self) -> bool:
        return self.check.within(self.simulated)

    def to_json(self) -> dict:
        c = self.check
        return {
            "name": c.name, "case": c.case, "source": c.source, "measured": c.measured, "unit": c.unit,
            "published": c.published, "published_text": c.published_text,
            "simulated": _round(self.simulated), "ratio": None if self.ratio is None else round(self.ratio, 3),
            "bounds": {"low": c.bounds[0], "high": c.bounds[1], "text": c.bounds_text},
            "within_bounds": self.within_bounds,
        }


@dataclass
class FidelityResult:
    """Every check's row, the runs behind them, and the wall time (seconds)."""

    rows: list[FidelityRow]
    runs: dict[str, Run]
    wall_s: float

    @property
    def all_within_bounds(self) -> bool:
        return all(r.within_bounds for r in self.rows)

    def to_json(self) -> dict:
        """``{"cases": [{"name", "case", "source", "measured", "unit", "published",
        "published_text", "simulated", "ratio", "bounds", "within_bounds"}], "all_within_bounds",
        "wall_s"}``."""
        return {"cases": [r.to_json() for r in self.rows], "all_within_bounds": self.all_within_bounds,
                "wall_s": round(self.wall_s, 2)}


def run_fidelity(checks: tuple[Check, ...] = CHECKS,
                 progress: Callable[[int, int], None] | None = None) -> FidelityResult:
    """Simulate every scenario the checks need (each once) and compare. Deterministic: each
    scenario runs with its own seed. ``progress(done, total)`` is called after each check."""
    start = time.perf_counter()
    runs = Runs()
    rows = []
    for check in checks:
        rows.append(FidelityRow(check, float(check.measure(runs))))
        if progress is not None:
            progress(len(rows), len(checks))
    return FidelityResult(rows, runs.done(), time.perf_counter() - start)


def _round(x: float) -> float | None:
    if not math.isfinite(x):
        return None
    return round(x, 3) if abs(x) < 1000 else round(x, 1)
