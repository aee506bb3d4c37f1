"""Progress of the long commands (``demo``, ``fidelity``, ``simulate``, ``measure``) on stderr:
a rich progress bar while they work, erased when done, and nothing at all when stderr is not a
terminal (piped, redirected, CI logs), so that output read by programs carries no progress."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # rich's progress is imported on a terminal only (start-up of a piped command)
    from rich.console import Console

#: update(done, total): ``done`` of ``total`` steps (None: total unknown, a spinner).
Update = Callable[[float, "float | None"], None]


def progress_console() -> Console:
    """stderr, looked up when written to (tests swap it); rich decides whether it is a terminal
    (FORCE_COLOR and TTY_COMPATIBLE included)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress(description: str, total: float | None = None, *, counts: bool = True) -> Iterator[Update]:
    """A bar for ``description`` on stderr while the block runs; yields ``update(done, total)``.
    ``counts``: show ``done/total`` (whole steps) rather than a percentage. Disabled (every
    update a no-op) when stderr is not a terminal."""
    console = progress_console()
    if not console.is_terminal:
        yield _no_progress
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    amount = MofNCompleteColumn() if counts else TextColumn("{task.percentage:>3.0f}%")
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}[/]"), BarColumn(), amount,
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: float, new_total: float | None = None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update


def _no_progress(done: float, new_total: float | None = None) -> None:
    """The update of a progress that is not shown (stderr is not a terminal)."""
