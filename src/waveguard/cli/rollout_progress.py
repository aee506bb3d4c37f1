"""What a running rollout shows: progress bars per wave on stderr, or the ``-o json`` event stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from waveguard.cli.common import err_console, render_document

if TYPE_CHECKING:
    from waveguard.model.fleet import Fleet
    from waveguard.rollout.eventlog import Event
    from waveguard.rollout.plan import Plan


def event_line(e: Event) -> str:
    """One event of the ``-o json`` stream, one line: ``apiVersion``, ``kind: RolloutEvent``,
    ``event`` (the event's kind), ``time`` (wall clock, RFC 3339 UTC; null where the state file
    does not know it) and the rest of :meth:`Event.as_json` (``seq``, ``t`` in rollout seconds,
    ``wave``, ``cluster``, the payload)."""
    body = e.as_json()
    body["event"] = body.pop("kind")
    body["time"] = e.time
    return render_document("RolloutEvent", body, "json", indent=None)


class Reporter:
    """Progress bars per wave on stderr, or one JSON object per event on stdout."""

    def __init__(self, plan: Plan, fleet: Fleet, as_json: bool) -> None:
        self.as_json = as_json
        self.plan, self.fleet = plan, fleet
        self.progress = None if as_json else Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
            console=err_console, transient=False)
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def __call__(self, e: Event) -> None:
        if self.as_json:
            typer.echo(event_line(e))
            return
        progress = self.progress
        if progress is None or e.wave is None or e.wave >= len(self.plan.waves):
            return
        wave = self.plan.waves[e.wave]
        if e.wave not in self.tasks:
            total = len(self.plan.clusters_of(wave, self.fleet))
            self.tasks[e.wave] = progress.add_task(f"wave {e.wave} {wave.name}", total=total + 1, status="")
        task = self.tasks[e.wave]
        if e.kind == "applied":
            progress.update(task, advance=1, status=f"applied {e.cluster}")
        elif e.kind == "wave_passed":
            progress.update(task, advance=1, status="passed")
        elif e.kind == "halted":
            progress.update(task, status=f"[red]halted[/]: {e.data.get('reason', '')}")
        elif e.kind == "paused":
            progress.update(task, status=f"[yellow]paused[/]: {e.data.get('reason', '')}")
        elif e.kind == "rolled_back" and e.cluster is None:
            progress.update(task, status="[red]rolled back[/]")
