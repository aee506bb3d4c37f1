"""Who talks to kube-apiserver in a simulated cluster: the baseline clients and the change.

Every client is a :class:`~waveguard.model.requests.RequestProfile` (the same type analyse
builds from manifests) plus the APF :class:`~waveguard.model.apf.Subject` it authenticates as,
so the simulator costs baseline and change with one model (:mod:`waveguard.model.cost`) and
classifies both with the FlowSchemas (:meth:`APFConfig.classify`).

Baseline (per cluster), with the rates of :mod:`waveguard.model.constants`:

* kubelets (one per node, ``system:node:<name>`` in ``system:nodes``): lease renewals and node
  status (node-high), pod status writes (system), informers on their node's pods, on all
  Services (for pod environment variables) and on their own Node;
* kube-controller-manager and kube-scheduler (leaders): cluster-wide informers, pod writes,
  leader-election lease renewals;
* CoreDNS (ServiceAccount kube-system/coredns, one replica per 16 nodes): informers on Services
  and EndpointSlices; with ``dns.mode: api_per_answer`` one GET per lookup it answers;
* workloads: pods that call the API (workload-low), the API dependence of user requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from waveguard.model import constants as C
from waveguard.model.cost import subject_of
from waveguard.model.apf import Subject
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile, informer

Role = Literal["kubelet", "controllers", "scheduler", "coredns", "workloads", "change", "rollback"]

#: Stand-in replica count of profiles whose replica count depends on the cluster (CoreDNS,
#: workloads): the real count is :meth:`SimClient.instances`.
_PER_CLUSTER = 1


@dataclass(frozen=True)
class SimClient:
    """A client of the simulated apiservers.

    ``distinct_users``: every instance is its own APF flow (kubelets, many workload
    ServiceAccounts); else all instances share one flow (a DaemonSet's one ServiceAccount).
    ``backoff``: it backs off on failures (client-go reflector) rather than retrying at once.
    """

    name: str
    role: Role
    profile: RequestProfile
    subject: Subject
    distinct_users: bool
    backoff: bool

    def instances(self, cluster: Cluster) -> float:
        """Running instances of this client on ``cluster`` when fully rolled out."""
        if self.role == "coredns":
            return float(coredns_replicas(cluster))
        if self.role == "workloads":
            return 1.0
        if not self.profile.applies_to(cluster.labels):
            return 0.0
        return float(self.profile.replica_count(cluster.nodes))

    def rate_scale(self, cluster: Cluster) -> float:
        """Multiplier of ``periodic`` rates that depend on the cluster (workloads, CoreDNS)."""
        if self.role == "workloads":
            return cluster.pod_count * C.WORKLOAD_API_REQUESTS_PER_POD_PER_S
        if self.role == "coredns":
            return cluster.nodes * C.DNS_LOOKUPS_TO_COREDNS_PER_NODE_PER_S / coredns_replicas(cluster)
        return 1.0


def coredns_replicas(cluster: Cluster) -> int:
    """CoreDNS replicas: ceil(nodes / 16), at least 2 (cluster-proportional autoscaler)."""
    return max(C.COREDNS_MIN_REPLICAS, math.ceil(cluster.nodes / C.COREDNS_NODES_PER_REPLICA))


def _periodic(verb: str, resource: str, rate: float, component: str, scope: str = "object") -> RequestClass:
    return RequestClass(verb=verb, resource=resource, scope=scope, trigger="periodic", rate_per_s=rate,
                        component=component)


def _per_event(verb: str, resource: str, share: float, component: str, scope: str) -> RequestClass:
    return RequestClass(verb=verb, resource=resource, scope=scope, trigger="per_event", rate_per_s=share,
                        component=component)


def kubelet_client(backoff: bool) -> SimClient:
    classes = [
        *informer("pods", "node", component="kubelet pod informer"),
        *informer("services", "cluster", component="kubelet service informer (pod env vars)"),
        *informer("nodes", "object", component="kubelet node informer"),
        _periodic("update", "leases", 1.0 / C.KUBELET_LEASE_RENEW_PERIOD_S, "node lease"),
        _periodic("patch", "nodes", 1.0 / C.KUBELET_STATUS_REPORT_PERIOD_S, "node status"),
        _per_event("patch", "pods", C.POD_WRITES_BY_KUBELET_SHARE, "pod status", "node"),
    ]
    profile = RequestProfile(client="kubelet", agent="kubelet", per_node=True, namespace="",
                             service_account="", classes=classes)
    subject = Subject(user="system:node:node", groups=["system:nodes", "system:authenticated"])
    return SimClient("kubelet", "kubelet", profile, subject, distinct_users=True, backoff=backoff)


def controller_manager_client(backoff: bool) -> SimClient:
    resources = ("pods", "nodes", "replicasets", "deployments", "daemonsets", "statefulsets", "jobs",
                 "services", "endpointslices", "namespaces", "configmaps", "secrets")
    classes = [rc for r in resources for rc in informer(r, "cluster", component="kube-controller-manager")]
    classes += [
        _per_event("create", "pods", C.POD_WRITES_BY_CONTROLLERS_SHARE, "pod create/delete", "cluster"),
        _periodic("update", "leases", 1.0 / C.LEADER_ELECTION_RETRY_PERIOD_S, "leader election"),
    ]
    profile = RequestProfile(client="kube-controller-manager", agent="kube-controller-manager", per_node=False,
                             replicas=1, namespace="kube-system", service_account="", classes=classes)
    subject = Subject(user="system:kube-controller-manager", groups=["system:authenticated"])
    return SimClient("kube-controller-manager", "controllers", profile, subject, distinct_users=False,
                     backoff=backoff)


def scheduler_client(backoff: bool) -> SimClient:
    classes = [rc for r in ("pods", "nodes", "namespaces", "services")
               for rc in informer(r, "cluster", component="kube-scheduler")]
    classes += [
        _per_event("create", "pods", C.POD_WRITES_BY_SCHEDULER_SHARE, "pod binding", "cluster"),
        _periodic("update", "leases", 1.0 / C.LEADER_ELECTION_RETRY_PERIOD_S, "leader election"),
    ]
    profile = RequestProfile(client="kube-scheduler", agent="kube-scheduler", per_node=False, replicas=1,
                             namespace="kube-system", service_account="", classes=classes)
    subject = Subject(user="system:kube-scheduler", groups=["system:authenticated"])
    return SimClient("kube-scheduler", "scheduler", profile, subject, distinct_users=False, backoff=backoff)


def coredns_client(backoff: bool, api_per_answer: bool) -> SimClient:
    classes = [rc for r in ("services", "endpointslices", "namespaces")
               for rc in informer(r, "cluster", component="coredns kubernetes plugin")]
    if api_per_answer:
        # One GET of the Service's EndpointSlice per lookup CoreDNS answers (the rate is scaled
        # per cluster by rate_scale()).
        classes.append(_periodic("get", "endpointslices", 1.0, "lookup needs the API"))
    profile = RequestProfile(client="coredns", agent="coredns", per_node=False, replicas=_PER_CLUSTER,
                             namespace="kube-system", service_account="coredns", classes=classes)
    subject = Subject.service_account("kube-system", "coredns")
    return SimClient("coredns", "coredns", profile, subject, distinct_users=False, backoff=backoff)


def workloads_client() -> SimClient:
    # Many ServiceAccounts: many flows. One request a second per API-using pod (rate_scale()).
    classes = [_periodic("get", "pods", 1.0, "workload API use")]
    profile = RequestProfile(client="workloads", agent="workloads", per_node=False, replicas=_PER_CLUSTER,
                             namespace="apps", service_account="app", classes=classes)
    subject = Subject.service_account("apps", "app")
    return SimClient("workloads", "workloads", profile, subject, distinct_users=True, backoff=True)


def change_client(profile: RequestProfile, backoff: bool) -> SimClient:
    return SimClient(profile.client, "change", profile, subject_of(profile), distinct_users=False, backoff=backoff)


def baseline_clients(*, backoff: bool = True, api_per_answer_dns: bool = False) -> list[SimClient]:
    """The clients every simulated cluster has before any change."""
    return [
        kubelet_client(backoff), controller_manager_client(backoff), scheduler_client(backoff),
        coredns_client(backoff, api_per_answer_dns), workloads_client(),
    ]
