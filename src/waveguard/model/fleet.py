"""The fleet: clusters with their size, object counts and control-plane capacity.

A fleet YAML looks like::

    clusters:
      - name: prod-use1-7500
        labels: {env: prod, region: us-east-1}
        nodes: 7500
        pods: 225000            # optional: nodes × 30
        apiserver_replicas: 5   # optional: derived from nodes
        objects: {services: 20000}   # optional per-resource counts
        object_bytes: {replicasets: 7400}   # optional measured bytes per object (waveguard measure --metrics)
        pod_churn_per_s: 30     # optional pod writes per second
        apiserver_endpoints: [10.0.0.10, 10.0.0.11]   # optional: apiserver IPs (breakglass kubeconfig)
        breakglass: true        # optional: break-glass isolation installed (plan check WG204)
        max_requests_inflight: 800            # optional apiserver flags (default 400 / 200)
        max_mutating_requests_inflight: 400
        apiserver_cpu_cores: 16               # optional (default: memory limit / 4 GiB)
        apiserver_baseline_memory_bytes: 3000000000  # optional measured idle memory
        etcd_members: 5                       # optional (default 3)
        etcd_read_bytes_per_s: 1250000000   # optional (default members x 125 MB/s)
        etcd_memory_bytes: 17179869184        # optional memory of one member (default 16 GiB: ETCD_MEMBER_MEMORY_BYTES)

Unset fields are derived from ``nodes`` (see :meth:`Cluster.object_count`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from waveguard.model import constants as C
from waveguard.model.errors import InputError, first_error, key_error, unknown_key
from waveguard.model.fleet_bounds import MAX_APISERVER_REPLICAS, MAX_ETCD_READ_BYTES_PER_S, MAX_MEMORY_BYTES, MAX_OBJECTS
from waveguard.model.strict_types import ClusterName, Count, Number
from waveguard.model.versions import NEWEST_MODELLED, OLDEST_MODELLED
from waveguard.model.yamlio import line_of, read_yaml_file


def default_apiserver_replicas(nodes: int) -> int:
    """3 replicas, 5 from 1,000 nodes. estimate: managed control planes scale out their
    apiservers with cluster size; OpenAI's 7,500-node post ran 5 (domain.md §1 reference)."""
    return 3 if nodes < 1000 else 5


def default_apiserver_memory_bytes(nodes: int) -> int:
    """Memory limit of one apiserver replica, bytes: 8 GiB + 8 MiB per node, so 16 GiB at
    1,000 nodes and ~67 GiB at 7,500. estimate from the control-plane VM sizes managed
    services publish for those cluster sizes."""
    return (8 << 30) + nodes * (8 << 20)


#: A Kubernetes version as a fleet file gives it: MAJOR.MINOR, a "v" prefix, a patch and after it a
#: semantic version's pre-release and build metadata (semver.org 2.0.0 §9-10; k8s.io/apimachinery
#: util/version ParseSemantic), as ``kubectl version`` prints a cloud's build: v1.29.3-gke.1093000,
#: v1.30.2-eks-a737599, v1.28.5+k3s1. The model reads MAJOR.MINOR (:attr:`Cluster.version_tuple`).
_SEMVER_IDS = r"[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*"
VERSION_PATTERN = rf"^v?\d+\.\d+(\.\d+(-{_SEMVER_IDS})?(\+{_SEMVER_IDS})?)?$"

#: A resource as the API names it in URLs: plural, lower case, no group (``replicasets``).
ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*$")]


