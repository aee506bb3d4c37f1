"""Gate ``apiserver_memory``: an apiserver replica's resident memory over its memory limit."""

from __future__ import annotations

from waveguard.model.readings import APISERVER_MEMORY_LIMIT, Reading
from waveguard.rollout.gates.base import GateResult, Signals, read_figure, threshold_check
from waveguard.rollout.gates.registry import signal_gate

NAME = "apiserver_memory"
#: Resident memory over the replica's limit. The simulator answers the limit through
#: ``Signals.memory_limit_bytes`` (Prometheus: this reading, else the fleet file's figure).
READING = Reading("process_resident_memory_bytes", over=APISERVER_MEMORY_LIMIT)


@signal_gate(NAME, reads="process_resident_memory_bytes / memory limit of one apiserver replica",
             unit="ratio", default_threshold=0.8,
             source="policy: 20 % headroom before an OOM kill",
             control_plane=True, default_on=True, reads_apiserver=True, reading=READING)
def evaluate(signals: Signals, cluster: str, limit: float) -> GateResult:
    """Fails when resident memory exceeds ``limit`` of the replica's limit; no-data without
    either reading (or a limit of 0)."""
    used_bytes = read_figure(signals, READING, cluster)
    limit_bytes = signals.memory_limit_bytes(cluster)
    share = used_bytes / limit_bytes if used_bytes is not None and limit_bytes else None
    return threshold_check(NAME, cluster, share, limit, "apiserver memory / limit")
