"""Amazon VPC CNI (the ``aws-node`` DaemonSet: ipamd + aws-network-policy-agent).

ipamd's controller-runtime cache (aws/amazon-vpc-cni-k8s ``pkg/k8sapi/k8sutils.go``,
``CreateKubeClient`` / cache ``ByObject`` since PR #2456, see issue #3158) holds Pods with the
field selector ``spec.nodeName=$MY_NODE_NAME`` and Nodes with ``metadata.name=$MY_NODE_NAME``:
node-local (shared/inputs/realworld truth.yaml: ``node_local``). It also reads ENIConfigs
(custom networking; one per subnet/AZ, a handful) and its own CNINode. Releases before that PR
cached pods cluster-wide; this recogniser models the current behaviour and says so when
``MY_NODE_NAME`` is not set from ``spec.nodeName`` (then the filter is empty).

The ``aws-network-policy-agent`` container watches PolicyEndpoints (CRD objects the network
policy controller writes per policy; they do not grow with nodes).

Evidence: recognised from the containers (image / env); no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised
from waveguard.model.requests import Scope, informer


class AwsNode:
    name = "aws-vpc-cni"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        if not ctx.image_matches("amazon-k8s-cni", "amazon/amazon-k8s-cni", "aws-node"):
            return None
        result = Recognised(agent=self.name)
        node_env = ctx.env_from_node_name("MY_NODE_NAME")
        pod_scope: Scope = "node" if node_env else "cluster"
        result.classes += informer(
            "pods", pod_scope, component="ipamd pod cache (field selector spec.nodeName=$MY_NODE_NAME)",
            config_key="env MY_NODE_NAME",
            fix="" if node_env else "set env MY_NODE_NAME from fieldRef spec.nodeName on the aws-node container")
        result.classes += informer("nodes", "object" if node_env else "cluster",
                                   component="ipamd node cache (metadata.name=$MY_NODE_NAME)",
                                   config_key="env MY_NODE_NAME")
        result.classes += informer("eniconfigs", "cluster", api_group="crd.k8s.amazonaws.com",
                                   component="ipamd ENIConfigs (custom networking)", config_key="env AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG")
        result.classes += informer("cninodes", "object", api_group="vpcresources.k8s.aws",
                                   component="ipamd its own CNINode", config_key="env MY_NODE_NAME")
        if ctx.image_matches("aws-network-policy-agent"):
            result.classes += informer("policyendpoints", "cluster", api_group="networking.k8s.aws",
                                       component="aws-network-policy-agent PolicyEndpoints",
                                       config_key="args --enable-network-policy")
        return result
