"""The rollout's durable state: an append-only event log in SQLite (WAL).

Every transition and gate result is appended (and committed, ``synchronous=FULL``) *before*
the engine acts on it, so a process killed at any point (kill -9) resumes from the log without
applying a wave twice or forgetting a halt. State is never updated in place: it is a fold of
the events (:func:`fold`).

Errors: a database that is not SQLite, is corrupt, or is locked by another process raises
:class:`~waveguard.model.errors.InputError` and leaves the file untouched.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from waveguard.model.errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    t       REAL NOT NULL,      -- rollout clock, seconds since start (simulated or wall)
    wall    REAL NOT NULL,      -- wall-clock time.time() when written
    kind    TEXT NOT NULL,
    wave    INTEGER,
    cluster TEXT,
    data    TEXT NOT NULL       -- JSON
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""

#: Event kinds, in the order a rollout meets them.
KINDS = (
    "started", "wave_started", "apply_started", "applied", "gate", "paused", "resumed", "approved",
    "wave_passed", "halted", "rollback_started", "rolled_back", "completed", "aborted",
)


@dataclass(frozen=True)
class Event:
    seq: int
    t: float
    kind: str
    wave: int | None
    cluster: str | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "t": round(self.t, 3), "kind": self.kind, "wave": self.wave,
                "cluster": self.cluster, **self.data}


class EventLog:
    """Append-only event log of one rollout in the SQLite file ``path``."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise InputError(str(self.path), "no rollout state here", hint="start one with waveguard rollout start")
        if create and self.path.exists() and self.path.stat().st_size > 0:
            raise InputError(str(self.path), "a rollout state database already exists",
                             hint="use waveguard rollout resume/status, or choose another --state")
        try:
            self._db = sqlite3.connect(self.path, timeout=0.5, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 500")
            if not create:
                self._check_schema()  # read-only: a foreign or corrupt file stays untouched
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = FULL")
            if create:
                self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc) from exc
        if str(mode).lower() != "wal":
            raise InputError(str(self.path), f"cannot switch the state database to WAL (got {mode})",
                             hint="put --state on a local file system")

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='events'").fetchone()
        if row is None:
            raise sqlite3.DatabaseError("no events table: not a waveguard state database")
        self._db.execute("SELECT seq, t, wall, kind, wave, cluster, data FROM events LIMIT 1").fetchall()

    def append(self, kind: str, t: float, *, wave: int | None = None, cluster: str | None = None,
               **data: Any) -> Event:
        """Write one event durably and return it. Raises InputError when the file is locked."""
        return self.append_many([(kind, t, wave, cluster, data)])[0]

    def append_many(self, rows: list[tuple[str, float, int | None, str | None, dict[str, Any]]]) -> list[Event]:
        """Write (kind, t, wave, cluster, data) rows in one durable transaction (one gate
        evaluation over a fleet is one commit, not hundreds)."""
        for kind, *_ in rows:
            if kind not in KINDS:
                raise ValueError(f"unknown event kind {kind!r}")
        out: list[Event] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for kind, t, wave, cluster, data in rows:
                cur = self._db.execute(
                    "INSERT INTO events (t, wall, kind, wave, cluster, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (float(t), time.time(), kind, wave, cluster, json.dumps(data, sort_keys=True, default=float)))
                out.append(Event(seq=int(cur.lastrowid), t=float(t), kind=kind, wave=wave, cluster=cluster,
                                 data=data))
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise _db_error(self.path, exc) from exc
        return out

    def events(self, after: int = 0) -> list[Event]:
        """Events with seq > ``after``, in order."""
        try:
            rows = self._db.execute("SELECT seq, t, kind, wave, cluster, data FROM events WHERE seq > ? ORDER BY seq",
                                    (after,)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc) from exc
        return [Event(seq=r[0], t=r[1], kind=r[2], wave=r[3], cluster=r[4], data=json.loads(r[5])) for r in rows]

    def close(self) -> None:
        self._db.close()


def _db_error(path: Path, exc: sqlite3.DatabaseError) -> InputError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return InputError(str(path), "the rollout state database is locked by another waveguard process",
                          hint="wait for it, or stop it (waveguard rollout pause) first")
    return InputError(str(path), f"not a readable waveguard state database ({text})",
                      hint="restore it from a backup, or start a new rollout with another --state")


# --- Folding the log into the current state ------------------------------------------------

@dataclass
class RolloutState:
    """What the log says now. ``status``: new, running, paused, awaiting_approval, halted,
    rolling_back, rolled_back, completed (an abort is ``abort_requested``, then halted and rolled
    back)."""

    status: str = "new"
    wave: int = 0  # the wave in progress (or next)
    wave_started_at: dict[int, float] = field(default_factory=dict)
    passed_waves: set[int] = field(default_factory=set)
    applied: dict[tuple[int, str], float] = field(default_factory=dict)  # (wave, cluster) → t
    applying: set[tuple[int, str]] = field(default_factory=set)
    shares: dict[str, float] = field(default_factory=dict)  # cluster → node share running the change
    cluster_state: dict[str, str] = field(default_factory=dict)
    rolled_back: set[str] = field(default_factory=set)
    rolling_back: set[str] = field(default_factory=set)
    halt: dict[str, Any] | None = None
    pause_reason: str | None = None
    last_t: float = 0.0
    last_seq: int = 0
    approvals: int = 0
    abort_requested: bool = False
    gate_failures: dict[tuple, int] = field(default_factory=dict)  # (wave, gate, cluster) → failed evaluations

    def apply(self, e: Event) -> None:
        """Advance the state by one event."""
        s = self
        s.last_seq = e.seq
        s.last_t = max(s.last_t, e.t)
        k = e.kind
        if k == "started":
            s.status = "running"
        elif k == "wave_started":
            s.wave = e.wave or 0
            s.wave_started_at[s.wave] = e.t
        elif k == "apply_started":
            s.applying.add((e.wave, e.cluster))
            s.cluster_state[e.cluster] = "applying"
        elif k == "applied":
            s.applying.discard((e.wave, e.cluster))
            s.applied[(e.wave, e.cluster)] = e.t
            s.shares[e.cluster] = e.data["share"]
            s.cluster_state[e.cluster] = "baking"
        elif k == "gate":
            if e.data.get("status") == "fail":
                key = (e.wave, e.data.get("gate"), e.cluster)
                s.gate_failures[key] = s.gate_failures.get(key, 0) + 1
        elif k == "paused":
            s.status = "awaiting_approval" if e.data.get("needs_approval") else "paused"
            s.pause_reason = e.data.get("reason")
        elif k in ("resumed", "approved"):
            if s.status in ("paused", "awaiting_approval"):
                s.status, s.pause_reason = "running", None
            s.approvals += k == "approved"
        elif k == "wave_passed":
            s.passed_waves.add(e.wave)
            s.wave = (e.wave or 0) + 1
            for (w, c) in s.applied:
                if w == e.wave:
                    s.cluster_state[c] = "passed"
        elif k == "halted":
            s.status, s.halt = "halted", dict(e.data, t=e.t, wave=e.wave)
            for c, share in s.shares.items():
                if share > 0:
                    s.cluster_state[c] = "halted"
        elif k == "rollback_started":
            s.status = "rolling_back"
            s.rolling_back.add(e.cluster)
            s.cluster_state[e.cluster] = "rolling_back"
        elif k == "rolled_back":
            if e.cluster is None:
                s.status = "rolled_back"
            else:
                s.rolling_back.discard(e.cluster)
                s.rolled_back.add(e.cluster)
                s.shares[e.cluster] = 0.0
                s.cluster_state[e.cluster] = "rolled_back"
        elif k == "completed":
            s.status = "completed"
        elif k == "aborted":
            s.abort_requested = True


def fold(events: Iterator[Event] | list[Event]) -> RolloutState:
    """The state after ``events`` (the log is the only source of truth)."""
    s = RolloutState()
    for e in events:
        s.apply(e)
    return s
