"""What every command shares: one-line errors and exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console

from waveguard.model.errors import InputError

#: Exit codes: 0 fine, 1 findings/gates at or above the threshold, 2 bad input.
EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2

err_console = Console(stderr=True, soft_wrap=True, highlight=False)


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn InputError into one line on stderr and exit 2 (never a traceback)."""
    try:
        yield
    except InputError as exc:
        err_console.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def stdout_console() -> Console:
    return Console(file=sys.stdout, soft_wrap=False, width=200 if not sys.stdout.isatty() else None)


def table_console() -> Console:
    """stdout for tables that fit the width (issue 16): the terminal's width, else $COLUMNS,
    else 80 columns (piped), so a piped table reads as it does on an 80-column terminal."""
    return Console(file=sys.stdout, soft_wrap=False)
