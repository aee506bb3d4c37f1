"""Follow a rollout's event log written by another process: each poll reads only the events
appended since the last one (``seq`` greater than the last seen: SQLite reads the new rows from
the end of the events table's rowid tree, never the whole log) and advances the live fold by them.

Errors: as :class:`~waveguard.rollout.eventlog.EventLog` (InputError for a missing, foreign,
corrupt or locked file; for an unreadable payload).
"""

from __future__ import annotations

from pathlib import Path

from waveguard.rollout.eventlog import EventLog, connect_read_only
from waveguard.rollout.view import LiveFold


class LogTail:
    """The live fold of the log at ``path``, advanced by :meth:`poll`."""

    def __init__(self, path: str | Path) -> None:
        self.log = EventLog(path, read_only=True)
        # when each event was written (the log's ``wall`` column, which events do not carry):
        # the pace of the rollout's clock (see rollout_now); a read-only connection of its own
        self._walls = connect_read_only(Path(path))
        self.live = LiveFold()
        self.after = 0  # the highest seq read (known kinds or not)

    def poll(self) -> int:
        """Read the events appended since the last poll into the fold; how many were read."""
        new = self.log.events(after=self.after)
        walls = dict(self._walls.execute("SELECT seq, wall FROM events WHERE seq > ?", (self.after,)).fetchall()) \
            if new else {}
        for e in new:
            self.live.apply(e, walls.get(e.seq))
        self.after = max([self.after, *(e.seq for e in new), *self.log.unknown_kinds])
        return len(new)

    def close(self) -> None:
        self.log.close()
        self._walls.close()
