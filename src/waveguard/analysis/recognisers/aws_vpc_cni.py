"""Amazon VPC CNI (the ``aws-node`` DaemonSet: ipamd + aws-network-policy-agent).

ipamd's controller-runtime cache (aws/amazon-vpc-cni-k8s ``pkg/k8sapi/k8sutils.go``,
``CreateKubeClient``) as it is today, per replica:

* Pods: ``ByObject`` field selector ``spec.nodeName=$MY_NODE_NAME`` (PR #2456, July 2023,
  "For k8s client cache, only cache pods on this node", fixing #2436: v1.13.2 cached every pod
  of the cluster, "10x memory usage ... increase with the number of nodes").
* Nodes: ``metadata.name=$MY_NODE_NAME`` (PR #2888, October 2024; before it every Node was
  cached — issue #3158 "making list calls on all nodes & CNINode in cluster").
* CNINodes: cached only when Security Groups for Pods is on (``ENABLE_POD_ENI=true``; PR #3242,
  March 2025); ENIConfigs (custom networking, one per subnet/AZ).

So node-local (shared/inputs/realworld truth.yaml: ``node_local``). This recogniser models the
current behaviour; releases older than those PRs cached more (the PRs name the versions
involved, not a release table, so no version switch is made here). When ``MY_NODE_NAME`` is
not set from ``spec.nodeName`` the selectors are empty and the caches cluster-wide.

The ``aws-network-policy-agent`` container watches PolicyEndpoints (objects the network policy
controller writes per policy; they do not grow with nodes).

Evidence: recognised from the containers (image / env); no RBAC is read.
"""

from __future__ import annotations

from waveguard.analysis.recognisers.base import AgentContext, Recognised, truthy
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
        if truthy(ctx.env("ENABLE_POD_ENI")):
            result.classes += informer("cninodes", "cluster", api_group="vpcresources.k8s.aws",
                                       component="ipamd CNINodes (Security Groups for Pods)",
                                       config_key="env ENABLE_POD_ENI")
        if ctx.image_matches("aws-network-policy-agent"):
            result.classes += informer("policyendpoints", "cluster", api_group="networking.k8s.aws",
                                       component="aws-network-policy-agent PolicyEndpoints",
                                       config_key="args --enable-network-policy")
        return result
