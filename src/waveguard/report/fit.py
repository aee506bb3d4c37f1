"""Terminal tables that fit the console's width: they degrade, they do not wrap.

A table too wide for the console first drops its optional columns (highest ``drop`` first)
until it would fit with its ``flex`` columns at FLEX_MIN cells, then narrows the widest flex
columns as much as needed; a cut cell ends in an ellipsis, no cell ever wraps onto a second
line. Callers print what a dropped column held elsewhere when it matters (e.g. the
reasons, as a list below the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich import box
from rich.console import Console, Group
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

#: Width (cells) a flex column is narrowed to at most (less when its longest cell is shorter).
FLEX_MIN = 16


@dataclass(frozen=True)
class Column:
    """A table column: ``flex`` gives up its width first (cut with an ellipsis); ``drop`` > 0
    may be dropped when the table does not fit (the highest first: 1 is dropped last); 0 is always kept."""

    name: str
    justify: str = "left"
    flex: bool = False
    drop: int = 0


def cell(value: str | Text, style: str = "") -> Text:
    """A cell (or line) that never wraps (markup in a string is read: ``[red]x[/]``)."""
    text = value if isinstance(value, Text) else Text.from_markup(value, style=style)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def fitted_table(console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
                 *, show_lines: bool = False) -> tuple[Group, list[str]]:
    """The title (one line, cut to the width) over the table of ``rows`` that fits
    ``console.width``, and the names of the columns dropped."""
    cells = [[cell(value) for value in row] for row in rows]
    natural = [max([cell_len(c.name), *(t.cell_len for t in (row[i] for row in cells))])
               for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    while _width(kept, [min(natural[i], FLEX_MIN) if columns[i].flex else natural[i] for i in range(len(columns))]) \
            > console.width:
        droppable = [i for i in kept if columns[i].drop > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    widths = _narrow_flex(kept, columns, natural, console.width)
    table = Table(box=box.HEAVY_HEAD, show_lines=show_lines)
    for i in kept:
        table.add_column(columns[i].name, justify=columns[i].justify, no_wrap=True,  # type: ignore[arg-type]
                         overflow="ellipsis", max_width=widths[i] if columns[i].flex else None)
    for row in cells:
        table.add_row(*(row[i] for i in kept))
    return Group(cell(title, "bold"), table), [columns[i].name for i in range(len(columns)) if i not in kept]


def _width(kept: list[int], widths: Sequence[int]) -> int:
    """A boxed table's width: its columns, one cell of padding each side, the rules between."""
    return sum(widths[i] + 3 for i in kept) + 1


def _narrow_flex(kept: list[int], columns: Sequence[Column], natural: list[int], width: int) -> list[int]:
    """Column widths with the widest flex columns narrowed, one cell at a time, down to
    FLEX_MIN (or their natural width), until the table fits ``width``."""
    widths = list(natural)
    flex = [i for i in kept if columns[i].flex]
    while _width(kept, widths) > width:
        narrowable = [i for i in flex if widths[i] > min(natural[i], FLEX_MIN)]
        if not narrowable:
            break  # rich narrows the rest evenly: still no wrap (cells are cut)
        widths[max(narrowable, key=lambda i: widths[i])] -= 1
    return widths
