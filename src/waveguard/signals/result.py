"""The one result shape of a probe or a gate: pass / fail / no-data, with the figure and the threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ``pass``: the signal was read and is within its threshold. ``fail``: it was read and is not
#: (or the thing probed did not answer, when not answering *is* the failure). ``no-data``: the
#: signal could not be read (bad probe configuration, no route to the network, a source that
#: returned nothing usable) — a rollout must pause on it, never proceed.
Status = Literal["pass", "fail", "no-data"]


@dataclass(frozen=True, slots=True)
class SignalResult:
    """What a probe or a gate saw.

    ``value``: the figure read (its unit is in ``unit``), None when there is none (no-data, or a
    failure with nothing to measure); ``threshold``: the limit it was compared with, None when the
    check is yes/no; ``detail``: one line for a person (what was asked, what came back);
    ``data``: extra machine-readable facts (e.g. the DNS rcode, the answers).
    """

    status: Status
    value: float | None
    threshold: float | None
    detail: str
    unit: str = ""
    signal: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True only for ``pass``: ``no-data`` is not a pass."""
        return self.status == "pass"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
