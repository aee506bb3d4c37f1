"""CSI drivers: the node plugin DaemonSet and the controller Deployment.

Node plugins (the ``csi-node-driver-registrar`` pattern, kubernetes-csi/node-driver-registrar
README): the registrar registers the driver with the kubelet over the kubelet's plugin
registration socket (``--kubelet-registration-path``); the kubelet then calls the driver's CSI
Node service over its unix socket. Neither talks to kube-apiserver for that. The AWS EBS node
plugin (kubernetes-sigs/aws-ebs-csi-driver ``pkg/cloud/metadata.go``) may GET its own Node
(``--metadata-sources`` kubernetes, when IMDS is unavailable); EFS (aws-efs-csi-driver) reads
IMDS. Nothing a node plugin asks for grows with the cluster.

The registrar only says how the driver reaches the kubelet, not what the driver's own code asks
of the API server: a node plugin of a driver not named here whose ServiceAccount may LIST/WATCH
something is left to the RBAC upper bound (some drivers, e.g. secrets-store-csi-driver, do
watch); without such a grant it sends nothing that grows.

Controller sidecars (kubernetes-csi external-provisioner / external-attacher / external-resizer /
external-snapshotter READMEs) run informers cluster-wide, in a Deployment (a fixed number of
replicas, leader-elected with ``--leader-election``): provisioner — PVCs, PVs, StorageClasses,
CSINodes and Nodes (topology); attacher — VolumeAttachments, PVs, CSINodes; resizer — PVCs, PVs;
snapshotter — VolumeSnapshotContents.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.podspec import images_or_binary
from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import RequestClass, informer

#: Controller sidecar → the resources its informers watch (each sidecar's README / main.go).
SIDECAR_RESOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "csi-provisioner": (("persistentvolumeclaims", ""), ("persistentvolumes", ""),
                        ("storageclasses", "storage.k8s.io"), ("csinodes", "storage.k8s.io"), ("nodes", "")),
    "csi-attacher": (("volumeattachments", "storage.k8s.io"), ("persistentvolumes", ""),
                     ("csinodes", "storage.k8s.io")),
    "csi-resizer": (("persistentvolumeclaims", ""), ("persistentvolumes", "")),
    "csi-snapshotter": (("volumesnapshotcontents", "snapshot.storage.k8s.io"),),
}
#: Node plugin images whose drivers are known not to watch the API (see the module docstring).
KNOWN_NODE_PLUGIN_IMAGES = ("aws-ebs-csi-driver", "aws-efs-csi-driver")


def _is_node_plugin(ctx: AgentContext) -> bool:
    registrar = images_or_binary(ctx, ("csi-node-driver-registrar",), ("csi-node-driver-registrar",))
    return ctx.workload.per_node and (registrar or ctx.image_matches(*KNOWN_NODE_PLUGIN_IMAGES)
                                      or ctx.arg_value("--kubelet-registration-path") is not None)


def _may_list_or_watch(ctx: AgentContext) -> bool:
    """The ServiceAccount may LIST/WATCH some resource (subresources aside)."""
    return any({"list", "watch", "*"} & set(g.rule.verbs) and any("/" not in r for r in g.rule.resources)
               for g in ctx.grants)


class CSIDriver:
    name = "csi-driver"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        sidecars = [s for s in SIDECAR_RESOURCES if images_or_binary(ctx, (s,), (s,))]
        if _is_node_plugin(ctx) and not sidecars:
            if not ctx.image_matches(*KNOWN_NODE_PLUGIN_IMAGES) and _may_list_or_watch(ctx):
                return None  # an unknown driver that may watch: the RBAC upper bound answers
            classes: list[RequestClass] = []
            if ctx.image_matches("aws-ebs-csi-driver"):
                classes.append(RequestClass(verb="get", resource="nodes", scope="object", trigger="start",
                                            component="ebs-plugin node metadata (own Node)",
                                            config_key="--metadata-sources"))
            return Recognised(agent="csi-node-plugin", classes=classes)
        if not sidecars:
            return None
        leader_only = any(a.startswith("--leader-election") and not a.endswith("=false")
                          for a in ctx.workload.all_args())
        classes = []
        for sidecar in sidecars:
            for resource, group in SIDECAR_RESOURCES[sidecar]:
                classes += informer(resource, "cluster", api_group=group, component=f"{sidecar} ({resource})",
                                    config_key=f"{sidecar} --leader-election", leader_only=leader_only)
        return Recognised(agent="csi-controller", classes=classes)
