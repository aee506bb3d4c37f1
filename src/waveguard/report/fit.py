"""Terminal tables that fit the console's width: they degrade rather than spill.

A table too wide for the console first drops its optional columns (highest ``drop`` first)
until it would fit with its ``flex`` columns at their least width, then narrows the widest
flex columns as much as needed. A ``flex`` cell is cut with an ellipsis at FLEX_MIN cells at
least; a ``wrap`` cell (names that identify a row: a cluster, a strategy, or prose that would
lose its meaning cut) is never cut: it wraps at spaces onto more lines, and is never narrowed
below its longest word. The title wraps too. Callers print what a dropped column held
elsewhere when it matters (e.g. the reasons, as a list below the table).
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
#: Width (cells) a wrap column keeps before optional columns are dropped (two or three lines
#: of a long name, rather than a word a line beside a column that could go).
WRAP_COMFORT = 24


@dataclass(frozen=True)
class Column:
    """A table column: ``flex`` gives up its width first (cut with an ellipsis); ``wrap`` gives
    it up down to its longest word, wrapping its cells at spaces, never cutting them; ``drop`` > 0
    may be dropped when the table does not fit (the highest first: 1 is dropped last); 0 is always kept."""

    name: str
    justify: str = "left"
    flex: bool = False
    drop: int = 0
    wrap: bool = False

    @property
    def narrowable(self) -> bool:
        """Gives up width when the table does not fit (cut or wrapped)."""
        return self.flex or self.wrap


def cell(value: str | Text, style: str = "") -> Text:
    """A cell (or line) that never wraps (markup in a string is read: ``[red]x[/]``; no emoji
    codes: ``:name:`` stays as written)."""
    text = value if isinstance(value, Text) else Text.from_markup(value, style=style, emoji=False)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def fitted_table(console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
                 *, show_lines: bool = False) -> tuple[Group, list[str]]:
    """The title (wrapped to the width) over the table of ``rows`` that fits
    ``console.width``, and the names of the columns dropped."""
    cells = [[_cell(value, column.wrap) for value, column in zip(row, columns, strict=True)] for row in rows]
    kept, widths, natural = _layout(console.width, columns, cells)
    # Too narrow even so: every column is cut evenly by rich (a wrapped name would be folded mid-word).
    wraps = _width(kept, widths) <= console.width
    # Every column at its natural width (cells of one line, as rich measures them then): rich would
    # measure each cell again to find these widths (~2 ms of analyse's 25-row table, issue 17).
    natural_fits = widths == natural and wraps and not any(len(t.plain.splitlines()) > 1 for row in cells for t in row)
    table = Table(box=box.HEAVY_HEAD, show_lines=show_lines)
    for i in kept:
        column = columns[i]
        wrap = column.wrap and wraps
        table.add_column(column.name, justify=column.justify, no_wrap=not wrap,  # type: ignore[arg-type]
                         overflow="fold" if wrap else "ellipsis", max_width=widths[i] if column.narrowable else None,
                         width=natural[i] if natural_fits else None)
    for row in cells:
        table.add_row(*(row[i] if wraps else cell(row[i]) for i in kept))
    heading = Text.from_markup(title, style="bold", emoji=False)
    return Group(heading, table), [columns[i].name for i in range(len(columns)) if i not in kept]


def fits(width: int, columns: Sequence[Column], rows: Sequence[Sequence[str | Text]],
         keeping: Sequence[str] = ()) -> bool:
    """Whether :func:`fitted_table` of ``rows`` fits ``width`` cells by dropping and narrowing
    columns as it may, without rich cutting every column evenly (a caller may then choose
    shorter cells); with ``keeping``, without dropping a column of those names either."""
    cells = [[_cell(value, column.wrap) for value, column in zip(row, columns, strict=True)] for row in rows]
    kept, widths, _ = _layout(width, columns, cells)
    kept_names = {columns[i].name for i in kept}
    return _width(kept, widths) <= width and all(name in kept_names for name in keeping)


def _layout(width: int, columns: Sequence[Column], cells: list[list[Text]]) -> tuple[list[int], list[int], list[int]]:
    """The columns kept (optional ones dropped, highest ``drop`` first, until the rest fit
    ``width`` at their comfortable widths), their widths once narrowed, and every column's
    natural width (its widest cell or header line)."""
    natural = [max([*(cell_len(line) for line in c.name.splitlines()), *(_lines_width(row[i]) for row in cells)])
               for i, c in enumerate(columns)]
    least = [_least_width(c, natural[i], [row[i] for row in cells]) for i, c in enumerate(columns)]
    comfortable = [min(natural[i], max(least[i], WRAP_COMFORT)) if c.wrap else least[i] for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    while _width(kept, comfortable) > width:
        droppable = [i for i in kept if columns[i].drop > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    body = [max((_lines_width(row[i]) for row in cells), default=0) for i in range(len(columns))]
    # headers wrap first: a column wider than its cells gives up its header's width before any
    # column wraps or cuts a cell
    headers_wrapped = _narrow(kept, columns, natural, [max(lo, b) for lo, b in zip(least, body, strict=True)], width)
    return kept, _narrow(kept, columns, headers_wrapped, least, width), natural


def _lines_width(text: Text) -> int:
    """Cells of the longest line of ``text`` (a name over its group is as wide as the longer)."""
    plain = text.plain
    return cell_len(plain) if "\n" not in plain else max(cell_len(line) for line in plain.splitlines())


def _cell(value: str | Text, wraps: bool) -> Text:
    """A cell of a ``wrap`` column (wraps at spaces) or of any other (never wraps)."""
    if not wraps:
        return cell(value)
    return value if isinstance(value, Text) else Text.from_markup(value, emoji=False)


def _least_width(column: Column, natural: int, cells: Sequence[Text]) -> int:
    """The least width ``column`` is narrowed to: a ``wrap`` column's longest word (or its
    header's), a ``flex`` column's FLEX_MIN (less when its longest cell is shorter), else its
    natural width."""
    if column.wrap:
        return max(cell_len(word) for word in [*column.name.split(), *(w for t in cells for w in t.plain.split())])
    return min(natural, FLEX_MIN) if column.flex else natural


def _width(kept: list[int], widths: Sequence[int]) -> int:
    """A boxed table's width: its columns, one cell of padding each side, the rules between."""
    return sum(widths[i] + 3 for i in kept) + 1


def _narrow(kept: list[int], columns: Sequence[Column], natural: list[int], least: list[int],
            width: int) -> list[int]:
    """Column widths with the widest narrowable (flex or wrap) columns narrowed, one cell at a
    time, down to their least width, until the table fits ``width``."""
    widths = list(natural)
    narrowable = [i for i in kept if columns[i].narrowable]
    while _width(kept, widths) > width:
        wide = [i for i in narrowable if widths[i] > least[i]]
        if not wide:
            break  # rich narrows the rest evenly: flex cells are cut, wrap cells fold
        widths[max(wide, key=lambda i: widths[i])] -= 1
    return widths
