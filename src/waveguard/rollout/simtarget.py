"""The simulator as all three of the rollout engine's interfaces (:mod:`waveguard.rollout.ports`):
actuator, clock and signal source, with :class:`SimSignals` as the gates' readings.

The simulated fleet lives only in memory, so after a crash :meth:`SimTarget.restore` rebuilds
it from the folded event log: the simulator is deterministic per seed, and replaying the logged
applies and rollbacks at their logged times reproduces the state the engine last saw.
"""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.model.fleet import Fleet
from waveguard.model.requests import RequestProfile
from waveguard.rollout.ports import CombinedBackend, Readings
from waveguard.rollout.state import RolloutState, Transition
from waveguard.sim import FleetSimulator
from waveguard.sim.options import SimulatorOptions
from waveguard.sim.phases.recording import RecordingPlan, record_with
from waveguard.sim.scenario import Scenario

#: What a rollout on the simulator records: one frame every 10 s (gauges sampled then, counters
#: summed over the interval), what its gates and its report read (issue 17). The rollout engine
#: reads at multiples of its gate interval, so a gate reads the frame of the step it runs at.
ROLLOUT_FRAMES = RecordingPlan(every_s=10.0)

#: Metrics that come from kube-apiserver: with every replica down there is nothing to scrape,
#: so a gate reading them has no data (as with a real Prometheus).
_APISERVER_PREFIXES = ("apiserver_", "process_resident_memory_bytes", "etcd_")


class SimSignals(Readings):
    """Gate readings from a live :class:`FleetSimulator`, as one reading of the whole fleet:
    each metric is read once for every cluster (a vector) and cached for this evaluation.
    Counter rates are ``rate(metric[window_s])`` over the recorded history."""

    def __init__(self, target: "SimTarget", window_s: float) -> None:
        self._reader = target.sim.reader
        self._index = {name: i for i, name in enumerate(self._reader.clusters)}
        self._window_s = window_s
        self._cache: dict[tuple, np.ndarray | None] = {}

    def _vector(self, how: str, metric: str, labels: dict[str, str]) -> np.ndarray | None:
        key = (how, metric, tuple(sorted(labels.items())))
        if key not in self._cache:
            try:
                self._cache[key] = (self._reader.latest(metric, **labels) if how == "value" else
                                    self._reader.window_rate(metric, self._window_s, **labels))
            except KeyError:
                self._cache[key] = None  # a metric the simulator does not model: no data, never a pass
        return self._cache[key]

    def _read(self, how: str, metric: str, cluster: str, labels: dict[str, str]) -> float | None:
        if not len(self._reader.times):
            return None  # no frame recorded yet: as a Prometheus before its first scrape, no data
        i = self._index[cluster]
        if metric.startswith(_APISERVER_PREFIXES):
            # With every apiserver replica down there is nothing to scrape.
            up = self._vector("value", "up", {})
            if up is None or up[i] <= 0:
                return None
        vector = self._vector(how, metric, labels)
        return None if vector is None else float(vector[i])

    def value(self, metric: str, cluster: str, **labels: str) -> float | None:
        return self._read("value", metric, cluster, labels)

    def rate(self, metric: str, cluster: str, **labels: str) -> float | None:
        return self._read("rate", metric, cluster, labels)

    def dns_probe_failure_ratio(self, cluster: str) -> float | None:
        # A cache-bypassing probe asks CoreDNS directly: it fails exactly when CoreDNS answers
        # SERVFAIL to an uncached name.
        asked = self.rate("coredns_dns_requests_total", cluster)
        failed = self.rate("coredns_dns_responses_total", cluster, rcode="SERVFAIL")
        if asked is None or failed is None:
            return None
        return 0.0 if asked <= 0 else min(1.0, failed / asked)

    def memory_limit_bytes(self, cluster: str) -> float | None:
        return self.value("waveguard_sim_apiserver_memory_limit_bytes", cluster)

    def workload_error_ratio(self, cluster: str) -> float | None:
        return self.value("waveguard_sim_workload_error_ratio", cluster)


