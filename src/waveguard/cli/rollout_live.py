"""The live view of a rollout: ``rollout status --watch`` (a state file driven by any process)
and what ``rollout start`` / ``resume`` show while they drive one.

Both render :func:`waveguard.rollout.view.build_view` of a
:class:`~waveguard.rollout.view.LiveFold` with :mod:`waveguard.report.live`: ``--watch`` tails
the log (each refresh reads only the appended events), ``start``/``resume`` feed it the events
the engine writes. ``--json`` prints one JSON object per refresh that saw new events.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import typer
from rich.console import Console, RenderableType
from rich.live import Live

from waveguard.cli.common import input_errors, render_document, stdout_console, wrapped_lines
from waveguard.cli.trim import trimmed

if TYPE_CHECKING:
    from waveguard.rollout.eventlog import Event, EventLog, RolloutState
    from waveguard.rollout.view import LiveFold

#: Rollout statuses after which nothing more is written: the watch ends.
ENDED = ("completed", "rolled_back")


def _render(live: LiveFold, width: int, age: float | None = None) -> RenderableType:
    """The view now: the rollout's clock runs on between events (rollout_now)."""
    from waveguard.report.live import render_view
    from waveguard.rollout.view import build_view, rollout_now

    return render_view(build_view(live, now=rollout_now(live, time.time())), width, last_event_age_s=age)


def watch(state: Path, as_json: bool, interval: float, *, sleep: Callable[[float], None] = time.sleep) -> str:
    """Follow the rollout at ``state`` until it ends (or Ctrl-C); its last status. Refreshes
    every ``interval`` wall seconds."""
    from waveguard.rollout.tail import LogTail

    with input_errors():
        tail = LogTail(state)
    console = Console(file=sys.stdout)  # rich: the terminal's width, else COLUMNS or 80; honours NO_COLOR
    seen = time.monotonic()
    try:
        with _live_or_plain(console, as_json) as show:
            first = True
            while True:
                with input_errors():
                    new = tail.poll()
                now = time.monotonic()
                seen = now if new else seen
                if new or first or not as_json:  # the terminal redraws each time: its clock runs on
                    show(tail.live, None if tail.live.state.status in ENDED else now - seen, bool(new or first))
                first = False
                if tail.live.state.status in ENDED:
                    break
                sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        tail.close()
    return str(tail.live.state.status)


class _live_or_plain:  # noqa: N801 (a context manager used like a function)
    """Show a view: JSON lines, a rich Live region on a terminal, or the whole view printed
    again on each change when stdout is a file or a pipe."""

    def __init__(self, console: Console, as_json: bool) -> None:
        self.console, self.as_json = console, as_json
        self.live: Live | None = None
        if not as_json and console.is_terminal:
            self.live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> Callable[[LiveFold, float | None, bool], None]:
        if self.live is not None:
            self.live.start()
        return self.show

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def show(self, fold: LiveFold, age: float | None, changed: bool) -> None:
        if self.as_json:
            from waveguard.report.live import view_json
            from waveguard.rollout.view import build_view

            typer.echo(render_document("RolloutView", view_json(build_view(fold)), "json", indent=None))
        elif self.live is not None:
            self.live.update(_render(fold, self.console.width, age), refresh=True)
        elif changed:
            self.console.print(_render(fold, self.console.width))
            self.console.print()


def event_line(e: Event) -> str:
    """One event of the ``-o json`` stream, one line: ``apiVersion``, ``kind: RolloutEvent``,
    ``event`` (the event's kind), ``time`` (wall clock, RFC 3339 UTC; null where the state file
    does not know it) and the rest of :meth:`Event.as_json` (``seq``, ``t`` in rollout seconds,
    ``wave``, ``cluster``, the payload)."""
    body = e.as_json()
    body["event"] = body.pop("kind")
    body["time"] = e.time
    return render_document("RolloutEvent", body, "json", indent=None)



class LiveReporter:
    """``start``/``resume``: the live view on stderr while the engine runs (rich Live, redrawn
    four times a second from the fold of the events written so far), or one JSON object per
    event on stdout (``--json``)."""

    def __init__(self, log: EventLog, as_json: bool) -> None:
        from waveguard.rollout.view import LiveFold

        self.as_json = as_json
        self.fold = LiveFold()
        self.lock = threading.Lock()  # the Live thread reads the fold the engine's thread advances
        self.console = trimmed(Console(stderr=True))  # its tables' lines end without spaces
        self.live = None if as_json else Live(get_renderable=self._renderable, console=self.console,
                                              refresh_per_second=4, transient=False)
        for e in log.events():  # a resumed rollout: what happened before
            self.fold.apply(e)

    def _renderable(self) -> RenderableType:
        with self.lock:
            return _render(self.fold, self.console.width)

    def __enter__(self) -> LiveReporter:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            if not self.console.is_terminal:
                self.console.line()  # Live prints its last frame without the line's end

    def __call__(self, e: Event) -> None:
        if self.as_json:
            typer.echo(event_line(e))
        if e.seq <= self.fold.state.last_seq:
            return  # already read when the view started
        with self.lock:
            self.fold.apply(e, time.time())


def print_status(state: RolloutState, console: Console | None = None) -> None:
    """``rollout status`` (and the end of ``start``/``resume``) as lines: status, halt, pause,
    clusters running the change, and each cluster's rollback state; on ``console`` (default:
    standard output's)."""
    console = console or stdout_console()
    # the wave index points past the plan once it completed: say how many passed instead
    where = (f"every wave passed ({len(state.passed_waves)})" if state.status == "completed"
             else f"wave {state.wave}")
    from waveguard.report.live import duration  # m:ss from the start, as the live view says it

    console.print(f"status: [bold]{state.status}[/] at {duration(state.last_t)}, {where}")
    for label, reason in (("halted", state.halt.get("reason") if state.halt else None),
                          ("paused", state.pause_reason)):
        for line in wrapped_lines(f"{label}: {reason}", console.width) if reason else []:
            console.print(line, highlight=False, markup=False)
    running = {c: s for c, s in state.shares.items() if s > 0}
    console.print(f"clusters running the change: {len(running)}; rolled back: {len(state.rolled_back)}")
    for cluster, where in sorted(state.cluster_state.items()):  # issue 14: each cluster's rollback state
        if cluster in state.rollback_pending:
            console.print(f"rollback pending on {cluster}: {state.rollback_pending[cluster]} "
                          "(waveguard rollout resume retries)", highlight=False, markup=False)
        elif where in ("rolling_back", "rolled_back"):
            console.print(f"{cluster}: {where}", highlight=False, markup=False)
