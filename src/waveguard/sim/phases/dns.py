"""DNS: CoreDNS pods restart now and then (nodes replaced) and have no copy of
Services/EndpointSlices until their LIST succeeds (``informer`` design), or — ``api_per_answer``
— every answer needs an API request that may fail; the failure reaches workloads only as their
client and node-local cache entries expire (:class:`waveguard.sim.dns.DNSCaches`). The
workloads' error ratio combines failed lookups and failed API calls of the share of requests
that depend on the API (``WORKLOAD_API_DEPENDENT_SHARE``)."""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.sim.params import SimParams
from waveguard.sim.phases.common import TINY
from waveguard.sim.state import FleetState


def restart_coredns_pods(state: FleetState, params: SimParams, dt: float) -> None:
    """CoreDNS pods restart at COREDNS_POD_RESTART_PER_S over ``dt`` seconds; a restarted pod
    drops its synced watch and relists (back-off level 0)."""
    g = params.coredns_group
    restarts = (params.coredns_instances - state.coredns_without_copy) * (C.COREDNS_POD_RESTART_PER_S * dt)
    state.coredns_without_copy += restarts
    state.coredns_without_copy_any = bool(state.coredns_without_copy.max() > 0)
    synced = state.synced_watches[g].sum(axis=0)
    state.synced_watches[g] *= 1.0 - np.minimum(1.0, restarts / np.maximum(synced, TINY))
    state.backoff[0, g] += restarts


def resolve(state: FleetState, params: SimParams, dt: float) -> None:
    """Step 9: the share of CoreDNS answers that fail (``dns_failure``), of the workloads'
    lookups after their caches (``client_dns_failure``) and the workloads' error ratio."""
    state.dns_failure = _coredns_failure(state, params)
    state.client_dns_failure = state.dns_caches.step(state.dns_failure, state.dns_failure is params.zeros_by_cluster)
    if not _may_fail(state):
        if state.client_dns_failure is state.dns_caches.none_failing:  # 1 − (1 − 0)(1 − k × 0) = 0
            state.workload_error = params.zeros_by_cluster
            return
        api_fail = params.zeros_by_cluster
    else:
        api_fail = failure_ratio(state, params, params.workload_flow)
    state.workload_error = 1.0 - (1.0 - state.client_dns_failure) * (1.0 - C.WORKLOAD_API_DEPENDENT_SHARE * api_fail)


def _coredns_failure(state: FleetState, params: SimParams) -> np.ndarray:
    """Share of CoreDNS's answers that fail (SERVFAIL): pods without a copy (informer design),
    or answers whose API request failed (api_per_answer). A pod gets its copy when its
    informer syncs (``completed_by_group``)."""
    synced_before = state.coredns_synced_before
    if synced_before is not None:
        fresh = state.completed_by_group[params.coredns_group].sum(axis=0)  # CoreDNS informers synced now
        waiting = np.maximum(params.coredns_instances - synced_before, TINY)
        state.coredns_without_copy = np.maximum(
            0.0, state.coredns_without_copy - fresh * np.minimum(1.0, state.coredns_without_copy / waiting))
        state.coredns_without_copy[state.coredns_without_copy < 1e-9] = 0.0
        state.coredns_without_copy_any = bool(state.coredns_without_copy.max() > 0)
    if params.dns_mode == "api_per_answer":
        if not _may_fail(state):
            return params.zeros_by_cluster
        return failure_ratio(state, params, params.coredns_query_flow)
    if not state.coredns_without_copy.any():  # every pod has its copy: 0 / pods
        return params.zeros_by_cluster
    return state.coredns_without_copy / np.maximum(params.coredns_instances, 1.0)


def _may_fail(state: FleetState) -> bool:
    """Some request may have failed this step: a 429 (queueing), no replica up (``lost``) or a
    500 after etcd's leader wait (``etcd_500_by_flow``)."""
    return state.queueing or state.lost is not None or state.etcd_500_by_flow is not None


def failure_ratio(state: FleetState, params: SimParams, flow: int | None) -> np.ndarray:
    """Share ``(C,)`` of ``flow``'s requests this step that failed (429, no replica up, or 500
    after waiting for etcd's leader: ``etcd_500_by_flow``)."""
    if flow is None:
        return np.zeros(params.n_clusters)
    failed = state.rejected[flow].sum(axis=0)
    if state.lost is not None:
        failed += state.lost[flow]
    if state.etcd_500_by_flow is not None:
        failed += state.etcd_500_by_flow[flow]
    failed /= np.maximum(state.arrivals[flow], TINY)
    return np.minimum(failed, 1.0)
