"""What happened to a rollback sent through the simulated apiservers (:mod:`waveguard.sim.rollback`):
one :class:`RollbackRecord` per rollback, one :class:`RequestRecord` per request; times in
simulated seconds."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


class RequestRecord(BaseModel):
    """What happened to one request of a rollback. Times in simulated seconds."""

    verb: str
    resource: str
    flow_schema: str
    priority_level: str
    sent_at_s: float | None = None  # first attempt
    served_at_s: float | None = None
    attempts: int = 0
    rejected: int = 0  # answered 429 (queue full, concurrency limit, queue time-out)
    failed: int = 0  # no apiserver up, its replica died, timed out (504), or etcd had no leader (500)
    etcd_timeouts: int = 0  # of ``failed``: "etcdserver: request timed out" (500), etcd had no leader
    queue_wait_s: float = 0.0  # seconds spent in APF queues, all attempts
    backoff_s: float = 0.0  # seconds spent waiting to retry (back-offs that ended)


class RollbackRecord(BaseModel):
    """One rollback on one cluster: when it started and completed (all requests served), and
    its requests. ``completed_at_s`` None: not completed when the simulation stopped."""

    cluster: str
    identity: str
    user: str
    started_at_s: float
    completed_at_s: float | None = None
    change_removed_at_s: float | None = None  # the workload's removal was served
    leaderless_s: float = 0.0  # seconds, while it ran, that the cluster's etcd had no leader
    requests: list[RequestRecord] = Field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        return None if self.completed_at_s is None else self.completed_at_s - self.started_at_s

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.requests)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.requests)

    @property
    def etcd_timeouts(self) -> int:
        return sum(r.etcd_timeouts for r in self.requests)

    @property
    def queue_wait_s(self) -> float:
        return sum(r.queue_wait_s for r in self.requests)

    @property
    def backoff_s(self) -> float:
        return sum(r.backoff_s for r in self.requests)

    @property
    def priority_levels(self) -> list[str]:
        return sorted({r.priority_level for r in self.requests})

    def as_json(self) -> dict:
        """``{"cluster", "identity", "user", "priority_levels", "started_at_s", "completed_at_s",
        "duration_s", "change_removed_at_s", "rejected", "failed", "etcd_timeouts", "leaderless_s",
        "queue_wait_s", "backoff_s", "requests": [...]}`` (seconds)."""
        return {"cluster": self.cluster, "identity": self.identity, "user": self.user,
                "priority_levels": self.priority_levels, "started_at_s": self.started_at_s,
                "completed_at_s": self.completed_at_s, "duration_s": self.duration_s,
                "change_removed_at_s": self.change_removed_at_s, "rejected": self.rejected, "failed": self.failed,
                "etcd_timeouts": self.etcd_timeouts, "leaderless_s": round(self.leaderless_s, 3),
                "queue_wait_s": round(self.queue_wait_s, 3), "backoff_s": round(self.backoff_s, 3),
                "requests": [r.model_dump() for r in self.requests]}


def seconds(value: float | None) -> str:
    """A duration for tables: ``12 s``, ``4 min 05 s``, or ``—``."""
    if value is None or not math.isfinite(value):
        return "—"
    if value < 60:
        return f"{value:.0f} s"
    return f"{int(value // 60)} min {int(value % 60):02d} s"
