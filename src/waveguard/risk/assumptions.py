"""What a rollout's risk is uncertain about, and one draw of it (a "world").

The plan's gates and projection see the *nominal* fleet (the fleet file's figures) and the
change's analysed profiles; each sample of :func:`draw_world` is a fleet and a change as they
might really be, which the simulator runs. The distance between the two is the risk a plan
cannot see before it ships.

Every range below carries its basis (:data:`BASES`, printed in the report). A figure the
fleet file *measured* (``object_bytes`` of a resource, ``pods``, ``pod_churn_per_s``) is not
uncertain and is never drawn; a request class that is an RBAC upper bound is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass, RequestProfile

#: kubelet's --max-pods default. k8s: pkg/kubelet/apis/config/v1beta1/defaults.go (MaxPods 110).
KUBELET_MAX_PODS = 110
#: kube-controller-manager --kube-api-qps of the Kubernetes scalability tests (perf-tests /
#: test-infra scalability jobs: CONTROLLER_MANAGER_TEST_ARGS="--kube-api-qps=100"), the upper
#: end of the DaemonSet controller's pod creation rate; the lower end is the default, 20
#: (:data:`waveguard.model.constants.DAEMONSET_PODS_CREATED_PER_S`).
SCALABILITY_TEST_CONTROLLER_QPS = 100.0


class Uncertainty(BaseModel):
    """The ranges a risk sweep draws from (``waveguard risk --assumptions FILE`` overrides any
    of them). Each factor is drawn log-uniformly between its two bounds, per cluster where the
    name says so. A range of ``[1, 1]`` turns an assumption off."""

    model_config = ConfigDict(extra="forbid")

    #: Multiplier of every object size the fleet did not measure, per cluster. Basis: domain.md
    #: §3 gives 1–8 KiB of JSON per pod around OBJECT_BYTES' 4 KiB → ×0.25 … ×2.
    object_bytes_factor: tuple[float, float] = (1024 / C.OBJECT_BYTES["pods"], 8192 / C.OBJECT_BYTES["pods"])
    #: Pods per node where the fleet gives no ``pods``, per cluster. Basis: kubelet's max-pods
    #: (110) above the fleet default (30), mirrored below it in log-space (30²/110 ≈ 8.2).
    pods_per_node: tuple[float, float] = (C.DEFAULT_PODS_PER_NODE ** 2 / KUBELET_MAX_PODS, float(KUBELET_MAX_PODS))
    #: Multiplier of pod writes per second where the fleet gives no ``pod_churn_per_s``, per
    #: cluster. Basis: assumed, no published figure — a factor of 2 either way around
    #: POD_WRITES_PER_POD_PER_S (itself an estimate).
    pod_churn_factor: tuple[float, float] = (0.5, 2.0)
    #: Pods per second the DaemonSet controller starts the agents at (the agents' start spread).
    #: Basis: kube-controller-manager --kube-api-qps, 20 by default, 100 in the scalability tests.
    daemonset_pods_per_s: tuple[float, float] = (C.DAEMONSET_PODS_CREATED_PER_S, SCALABILITY_TEST_CONTROLLER_QPS)
    #: Share of an RBAC upper-bound request class the agent really sends: the bound is the most
    #: it can send; any share of it is as likely.
    upper_bound_share: tuple[float, float] = (0.0, 1.0)
    #: Probability that the change's clients retry failures at once instead of backing off. Basis:
    #: client-go's reflector always backs off (CLIENT_BACKOFF_*), so 0 unless set.
    no_backoff_probability: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered_positive_ranges(self) -> "Uncertainty":
        for name in ("object_bytes_factor", "pods_per_node", "pod_churn_factor", "daemonset_pods_per_s"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name}: need 0 < low ≤ high, got [{low}, {high}]")
        low, high = self.upper_bound_share
        if not 0 <= low <= high <= 1:
            raise ValueError(f"upper_bound_share: need 0 ≤ low ≤ high ≤ 1, got [{low}, {high}]")
        return self


#: One line per assumption: what it is and where its range comes from (for reports).
BASES: dict[str, str] = {
    "object_bytes_factor": "object sizes not measured: ×0.25–×2 (domain.md §3: 1–8 KiB per pod)",
    "pods_per_node": "pods per node not given: 8.2–110 (kubelet --max-pods 110, mirrored around 30)",
    "pod_churn_factor": "pod writes not measured: ×0.5–×2 (assumed; no published figure)",
    "daemonset_pods_per_s": "agent start rate: 20–100 pods/s (kube-controller-manager --kube-api-qps)",
    "upper_bound_share": "RBAC upper-bound requests: 0–100 % of the bound really sent",
    "change_backoff": "the change's clients back off like client-go (1) or retry at once (0)",
    "canary": "which measured canary's profile this sample ran (several --profiles)",
}


@dataclass
class World:
    """One draw: the fleet and change as they really are in this sample, the agents' start rate
    (pods/s), whether the change backs off, and the drawn factors (assumption → one number per
    sample, for the sensitivity table: the production-node-weighted mean of per-cluster draws)."""

    fleet: Fleet
    profiles: list[RequestProfile]
    daemonset_pods_per_s: float
    change_backoff: bool
    factors: dict[str, float] = field(default_factory=dict)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int | None = None):
    low, high = bounds
    return np.exp(rng.uniform(math.log(low), math.log(high), size))


def _drawn_cluster(cluster: Cluster, size: float, pods_per_node: float, churn: float) -> Cluster:
    """``cluster`` with the figures it did not measure replaced by this draw."""
    update: dict = {}
    if cluster.pods is None:
        update["pods"] = int(round(cluster.nodes * pods_per_node))
    if cluster.pod_churn_per_s is None:
        pods = update.get("pods", cluster.pod_count)
        update["pod_churn_per_s"] = pods * C.POD_WRITES_PER_POD_PER_S * churn
    sizes = dict(cluster.object_bytes)
    for resource, nominal in C.OBJECT_BYTES.items():
        if resource not in cluster.object_bytes:
            sizes[resource] = max(1, min(C.MAX_OBJECT_BYTES, int(round(nominal * size))))
    update["object_bytes"] = sizes
    return cluster.model_copy(update=update)


def _drawn_classes(rng: np.random.Generator, classes: list[RequestClass], share: float) -> list[RequestClass]:
    """The classes an agent really sends when it sends ``share`` of its RBAC upper bounds: a
    bounded rate is scaled by ``share``; a bounded one-off request (a LIST at start, a WATCH)
    is sent with probability ``share``. Recognised and measured classes are kept as they are."""
    kept = []
    for cls in classes:
        if not cls.upper_bound:
            kept.append(cls)
        elif cls.trigger in ("periodic", "per_event"):
            kept.append(cls.model_copy(update={"rate_per_s": cls.rate_per_s * share}))
        elif rng.uniform() < share:
            kept.append(cls)
    return kept


def draw_world(rng: np.random.Generator, fleet: Fleet, profile_sets: list[list[RequestProfile]],
               uncertainty: Uncertainty, weights: np.ndarray) -> World:
    """One sample of the world. ``profile_sets``: the change's cost — its analysed profiles, or
    several measured canaries, one of which each sample takes (their spread is the change's
    uncertainty). ``weights``: per cluster of ``fleet``, its share of production nodes (sums to
    1), to summarise per-cluster draws as one factor per sample."""
    n = len(fleet.clusters)
    sizes = _log_uniform(rng, uncertainty.object_bytes_factor, n)
    pods = _log_uniform(rng, uncertainty.pods_per_node, n)
    churn = _log_uniform(rng, uncertainty.pod_churn_factor, n)
    start_rate = float(_log_uniform(rng, uncertainty.daemonset_pods_per_s))
    share = float(rng.uniform(*uncertainty.upper_bound_share))
    backoff = bool(rng.uniform() >= uncertainty.no_backoff_probability)
    clusters = [_drawn_cluster(c, s, p, k) for c, s, p, k in zip(fleet.clusters, sizes, pods, churn, strict=True)]
    canary = int(rng.integers(len(profile_sets)))
    drawn = [p.model_copy(update={"classes": _drawn_classes(rng, p.classes, share)}) for p in profile_sets[canary]]
    factors = {"object_bytes_factor": float(weights @ sizes), "pods_per_node": float(weights @ pods),
               "pod_churn_factor": float(weights @ churn), "daemonset_pods_per_s": start_rate,
               "upper_bound_share": share, "change_backoff": float(backoff),
               "canary": float(canary)}
    return World(fleet.model_copy(update={"clusters": clusters}), drawn, start_rate, backoff, factors)
