"""Flannel (flanneld).

With ``--kube-subnet-mgr`` flanneld keeps each node's subnet lease in its Node object, and
every flanneld runs a Node informer over all Nodes, unfiltered (flannel-io/flannel
``pkg/subnet/kube/kube.go``: ``newKubeSubnetManager`` builds an indexer informer on
``Nodes().List/Watch`` with empty ListOptions; it does not watch pods; flannel-io/flannel#1617
on the load of that watch in large clusters). Without ``--kube-subnet-mgr`` it keeps leases in
etcd and sends nothing to kube-apiserver. The ``alloc`` backend (``"Backend": {"Type":
"alloc"}`` in net-conf.json of the kube-flannel-cfg ConfigMap) sets ``disableNodeInformer``
in the same function: no Node informer.

So every node watches every Node: O(nodes²), but of few, small objects — a warning on most
fleets, not an error (shared/inputs/realworld truth.yaml: ``o_nodes2_warning``). Evidence:
recognised from the container's args; no RBAC is read.
"""

from __future__ import annotations

import json

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import flag_on, runs
from waveguard.model.requests import RequestClass, informer


def _backend_type(ctx: AgentContext) -> str:
    """``Backend.Type`` of the mounted net-conf.json, lower case ("" when absent or unreadable)."""
    try:
        conf = json.loads(ctx.config.get("net-conf.json") or "{}")
    except ValueError:
        return ""
    backend = conf.get("Backend") if isinstance(conf, dict) else None
    return str(backend.get("Type", "")).lower() if isinstance(backend, dict) else ""


class Flannel:
    name = "flannel"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (runs(ctx, "flanneld") or flag_on(ctx, "--kube-subnet-mgr", False)
                or ctx.image_matches("flannel-io/flannel", "coreos/flannel", "rancher/mirrored-flannelcni-flannel")):
            return None
        result = Recognised(agent=self.name)
        if not flag_on(ctx, "--kube-subnet-mgr", False):
            return result  # etcd subnet manager: no kube-apiserver traffic
        if _backend_type(ctx) == "alloc":
            return result  # kube.go: disableNodeInformer
        result.classes += informer(
            "nodes", "cluster", component="kube subnet manager (Node informer, every node)",
            config_key="--kube-subnet-mgr",
            fix="nothing to change for most fleets (Nodes are few and small); on very large clusters consider a "
                "CNI whose agents do not each watch all Nodes")
        result.classes.append(RequestClass(
            verb="patch", resource="nodes", scope="object", trigger="start",
            component="subnet lease annotations on its own Node", config_key="--kube-subnet-mgr"))
        return result
