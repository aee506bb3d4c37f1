"""The rollout's durable state: an append-only event log in SQLite (WAL).

Every transition and gate result is appended (and committed, ``synchronous=FULL``) *before*
the engine acts on it, so a process killed at any point (kill -9) resumes from the log without
applying a wave twice or forgetting a halt. State is never updated in place: it is a fold of
the events (:func:`~waveguard.rollout.state.fold`, re-exported here with :class:`RolloutState`
and :class:`~waveguard.rollout.events.Event`). Each payload is validated against its kind's
model (:mod:`waveguard.rollout.events`) before it is written.

One engine per rollout: the ``lease`` table holds who drives it (:mod:`waveguard.rollout.lease`).
:meth:`EventLog.start` writes ``started`` and takes the lease in one transaction (two ``start`` commands
on a new file: one wins, the other is refused); :meth:`EventLog.acquire` takes it for ``resume``
(with the ``resumed`` event, if any, in the same transaction). An ``EventLog`` that holds the
lease checks and refreshes it in every append (a fence); one without (``pause``, ``approve``,
``abort``) only appends. Gate results are keyed (t, gate, cluster, threshold) by a unique index:
never logged twice.

Errors: a database that is not SQLite, is corrupt, or is locked by another process raises
:class:`~waveguard.model.errors.InputError` and leaves the file untouched;
:class:`~waveguard.rollout.lease.LeaseHeldError` when another live engine holds the lease,
:class:`~waveguard.rollout.lease.LeaseLostError` when this one's was taken over.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Callable, Sequence

from waveguard.model.errors import InputError
from waveguard.rollout.events import Event, EventKind, check_payload, stored_payload_problem
from waveguard.rollout.lease import Lease, LeaseHeldError, LeaseLostError, Owner
from waveguard.rollout.state import RolloutState, Transition, fold

__all__ = ["KINDS", "Event", "EventKind", "EventLog", "RolloutState", "Transition", "fold"]

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

#: The lease (one row at most) and the gate results' key; added to older state files when an
#: engine first takes the lease.
LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    pid       INTEGER NOT NULL,
    host      TEXT NOT NULL,
    token     TEXT NOT NULL,
    since     REAL NOT NULL,    -- Unix seconds
    heartbeat REAL NOT NULL     -- Unix seconds
);
"""
GATE_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS gate_once ON events (
    t, cluster, json_extract(data, '$.gate'), json_extract(data, '$.threshold')) WHERE kind = 'gate';
