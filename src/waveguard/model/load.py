"""How many requests a profile sends to one cluster: the one definition that the projection
(:func:`waveguard.model.cost.project`, hence ``analyse`` and the projection gate) and the
simulator (``sim/flows.py``, ``sim/build.py``) both use, so they cannot disagree on it.

What one request costs (seats, service time, memory held, bytes read from etcd) is the other
half, :func:`waveguard.model.work.request_cost`, also shared by both. Here:

* :func:`sending_clients` — instances of a profile that send one request class: every running
  replica, or one for a class only the elected leader sends (client-go
  ``tools/leaderelection/leaderelection.go``: only the holder of the lease runs
  ``OnStartedLeading``; the OpenTelemetry ``k8s_leader_elector`` extension starts the
  receivers it guards only there), and none where the profile's cluster selector does not match;
* :func:`events_per_client` — write events per second that trigger one client's ``per_event``
  requests;
* :func:`request_rate` — requests per second of one class from all its sending clients.
"""

from __future__ import annotations

from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestClass, RequestProfile


def running_clients(profile: RequestProfile, cluster: Cluster, node_share: float = 1.0) -> float:
    """Replicas of ``profile`` running on ``cluster`` (0 where its cluster selector matches
    nothing); a per-node profile (a DaemonSet) on ``node_share`` (0..1) of the nodes. Fluid: a
    share of nodes gives a fractional count, as the simulator ramps it."""
    if not profile.applies_to(cluster.labels):
        return 0.0
    replicas = float(profile.replica_count(cluster.nodes))
    return replicas * node_share if profile.per_node else replicas


def sending_clients(rc: RequestClass, running: float) -> float:
    """Instances that send class ``rc`` when ``running`` replicas run: all of them, or the one
    elected leader (any replica running elects one) for a leader-only class."""
    if rc.leader_only:
        return min(1.0, running)
    return running


def events_per_client(rc: RequestClass, profile: RequestProfile, cluster: Cluster) -> float:
    """Write events per second of ``rc.resource`` that make ONE client send its ``per_event``
    requests (``rate_per_s`` requests per event).

    The class's scope says which events a client reacts to: the whole cluster's, one
    namespace's (the writes over the namespaces), or its node's (the writes over the nodes).
    A per-event request by name (scope ``object``: a GET of the pod an event is about, as Fluent
    Bit's kubernetes filter, fluentd's ``kubernetes_metadata`` with ``watch false`` and the
    Multus thin shim send) is about the objects the client handles: its own node's for a
    per-node agent (each handles the pods of its node), the cluster's otherwise."""
    writes = cluster.write_rate(rc.resource)
    if rc.scope == "node" or (rc.scope == "object" and profile.per_node):
        return writes / (cluster.nodes or 1)
    if rc.scope == "namespace":
        return writes / max(1, cluster.namespaces)
    return writes


def request_rate(rc: RequestClass, profile: RequestProfile, cluster: Cluster, clients: float,
                 periodic_scale: float = 1.0) -> float:
    """Requests per second of class ``rc`` from ``clients`` sending instances
    (:func:`sending_clients`): ``rate_per_s`` each for a periodic class (× ``periodic_scale``,
    the simulator's baseline clients whose rate grows with the cluster), ``rate_per_s`` per
    event of :func:`events_per_client` for a per-event class; 0 for start and held classes
    (their cost is the start storm and the watch fan-out, not a rate)."""
    if rc.trigger == "periodic":
        return clients * rc.rate_per_s * periodic_scale
    if rc.trigger == "per_event":
        return clients * events_per_client(rc, profile, cluster) * rc.rate_per_s
    return 0.0
