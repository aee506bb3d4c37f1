"""Multus CNI (k8snetworkplumbingwg/multus-cni), thin and thick.

* **Thick** (``multus-daemon`` binary, ``*-thick`` image): the daemon's pod informer
  (``pkg/server/server.go`` ``newPodInformer``) is filtered with the field selector
  ``spec.nodeName=$MULTUS_NODE_NAME`` when that env is set ("Only watch for local pods"), and
  unfiltered — every pod of the cluster — when it is not. Node-local when the manifest sets
  ``MULTUS_NODE_NAME`` from ``spec.nodeName`` (shared/inputs/realworld truth.yaml:
  ``node_local`` for multus-thick).
* **Thin** (the ``multus`` shim binary run by the container runtime on CNI ADD/DEL, installed by
  ``thin_entrypoint``): no informer; each CNI ADD GETs the pod (``pkg/k8sclient``
  ``GetPod``) and the NetworkAttachmentDefinitions its annotation names — GETs per new pod on
  the node, sent with the node's ServiceAccount kubeconfig.

Evidence: recognised from the container's command / image tag and env; no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.analysis.recognisers.podspec import image_named, runs
from waveguard.model import constants as C
from waveguard.model.requests import RequestClass, Scope, informer


def _thick(ctx: AgentContext) -> bool:
    return runs(ctx, "multus-daemon") or any(i.lower().split("@")[0].endswith("-thick") for i in ctx.images)


class Multus:
    name = "multus"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not (image_named(ctx, "multus-cni", "multus") or runs(ctx, "multus-daemon", "thin_entrypoint")):
            return None
        if _thick(ctx):
            node_env = ctx.env_from_node_name("MULTUS_NODE_NAME")
            scope: Scope = "node" if node_env else "cluster"
            return Recognised(agent=f"{self.name} (thick)", classes=informer(
                "pods", scope, component="multus-daemon pod informer (spec.nodeName=$MULTUS_NODE_NAME)",
                config_key="env MULTUS_NODE_NAME",
                fix="" if node_env else "set env MULTUS_NODE_NAME from fieldRef spec.nodeName on the multus-daemon "
                                        "container, so its pod informer watches only its node"))
        return Recognised(agent=f"{self.name} (thin)", classes=[RequestClass(
            verb="get", resource="pods", scope="object", trigger="per_event",
            rate_per_s=1 / C.POD_WRITES_PER_POD_LIFETIME, resource_version="",
            component="multus shim: GET the pod on every CNI ADD", config_key="thin plugin",
            fix="use the thick plugin (multus-daemon with MULTUS_NODE_NAME), whose node-filtered informer answers "
                "from its cache")])
