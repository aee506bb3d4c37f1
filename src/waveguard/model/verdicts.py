"""A cluster's verdict from its projected demand: ``ok``, ``warning`` or ``overload``, with the
reasons an SRE reads (:func:`verdict_for`; the figures come from :func:`waveguard.model.cost.project`)."""

from __future__ import annotations

from typing import Literal

from waveguard.model import constants as C

Verdict = Literal["ok", "warning", "overload"]

#: Demand/capacity at which a cluster is overloaded / worth a warning. Policy, not physics:
#: 1.0 is the point where queued requests outlive their client timeout.
OVERLOAD_UTILISATION = 1.0
WARNING_UTILISATION = 0.5
#: Share of the memory limit at which the relist storm is worth a warning.
WARNING_MEMORY_SHARE = 0.5


def verdict_for(level: str, level_util: float, server_util: float, memory_share: float, drain_s: float,
                rejected_share: float, *, etcd_util: float = 0.0, etcd_s: float = 0.0,
                etcd_memory: float = 0.0) -> tuple[Verdict, list[str]]:
    """The verdict and its reasons for the given demand figures (see :class:`ClusterLoad`;
    ``etcd_memory`` is its ``etcd_memory_fraction``, judged as the apiserver's memory share)."""
    reasons: list[str] = []
    verdict: Verdict = "ok"
    if etcd_memory >= 1.0:
        verdict = "overload"
        reasons.append(f"needs {etcd_memory:.0%} of an etcd member's memory for the range responses of its LISTs "
                       "from etcd: etcd is OOM-killed and loses its leader")
    if etcd_util >= OVERLOAD_UTILISATION:
        verdict = "overload"
        reasons.append(f"needs {etcd_util:.0%} of the cluster's etcd: its LISTs from etcd need {etcd_s:.0f} s of "
                       f"etcd's {C.ETCD_READ_BYTES_PER_S / 1e6:.0f} MB/s, past the {C.CLIENT_TIMEOUT_S:.0f} s client "
                       "timeout, so they time out and retry")
    if level_util >= OVERLOAD_UTILISATION:
        verdict = "overload"
        reasons.append(f"needs {level_util:.0%} of {level}'s seats: its start/relist LISTs take {drain_s:.0f} s "
                       f"to serve, past the {C.CLIENT_TIMEOUT_S:.0f} s client timeout, so they time out and retry")
    if memory_share >= 1.0:
        verdict = "overload"
        reasons.insert(0 if level_util < memory_share else len(reasons),
                       f"needs {memory_share:.0%} of an apiserver's memory limit during a relist storm: OOM-kill")
    if verdict == "ok":
        if etcd_util >= WARNING_UTILISATION:
            verdict = "warning"
            reasons.append(f"needs {etcd_util:.0%} of the cluster's etcd over a client timeout")
        if level_util >= WARNING_UTILISATION or server_util >= WARNING_UTILISATION:
            verdict = "warning"
            reasons.append(f"needs {max(level_util, server_util):.0%} of {level}'s seats over a client timeout")
        if memory_share >= WARNING_MEMORY_SHARE:
            verdict = "warning"
            reasons.append(f"needs {memory_share:.0%} of an apiserver's memory limit during a relist storm")
        if etcd_memory >= WARNING_MEMORY_SHARE:
            verdict = "warning"
            reasons.append(f"needs {etcd_memory:.0%} of an etcd member's memory for its range responses")
    if rejected_share > 0:
        reasons.append(f"{rejected_share:.0%} of a simultaneous start is rejected with 429 at first (one flow: "
                       "handSize × queueLengthLimit queued per apiserver), and retried")
    return verdict, reasons
