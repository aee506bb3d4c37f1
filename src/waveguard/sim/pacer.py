"""Hold a simulator's time to the wall clock: S simulated seconds per wall second.

One pacer serves both paths that put the simulator behind a real Prometheus, which scrapes on
the wall clock: ``waveguard exporter`` (a scenario served for as long as it runs) and the paced
rollout target (:mod:`waveguard.rollout.paced`). The simulator runs far faster than real time, so
the pacer steps it in slices of about :data:`SLICE_WALL_S` wall seconds, calls ``on_slice`` after
each (the exporter publishes the new state there) and sleeps until the wall clock catches up.

When the caller fell behind (gate evaluations between two calls, a slow machine), the pacer
catches up without sleeping; with ``max_lag_s`` set it re-anchors once it is more than that many
wall seconds late: that stretch is lost to the simulation, as a paused process's would be,
instead of arriving at Prometheus as one burst.

The clock and the sleep are injectable (``clock``, ``sleep``), so tests drive the pacer with a
fake clock and never depend on the machine's speed.
"""

from __future__ import annotations

import time
from typing import Callable

#: Wall seconds per pacing slice: how often ``on_slice`` publishes the simulator's state. A tenth
#: of the default scrape interval (1 s: ``waveguard exporter --scrape-interval``), so a scrape
#: sees a state at most a tenth of an interval old.
SLICE_WALL_S = 0.1

#: Simulated seconds below which a remainder counts as reached (float drift of summed steps).
_EPSILON_S = 1e-9


class Pacer:
    """Steps a simulator so that simulated time follows wall-clock time × ``time_scale``.

    ``advance(seconds)`` steps the simulator by that many simulated seconds; ``now()`` returns
    its simulated time (seconds). ``time_scale``: simulated seconds per wall second (> 0).
    ``min_slice_s``: the shortest step, in simulated seconds (the simulator's ``dt``).
    ``max_lag_s``: wall seconds the pacer may fall behind before it re-anchors (None: it always
    catches up). ``on_slice``: called after every slice. ``anchor``: the (wall, simulated)
    pair of seconds that pacing refers to; None takes (``clock()``, ``now()``) at the next
    :meth:`run_until`. Raises ValueError for a ``time_scale`` that is not positive."""

    def __init__(self, advance: Callable[[float], None], now: Callable[[], float], *, time_scale: float,
                 min_slice_s: float = 0.0, max_lag_s: float | None = None,
                 on_slice: Callable[[], None] | None = None, anchor: tuple[float, float] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {time_scale!r}")
        self.advance, self.now = advance, now
        self.time_scale = time_scale
        self.slice_s = max(min_slice_s, time_scale * SLICE_WALL_S)
        self.max_lag_s = max_lag_s
        self.on_slice = on_slice
        self.anchor = anchor
        self.clock, self.sleep = clock, sleep

    def run_until(self, until_s: float) -> None:
        """Step, slice by slice, until simulated time reaches ``until_s`` (seconds), sleeping
        after each slice until the wall clock is where the simulated time says it should be."""
        if self.anchor is None:
            self.anchor = (self.clock(), self.now())
        while self.now() < until_s - _EPSILON_S:
            self.advance(min(self.slice_s, until_s - self.now()))
            if self.on_slice is not None:
                self.on_slice()
            self._wait_for_wall_clock()

    def lag_s(self) -> float:
        """Wall seconds the simulator is behind its schedule (negative: ahead of it)."""
        assert self.anchor is not None, "run_until sets the anchor"
        wall0, sim0 = self.anchor
        due = wall0 + (self.now() - sim0) / self.time_scale
        return self.clock() - due

    def _wait_for_wall_clock(self) -> None:
        lag = self.lag_s()
        if lag < 0:
            self.sleep(-lag)
        elif self.max_lag_s is not None and lag > self.max_lag_s:  # fell far behind: re-anchor, no burst
            self.anchor = (self.clock(), self.now())
