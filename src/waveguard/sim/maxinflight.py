"""Admission before API Priority and Fairness: the max-in-flight filter (Kubernetes < 1.20).

Until APF was enabled by default (1.20, ``APF_DEFAULT_SINCE``) kube-apiserver admitted requests
with ``WithMaxInFlightLimit`` (staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go):
per replica at most ``--max-requests-inflight`` (400) read-only and
``--max-mutating-requests-inflight`` (200) mutating requests execute at once (each cluster's
own flags when the fleet file gives them: ``Cluster.max_requests_inflight`` …); a request beyond
that is answered 429 at once. There are no priority levels, no queues and no fairness; a LIST
counts as one request whatever its size; long-running requests (WATCH) and the
``system:masters`` group are not counted.

The engine keeps its APF machinery for every cluster; for the clusters of such a version it
lifts the levels' limits (:data:`~waveguard.sim.flows.EXEMPT_SEATS`), costs every request at its
max-in-flight slots (``FlowTable.legacy_seats``: 1 per request, a relist bundle as many as its
LISTs) and lets :class:`MaxInFlight` decide admission.
"""

from __future__ import annotations

import numpy as np

from waveguard.model import constants as C
from waveguard.model.fleet import Cluster

_TINY = 1e-12


def before_apf(cluster: Cluster) -> bool:
    """The cluster's apiservers admit with max-in-flight, not APF (version < 1.20)."""
    return cluster.version_tuple < C.APF_DEFAULT_SINCE


class MaxInFlight:
    """Max-in-flight admission for the clusters (columns) that predate APF.

    ``mutating``: ``(C, F)`` share of each flow's requests that are mutating; ``exempt``:
    ``(F,)`` flows never limited (the exempt level: ``system:masters``)."""

    def __init__(self, clusters: list[Cluster], mutating: np.ndarray, exempt: np.ndarray) -> None:
        self.cols = np.array([i for i, c in enumerate(clusters) if before_apf(c)], dtype=np.int64)
        self.enabled = len(self.cols) > 0
        # Each cluster's --max-requests-inflight / --max-mutating-requests-inflight (fleet file;
        # defaults MAX_REQUESTS_INFLIGHT / MAX_MUTATING_REQUESTS_INFLIGHT), (Cl,).
        self.read_only_limit = np.array([clusters[i].readonly_inflight for i in self.cols], dtype=np.float64)
        self.mutating_limit = np.array([clusters[i].mutating_inflight for i in self.cols], dtype=np.float64)
        self.mutating_share = mutating[self.cols].T[:, None, :].copy()  # (F, 1, Cl)
        self.limited = (~exempt).astype(np.float64)[:, None, None]  # (F, 1, 1)
        self._read_only = self.limited * (1.0 - self.mutating_share)  # (F, 1, Cl) counted read-only
        self._mutating = self.limited * self.mutating_share  # (F, 1, Cl) counted mutating

    def admit(self, want: np.ndarray, dispatched: np.ndarray, queued: np.ndarray, rejected: np.ndarray,
              in_flight: np.ndarray, slots: np.ndarray, occupancy: np.ndarray) -> bool:
        """Decide the max-in-flight clusters' admissions this step, in place: ``want`` ``(F, R,
        C)`` requests arriving, ``in_flight`` already executing (or waiting for etcd), ``slots``
        each one's slots, ``occupancy`` the slots a new one holds this step. What fits in the
        free read-only / mutating slots is admitted (``dispatched``), the rest rejected with 429
        at once (``rejected``); nothing queues (``queued``: 0). Returns whether anything was
        rejected. Shapes ``(F, R, C)``."""
        cols = self.cols
        busy = in_flight[:, :, cols] * slots[:, :, cols]
        used_ro = (busy * self._read_only).sum(axis=0)  # (R, Cl)
        used_mu = (busy * self._mutating).sum(axis=0)
        new = want[:, :, cols]
        dem = new * occupancy[:, :, cols]
        f_ro = np.clip((self.read_only_limit - used_ro) / np.maximum((dem * self._read_only).sum(axis=0), _TINY),
                       0.0, 1.0)
        f_mu = np.clip((self.mutating_limit - used_mu)
                       / np.maximum((dem * self._mutating).sum(axis=0), _TINY), 0.0, 1.0)
        frac = 1.0 - self._read_only * (1.0 - f_ro) - self._mutating * (1.0 - f_mu)
        admitted = new * frac
        dispatched[:, :, cols] = admitted
        refused = new - admitted
        rejected[:, :, cols] = refused
        queued[:, :, cols] = 0.0
        return bool(refused.max() > _TINY)