class SimTarget(CombinedBackend):
    """A simulated fleet as a rollout backend: its own actuator, clock and signal source.
    ``profiles``: the change, as the simulator's agents send it. Time is simulated seconds
    since the rollout started. ``options``: the simulator's switches (default: Kubernetes' APF
    defaults, seed 0, recording preallocated for six simulated hours). ``recording``: what the
    simulator records (default :data:`ROLLOUT_FRAMES`; :data:`~waveguard.sim.phases.recording.
    EVERY_STEP` for summaries at the step's resolution)."""

    def __init__(self, fleet: Fleet, profiles: list[RequestProfile], options: SimulatorOptions | None = None,
                 recording: RecordingPlan = ROLLOUT_FRAMES) -> None:
        super().__init__()
        self.fleet = fleet
        self.profiles = profiles
        self._options = options or SimulatorOptions(expected_steps=6 * 3600)
        self._recording = recording
        self.sim = self._simulator()
        self.shares: dict[str, float] = {}
        #: Pods per second the DaemonSet controller starts the change's agents at (the agents'
        #: start spread; default: kube-controller-manager's client rate limit).
        self.daemonset_pods_per_s = C.DAEMONSET_PODS_CREATED_PER_S

    def record_as(self, plan: RecordingPlan) -> None:
        """Record as ``plan`` asks from now on (this simulator and those :meth:`reset` makes),
        e.g. every step for a live exporter whose scrapes read the latest frame. Raises
        ValueError once the simulator has stepped."""
        record_with(self.sim, plan)
        self._recording = plan

    def _simulator(self) -> FleetSimulator:
        """A fresh simulator at time 0 recording as asked."""
        sim = FleetSimulator(self.fleet, self.profiles, **self._options.kwargs())
        record_with(sim, self._recording)
        return sim

    @classmethod
    def for_scenario(cls, scenario: "Scenario", seed: int | None = None, *, fleet: Fleet | None = None,
                     profiles: list[RequestProfile] | None = None,
                     recording: RecordingPlan = ROLLOUT_FRAMES) -> "SimTarget":
        """A target with ``scenario``'s fleet, change, APF objects and simulator switches (DNS
        design, client back-off) — but not its schedule: the rollout engine decides that.
        ``fleet``/``profiles`` replace the scenario's (a plan's fleet, another change)."""
        return cls(scenario.fleet_model if fleet is None else fleet, scenario.profiles if profiles is None else profiles,
                   scenario.simulator_options(seed, with_change_state=False), recording)

    def now(self) -> float:
        return self.sim.time_s

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.sim.step(seconds)

    def apply(self, cluster: str, share: float) -> None:
        self.sim.set_rollout(cluster, share, self.daemonset_pods_per_s)
        self.shares[cluster] = share

    def rollback(self, cluster: str) -> None:
        self.sim.set_rollout(cluster, 0.0)
        self.shares[cluster] = 0.0

    def signals(self, window_s: float = 30.0) -> SimSignals:
        return SimSignals(self, window_s)

    def measured_profiles(self) -> list[RequestProfile]:
        """What the change's agents send in the clusters it has reached: the simulator's agents
        send exactly their profiles, so the measurement is exact — for what those clusters'
        traffic makes them do (a profile limited to other clusters is not seen)."""
        reached = [c for c in self.fleet.clusters if self.shares.get(c.name, 0.0) > 0]
        return [p for p in self.profiles if any(p.applies_to(c.labels) for c in reached)]

    def restore(self, state: RolloutState) -> None:
        """Replay the logged transitions (applies, rollbacks) at their times on a fresh simulator;
        nothing to do for a rollout not yet started."""
        if not state.transitions:
            return
        self.reset()
        for transition in state.transitions:
            self.advance(transition.t - self.now())
            self.replay(transition)

    def reset(self) -> None:
        """A fresh simulator (time 0, the change nowhere), same options."""
        self.sim = self._simulator()
        self.shares.clear()

    def replay(self, transition: Transition) -> None:
        """Set the node share a logged transition set, now (those that set none are ignored)."""
        if transition.cluster is not None and transition.share is not None:
            self.apply(transition.cluster, transition.share)
