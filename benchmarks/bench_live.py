"""Benchmark: the live view's refresh cost against a state file of 10,000 events (target ≤ 50 ms
per refresh), as ``rollout status --watch`` refreshes: read the appended events, advance the
fold, build the view, render it at 80 columns.

    python benchmarks/bench_live.py

Prints three figures (median of 20 refreshes; wall and CPU milliseconds): the first refresh (the whole log
read and folded once, when the watch starts), a refresh after one gate evaluation was appended
(97 clusters × 3 gates = 291 events), and an idle refresh (nothing new).
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from tests.live_rollout import write_events  # noqa: E402
from waveguard.report.live import render_view  # noqa: E402
from waveguard.rollout.tail import LogTail  # noqa: E402
from waveguard.rollout.view import build_view, rollout_now  # noqa: E402

EVENTS = 10_000
RUNS = 20


def refresh(tail: LogTail) -> tuple[float, float]:
    """One refresh, timed: poll, build, render at 80 columns; (wall, CPU) seconds (the CPU
    time is what the refresh costs on a machine busy with other work)."""
    console = Console(width=80, file=io.StringIO(), force_terminal=True)
    t, cpu = time.perf_counter(), time.process_time()
    tail.poll()
    console.print(render_view(build_view(tail.live, now=rollout_now(tail.live, time.time())), 80))
    return time.perf_counter() - t, time.process_time() - cpu


def _ms(runs: list[tuple[float, float]]) -> str:
    wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    return f"{wall * 1000:7.1f} ms wall, {cpu * 1000:6.1f} ms CPU"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rollout.db"
        writer = write_events(path, EVENTS)
        total = len(writer.log.events())
        first = []
        for _ in range(5):
            tail = LogTail(path)
            first.append(refresh(tail))
            tail.close()
        tail = LogTail(path)
        refresh(tail)
        appended, idle = [], []
        for _ in range(RUNS):
            writer.evaluate()
            appended.append(refresh(tail))
            idle.append(refresh(tail))
        writer.close()
        tail.close()
    print(f"state file: {total:,} events at the start (+{RUNS} evaluations of 291 events)")
    print(f"first refresh (whole log):        {_ms(first)}")
    print(f"refresh after one evaluation:     {_ms(appended)}  (target ≤ 50 ms)")
    print(f"idle refresh (nothing appended):  {_ms(idle)}")


if __name__ == "__main__":
    main()
