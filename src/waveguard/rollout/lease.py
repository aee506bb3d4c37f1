"""One engine per rollout: who drives it (the lease row of the state database) and whether it lives.

The lease is one row (owner PID, host, a random token, since, heartbeat) that
:class:`~waveguard.rollout.eventlog.EventLog` takes in the same transaction that creates or
resumes the rollout, checks and refreshes in every transaction the engine writes (a fence: an
engine whose lease was taken over writes nothing more), and releases when the engine stops.
A holder is dead when its heartbeat is older than :data:`LEASE_TIMEOUT_S`, or when it ran on
this host and its PID is gone (``kill -9``: taken over at once).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from waveguard.model.errors import InputError

#: Seconds between heartbeats of a running engine (a thread beside the engine, so a long
#: apply or a gate interval does not starve it). Our choice: well under the timeout.
LEASE_HEARTBEAT_S = 10.0
#: Seconds without a heartbeat after which a lease holder is presumed dead and its lease may be
#: taken over (six missed heartbeats: room for a stalled disk or a paused VM, short enough for
#: an on-call engineer to wait). A holder on the same host whose PID is gone is dead at once.
LEASE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Owner:
    """An engine process: ``pid`` on ``host``, ``token`` (unique per lease taken), ``since``
    (Unix seconds, when it took the lease)."""

    pid: int
    host: str
    token: str
    since: float

    @classmethod
    def this_process(cls, now: float | None = None) -> Owner:
        return cls(os.getpid(), socket.gethostname(), uuid.uuid4().hex, time.time() if now is None else now)

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"PID {self.pid} on {self.host} since {since}"


@dataclass(frozen=True)
class Lease:
    """The lease row as read: its ``owner`` and last ``heartbeat`` (Unix seconds)."""

    owner: Owner
    heartbeat: float

    def alive(self, now: float | None = None, timeout_s: float = LEASE_TIMEOUT_S) -> bool:
        """True while the holder may still be running (see the module docstring)."""
        now = time.time() if now is None else now
        if now - self.heartbeat > timeout_s:
            return False
        return not (self.owner.host == socket.gethostname() and not _pid_exists(self.owner.pid))


class LeaseHeldError(InputError):
    """Another engine, alive, drives this rollout (exit 2)."""

    def __init__(self, path: Path, lease: Lease) -> None:
        super().__init__(str(path), f"this rollout is driven by {lease.owner.describe()}",
                         hint="wait for it, or stop it (waveguard rollout pause / abort); a dead holder "
                         f"is taken over after {LEASE_TIMEOUT_S:.0f} s without a heartbeat")
        self.lease = lease


class LeaseLostError(InputError):
    """This engine's lease was taken over (it was presumed dead): it must stop writing."""

    def __init__(self, path: Path, holder: Lease | None) -> None:
        now = f"driven by {holder.owner.describe()}" if holder else "no longer leased"
        super().__init__(str(path), f"this engine lost its lease: the rollout is {now}",
                         hint="nothing more was written by this process; see waveguard rollout status")


def _pid_exists(pid: int) -> bool:
    """Whether process ``pid`` runs: a zombie (killed, not yet reaped by its parent) does not —
    ``os.kill(pid, 0)`` still finds it, so Linux's /proc/PID/stat state ``Z`` is read too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """True when /proc says ``pid`` is a zombie (proc(5): the state follows the command's ")")."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux) or gone meanwhile
        return False
    return stat[stat.rfind(")") + 1:].split()[:1] == ["Z"]


class Heartbeat:
    """A daemon thread refreshing ``owner``'s heartbeat in ``path`` every ``every_s`` seconds
    (its own connection; a busy database is skipped until the next beat). A context manager."""

    def __init__(self, path: Path, owner: Owner, every_s: float = LEASE_HEARTBEAT_S) -> None:
        self.path, self.owner, self.every_s = path, owner, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="waveguard-lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                db = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
                try:
                    db.execute("UPDATE lease SET heartbeat = ? WHERE token = ?", (time.time(), self.owner.token))
                finally:
                    db.close()
            except sqlite3.Error:
                continue  # busy or gone: the engine's own writes also refresh it
