"""The rollout engine's three narrow interfaces and their composition.

* :class:`Actuator` — changes the clusters: ``prepare`` (read what an apply will replace, for the
  log), ``apply``, ``rollback``, ``restore`` (rebuild after a restart from the folded state),
  ``close``.
* :class:`Clock` — the rollout's time: ``now`` and ``advance`` (the simulator steps, real
  clusters sleep). :class:`WallClock` is the real one.
* :class:`SignalSource` — what gates read: ``signals(window_s)`` (one :class:`Readings` per
  evaluation, with ``explain``) and ``measured_profiles``.

Every optional method has a working default here, so nothing is probed with ``getattr``. A
:class:`Backend` holds one of each; :func:`waveguard.rollout.backend.build_backend` composes it
from a configuration. Times are seconds on the rollout clock (simulated or wall).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable

from waveguard.model.requests import RequestProfile
from waveguard.rollout.gates import Signals

if TYPE_CHECKING:
    from waveguard.rollout.state import RolloutState


class Actuator(ABC):
    """Where the change is applied and taken back. ``apply`` and ``rollback`` are idempotent."""

    #: Whether ``apply`` may run for several clusters at once (one thread each): the engine then
    #: applies a batch of ``max_parallel_clusters`` concurrently. Default: one after another.
    parallel_applies: bool = False

    def prepare(self, cluster: str, share: float) -> dict[str, Any]:
        """Called once before the first apply of a (wave, cluster); what it returns is written
        into that ``apply_started`` event (e.g. the objects the apply will replace). Default:
        nothing to record."""
        return {}

    @abstractmethod
    def apply(self, cluster: str, share: float) -> None:
        """Make the change run on ``share`` (0..1) of the cluster's nodes."""

    @abstractmethod
    def rollback(self, cluster: str) -> None:
        """Remove the change from the cluster (restore the previous objects)."""

    def restore(self, state: RolloutState) -> None:
        """Rebuild this actuator's view after a restart from the folded log. Default: nothing
        is held in memory."""
        return None

    def close(self) -> None:
        """Release servers, connections (idempotent). Default: nothing to release."""
        return None


class Clock(ABC):
    """The rollout's clock, in seconds since the rollout started."""

    @abstractmethod
    def now(self) -> float:
        """Seconds since the rollout started (simulated or wall clock)."""

    @abstractmethod
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (the simulator steps; a real clock sleeps)."""


class WallClock(Clock):
    """Wall-clock time since ``started_at`` (Unix seconds); ``advance`` sleeps. ``clock`` and
    ``sleep`` are replaceable (tests)."""

    def __init__(self, started_at: float, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.started_at = started_at
        self._clock, self._sleep = clock, sleep

    def now(self) -> float:
        return self._clock() - self.started_at

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)


class Readings(ABC):
    """One gate evaluation's view of a signal source (the gates' ``Signals``): every method
    returns None when it has no fresh data."""

    @abstractmethod
    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Latest value of a gauge (quantiles via ``quantile="0.99"``)."""

    @abstractmethod
    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        """Per-second increase of a counter over the last gate interval."""

    @abstractmethod
    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        """Share (0..1) of cache-bypassing DNS lookups that fail."""

    @abstractmethod
    def memory_limit_bytes(self, cluster: str) -> float | None:
        """Memory limit of one apiserver replica, bytes."""

    @abstractmethod
    def workload_error_ratio(self, cluster: str) -> float | None:
        """Share (0..1) of the workloads' requests that fail."""

    def explain(self, cluster: str) -> str:
        """Why the last figure read for ``cluster`` had no data (one line; default: no more to
        say than "no data")."""
        return ""


class SignalSource(ABC):
    """Where gates read from, and what the change was measured to send."""

    @abstractmethod
    def signals(self, window_s: float) -> Signals:
        """The readings for one gate evaluation (value, rate, …, explain); counter rates over
        ``window_s`` rollout seconds."""

    def measured_profiles(self) -> list[RequestProfile]:
        """The change's request profiles as observed where it runs. Default: not measured here
        (the projection uses the analysed profiles)."""
        return []

    def close(self) -> None:
        """Release connections (idempotent). Default: nothing to release."""
        return None


class Backend:
    """Where a rollout acts: an :class:`Actuator`, a :class:`Clock` and a :class:`SignalSource`.
    One object may play all three parts (:class:`CombinedBackend`)."""

    def __init__(self, actuator: Actuator, clock: Clock, source: SignalSource) -> None:
        self._parts = (actuator, clock, source)

    @property
    def actuator(self) -> Actuator:
        return self._parts[0]

    @property
    def clock(self) -> Clock:
        return self._parts[1]

    @property
    def source(self) -> SignalSource:
        return self._parts[2]

    def close(self) -> None:
        """Close the actuator and, when it is another object, the signal source."""
        self.actuator.close()
        if self.source is not self.actuator:
            self.source.close()


class CombinedBackend(Actuator, Clock, SignalSource, Backend):
    """A backend that is its own actuator, clock and signal source (a simulated fleet: applying
    the change, the passing of time and the readings are one simulator's). The three parts are
    properties, not attributes: a backend that held itself would be a reference cycle, freed
    (with its simulator) only when the cycle collector runs."""

    def __init__(self) -> None:
        pass

    @property
    def actuator(self) -> Actuator:
        return self

    @property
    def clock(self) -> Clock:
        return self

    @property
    def source(self) -> SignalSource:
        return self

    def close(self) -> None:
        """Release what the backend holds (idempotent). Default: nothing."""
        return None
