"""Kepler (sustainable-computing-io/kepler): energy exporter DaemonSet.

Its pod informer is filtered to its own node with a ``spec.nodeName`` field selector (kepler
``pkg/kubernetes/watcher.go``, NODE_NAME from the downward API); it reads node metrics from the
kubelet, not the API server.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import Scope, informer


class Kepler:
    name = "kepler"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("kepler"):
            return None
        scope: Scope = "node" if ctx.workload.per_node else "cluster"
        return Recognised(agent=self.name, classes=informer("pods", scope, component="kepler pod watcher"))
