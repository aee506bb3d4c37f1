"""Rollout plans: waves over a fleet, bake times, gates, parallelism, rollback policy.

A plan is YAML (``waveguard plan`` writes one; users write or edit them)::

    change: examples/incident-telemetry
    waves:
      - name: staging
        clusters: {labels: {env: staging}}
        node_share: 1.0
        bake_s: 1260
      - name: canary
        clusters: {labels: {env: prod}}
        node_share: 0.01
        bake_s: 1260
    gates:
      - {kind: apiserver_p99_latency, threshold: 1.0}
      - {kind: projection, threshold: 0.5}
    gate_interval_s: 30
    max_parallel_clusters: 25
    rollback: automatic
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal


from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from waveguard.model import constants as C
from waveguard.model.errors import InputError, key_error
from waveguard.model.findings import Finding
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.yamlio import line_of, read_yaml_file

#: Gate kinds, the signal each reads, and its default threshold with the unit and source.
GATE_KINDS: dict[str, tuple[str, float, str]] = {
    "apiserver_p99_latency": ("apiserver_request_duration_seconds p99 of single-object requests, seconds", 1.0,
                              "sig-scalability SLO: mutating/read single object ≤ 1 s (domain.md §4)"),
    "apiserver_rejections": ("apiserver_flowcontrol_rejected_requests_total rate, requests/s", 1.0,
                             "policy: sustained 429s mean a priority level is saturated"),
    "apf_seat_utilisation": ("apiserver_flowcontrol_current_executing_seats / nominal_limit_seats, any level", 0.9,
                             "policy: 90 % of a level's nominal seats"),
    "apf_queue_wait": ("apiserver_flowcontrol_request_wait_duration_seconds p99, seconds", 1.0,
                       "policy: a second in the queue is already a visible slowdown"),
    "apiserver_memory": ("process_resident_memory_bytes / memory limit", 0.8,
                         "policy: 20 % headroom before an OOM kill"),
    "etcd_p99_latency": ("etcd_request_duration_seconds p99, seconds", 0.5,
                         "policy: etcd's own guidance keeps p99 range latency well under 1 s"),
    "dns_probe": ("share of cache-bypassing probes that fail (authoritative CoreDNS answer)", 0.01,
                  "policy: 1 % of uncached lookups failing is a failure clients will see once caches expire"),
    "coredns_api_errors": ("coredns_kubernetes_rest_client_requests_total 5xx rate, requests/s", 0.0,
                           "policy: CoreDNS that cannot reach the API serves stale data (domain.md §6)"),
    "workload_error_rate": ("workload request error rate, 0..1", 0.05,
                            "what Argo Rollouts / Flagger analyses typically use (5 % errors)"),
    "projection": ("projected level utilisation of the next wave (cost model), 0..", 0.5,
                   "the cost model's warning level (waveguard.model.cost.WARNING_UTILISATION)"),
}
GateKind = Literal[tuple(GATE_KINDS)]  # type: ignore[valid-type]
#: Gates on the control plane itself (a plan without one gets WG203).
CONTROL_PLANE_GATES = frozenset({"apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation",
                                 "apf_queue_wait", "apiserver_memory", "etcd_p99_latency", "projection"})


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: GateKind
    threshold: float | None = None  # None: the default of GATE_KINDS
    #: Failed evaluations of this gate on one cluster within a wave before the rollout halts
    #: (Flagger's ``analysis.threshold``). 1: the first failure halts.
    failures_to_halt: int = Field(default=1, ge=1)

    @property
    def limit(self) -> float:
        return GATE_KINDS[self.kind][1] if self.threshold is None else self.threshold


class ClusterSelector(BaseModel):
    """Which clusters a wave touches: by ``names``, ``labels`` (all must match), and node range."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int | None = Field(default=None, ge=0)

    def matches(self, cluster: Cluster) -> bool:
        if self.names and cluster.name not in self.names:
            return False
        if any(cluster.labels.get(k) != v for k, v in self.labels.items()):
            return False
        if cluster.nodes < self.min_nodes:
            return False
        return self.max_nodes is None or cluster.nodes <= self.max_nodes


