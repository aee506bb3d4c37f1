"""kured, the Kubernetes Reboot Daemon (kubereboot/kured).

Sources: ``cmd/kured/main.go`` (``rebootAsRequired``: every ``--period`` (1 h default) it
checks the reboot sentinel; only when a reboot is required does it GET its own Node, take the
lock — an annotation on its own DaemonSet, a GET/UPDATE of one object — and drain);
``pkg/blockers/kubernetespod.go`` (``--blocking-pod-selector``: LIST pods with field selector
``spec.nodeName=<own node>``, sent only when that flag is set); the drain
(k8s.io/kubectl/pkg/drain) LISTs the pods of its own node (field selector ``spec.nodeName``)
and evicts them — only on the node holding the lock, ``--concurrency`` nodes at a time (1 by
default), so one replica per cluster drains at once. Its RBAC (list pods cluster-wide, for the
drain helper) is broader than what it asks for: nothing it asks for grows with the cluster.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.otel import duration_seconds
from waveguard.model.requests import RequestClass

#: --period default, seconds (kured cmd/kured/main.go: period = time.Minute * 60).
DEFAULT_PERIOD_S = 3600.0


class Kured:
    name = "kured"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not images_or_binary(ctx, ("kubereboot/kured", "weaveworks/kured", "kured"), ("kured",)):
            return None
        period = duration_seconds(ctx.arg_value("--period") or DEFAULT_PERIOD_S)
        # Counted once per period as if a reboot were always pending: an upper bound (kured reads
        # the lock and lists its node's pods only then; it also checks the lock once at start).
        classes = [
            RequestClass(verb="get", resource="daemonsets", api_group="apps", scope="object", trigger="periodic",
                         rate_per_s=1 / period, component=f"reboot lock (own DaemonSet, at most every {period:.0f} s)",
                         config_key="--period"),
            # The lock holder drains: one replica per cluster at a time (--concurrency 1).
            RequestClass(verb="list", resource="pods", scope="node", trigger="periodic", rate_per_s=1 / period,
                         resource_version="", selector=True, leader_only=True,
                         component="drain (own node's pods, by the node holding the reboot lock)",
                         config_key="--concurrency"),
        ]
        if ctx.arg_value("--blocking-pod-selector"):
            # Every node with a reboot pending checks its blocking pods each period.
            classes.append(RequestClass(
                verb="list", resource="pods", scope="node", trigger="periodic", rate_per_s=1 / period,
                resource_version="", selector=True, component="blocking pods (own node's pods, reboot pending)",
                config_key="--blocking-pod-selector"))
        return Recognised(agent=self.name, classes=classes)