class Cluster(BaseModel):
    """One cluster. Counts are objects, rates per second, memory in bytes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    #: A DNS-1123 label: names reach file paths, URLs and kubeconfig contexts.
    name: ClusterName
    labels: dict[str, str] = Field(default_factory=dict)
    #: Sanity bound, not a scalability limit: the largest clusters reported run 130,000 nodes
    #: (GKE, 2025).
    nodes: Count = Field(ge=0, le=1_000_000)
    pods: Count | None = Field(default=None, ge=0, le=MAX_OBJECTS)
    apiserver_replicas: Count | None = Field(default=None, ge=1, le=MAX_APISERVER_REPLICAS)
    apiserver_memory_bytes: Count | None = Field(default=None, gt=0, le=MAX_MEMORY_BYTES)
    #: "MAJOR.MINOR" (a "v" prefix and a patch are accepted), quoted in YAML: 1.30, not 1.3.
    kubernetes_version: str = Field(default="1.30", pattern=VERSION_PATTERN)
    objects: dict[ResourceName, StrictInt] = Field(default_factory=dict)
    #: Bytes per object by resource, measured on this cluster (``waveguard measure --metrics``);
    #: resources not given use ``constants.OBJECT_BYTES``.
    object_bytes: dict[ResourceName, Annotated[StrictInt, Field(gt=0, le=C.MAX_OBJECT_BYTES)]] = \
        Field(default_factory=dict)
    pod_churn_per_s: Number | None = Field(default=None, ge=0)
    #: IP addresses of the apiserver replicas (no DNS names: the break-glass path must not need DNS).
    apiserver_endpoints: list[str] | None = None
    #: Break-glass isolation on this cluster: true when the APF objects ``waveguard breakglass
    #: generate`` writes are installed (``waveguard breakglass check --live`` exits 0), false when
    #: they are not, None (unset) when unknown. Plan check WG204 reads it.
    breakglass: bool | None = None

    # issue 12: fairness, clients, writes — per-cluster apiserver flags and etcd. Unset: the
    # Kubernetes / etcd defaults of model.constants (sources there).
    #: kube-apiserver --max-requests-inflight / --max-mutating-requests-inflight: the
    #: max-in-flight filter's limits before APF (< 1.20) and, summed, the server's APF seats.
    max_requests_inflight: Count | None = Field(default=None, ge=1, le=100_000)
    max_mutating_requests_inflight: Count | None = Field(default=None, ge=1, le=100_000)
    #: CPU cores of one apiserver replica (default: memory limit ÷ APISERVER_MEMORY_BYTES_PER_CORE).
    apiserver_cpu_cores: Number | None = Field(default=None, gt=0, le=4096)
    #: Measured resident memory of one idle apiserver replica, bytes (default: the cost model's
    #: baseline — process plus watch cache).
    apiserver_baseline_memory_bytes: Count | None = Field(default=None, gt=0, le=MAX_MEMORY_BYTES)
    #: etcd members (default ETCD_MEMBERS, 3) and the bytes/s they return to range reads together
    #: (default: members × ETCD_RANGE_BYTES_PER_S); memory of one member (ETCD_MEMBER_MEMORY_BYTES).
    etcd_members: Count | None = Field(default=None, ge=1, le=15)
    etcd_read_bytes_per_s: Number | None = Field(default=None, gt=0, le=MAX_ETCD_READ_BYTES_PER_S)
    etcd_memory_bytes: Count | None = Field(default=None, gt=0, le=MAX_MEMORY_BYTES)

    @field_validator("name", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        """Raises PydanticCustomError for an empty or blank name (a cluster is known by it)."""
        if isinstance(v, str) and not v.strip() or v is None:
            raise PydanticCustomError("cluster_unnamed", "a cluster needs a name")
        return v

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _quoted_version(cls, v: Any) -> Any:
        """Raises PydanticCustomError for a version YAML read as a number (1.30 is 1.3)."""
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise PydanticCustomError("version_unquoted", "quote the version (\"1.30\"): YAML reads {v} as a number",
                                      {"v": v})
        if isinstance(v, str) and not re.fullmatch(VERSION_PATTERN, v):
            raise PydanticCustomError("version_format", "{v} is not a Kubernetes version: give MAJOR.MINOR, "
                                      "quoted (\"1.30\"; \"v1.30.2\" is read as 1.30)", {"v": repr(v)})
        return v

    @field_validator("kubernetes_version")
    @classmethod
    def _modelled_version(cls, v: str) -> str:
        """Raises PydanticCustomError for a version the model has no rules for
        (model.versions.OLDEST_MODELLED … NEWEST_MODELLED)."""
        major, minor = (int(x) for x in v.lstrip("v").split(".")[:2])
        if not OLDEST_MODELLED <= (major, minor) <= NEWEST_MODELLED:
            raise PydanticCustomError(
                "version_unmodelled", "waveguard models Kubernetes {lo}–{hi} (the feature-gate tables it was read "
                "from); use one of those versions", {"lo": "%d.%d" % OLDEST_MODELLED, "hi": "%d.%d" % NEWEST_MODELLED})
        return v

    @field_validator("apiserver_endpoints")
    @classmethod
    def _ip_addresses(cls, v: list[str] | None) -> list[str] | None:
        ips = None if v is None else [str(ipaddress.ip_address(str(a).strip())) for a in v]
        if ips and len(set(ips)) < len(ips):  # breakglass kubeconfig: one context per address
            raise ValueError(f"{next(a for a in ips if ips.count(a) > 1)} is listed twice (one per apiserver replica)")
        return ips

    @field_validator("objects")
    @classmethod
    def _non_negative(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            if not 0 <= n <= MAX_OBJECTS:
                raise ValueError(f"objects.{k} must be 0 to {MAX_OBJECTS:,} (1,000,000 nodes × 110 pods each), got {n}")
        return v

    @property
    def pod_count(self) -> int:
        return self.pods if self.pods is not None else self.nodes * C.DEFAULT_PODS_PER_NODE

    @property
    def replicas(self) -> int:
        return self.apiserver_replicas or default_apiserver_replicas(self.nodes)

    @property
    def memory_limit_bytes(self) -> int:
        return self.apiserver_memory_bytes or default_apiserver_memory_bytes(self.nodes)

    @property
    def readonly_inflight(self) -> int:
        """--max-requests-inflight of its apiservers (default MAX_REQUESTS_INFLIGHT)."""
        return self.max_requests_inflight or C.MAX_REQUESTS_INFLIGHT

    @property
    def mutating_inflight(self) -> int:
        """--max-mutating-requests-inflight (default MAX_MUTATING_REQUESTS_INFLIGHT)."""
        return self.max_mutating_requests_inflight or C.MAX_MUTATING_REQUESTS_INFLIGHT

    @property
    def server_seats(self) -> int:
        """APF seats of one apiserver: the two in-flight limits summed (k8s: staging/src/
        k8s.io/apiserver/pkg/server/options/recommended.go, serverConcurrencyLimit =
        MaxRequestsInFlight + MaxMutatingRequestsInFlight, 1.20–1.35)."""
        return self.readonly_inflight + self.mutating_inflight

    @property
    def etcd_member_count(self) -> int:
        return self.etcd_members or C.ETCD_MEMBERS

    @property
    def etcd_throughput_bytes_per_s(self) -> float:
        """Bytes/s the cluster's etcd returns to range reads, all members together."""
        return float(self.etcd_read_bytes_per_s or self.etcd_member_count * C.ETCD_RANGE_BYTES_PER_S)

    @property
    def etcd_member_memory_bytes(self) -> int:
        return self.etcd_memory_bytes or C.ETCD_MEMBER_MEMORY_BYTES

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.kubernetes_version.lstrip("v").split(".")[:2]
        return int(major), int(minor)

    @property
    def pod_writes_per_s(self) -> float:
        """Pod writes per second (creates, status updates, deletes)."""
        if self.pod_churn_per_s is not None:
            return self.pod_churn_per_s
        return self.pod_count * C.POD_WRITES_PER_POD_PER_S

    @property
    def namespaces(self) -> int:
        return self.object_count("namespaces")

    def object_count(self, resource: str) -> int:
        """Stored objects of ``resource``: the fleet file's count, else derived from pods
        with the ratios in :mod:`waveguard.model.constants`."""
        counts = self._counts
        if resource in counts:
            return counts[resource]
        return max(10, int(self.pod_count * 0.01))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "Cluster":
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("_counts", None)  # derived from the fields: the copy derives its own
        return copy

    @cached_property
    def _counts(self) -> dict[str, int]:
        # Derived once per cluster: projections ask for counts in hot loops.
        pods = self.pod_count
        deployments = pods * C.DEPLOYMENTS_PER_POD
        derived = {
            "pods": pods,
            "nodes": self.nodes,
            "leases": self.nodes + 50,
            "services": pods * C.SERVICES_PER_POD,
            "endpoints": pods * C.SERVICES_PER_POD,
            "endpointslices": pods * C.SERVICES_PER_POD,
            "deployments": deployments,
            "replicasets": deployments * C.REPLICASETS_PER_DEPLOYMENT,
            "events": pods * C.EVENTS_PER_POD,
            "configmaps": pods * C.CONFIGMAPS_PER_POD,
            "secrets": pods * C.SECRETS_PER_POD,
            "namespaces": max(10, pods / C.PODS_PER_NAMESPACE),
            "daemonsets": 20,
            "statefulsets": pods * 0.01,
            "jobs": pods * 0.01,
            "cronjobs": pods * 0.005,
        }
        return {**{k: int(v) for k, v in derived.items()}, **self.objects}

    def object_size(self, resource: str) -> int:
        """Bytes of one object of ``resource`` as served (JSON): this cluster's measured size,
        else ``constants.OBJECT_BYTES`` (``DEFAULT_OBJECT_BYTES`` for kinds it does not list).
        Subresources count as their resource (``pods/log`` → pods)."""
        base = resource.split("/")[0]
        return self.object_bytes.get(base) or C.OBJECT_BYTES.get(base, C.DEFAULT_OBJECT_BYTES)

    def objects_per_node(self, resource: str) -> float:
        """Objects of ``resource`` bound to one node (pods: pods/nodes; others: 0)."""
        if resource == "pods" and self.nodes:
            return self.pod_count / self.nodes
        return 0.0

    def write_rate(self, resource: str) -> float:
        """Writes per second to objects of ``resource`` (only pods and nodes/leases carry
        meaningful churn in this model; others change at 1/hour per object). estimate."""
        if resource == "pods":
            return self.pod_writes_per_s
        if resource == "nodes":
            return self.nodes / C.KUBELET_STATUS_REPORT_PERIOD_S
        if resource == "leases":
            return self.nodes / C.KUBELET_LEASE_RENEW_PERIOD_S
        if resource == "events":
            return self.pod_writes_per_s
        return self.object_count(resource) / 3600.0