class Wave(BaseModel):
    """One wave: clusters, the share of each cluster's nodes that runs the change afterwards
    (DaemonSets; 1.0 for other workloads), and the bake time in seconds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    clusters: ClusterSelector
    node_share: float = Field(default=1.0, gt=0, le=1)
    bake_s: float

    @field_validator("bake_s")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("bake time must be > 0 seconds")
        return v


class Plan(BaseModel):
    """A rollout plan. Times in seconds."""

    model_config = ConfigDict(extra="forbid")

    change: str
    waves: list[Wave] = Field(min_length=1)
    gates: list[GateSpec] = Field(default_factory=list)
    gate_interval_s: float = Field(default=30.0, gt=0)
    max_parallel_clusters: int = Field(default=25, ge=1)
    rollback: Literal["automatic", "manual"] = "automatic"

    @model_validator(mode="after")
    def _unique_wave_names(self) -> "Plan":
        names = [w.name for w in self.waves]
        if len(set(names)) != len(names):
            raise ValueError("wave names must be unique")
        return self

    def clusters_of(self, wave: Wave, fleet: Fleet) -> list[Cluster]:
        return [c for c in fleet.clusters if wave.clusters.matches(c)]



def longest_dns_cache_ttl_s() -> float:
    """Longest time a cached answer hides a DNS failure: the client's plus the node-local
    cache's TTL (waveguard.model.constants, domain.md §6)."""
    return C.DNS_CLIENT_CACHE_TTL_S + C.DNS_NODE_CACHE_TTL_S


def minimum_bake_s(gate_interval_s: float) -> float:
    """A wave must bake at least the longest DNS cache TTL plus two gate evaluations."""
    return longest_dns_cache_ttl_s() + 2 * gate_interval_s


def load_plan(path: str | Path, fleet: Fleet) -> Plan:
    """Read and check a plan file against ``fleet``. Raises InputError (file, key, line)."""
    path = Path(path)
    data, node, _ = read_yaml_file(path, "plan")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        gate = err["type"] == "literal_error" and err["loc"] and err["loc"][-1] == "kind"
        raise key_error(str(path), err, line=line_of(node, err["loc"]), hint="see the plan format in README.md",
                        message=f"unknown gate {err['input']!r}; known: {', '.join(GATE_KINDS)}" if gate else None
                        ) from exc
    known = {c.name for c in fleet.clusters}
    for i, wave in enumerate(plan.waves):
        missing = [n for n in wave.clusters.names if n not in known]
        if missing:
            raise InputError(str(path), f"waves.{i}.clusters.names: no cluster named {missing[0]!r} in the fleet",
                             line=line_of(node, ("waves", i, "clusters", "names")),
                             hint="fix the name or pass the right --fleet")
        if not plan.clusters_of(wave, fleet):
            raise InputError(str(path), f"waves.{i} ({wave.name}): selects no cluster of the fleet",
                             line=line_of(node, ("waves", i)), hint="check its labels/names/node range")
    return plan


# --- The planner and plan findings --------------------------------------------------------

#: DaemonSet node shares of the proposed production waves: a 1 % slice of every production
#: cluster (the largest included), then 10 %, then all. Policy.
PRODUCTION_NODE_SHARES = (0.01, 0.10, 1.0)
#: Gates the planner puts on every plan: the control plane, DNS past the caches, projection.
DEFAULT_GATES = ("apiserver_p99_latency", "apiserver_rejections", "apf_seat_utilisation", "apf_queue_wait",
                 "apiserver_memory", "dns_probe", "projection")


def is_staging(cluster: Cluster) -> bool:
    return cluster.labels.get("env", "").lower() in ("staging", "stage", "dev", "test")


def propose_plan(change: str, fleet: Fleet, per_node: bool, gate_interval_s: float = 30.0) -> Plan:
    """Waves for ``change`` over ``fleet``: staging, then production slices that include the
    largest clusters from the first production wave on. ``per_node``: the change has a
    DaemonSet (waves then take a share of each cluster's nodes)."""
    bake = minimum_bake_s(gate_interval_s)
    staging = [c for c in fleet.clusters if is_staging(c)]
    production = [c for c in fleet.clusters if not is_staging(c)]
    waves: list[Wave] = []
    if staging:
        waves.append(Wave(name="staging", clusters=ClusterSelector(names=[c.name for c in staging]), bake_s=bake))
    prod_names = [c.name for c in production]
    if per_node:
        for share in PRODUCTION_NODE_SHARES:
            waves.append(Wave(name=f"production-{share:.0%}", clusters=ClusterSelector(names=prod_names),
                              node_share=share, bake_s=bake))
    elif production:
        by_size = sorted(production, key=lambda c: c.nodes)
        first = sorted({by_size[-1].name, by_size[0].name})  # the largest and the smallest
        waves.append(Wave(name="production-first", clusters=ClusterSelector(names=first), bake_s=bake))
        waves.append(Wave(name="production-all", clusters=ClusterSelector(names=prod_names), bake_s=bake))
    return Plan(change=change, waves=waves, gates=[GateSpec(kind=k) for k in DEFAULT_GATES],
                gate_interval_s=gate_interval_s, max_parallel_clusters=max(1, len(fleet.clusters)))


