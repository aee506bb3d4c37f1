"""Reading a paced, simulated fleet's timing back from Prometheus, for tests whose tolerance
must come from the scrapes actually taken (issue 14, item 10), not from a constant a loaded
machine can exceed: raw samples with their scrape timestamps, the simulated clock's value
between two scrapes, and the range a rate per simulated second can read given those scrapes."""

from __future__ import annotations

import httpx

from waveguard.rollout.paced_signals import PacedSignals

#: Tolerance left once the scrape timing is accounted for: the simulated CoreDNS's seeded
#: demand noise over one rate window (a few %).
RATE_BASE_TOLERANCE = 0.05
#: Scrape intervals the CoreDNS rate is checked over: the bracket of :func:`expected_paced_rate`
#: is about ± 1/RATE_CHECK_SCRAPES wide at a steady pace (±10 %, against ±15 % before it).
RATE_CHECK_SCRAPES = 10


def raw_samples(url: str, selector: str, span_s: float, at: float) -> list[list[tuple[float, float]]]:
    """Per series, (scrape timestamp, value) of ``selector`` as Prometheus stored them over the
    ``span_s`` wall seconds before ``at``."""
    query = f"{selector}[{int(span_s * 1000)}ms]"
    doc = httpx.get(f"{url}/api/v1/query", params={"query": query, "time": at}).json()
    return [[(float(t), float(v)) for t, v in series["values"]] for series in doc["data"]["result"]]


def sim_time_bounds(clock: list[tuple[float, float]], t: float) -> tuple[float, float]:
    """(earliest, latest) simulated time the fleet can have been at at wall time ``t``: the
    simulated clock's scrapes ``clock`` ((timestamp, simulated seconds)) just before and just
    after ``t`` (the clock never runs backwards). When the fleet stopped before its clock was
    scraped again (a halted rollout, another target scraped a moment later), the latest is the
    last scrape advanced at the fastest pace its scrapes show."""
    before = [(u, v) for u, v in clock if u <= t]
    after = [v for u, v in clock if u >= t]
    assert before, f"no scrape of the simulated clock before {t}: {clock}"
    u0, v0 = max(before)
    if after:
        return v0, min(after)
    paces = [(v1 - va) / (u1 - ua) for (ua, va), (u1, v1) in zip(clock, clock[1:], strict=False) if u1 > ua]
    assert paces, f"no scrape of the simulated clock after {t}, and no pace to bound it: {clock}"
    return v0, v0 + max(paces) * (t - u0)


def since_reset(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The samples after the last reset (a value lower than the one before: a new simulator)."""
    starts = [i for i in range(1, len(samples)) if samples[i][1] < samples[i - 1][1]]
    return samples[max(starts, default=0):]


def rate_check_window_s(url: str, cluster: str, eval_time: float, *, scrape_interval_s: float,
                        time_scale: float) -> float:
    """The rate window (simulated seconds) for the CoreDNS rate check: RATE_CHECK_SCRAPES scrape
    intervals, but not reaching back before this test's simulator started (an earlier test's
    simulator served the same series on the same port: its clock was reset since)."""
    clock = raw_samples(url, f'waveguard_sim_time_seconds{{cluster="{cluster}"}}', 60.0, eval_time)[0]
    started = since_reset(clock)[0][0]
    wall_s = min(RATE_CHECK_SCRAPES * scrape_interval_s, eval_time - started - scrape_interval_s)
    assert wall_s >= 4 * scrape_interval_s, f"the simulator ran only {eval_time - started:.1f} s"
    return wall_s * time_scale


def expected_paced_rate(url: str, cluster: str, metric: str, per_sim_s: float, readings: PacedSignals, *,
                        scrape_interval_s: float) -> tuple[float, float]:
    """(low, high) for ``readings.rate(metric, cluster)`` when ``metric`` grows by
    ``per_sim_s`` per simulated second, from the scrapes Prometheus actually took.

    The reading is Prometheus' rate of the counter (per wall second, over the counter's own
    scrapes in the window) divided by the rate of the simulated clock (over *its* scrapes,
    taken at other moments): the two agree only while the simulator keeps a steady pace. The
    counter grew by ``per_sim_s`` × the simulated seconds between its first and last scrape in
    the window; those are bracketed by the clock's scrapes around the two timestamps
    (:func:`sim_time_bounds`). The bracket holds however uneven the machine made the pace; it
    is about ± one scrape interval over the window wide."""
    inner = readings.inner
    assert inner.eval_time is not None
    window_s = inner.config.rate_window_s(inner.window_s)
    counter = raw_samples(url, f'{metric}{{cluster="{cluster}"}}', window_s, inner.eval_time)
    first, last = min(s[0][0] for s in counter), max(s[-1][0] for s in counter)
    clock = raw_samples(url, f'waveguard_sim_time_seconds{{cluster="{cluster}"}}',
                         window_s + 4 * scrape_interval_s, inner.eval_time + 2 * scrape_interval_s)[0]
    clock = since_reset(clock)
    (first_lo, first_hi), (last_lo, last_hi) = sim_time_bounds(clock, first), sim_time_bounds(clock, last)
    grown = sum(s[-1][1] - s[0][1] for s in counter if s[0][0] == first and s[-1][0] == last)
    per_wall_s = inner.rate(metric, cluster)
    clock_rate = readings.measured_time_scale(cluster)
    assert grown > 0 and per_wall_s and clock_rate, (grown, per_wall_s, clock_rate)
    # Prometheus' extrapolation of the counter's scrapes to the window's edges, as it applied it.
    extrapolation = per_wall_s / (grown / (last - first))
    scale = per_sim_s * extrapolation / (last - first) / clock_rate
    return scale * (last_lo - first_hi), scale * (last_hi - first_lo)


def clock_samples(url: str, cluster: str, span_s: float, at: float) -> list[tuple[float, float]]:
    """(scrape timestamp, simulated seconds) of ``cluster``'s simulated clock as Prometheus
    stored them over the ``span_s`` wall seconds before ``at``."""
    query = f'waveguard_sim_time_seconds{{cluster="{cluster}"}}[{int(span_s * 1000)}ms]'
    doc = httpx.get(f"{url}/api/v1/query", params={"query": query, "time": at}).json()
    result = doc["data"]["result"]
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def max_sim_step(url: str, cluster: str, start: float, end: float) -> float:
    """The most simulated seconds that passed between two consecutive scrapes of ``cluster``
    while the rollout ran (wall times ``start``..``end``); 0 without two samples."""
    samples = clock_samples(url, cluster, end - start, end)
    return max((v1 - v0 for (_, v0), (_, v1) in zip(samples, samples[1:], strict=False)), default=0.0)