#: What to do about a cluster a fleet file gets wrong, by the pydantic error type of the problem.
_FIX = {
    "fleet_no_nodes": "give its node count: kubectl get nodes --no-headers | wc -l",
    "fleet_duplicate_name": "rename one of them, or remove the duplicate",
    "cluster_unnamed": "give it a DNS-1123 name such as prod-use1",
    "greater_than_equal": "give the measured value, or remove the key for its default",
    "greater_than": "give the measured value, or remove the key for its default",
}


class Fleet(BaseModel):
    """Clusters (at least one), each named once and with at least one node. The errors of a
    cluster name it and say what to do (:func:`load_fleet`)."""

    model_config = ConfigDict(extra="forbid")

    clusters: list[Cluster] = Field(min_length=1)

    @field_validator("clusters")
    @classmethod
    def _named_once_with_nodes(cls, v: list[Cluster]) -> list[Cluster]:
        """Raises PydanticCustomError (``ctx``: the cluster's ``index`` and ``key``) for a
        cluster without nodes — nothing runs a DaemonSet there and its node share has no
        meaning — or a name given twice."""
        first: dict[str, int] = {}
        for i, c in enumerate(v):
            if c.nodes < 1:
                raise PydanticCustomError("fleet_no_nodes", "a cluster has at least one node, got {nodes}",
                                          {"nodes": c.nodes, "index": i, "key": "nodes"})
            if c.name in first:
                raise PydanticCustomError("fleet_duplicate_name", "{name} is also the name of clusters.{first}",
                                          {"name": repr(c.name), "first": first[c.name], "index": i, "key": "name"})
            first[c.name] = i
        return v

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)


