"""Weave Net (weave-kube router + weave-npc), one DaemonSet, two containers.

* ``weave-npc`` (weaveworks/weave ``prog/weave-npc/main.go``): informers on Pods, Namespaces
  and NetworkPolicies, all cluster-wide with ``fields.Everything()`` (no node filter) — every
  node holds every pod.
* The router's ``kube-utils`` (weaveworks/weave ``prog/kube-utils/main.go``): at start
  ``getKubePeers`` LISTs all Nodes with empty ``ListOptions`` (no resourceVersion, a
  consistent read) — once for the peer list and again in ``-reclaim``.

Evidence: recognised from the containers (image / binary); no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import runs
from waveguard.model.requests import RequestClass, informer

#: weave-npc's informers (prog/weave-npc/main.go).
NPC_RESOURCES = (("pods", ""), ("namespaces", ""), ("networkpolicies", "networking.k8s.io"))


class WeaveNet:
    name = "weave-net"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        npc = ctx.image_matches("weave-npc") or runs(ctx, "weave-npc")
        router = ctx.image_matches("weave-kube") or runs(ctx, "kube-utils")
        if not (npc or router):
            return None
        result = Recognised(agent=self.name)
        if npc:
            for resource, group in NPC_RESOURCES:
                result.classes += informer(
                    resource, "cluster", api_group=group, component=f"weave-npc ({resource}, fields.Everything())",
                    config_key="container weave-npc",
                    fix="weave-npc has no node filter; Weave Net is archived — move to a CNI whose policy agent "
                        "watches only its node's pods (Antrea) or that fans out through a few replicas (Calico "
                        "with Typha)")
        if router:
            result.classes.append(RequestClass(
                verb="list", resource="nodes", scope="cluster", trigger="start", resource_version="",
                component="kube-utils peer discovery (LIST all Nodes at start)", config_key="container weave"))
        return result
