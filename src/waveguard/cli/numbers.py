"""Number options of the commands: finite, within their bounds, each error naming the value."""

from __future__ import annotations

import math
from typing import Any

import typer


def finite_number(low: float, high: float | None = None, low_why: str = ""):
    """typer's ``parser=`` for a number option: a finite float from ``low`` to ``high``
    (``low_why``: why not lower, a few words for the error line). Raises typer.BadParameter
    naming the value: click's own range check let ``nan`` through to its bound ("must be at
    most 1"), which it does not cross."""
    def parse(value: Any) -> Any:
        if value is None or isinstance(value, float):
            return value
        try:
            number = float(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"{value!r} is not a finite number")
        if number < low:
            raise typer.BadParameter(f"{value} is under {low:g}" + (f", {low_why}" if low_why else ""))
        if high is not None and number > high:
            raise typer.BadParameter(f"{value} is over {high:g}")
        return number
    return parse
