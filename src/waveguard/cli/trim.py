"""Terminal output without spaces at the end of its lines.

rich pads what it lays out: a word-wrapped paragraph keeps the space it broke the line at, a
``Padding`` (an indented paragraph) and a table without a box pad every line to their width, and
no Console or Table setting turns that off (``justify="left"`` pads more; ``soft_wrap=True``
stops the wrapping altogether). :class:`TrimmedLines` takes the spaces off at the one place
every line passes: the console's file. The colour codes at a line's end are kept.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: The end of a line that is spaces and SGR colour codes only.
_TAIL = re.compile(r"(?:[ ]|\x1b\[[0-9;]*m)+$")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def trim_line(line: str) -> str:
    """``line`` (no newline) without its trailing spaces; colour codes among them are kept."""
    return _split_tail(line)[0]


def _split_tail(line: str) -> tuple[str, str]:
    """``line`` without its trailing spaces (colour codes among them kept), and those spaces."""
    tail = _TAIL.search(line)
    if tail is None:
        return line, ""
    return line[: tail.start()] + "".join(_SGR.findall(tail.group())), " " * tail.group().count(" ")


class TrimmedLines:
    """A text file that writes each whole line to ``file`` without its trailing spaces. A line
    not yet ended is held until its newline; ``flush`` (rich flushes after every print) writes
    it without its trailing spaces, which are written after all if more of the line follows
    (rich's Live ends its last frame so, and the newline comes in a print of its own), but not
    when the next write begins with a carriage return: a Live refresh goes back to the frame's
    first line and erases each line before it draws the next frame, so the spaces never show.
    Everything else (``isatty``, ``encoding``, ``fileno``…) is ``file``'s."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._partial = ""
        self._spaces = ""  # taken off a flushed line not yet ended

    def write(self, text: str) -> int:
        written = len(text)
        if self._spaces and not text.startswith(("\n", "\r")):
            text = self._spaces + text  # the line goes on: its spaces were not its end
        self._spaces = ""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._file.write("".join(trim_line(line) + "\n" for line in lines))
        return written

    def flush(self) -> None:
        if self._partial:
            written, self._spaces = _split_tail(self._partial)
            self._file.write(written)
            self._partial = ""
        self._file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def trimmed(console: Console) -> Console:
    """``console`` writing its lines without trailing spaces."""
    console.file = TrimmedLines(console.file)  # type: ignore[assignment]
    return console