#: Production cluster sizes of the built-in fleet: 24 clusters from 200 to 7,500 nodes.
#: Modelled on public numbers: "Scaling Kubernetes to 7,500 nodes" (OpenAI, 2021) for the
#: largest; the rest a spread typical of a fleet of "hundreds of clusters" (domain.md §1).
_PRODUCTION_SIZES = (
    200, 250, 300, 400, 500, 600, 750, 800, 1000, 1200, 1500, 1500,
    2000, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 7000, 7500,
)
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1")


def default_fleet() -> Fleet:
    """The built-in fleet: one 50-node staging cluster and 24 production clusters."""
    clusters = [Cluster(name="staging", labels={"env": "staging", "region": "us-east-1"}, nodes=50)]
    for i, nodes in enumerate(_PRODUCTION_SIZES):
        region = _REGIONS[i % len(_REGIONS)]
        clusters.append(
            Cluster(name=f"prod-{i + 1:02d}-{nodes}", labels={"env": "prod", "region": region}, nodes=nodes)
        )
    return Fleet(clusters=clusters)


def load_fleet(path: str | Path) -> Fleet:
    """Read a fleet YAML. Raises :class:`InputError` naming the file, line and key."""
    path = Path(path)
    data, node, _ = read_yaml_file(path, "fleet file")
    if isinstance(data, dict) and "clusters" not in data:  # a misspelt 'clusters:' named, not "no clusters"
        for key in (k for k in data if k not in Fleet.model_fields):
            raise InputError(str(path), f"{key}: {unknown_key(key, Fleet.model_fields)}",
                             line=line_of(node, (key,)), hint="see README.md")
    if not isinstance(data, dict) or "clusters" not in data:
        raise InputError(str(path), "not a mapping with a 'clusters' list", line=1,
                         hint="see README.md")
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        raise _fleet_error(str(path), node, data, first_error(exc)) from exc


