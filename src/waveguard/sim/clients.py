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

import numpy as np

from waveguard.model import constants as C
from waveguard.model.cost import subject_of
from waveguard.model.apf import Subject
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile, informer

Role = Literal["kubelet", "controllers", "scheduler", "coredns", "workloads", "change", "rollback", "crashloop"]
#: How a client re-sends a request answered 429 (or 5xx with Retry-After): ``client-go`` — its REST
#: client waits the Retry-After seconds and retries up to CLIENT_GO_MAX_RETRIES times (rest/
#: with_retry.go); ``immediate`` — a naive loop that re-sends after CLIENT_NO_BACKOFF_RETRY_S,
#: forever; ``none`` — the caller sees the error (informers' relists: the reflector backs off).
RetryPolicy = Literal["client-go", "immediate", "none"]
RETRY_POLICIES: tuple[RetryPolicy, ...] = ("none", "client-go", "immediate")

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
    #: issue 12: how its REST client retries 429s (``RetryPolicy``).
    retry: RetryPolicy = "client-go"

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
        if self.role == "crashloop":
            return 0.0  # its writes follow the pods' restarts (apf_dispatch.crashloop_events)
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


def change_client(profile: RequestProfile, backoff: bool, retry: RetryPolicy = "client-go") -> SimClient:
    return SimClient(profile.client, "change", profile, subject_of(profile), distinct_users=False, backoff=backoff,
                     retry=retry)


def baseline_clients(*, backoff: bool = True, api_per_answer_dns: bool = False) -> list[SimClient]:
    """The clients every simulated cluster has before any change."""
    return [
        kubelet_client(backoff), controller_manager_client(backoff), scheduler_client(backoff),
        coredns_client(backoff, api_per_answer_dns), workloads_client(),
    ]


# --- issue 12: client-side rate limits ------------------------------------------------------


def qps_per_instance(client: SimClient, cluster: Cluster) -> float:
    """Requests/s one instance of ``client`` may send on ``cluster`` (client-go's token bucket,
    ``flowcontrol.NewTokenBucketRateLimiter(qps, burst)``): the kubelet's --kube-api-qps (50
    from 1.27, 5 before), kube-controller-manager's 20, kube-scheduler's 50, client-go's default
    5 for everyone else (CoreDNS, workloads and agents that set none). Sources in
    model.constants. The simulator bounds retries with it: a retry waits for a token."""
    if client.role in ("kubelet", "crashloop"):  # Events: --event-qps, 50 too (defaults.go EventRecordQPS)
        return C.KUBELET_API_QPS if cluster.version_tuple >= C.KUBELET_API_QPS_SINCE \
            else C.KUBELET_API_QPS_BEFORE_1_27
    if client.role == "controllers":
        return C.CONTROLLER_MANAGER_API_QPS
    if client.role == "scheduler":
        return C.SCHEDULER_API_QPS
    return C.CLIENT_GO_DEFAULT_QPS


def client_rate_limit(client: SimClient, cluster: Cluster) -> float:
    """Requests/s all instances of ``client`` on ``cluster`` may send together (``inf`` for the
    rollback, which the rollback driver paces)."""
    if client.role == "rollback":
        return math.inf
    instances = 1.0 if client.role in ("controllers", "scheduler", "workloads") else client.instances(cluster)
    return instances * qps_per_instance(client, cluster)


def crashloop_restarts(elapsed_s: np.ndarray | float) -> np.ndarray:
    """Restarts of a crash-looping container ``elapsed_s`` seconds after its first start (it
    exits at once): the kubelet restarts it after a back-off of 10 s doubling to 5 minutes
    (k8s: pkg/kubelet/kubelet.go backOffPeriod = 10 s, MaxContainerBackOff = 300 s, 1.18–1.35;
    CRASHLOOP_BACKOFF_*), so restarts come at 10, 30, 70, 150, 310, 610 s, then every 300 s.
    Continuous in time (a fleet of pods started together, fluid)."""
    t = np.asarray(elapsed_s, dtype=np.float64)
    first, cap = C.CRASHLOOP_BACKOFF_INITIAL_S, C.CRASHLOOP_BACKOFF_MAX_S
    doublings = int(np.ceil(np.log2(cap / first)))  # back-offs below the cap: 10, 20, 40, 80, 160
    count = np.zeros_like(t)
    edge = 0.0
    for k in range(doublings):
        gap = first * 2.0 ** k
        count += np.clip((t - edge) / gap, 0.0, 1.0)
        edge += gap
    return count + np.maximum(t - edge, 0.0) / cap


@dataclass(frozen=True)
class CrashLoop:
    """A DaemonSet whose pods crash-loop from ``at_s``: one pod on ``share`` of the nodes of the
    named ``clusters`` (None: every cluster). The kubelets write an Event per restart."""

    at_s: float = 0.0
    share: float = 1.0
    clusters: tuple[str, ...] | None = None


def crashloop_client() -> SimClient:
    """The kubelets' Event writes about a crash-looping DaemonSet's pods (``system:node:*`` in
    ``system:nodes`` → FlowSchema system-nodes, ByUser: one flow per node). An Event create or
    its count PATCH: one write, at the rate :func:`crashloop_restarts` gives."""
    classes = [RequestClass(verb="create", resource="events", scope="namespace", trigger="periodic", rate_per_s=1.0,
                            component="kubelet event recorder (crash-looping pod)")]
    profile = RequestProfile(client="kubelet-events", agent="kubelet", per_node=True, namespace="",
                             service_account="", classes=classes)
    subject = Subject(user="system:node:node", groups=["system:nodes", "system:authenticated"])
    return SimClient("kubelet-events", "crashloop", profile, subject, distinct_users=True, backoff=True)
