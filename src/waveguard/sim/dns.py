"""DNS caches in front of CoreDNS, vectorised over clusters.

A workload's lookup is answered by its client cache (resolver, runtime) if its entry is valid,
else by the node-local cache, else by CoreDNS; it fails only when all three fail. Each cache
holds an answer for its TTL (``DNS_CLIENT_CACHE_TTL_S``, ``DNS_NODE_CACHE_TTL_S``); at any
moment its entries' remaining lifetimes are spread uniformly over the TTL. An expired entry is
fetched again within ``DNS_REFETCH_S`` when the layer below answers.

So when CoreDNS stops answering nothing fails at first: a name's node-cache entry expires
(uniformly over its TTL) while its client entries keep working; only once both have expired do
its lookups fail. Failures rise over the two TTLs — the ~20 minutes of the postmortem
(domain.md §1, §6). When CoreDNS answers again, expired names are fetched again within seconds.

State per cluster, as shares of the names in use:

* ``node``: names whose node-cache entry is valid, by expiry bin (a ring of ``BINS`` bins over
  the node TTL; the current bin drains at a constant rate);
* ``client``: names whose node entry expired but whose client entries are still valid, by
  client expiry bin (a name enters with a uniform remaining client lifetime);
* ``dead``: names with both expired — their lookups go to CoreDNS.
"""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C

#: Expiry-time bins per cache layer (resolution of the ring, not a physical figure).
BINS = 40
#: CoreDNS failure share below which nothing is tracked (a millionth of answers).
_NEGLIGIBLE = 1e-6


class _Ring:
    """Shares by expiry bin ``(BINS, n)``, drained one bin at a time."""

    def __init__(self, n: int, ttl_s: float, dt: float, full: bool) -> None:
        self.width = ttl_s / BINS
        self.dt = dt
        self.bins = np.full((BINS, n), 1.0 / BINS if full else 0.0)
        self.ptr = 0
        self.elapsed = 0.0
        self.empty = not full
        self._rate = self.bins[0] * (dt / self.width)

    def drain(self) -> np.ndarray:
        """Shares whose entry expires during this step."""
        col = self.bins[self.ptr]
        out = np.minimum(self._rate, col)
        col -= out
        self.elapsed += self.dt
        if self.elapsed >= self.width - 1e-9:
            self.elapsed -= self.width
            self.ptr = (self.ptr + 1) % BINS
            self._rate = self.bins[self.ptr] * (self.dt / self.width)
        return out

    def add_fresh(self, share: np.ndarray) -> None:
        """Entries fetched now: they expire one TTL from now (the bin just behind the current)."""
        row = self.bins[self.ptr - 1]
        row += share


class _CountedRing(_Ring):
    """A :class:`_Ring` that also keeps its total per column ``(n,)`` (the client caches: the
    refetch reads it)."""

    def __init__(self, n: int, ttl_s: float, dt: float, full: bool) -> None:
        super().__init__(n, ttl_s, dt, full)
        self.total = self.bins.sum(axis=0)  # kept up to date without summing the bins

    def drain(self) -> np.ndarray:
        out = super().drain()
        self.total -= out
        return out

    def add_uniform(self, share: np.ndarray) -> None:
        """Entries with remaining lifetimes spread uniformly over the TTL."""
        self.bins += share / BINS
        self.total += share
        self._rate = self._rate + share * (self.dt / self.width / BINS)
        self.empty = False

    def scale(self, keep: np.ndarray) -> None:
        self.bins *= keep
        self.total *= keep
        self._rate = self._rate * keep


class DNSCaches:
    """Client and node-local caches of every cluster (see the module docstring)."""

    def __init__(self, n: int, dt: float) -> None:
        self.node = _Ring(n, C.DNS_NODE_CACHE_TTL_S, dt, full=True)  # (no total: nothing reads it)
        self.client = _CountedRing(n, C.DNS_CLIENT_CACHE_TTL_S, dt, full=False)
        self.dead = np.zeros(n)
        self._refetch = min(1.0, dt / C.DNS_REFETCH_S)
        #: (n,) read-only zeros, what :meth:`step` returns while every lookup is answered
        self.none_failing = np.zeros(n)
        self.none_failing.flags.writeable = False

    def step(self, coredns_fail: np.ndarray, all_answered: bool = False) -> np.ndarray:
        """Advance one step with CoreDNS failing ``coredns_fail`` (n,) of its answers
        (``all_answered``: the caller knows it is 0); returns the share of the workloads' lookups
        that fail (n,)."""
        expired = self.node.drain()
        if self.client.empty and (all_answered or coredns_fail.max() < _NEGLIGIBLE):  # refill at once
            self.node.add_fresh(expired)
            return self.none_failing
        # Refetch of an expiring node entry: answered → fresh again; else the name's client
        # entries are now all it has.
        answered = 1.0 - coredns_fail
        self.node.add_fresh(expired * answered)
        self.client.add_uniform(expired * coredns_fail)
        self.dead += self.client.drain()
        # Names waiting for CoreDNS are fetched again as it answers (both layers refresh).
        back = answered * self._refetch
        again = (self.client.total + self.dead) * back
        keep = 1.0 - back
        self.client.scale(keep)
        self.dead *= keep
        self.node.add_fresh(again)
        if self.client.total.max() + self.dead.max() < 1e-9:  # all refetched: back to the fast path
            self.client.bins.fill(0.0)
            self.client.total.fill(0.0)
            self.client._rate = self.client._rate * 0.0
            self.dead.fill(0.0)
            self.client.empty = True
        return self.dead * coredns_fail
