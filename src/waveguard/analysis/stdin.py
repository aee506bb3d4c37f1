"""Standard input as a manifest file: ``helm template ... | waveguard analyse -``.

``-`` and ``/dev/stdin`` name it (:data:`STDIN_NAMES`); its documents are located in the file
``<stdin>`` (:data:`STDIN`), whose text is read once and kept, so the analysis and the SARIF
locator read the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from waveguard.model.errors import InputError

STDIN_NAMES = ("-", "/dev/stdin")
STDIN = Path("<stdin>")
#: (the stdin object read, its bytes): a test runner swaps sys.stdin per run, so the bytes are
#: kept per stdin object (holding the object keeps its id from being reused).
_stdin_read: tuple[object, bytes] | None = None


def stdin_bytes() -> bytes:
    """Everything on standard input, read on first use and kept for this ``sys.stdin``. Raises
    InputError when standard input is a terminal (nothing was piped: waiting would hang)."""
    global _stdin_read
    if _stdin_read is None or _stdin_read[0] is not sys.stdin:
        if sys.stdin.isatty():
            raise InputError(str(STDIN), "standard input is a terminal, not a rendered bundle",
                             hint="pipe the manifests in: helm template RELEASE CHART | waveguard analyse -")
        stream = getattr(sys.stdin, "buffer", None)
        _stdin_read = (sys.stdin, stream.read() if stream is not None else sys.stdin.read().encode())
    return _stdin_read[1]
