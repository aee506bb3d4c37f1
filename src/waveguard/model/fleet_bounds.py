"""Sanity bounds of a fleet file's figures (:mod:`waveguard.model.fleet`), each with its source."""

from __future__ import annotations

from waveguard.model import constants as C

#: Sanity bounds, not scalability limits: a figure past them is a typo (a run of extra zeros),
#: whose projection is a meaningless figure or, for a capacity, makes any change look free.
#: Objects of one resource (pods included): the node bound (1,000,000) × the kubelet's default
#: --max-pods, 110 (k8s pkg/kubelet/apis/config/v1beta1/defaults.go).
MAX_OBJECTS = 1_000_000 * 110
#: Memory of one apiserver replica or etcd member, bytes: the CPU bound of one replica (4,096
#: cores) × constants.APISERVER_MEMORY_BYTES_PER_CORE (4 GiB), 16 TiB.
MAX_MEMORY_BYTES = 4096 * C.APISERVER_MEMORY_BYTES_PER_CORE
#: apiserver replicas of one cluster: they publish their addresses in the ``kubernetes`` Service's
#: one EndpointSlice, of at most 1,000 endpoints (k8s: pkg/apis/discovery/validation/validation.go,
#: maxEndpoints). 50,000,000 (a typo) took the incident's largest cluster from overload to ok.
MAX_APISERVER_REPLICAS = 1000
#: Bytes per second one cluster's etcd returns to range reads: the member bound (15) × a
#: 100 GbE link each, 12.5 GB/s (constants.ETCD_RANGE_BYTES_PER_S is a 1 GbE link's).
MAX_ETCD_READ_BYTES_PER_S = 15 * 12.5e9
