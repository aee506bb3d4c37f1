"""Expanders: custom resources analysed as the workloads their operator renders.

Add one: a module here with a function ``(change, doc) -> None`` decorated with
``@expander("api.group", "Kind")`` (from :mod:`.base`), imported below so that it registers.
The loader asks :func:`expander_for` for every document before its own kinds.
"""

from __future__ import annotations

from waveguard.analysis.expanders import otel_operator  # noqa: F401  (registers itself)
from waveguard.analysis.expanders.base import EXPANDERS, ExpandFunction, Expander, expander, expander_for

__all__ = ["EXPANDERS", "ExpandFunction", "Expander", "expander", "expander_for"]