def plan_findings(plan: Plan, fleet: Fleet, source: str = "plan") -> list[Finding]:
    """WG201 bake time shorter than the DNS cache TTL + two gate evaluations; WG202 first
    production wave without the largest production cluster; WG203 no gate on the control plane;
    WG204 clusters without break-glass isolation (:func:`breakglass_findings`)."""
    def finding(rule: str, severity: str, message: str, fix: str) -> Finding:
        return Finding(rule=rule, severity=severity, workload=f"Plan/-/{Path(plan.change).name}", file=source,
                       line=1, message=message, fix=fix)

    out = []
    need = minimum_bake_s(plan.gate_interval_s)
    for wave in plan.waves:
        if wave.bake_s < need:
            out.append(finding(
                "WG201", "error", f"wave {wave.name!r} bakes {wave.bake_s:.0f} s, less than the longest DNS cache TTL "
                f"({longest_dns_cache_ttl_s():.0f} s) plus two gate evaluations ({2 * plan.gate_interval_s:.0f} s): "
                "a broken control plane still looks healthy through the caches when it passes",
                f"set bake_s ≥ {need:.0f}"))
    production = [c for c in fleet.clusters if not is_staging(c)]
    if production:
        largest = max(production, key=lambda c: c.nodes)
        first = next((w for w in plan.waves if any(not is_staging(c) for c in plan.clusters_of(w, fleet))), None)
        if first is not None and largest not in plan.clusters_of(first, fleet):
            biggest_in_first = max(c.nodes for c in plan.clusters_of(first, fleet))
            out.append(finding(
                "WG202", "error", f"the first production wave {first.name!r} reaches clusters of at most "
                f"{biggest_in_first:,} nodes, not the largest ({largest.name}, {largest.nodes:,} nodes): load that grows "
                "with cluster size shows only when the change reaches the largest clusters, after the small ones passed",
                f"put a small node share of {largest.name} in wave {first.name!r}"))
    if not any(g.kind in CONTROL_PLANE_GATES for g in plan.gates):
        out.append(finding(
            "WG203", "error", "no gate reads the control plane (apiserver latency, 429s, APF seats, memory, projection): "
            "workload errors arrive only after DNS caches expire, when the damage is done",
            "add gates: apiserver_p99_latency, apiserver_rejections, apf_seat_utilisation, projection"))
    out += [finding("WG204", severity, message, fix) for severity, message, fix in breakglass_findings(plan, fleet)]
    return out


def is_per_node_plan(plan: Plan) -> bool:
    """The plan rolls a DaemonSet: some wave takes a share of each cluster's nodes."""
    return any(w.node_share < 1.0 for w in plan.waves)


def breakglass_findings(plan: Plan, fleet: Fleet) -> list[tuple[str, str, str]]:
    """WG204 (severity, message, fix) from the fleet's per-cluster ``breakglass`` field, for the
    clusters the plan reaches.

    * ``breakglass: false`` — **warning**: the change's own rollback may be locked out (its
      DELETE lands in the default levels the change saturates, on apiservers that crash); an
      **error** when the plan's rollback is ``automatic`` and the plan is per-node (a DaemonSet:
      load grows with nodes, and its ServiceAccount lands in workload-low beside the
      controller's own): then waveguard's automatic rollback is the request that gets locked out
      (``waveguard demo --breakglass``), so ``rollout start`` refuses it without ``--force``;
    * unset (unknown) — **info**: record the result of ``waveguard breakglass check``.

    The field is what ``waveguard breakglass check`` established; this function does not read
    APF objects itself (rollout depends on model only for plans)."""
    reached = {c.name: c for wave in plan.waves for c in plan.clusters_of(wave, fleet)}
    lacking = [c.name for c in reached.values() if c.breakglass is False]
    unknown = [c.name for c in reached.values() if c.breakglass is None]
    fix = ("install it on each: waveguard breakglass generate CHANGE | kubectl apply -f -, verify with "
           "waveguard breakglass check --live, then set breakglass: true for the cluster in the fleet file")
    out = []
    if lacking:
        automatic = plan.rollback == "automatic" and is_per_node_plan(plan)
        why = (" The plan rolls back automatically and rolls a DaemonSet: waveguard's own rollback requests are the ones "
               "that would be locked out." if automatic else "")
        out.append(("error" if automatic else "warning",
                    f"{_count(lacking, reached)} no break-glass isolation (breakglass: false): {_names(lacking)}. "
                    "If the change saturates their apiservers, its rollback shares the default priority levels with "
                    f"it and needs an apiserver that stays up (waveguard demo --breakglass shows the difference).{why}",
                    fix))
    if unknown:
        out.append(("info", f"{_count(unknown, reached)} no recorded break-glass isolation (breakglass unset): "
                    f"{_names(unknown)}", "run waveguard breakglass check --live on each and record the result as "
                    "breakglass: true|false in the fleet file"))
    return out


def _count(names: list[str], reached: dict) -> str:
    return f"{len(names)} of the {len(reached)} clusters the plan reaches {'has' if len(names) == 1 else 'have'}"


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
