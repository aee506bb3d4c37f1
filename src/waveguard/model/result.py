"""The one result shape of a check — a DNS probe, a rollout gate: pass / fail / no-data, with the
figure read, the threshold it was compared with, and the reason in one line.

Signals (``waveguard.signals.dns``) return it as ``SignalResult`` (an alias); rollout gates
return it as ``GateResult`` (``waveguard.rollout.gates``: the same fields, read as gate and
cluster, and the JSON the event log records).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ``pass``: the signal was read and is within its threshold. ``fail``: it was read and is not
#: (or the thing probed did not answer, when not answering *is* the failure). ``no-data``: the
#: signal could not be read (bad probe configuration, no route to the network, a source that
#: returned nothing usable) — a rollout must pause on it, never proceed.
Status = Literal["pass", "fail", "no-data"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a probe or a gate saw.

    ``value``: the figure read (its unit is in ``unit``), None when there is none (no-data, or a
    failure with nothing to measure); ``threshold``: the limit it was compared with, None when the
    check is yes/no; ``detail``: the reason, one line for a person (what was asked, what came
    back); ``unit``: of ``value`` and ``threshold`` (``s``, ``requests/s``, ``ratio``; "" when
    not given); ``signal``: what was checked (a probe's signal name, a gate's name); ``data``:
    extra machine-readable facts (e.g. the DNS rcode, the answers); ``subject``: where it was
    checked (the cluster a gate read; "" for a probe).
    """

    status: Status
    value: float | None
    threshold: float | None
    detail: str
    unit: str = ""
    signal: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    subject: str = ""

    @property
    def passed(self) -> bool:
        """True only for ``pass``: ``no-data`` is not a pass."""
        return self.status == "pass"

    @property
    def reason(self) -> str:
        """The one line for a person (``detail``)."""
        return self.detail

    def to_json(self) -> dict[str, Any]:
        """All fields as JSON; ``subject`` only when set (a probe's JSON has none)."""
        out = asdict(self)
        if not self.subject:
            del out["subject"]
        return out
