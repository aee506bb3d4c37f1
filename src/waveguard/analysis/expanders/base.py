"""The expander registry: custom resources an operator renders into workloads, analysed as what
it renders. One module per expander in this package; each registers itself with :func:`expander`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from waveguard.model.manifests import Change, Document

#: Adds to ``change`` what the operator renders from the custom resource ``doc`` (workloads,
#: ConfigMaps, or a parse note saying why it cannot be modelled).
ExpandFunction = Callable[[Change, Document], None]


@dataclass(frozen=True)
class Expander:
    """One custom resource kind of one API group (``opentelemetry.io``), any version."""

    api_group: str
    kind: str
    expand: ExpandFunction

    def matches(self, doc: Document) -> bool:
        return doc.kind == self.kind and doc.api_version.startswith(self.api_group + "/")


#: Registered expanders, in registration order.
EXPANDERS: list[Expander] = []


def expander(api_group: str, kind: str) -> Callable[[ExpandFunction], ExpandFunction]:
    """Decorator: register the decorated function as the expander of ``kind`` in ``api_group``.
    Raises ValueError when that kind is registered twice."""
    if any(e.api_group == api_group and e.kind == kind for e in EXPANDERS):
        raise ValueError(f"an expander for {kind} ({api_group}) is registered twice")

    def register(function: ExpandFunction) -> ExpandFunction:
        EXPANDERS.append(Expander(api_group=api_group, kind=kind, expand=function))
        return function

    return register


def expander_for(doc: Document) -> ExpandFunction | None:
    """The expand function registered for ``doc``'s API group and kind, or None."""
    return next((e.expand for e in EXPANDERS if e.matches(doc)), None)