"""

#: What is appended: (kind, t, wave, cluster, payload).
Row = tuple[str, float, int | None, str | None, dict[str, Any]]

#: Event kinds, in the order a rollout meets them (values of :class:`EventKind`).
KINDS = tuple(kind.value for kind in EventKind)


class EventLog:
    """Append-only event log of one rollout in the SQLite file ``path``."""

    def __init__(self, path: str | Path, *, create: bool = False, read_only: bool = False) -> None:
        """Open (``create``: make) the log at ``path``. ``read_only``: a reader (status, watch,
        report, dashboard) that never writes, so a state file and folder it may only read will
        do (:func:`connect_read_only`); appending then raises InputError."""
        self.path = Path(path)
        #: The lease this log holds (appends are fenced by it), or None.
        self.owner: Owner | None = None
        #: seq → kind of the events read that this version does not know (a newer waveguard's,
        #: or written by hand): skipped, so that status, approve and abort still work.
        self.unknown_kinds: dict[int, str] = {}
        self.wave_count: int | None = None  # the plan's waves, once the started event is read
        self.read_only = read_only and not create
        problem = _access_problem(self.path, write=not self.read_only)
        if problem is not None:
            raise InputError(str(self.path), problem, hint="check --state: the folder must exist and be "
                             + ("readable" if self.read_only else "writable"))
        if not create and not self.path.exists():
            raise InputError(str(self.path), "no rollout state here", hint="start one with waveguard rollout start")
        if self.read_only:
            try:
                self._db = connect_read_only(self.path)
                self._check_schema()
            except sqlite3.DatabaseError as exc:
                raise _db_error(self.path, exc, write=False) from exc
            return
        if create and self.path.exists() and self.path.stat().st_size > 0:
            raise _exists(self.path)
        try:
            self._db = sqlite3.connect(self.path, timeout=0.5, isolation_level=None)
            # creating: wait out a concurrent `start` on the same new file (it holds the lock ms)
            self._db.execute(f"PRAGMA busy_timeout = {5000 if create else 500}")
            if not create:
                self._check_schema()  # read-only: a foreign or corrupt file stays untouched
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = FULL")
            if create:
                self._db.executescript(SCHEMA + LEASE_SCHEMA + GATE_INDEX)
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

    def append_many(self, rows: Sequence[Row]) -> list[Event]:
        """Write (kind, t, wave, cluster, data) rows in one durable transaction (one gate
        evaluation over a fleet is one commit, not hundreds). Raises ValueError for an unknown
        kind, pydantic's ValidationError for a payload its kind's model refuses (nothing is
        written then), InputError when the file is locked, LeaseLostError when this log held
        the lease and another engine took it over (nothing is written)."""
        return self._transaction(rows, self._fence)

    def _transaction(self, rows: Sequence[Row], before: Callable[[], None] | None = None) -> list[Event]:
        """``before`` (a check, may raise) then ``rows``, in one BEGIN IMMEDIATE … COMMIT."""
        kinds = [check_payload(kind, data) for kind, _, _, _, data in rows]
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if before is not None:
                    before()
                out = [self._insert(kind, row) for kind, row in zip(kinds, rows, strict=True)]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise _db_error(self.path, exc) from exc
        return out

    def _insert(self, kind: EventKind, row: Row) -> Event:
        _, t, wave, cluster, data = row
        wall = time.time()
        cur = self._db.execute(
            "INSERT INTO events (t, wall, kind, wave, cluster, data) VALUES (?, ?, ?, ?, ?, ?)",
            (float(t), wall, kind, wave, cluster, json.dumps(data, sort_keys=True, default=float)))
        seq = cur.lastrowid
        assert seq is not None  # set by every INSERT
        return Event(seq=seq, t=float(t), kind=kind, wave=wave, cluster=cluster, data=data, wall=wall)

    # --- the lease ---------------------------------------------------------------------------
    def start(self, rows: Sequence[Row], owner: Owner) -> list[Event]:
        """Write the first events (``started``) and take the lease, atomically. Raises
        LeaseHeldError when a live engine already drives a rollout here, InputError when a
        rollout was already started."""
        def first() -> None:
            if self._db.execute("SELECT count(*) FROM events").fetchone()[0]:
                holder = self.lease()
                if holder is not None and holder.alive():
                    raise LeaseHeldError(self.path, holder)
                raise _already_exists(self.path)
            self._take(owner)

        written = self._transaction(rows, first)
        self.owner = owner
        return written

    def acquire(self, owner: Owner, rows: Sequence[Row] = (), now: float | None = None) -> list[Event]:
        """Take the lease (from nobody, a dead holder or ourselves) and write ``rows`` in the same
        transaction. Raises LeaseHeldError when a live engine holds it."""
        try:
            self._db.executescript(LEASE_SCHEMA)  # state files from before the lease
            try:
                self._db.executescript(GATE_INDEX)
            except sqlite3.IntegrityError:
                pass  # an older log with repeated evaluations: the engine still never repeats one
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc) from exc

        def take() -> None:
            holder = self.lease()
            if holder is not None and holder.owner.token != owner.token and holder.alive(now):
                raise LeaseHeldError(self.path, holder)
            self._take(owner, now)

        written = self._transaction(rows, take)
        self.owner = owner
        return written

    def release(self) -> None:
        """Give the lease up (the engine stopped). Errors are ignored: a dead holder's lease is
        taken over anyway."""
        if self.owner is None:
            return
        try:
            self._db.execute("DELETE FROM lease WHERE token = ?", (self.owner.token,))
        except sqlite3.DatabaseError:
            pass
        self.owner = None

    def lease(self) -> Lease | None:
        """Who holds the lease (alive or not), or None."""
        try:
            row = self._db.execute("SELECT pid, host, token, since, heartbeat FROM lease WHERE id = 1").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a state file from before the lease
                return None
            raise _db_error(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc) from exc
        return None if row is None else Lease(Owner(row[0], row[1], row[2], row[3]), row[4])

    def _take(self, owner: Owner, now: float | None = None) -> None:
        self._db.execute("INSERT OR REPLACE INTO lease (id, pid, host, token, since, heartbeat) "
                         "VALUES (1, ?, ?, ?, ?, ?)",
                         (owner.pid, owner.host, owner.token, owner.since, time.time() if now is None else now))

    def _fence(self) -> None:
        """Inside an append's transaction: our lease still holds (refresh its heartbeat), or
        LeaseLostError. Nothing to check for a log that holds no lease (operator commands)."""
        if self.owner is None:
            return
        cur = self._db.execute("UPDATE lease SET heartbeat = ? WHERE token = ?", (time.time(), self.owner.token))
        if cur.rowcount != 1:
            raise LeaseLostError(self.path, self.lease())

    def events(self, after: int = 0) -> list[Event]:
        """Events with seq > ``after``, in order."""
        try:
            rows = self._db.execute("SELECT seq, t, kind, wave, cluster, data, wall FROM events WHERE seq > ? "
                                    "ORDER BY seq", (after,)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, exc) from exc
        known = {k.value for k in EventKind}
        self.unknown_kinds.update({r[0]: r[2] for r in rows if r[2] not in known})
        events = [_event_of_row(self.path, r) for r in rows if r[2] in known]
        for i, e in enumerate(events):
            self._check_order(e, first=after == 0 and i == 0)
        return events

    def _check_order(self, e: Event, first: bool) -> None:
        """Raises InputError (corrupt) for an event no rollout writes there: the log begins with its
        one ``started`` event, and every wave index is one of the plan's (or one past its last,
        where a finished rollout stands)."""
        if first != (e.kind == EventKind.STARTED):
            what = "the log does not begin with the rollout's started event" if first else "a second started event"
            raise _corrupt(self.path, f"event {e.seq} ({e.kind}): {what}")
        if e.kind == EventKind.STARTED:
            self.wave_count = len((e.data.get("plan") or {}).get("waves") or []) or None
        if e.wave is not None and self.wave_count is not None and not 0 <= e.wave <= self.wave_count:
            raise _corrupt(self.path, f"event {e.seq} ({e.kind}): wave {e.wave} is not a wave of the plan "
                                      f"(0..{self.wave_count - 1})")

    def close(self) -> None:
        self._db.close()


def _exists(path: Path) -> InputError:
    """The error for creating a rollout where a file exists: naming its engine while one drives
    it; for a file that is no state database (a plan, a YAML file, text), what it is instead."""
    try:
        existing = EventLog(path, read_only=True)
        holder = existing.lease()
        existing.close()
    except InputError as exc:  # not a state database: it is still not ours to overwrite
        if _tables(path) == 0:  # another start created it an instant ago, its schema not yet written
            return _already_exists(path)
        return InputError(str(path), f"{exc.message}; start overwrites no file",
                          hint="give --state a path where no file is")
    if holder is not None and holder.alive():
        return LeaseHeldError(path, holder)
    return _already_exists(path)


def _tables(path: Path) -> int | None:
    """Tables in the SQLite file ``path`` (None: no SQLite file). A state database a concurrent
    ``start`` has just created holds none yet; a foreign SQLite file holds some."""
    try:
        with closing(connect_read_only(path)) as db:
            return int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError:
        return None


def _already_exists(path: Path) -> InputError:
    return InputError(str(path), "a rollout state database already exists",
                      hint="use waveguard rollout resume/status, or choose another --state")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection to the state database at ``path`` that never writes (``mode=ro``), for
    readers with no write access to the file or its folder. SQLite's WAL mode needs the -shm
    file to read: when the folder is read-only and no -shm exists, no process is writing and no
    -wal is left, so the file is read as immutable (``immutable=1``). Raises sqlite3.Error."""
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=0.5, isolation_level=None)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
        if Path(f"{path}-wal").exists() or Path(f"{path}-shm").exists():
            raise  # a writer's log we cannot read consistently: say so rather than read a stale file
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=0.5, isolation_level=None)


