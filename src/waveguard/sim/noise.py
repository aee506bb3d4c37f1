"""Demand and load-balancer noise: lognormal with mean 1, drawn in blocks from each cluster's
own seeded stream (``numpy.random.default_rng([seed, key])``), so a cluster's noise does not
depend on which other clusters it is simulated with (nor on how many workers split the fleet)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from waveguard.model import constants as C

#: Steps drawn at once (a speed figure, not a physical one).
NOISE_BLOCK = 600


class Noise:
    """Per step: demand noise per cluster ``(C,)`` and load-balancer noise per replica ``(R,
    C)`` (padding replicas: 1.0). ``replicas``: each cluster's replica count; ``R`` the padding."""

    def __init__(self, rngs: Sequence[np.random.Generator], replicas: Sequence[int], n_replicas: int) -> None:
        self._rngs = list(rngs)
        self._replicas = list(replicas)
        self._n_replicas = n_replicas
        self._next = NOISE_BLOCK
        self._demand_block = np.empty((0, len(self._rngs)))
        self._lb_block = np.empty((0, n_replicas, len(self._rngs)))

    @classmethod
    def seeded(cls, seed: int, keys: Sequence[int], replicas: Sequence[int], n_replicas: int) -> "Noise":
        """Cluster i draws from ``numpy.random.default_rng([seed, keys[i]])``."""
        return cls([np.random.default_rng([seed, k]) for k in keys], replicas, n_replicas)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """This step's (demand noise ``(C,)``, load-balancer noise ``(R, C)``); the CV is
        ``BASELINE_DEMAND_CV``."""
        if self._next >= NOISE_BLOCK:
            self._draw_block()
        i = self._next
        self._next += 1
        return self._demand_block[i], self._lb_block[i]

    def _draw_block(self) -> None:
        cv = C.BASELINE_DEMAND_CV
        sigma = math.sqrt(math.log(1 + cv * cv))
        mu = -sigma * sigma / 2
        # Each cluster draws 1 + its own replica count per step, whatever the padding R, so
        # a cluster's noise does not depend on which other clusters it is simulated with.
        n_clusters = len(self._rngs)
        self._demand_block = np.empty((NOISE_BLOCK, n_clusters))
        self._lb_block = np.ones((NOISE_BLOCK, self._n_replicas, n_clusters))
        for c, (rng, replicas) in enumerate(zip(self._rngs, self._replicas, strict=True)):
            draw = rng.lognormal(mu, sigma, (NOISE_BLOCK, 1 + replicas))
            self._demand_block[:, c] = draw[:, 0]
            self._lb_block[:, :replicas, c] = draw[:, 1:]
        self._next = 0