def _fleet_error(source: str, node: Any, data: dict, err: dict[str, Any]) -> InputError:
    """The InputError of one validation error of a fleet file: the line of the key, the cluster
    by name (by position when it has none) and what to do."""
    ctx = err.get("ctx") or {}
    loc = tuple(err["loc"])
    if "index" in ctx:  # a fleet-wide rule that names one cluster's key
        loc = (*loc, ctx["index"], ctx["key"])
    fix = _FIX.get(err["type"])
    if len(loc) < 2 or loc[0] != "clusters" or not isinstance(loc[1], int):
        line = line_of(node, loc)
        return key_error(source, err, line=line, hint=fix or "fix or remove this key", known=Fleet.model_fields)
    clusters = data.get("clusters") if isinstance(data, dict) else None
    entry = clusters[loc[1]] if isinstance(clusters, list) and loc[1] < len(clusters) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    who = f"cluster {name!r}" if isinstance(name, str) and name.strip() else f"cluster {loc[1] + 1} (unnamed)"
    key = ".".join(str(p) for p in loc[2:])
    known = Cluster.model_fields if len(loc) == 3 else ()  # a cluster's own key: nodse → nodes
    message = (unknown_key(loc[-1], known) if err["type"] == "extra_forbidden"
               else err["msg"].removeprefix("Value error, "))
    if err["type"] in ("greater_than_equal", "greater_than"):
        bound = f"at least {ctx['ge']}" if "ge" in ctx else f"greater than {ctx.get('gt')}"
        message = f"must be {bound}, got {err.get('input')!r}"
    if key == "nodes" and err["type"] in ("greater_than_equal", "missing"):  # nodes has no default
        message, fix = f"a cluster has at least one node, got {err.get('input', 'none')!r}", _FIX["fleet_no_nodes"]
        if err["type"] == "missing":
            message = "a cluster's node count is missing"
    return InputError(source, f"{'.'.join(str(p) for p in loc)}: {who}: {message}", line=line_of(node, loc),
                      hint=fix or ("add this key" if err["type"] == "missing" else "fix or remove this key"))