def _access_problem(path: Path, write: bool = True) -> str | None:
    """Why ``path`` cannot be a state database, or None: its folder is missing, it is a folder,
    or the process may not read (``write``: and write) it and create files beside it (SQLite
    keeps its -wal and -shm files there)."""
    import os

    folder = path.parent
    try:
        if not folder.is_dir():
            return f"the folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder"
        if path.is_dir():
            return "is a folder, not a rollout state database"
        if path.exists() and not path.is_file():  # SQLite would wait on a pipe forever
            return "is not a regular file (a pipe, device or socket), not a rollout state database"
        if path.exists() and not os.access(path, os.R_OK | (os.W_OK if write else 0)):
            return f"no permission to read {'and write ' if write else ''}the rollout state database"
    except PermissionError:
        return f"no permission to look into {folder}"
    if not write:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to create files in {folder} (SQLite writes its -wal and -shm files there)"
    return None


def _db_error(path: Path, exc: sqlite3.DatabaseError, write: bool = True) -> InputError:
    """The InputError naming the real cause of ``exc``: locked, a permission (to read, and
    ``write``) or a missing folder, not a SQLite file, SQLite but not a waveguard state database,
    or corrupt."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return InputError(str(path), "the rollout state database is locked by another waveguard process",
                          hint="wait for it, or stop it (waveguard rollout pause) first")
    problem = _access_problem(path, write=write)
    if problem is not None or (write and "readonly" in text) or "unable to open" in text:
        return InputError(str(path), problem or f"cannot open the rollout state database for writing ({text})",
                          hint="check --state: the folder must exist and be writable")
    if "file is not a database" in text:
        return InputError(str(path), "not a readable waveguard state database: not a SQLite file (or its header "
                          "is damaged)", hint="give the --state file that waveguard rollout start wrote")
    if "no events table" in text:
        return InputError(str(path), "not a readable waveguard state database: a SQLite file without waveguard's "
                          "events table", hint="give the --state file that waveguard rollout start wrote")
    return InputError(str(path), f"not a readable waveguard state database: corrupt ({text})",
                      hint="restore it from a backup, or start a new rollout with another --state")


def _event_of_row(path: Path, row: tuple) -> Event:
    """The :class:`Event` of one ``events`` row (seq, t, kind, wave, cluster, data, wall). Raises
    InputError (corrupt) for a row no waveguard wrote: data that is not a
    JSON object, a field of the wrong type. A wall time that is not a number reads as unknown."""
    seq, t, kind, wave, cluster, data, wall = row
    try:
        payload = json.loads(data)
        if not isinstance(payload, dict) or not isinstance(seq, int) or not isinstance(t, (int, float)) \
                or not isinstance(wave, (int, type(None))) or not isinstance(cluster, (str, type(None))):
            raise ValueError("fields of the wrong type")
        problem = stored_payload_problem(EventKind(kind), payload)
        if problem:
            raise ValueError(problem)
        known_wall = float(wall) if isinstance(wall, (int, float)) and wall > 0 else None
        return Event(seq=seq, t=float(t), kind=EventKind(kind), wave=wave, cluster=cluster, data=payload,
                     wall=known_wall)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise _corrupt(path, f"event {seq!r} ({kind}): {exc}") from None


def _corrupt(path: Path, why: str) -> InputError:
    return InputError(str(path), f"not a readable waveguard state database: corrupt ({why})",
                      hint="restore it from a backup, or start a new rollout with another --state")
