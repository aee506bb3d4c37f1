"""The one error type for bad input: a message that names its source and what to do."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input (file, line, key). The CLI prints ``str(err)`` on one line and exits 2.

    ``source`` is a path or an address, ``line`` 1-based or None, ``hint`` what to do.
    """

    def __init__(self, source: str, message: str, *, line: int | None = None, hint: str = "") -> None:
        self.source = source
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())
