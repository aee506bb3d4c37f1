"""APF borrowing (``staging/src/k8s.io/apiserver/pkg/util/flowcontrol/apf_controller.go``,
KEP-1040 "borrowing", on by default from 1.26 — ``APF_BORROWING_SINCE``; read at 1.29–1.35):
each level's seat demand (seats executing + seats of queued requests) is integrated every step —
its high watermark, average and standard deviation over the period (``seatDemandIntegrator``).
Every ``APF_READJUST_PERIOD_S`` (10 s, ``borrowingAdjustmentPeriod``) ``seatDemandStats.update``
smooths it: envelope = average + standard deviation, smoothed = max(envelope,
A × smoothed + (1 − A) × envelope) with A = ``APF_SEAT_DEMAND_SMOOTHING`` (0.977,
``seatDemandSmoothingCoefficient``); then ``updateBorrowingLocked`` readjusts every limited
level: lower bound max(nominal − lendable, min(nominal, high watermark)), target max(lower
bound, smoothed), upper bound nominal + borrowing limit; one common fair fraction scales the
targets so the limits sum to the server's nominal seats (``computeConcurrencyAllocation``)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY, lift_legacy_limits, per_level, refresh_limits
from waveguard.sim.state import FleetState


def track_demand(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 8: seats in use after dispatch (``used_seats``), the levels' demand high watermark
    (in use + queued), and the readjustment when its period is due."""
    # seats in use: those held before dispatch and those given by it (none held: what it gave)
    used = state.given if state.occupied is params.zeros_by_level_replica else state.occupied + state.given
    demand = used + per_level(params, state.queued * params.seats) if state.queueing else used
    np.maximum(state.used_demand_high_watermark, demand, out=state.used_demand_high_watermark)
    if state.demand_sum.shape != demand.shape:
        state.demand_sum, state.demand_sq_sum = np.zeros_like(demand), np.zeros_like(demand)
    state.demand_sum += demand
    state.demand_sq_sum += demand * demand
    state.demand_steps += 1
    state.used_seats = used
    if state.time_s + 1e-9 >= state.next_readjust_s:
        readjust(state, params)


def readjust(state: FleetState, params: SimParams) -> None:
    """Readjust every limited level's limit (module docstring). Replicas that are down keep
    their state (they restart with nominal limits); clusters before borrowing keep nominal
    limits throughout."""
    state.next_readjust_s += C.APF_READJUST_PERIOD_S
    state.demand_high_watermark[params.used_levels] = state.used_demand_high_watermark
    state.used_demand_high_watermark.fill(0.0)
    limited = params.limited_rows
    min_seats, nominal, high, total = params.borrowing_bounds
    smooth_seat_demand(state, params)
    low = np.maximum(min_seats, np.minimum(nominal, state.demand_high_watermark[limited]))
    target = np.maximum(low, state.smoothed_demand[limited])
    fair = state.fair_fraction = solve_fair_fraction(target, low, high, total, state.fair_fraction)
    state.seat_limits[limited] = np.where(state.up & params.borrows, clip(fair * target, low, high),
                                          state.seat_limits[limited])
    lift_legacy_limits(state, params)
    state.used_seat_limits = state.seat_limits[params.used_levels].copy()
    refresh_limits(state, params)


def smooth_seat_demand(state: FleetState, params: SimParams) -> None:
    """``seatDemandStats.update`` for every level: the period's average + standard deviation
    (the envelope) and smoothed = max(envelope, A × smoothed + (1 − A) × envelope); levels no
    flow uses have an envelope of 0. Resets the period's sums."""
    envelope = np.zeros(state.smoothed_demand.shape)
    steps = max(1, state.demand_steps)
    if state.demand_sum.size:
        avg = state.demand_sum / steps
        std = np.sqrt(np.maximum(state.demand_sq_sum / steps - avg * avg, 0.0))
        envelope[params.used_levels] = avg + std
        state.demand_sum.fill(0.0)
        state.demand_sq_sum.fill(0.0)
    state.demand_steps = 0
    a = C.APF_SEAT_DEMAND_SMOOTHING
    state.smoothed_demand = np.maximum(envelope, a * state.smoothed_demand + (1.0 - a) * envelope)


def clip(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``np.clip(x, low, high)`` for numbers (no NaN) as its two ufuncs, max then min (without
    np.clip's Python layers; the same values)."""
    out = np.maximum(x, low)
    return np.minimum(out, high, out=out)


def fair_fraction(target: np.ndarray, low: np.ndarray, high: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The fraction f with Σ_l clip(f × target_l, low_l, high_l) = total (the server's seats,
    broadcastable to the per-(replica, cluster) shape), per (replica, cluster).

    The sum is piecewise linear and non-decreasing in f, with breakpoints at low/target and
    high/target: evaluate it at every breakpoint, take the closest breakpoints below and above
    ``total`` and interpolate (apf_controller.go's computeConcurrencyAllocation solves the same
    problem)."""
    t = np.maximum(target, TINY)
    points = np.concatenate([low / t, high / t])  # (2L, R, C)
    sums = clip(points[:, None] * t[None], low[None], high[None]).sum(axis=1)  # (2L, R, C)
    above = sums >= total
    f_hi = np.where(above, points, np.inf).min(axis=0)
    s_hi = np.where(above & (points == f_hi), sums, np.inf).min(axis=0)
    f_lo = np.where(above, -np.inf, points).max(axis=0)
    s_lo = np.where(~above & (points == f_lo), sums, -np.inf).max(axis=0)
    f_hi = np.where(np.isfinite(f_hi), f_hi, f_lo)  # never reaches total: as far as it goes
    f_lo = np.where(np.isfinite(f_lo), f_lo, f_hi)  # already above at the lowest breakpoint
    s_hi = np.where(np.isfinite(s_hi), s_hi, s_lo)
    s_lo = np.where(np.isfinite(s_lo), s_lo, s_hi)
    frac = np.clip((total - s_lo) / np.maximum(s_hi - s_lo, TINY), 0.0, 1.0)
    return f_lo + frac * (f_hi - f_lo)


def solve_fair_fraction(target: np.ndarray, low: np.ndarray, high: np.ndarray, total: np.ndarray,
                        start: np.ndarray | None) -> np.ndarray:
    """:func:`fair_fraction`, by Newton steps from the last period's fraction (demand moves
    slowly, so one or two steps usually land on the exact segment); columns that do not
    converge are solved exactly."""
    if start is None:
        return fair_fraction(target, low, high, total)
    f = start.copy()
    for _ in range(3):
        ft = f * target
        g = clip(ft, low, high).sum(axis=0)
        if _close(g, total).all():  # on its segment already (the usual case): no more steps
            return f
        inside = (ft > low) & (ft < high)
        slope = (target * inside).sum(axis=0)
        f = np.where(slope > 0, f + (total - g) / np.maximum(slope, TINY), f)
    bad = ~_close(clip(f * target, low, high).sum(axis=0), total)
    if bad.any():
        f[bad] = fair_fraction(target[:, bad], low[:, bad], high[:, bad], total[bad])
    return f


def _close(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``(R, C)`` bool: the limits of replica r of cluster c sum to ``total`` within 1e-6 of it."""
    return np.abs(sums - total) <= 1e-6 * total
