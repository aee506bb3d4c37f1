"""From sample outcomes to the figures a platform team decides on, each with a 95 % interval.

* probability that any production control plane saturates: Wilson score interval (a binomial
  proportion: exact enough for the small counts a safe plan gives, never outside 0..1);
* expected and 95th-percentile blast radius: percentile bootstrap over the samples;
* which gate halts and how often: proportions with Wilson intervals;
* sensitivity: Spearman's rank correlation of each drawn assumption with the outcome (the
  saturated count, ties broken by blast radius), with a bootstrap interval — which assumption
  drives the risk.

Samples whose world saturates a production control plane *without* the change are dropped and
counted: today's fleet runs healthy without it, so such a world is ruled out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from waveguard.risk.sample import SampleOutcome

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054
#: Bootstrap resamples for the intervals (the percentile bootstrap's usual 1,000–2,000).
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    """A figure and its 95 % interval."""

    value: float
    low: float
    high: float

    def as_json(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class RiskSummary:
    """The sweep's answer. ``samples``: samples kept; ``ruled_out``: samples dropped because their
    world saturated production without the change; ``gate_halts``: gate → share of samples it
    halted (``completed``: no halt); ``sensitivity``: assumption → rank correlation with harm,
    strongest first."""

    samples: int
    ruled_out: int
    p_saturation: Estimate
    expected_blast_radius_pct: Estimate
    p95_blast_radius_pct: Estimate
    gate_halts: dict[str, Estimate]
    sensitivity: dict[str, Estimate]

    def as_json(self) -> dict:
        return {"samples": self.samples, "ruled_out": self.ruled_out,
                "p_saturation": self.p_saturation.as_json(),
                "expected_blast_radius_pct": self.expected_blast_radius_pct.as_json(),
                "p95_blast_radius_pct": self.p95_blast_radius_pct.as_json(),
                "gate_halts": {k: v.as_json() for k, v in self.gate_halts.items()},
                "sensitivity": {k: v.as_json() for k, v in self.sensitivity.items()}}


def wilson(successes: int, trials: int) -> Estimate:
    """The proportion ``successes / trials`` with its Wilson score 95 % interval."""
    if trials == 0:
        return Estimate(math.nan, 0.0, 1.0)
    p = successes / trials
    denom = 1 + Z95**2 / trials
    centre = (p + Z95**2 / (2 * trials)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap(values: np.ndarray, statistic, rng: np.random.Generator) -> Estimate:
    """``statistic(values)`` with its percentile-bootstrap 95 % interval."""
    if len(values) == 0:
        return Estimate(math.nan, math.nan, math.nan)
    picks = rng.integers(len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    resampled = np.array([statistic(values[p]) for p in picks])
    low, high = np.nanpercentile(resampled, [2.5, 97.5])
    return Estimate(float(statistic(values)), float(low), float(high))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's coefficient needs: scipy's
    ``rankdata(method="average")``, kept here because scipy (1.17.1: a 35 MB wheel, 114 MB
    installed) is not a dependency and these lines alone do not justify it."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (0 when either is constant)."""
    rx, ry = _ranks(x), _ranks(y)
    sx, sy = rx.std(), ry.std()
    return 0.0 if sx == 0 or sy == 0 else float(((rx - rx.mean()) * (ry - ry.mean())).mean() / (sx * sy))


def _sensitivity(kept: list[SampleOutcome], harm: np.ndarray, rng: np.random.Generator) -> dict[str, Estimate]:
    """Assumption → Spearman ρ with ``harm``, strongest first; empty when harm did not vary
    (nothing drives an outcome that never changes) or an assumption was not drawn."""
    table: dict[str, Estimate] = {}
    if len(kept) < 3 or np.all(harm == harm[0]):
        return table
    for name in kept[0].factors:
        x = np.array([o.factors[name] for o in kept])
        if np.all(x == x[0]):
            continue  # not drawn in this sweep
        pairs = np.column_stack([x, harm])
        table[name] = bootstrap(pairs, lambda p: spearman(p[:, 0], p[:, 1]), rng)
    return dict(sorted(table.items(), key=lambda kv: -abs(kv[1].value)))


def summarise(outcomes: list[SampleOutcome], seed: int) -> RiskSummary:
    """The figures of a sweep (outcomes in sample order; ``seed``: the sweep's, so the bootstrap
    is reproducible too)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB007]))
    kept = [o for o in outcomes if o.baseline_saturated == 0]
    n = len(kept)
    blast = np.array([o.blast_radius_pct for o in kept])
    halts: dict[str, int] = {}
    for o in kept:
        halts[o.halted_by or "completed"] = halts.get(o.halted_by or "completed", 0) + 1
    # Harm: saturated control planes first, blast radius breaks ties (a sweep with no saturation
    # still says which assumption widens the blast radius).
    harm = np.array([o.saturated * 1000.0 + o.blast_radius_pct for o in kept])
    return RiskSummary(
        samples=n, ruled_out=len(outcomes) - n,
        p_saturation=wilson(sum(o.saturated > 0 for o in kept), n),
        expected_blast_radius_pct=bootstrap(blast, np.mean, rng),
        p95_blast_radius_pct=bootstrap(blast, lambda v: np.percentile(v, 95), rng),
        gate_halts={k: wilson(v, n) for k, v in sorted(halts.items(), key=lambda kv: -kv[1])},
        sensitivity=_sensitivity(kept, harm, rng))
