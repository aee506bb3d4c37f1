"""A probe's result: the one result shape of :mod:`waveguard.model.result` under its signals name.

``SignalResult`` is :class:`waveguard.model.result.CheckResult` (kept importable here for the
probes and their callers); ``Status`` is pass / fail / no-data.
"""

from __future__ import annotations

from waveguard.model.result import CheckResult, Status

#: A probe's result (``waveguard.signals.dns``): the one result shape.
SignalResult = CheckResult

__all__ = ["SignalResult", "Status"]
