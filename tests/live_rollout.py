"""A rollout's event log written event by event, as the engine writes it (same kinds, payloads
checked by the log), for the live view's and the dashboard's tests and the refresh benchmark.

:class:`RolloutWriter` writes a plan of three waves over ``clusters`` clusters; each step is one
call, so a test (or another process) can drive the log to any point: a wave started, applied,
baking with gate evaluations every 30 s, halted by a failing gate, rolled back.
"""

from __future__ import annotations

import sys
from pathlib import Path

from waveguard.model.fleet import Cluster, Fleet
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.lease import Owner
from waveguard.rollout.plan.schema import ClusterSelector, GateSpec, Plan, Wave

GATES = ("apiserver_p99_latency", "apf_seat_utilisation", "dns_probe")
THRESHOLDS = {"apiserver_p99_latency": 1.0, "apf_seat_utilisation": 0.9, "dns_probe": 0.01}
INTERVAL_S = 30.0
BAKE_S = 1260.0


def fleet(clusters: int) -> Fleet:
    return Fleet(clusters=[Cluster(name=f"c{i:04d}", labels={"tier": _tier(i)}, nodes=100 + 10 * i)
                           for i in range(clusters)])


def _tier(i: int) -> str:
    return "staging" if i == 0 else "canary" if i < 3 else "prod"


def plan() -> Plan:
    return Plan(change="examples/incident-telemetry", gate_interval_s=INTERVAL_S,
                waves=[Wave(name=tier, clusters=ClusterSelector(labels={"tier": tier}), node_share=share,
                            bake_s=BAKE_S)
                       for tier, share in (("staging", 1.0), ("canary", 0.01), ("prod", 1.0))],
                gates=[GateSpec(kind=g, threshold=THRESHOLDS[g]) for g in GATES])


class RolloutWriter:
    """Writes a rollout's events to ``path`` (a new state file), step by step."""

    def __init__(self, path: str | Path, clusters: int = 10) -> None:
        self.fleet, self.plan = fleet(clusters), plan()
        self.log = EventLog(path, create=True)
        self.t, self.wave = 0.0, -1
        self.log.start([("started", 0.0, None, None, {"plan": self.plan.model_dump(mode="json"),
                                                     "fleet_model": self.fleet.model_dump(mode="json")})],
                       Owner.this_process())

    def members(self, wave: int) -> list[str]:
        return [c.name for c in self.plan.clusters_of(self.plan.waves[wave], self.fleet)]

    def start_wave(self) -> None:
        """Start the next wave and apply all its clusters."""
        self.wave += 1
        w = self.plan.waves[self.wave]
        self.log.append("wave_started", self.t, wave=self.wave, name=w.name, node_share=w.node_share, bake_s=w.bake_s)
        for name in self.members(self.wave):
            self.log.append("apply_started", self.t, wave=self.wave, cluster=name, share=w.node_share)
            self.log.append("applied", self.t, wave=self.wave, cluster=name, share=w.node_share)

    def evaluate(self, values: dict[str, float | None] | None = None) -> None:
        """One gate evaluation INTERVAL_S later on every cluster of the wave: ``values`` per gate
        (None: no data; missing: half the threshold)."""
        self.t += INTERVAL_S
        rows = []
        for name in self.members(self.wave):
            for gate in GATES:
                value = (values or {}).get(gate, THRESHOLDS[gate] / 2)
                status = "no-data" if value is None else "fail" if value > THRESHOLDS[gate] else "pass"
                rows.append(("gate", self.t, self.wave, name, {
                    "gate": gate, "cluster": name, "status": status, "value": value,
                    "threshold": THRESHOLDS[gate], "detail": f"{gate} on {name}"}))
        self.log.append_many(rows)

    def pass_wave(self) -> None:
        self.log.append("wave_passed", self.t, wave=self.wave, name=self.plan.waves[self.wave].name)

    def halt(self, gate: str, value: float, reason: str) -> None:
        """A failing evaluation of ``gate`` on the wave's first cluster, then the halt and rollback."""
        self.evaluate({gate: value})
        first = self.members(self.wave)[0]
        self.log.append("halted", self.t, wave=self.wave, reason=reason, gate=gate, cluster_failed=first,
                        value=value, threshold=THRESHOLDS[gate])
        for name in self.members(self.wave):
            self.log.append("rollback_started", self.t, wave=self.wave, cluster=name)
            self.log.append("rolled_back", self.t, wave=self.wave, cluster=name)
        self.log.append("rolled_back", self.t, wave=self.wave)

    def complete(self) -> None:
        self.log.append("completed", self.t)

    def close(self) -> None:
        self.log.release()
        self.log.close()


def write_events(path: str | Path, events: int, clusters: int = 100) -> RolloutWriter:
    """A log of at least ``events`` events: staging and canary baked and passed, then the last
    wave baking with evaluations until the count is reached (the benchmark's file: 100 clusters,
    10,000 events end within the last wave's 21-minute bake). The writer is open."""
    writer = RolloutWriter(path, clusters)
    for _ in range(2):
        writer.start_wave()
        for _ in range(int(BAKE_S / INTERVAL_S)):
            writer.evaluate()
        writer.pass_wave()
    writer.start_wave()
    while writer.log.events(after=events - 1) == [] and writer.t < 10 ** 7:
        writer.evaluate()
    return writer


if __name__ == "__main__":  # a slow writer for trying `rollout status --watch` by hand
    import time

    w = RolloutWriter(sys.argv[1], 10)
    w.start_wave()
    for _ in range(5):
        time.sleep(1)
        w.evaluate()
    w.pass_wave()
    w.start_wave()
    time.sleep(1)
    w.halt("apiserver_p99_latency", 2.5, "gate apiserver_p99_latency failed on c0001: 2.5 s > 1 s")
    w.close()
