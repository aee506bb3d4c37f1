"""The etcd phase keeps its waiting cohorts as sparse entries (issue 17: the incident's time went
to passes over a dense window of up to 200 cohorts). Its figures must be those of the dense
window bit for bit: checked here against a dense reference — the algorithm as it stood before,
one ``(cohorts, Fe, R, C)`` array, a cohort leaving only when every older one has — stepped in
lockstep on random admissions, CPU stretch, etcd outages, replica crashes and cancellations,
with one cluster (numpy sums pairwise there) and with several."""

from __future__ import annotations

import numpy as np
import pytest

from waveguard.model import constants as C
from waveguard.sim.etcd import EtcdPhase

TINY = 1e-12


class DenseCohorts:
    """The reference: every cohort of the window as a dense ``(Fe, R, C)`` slice."""

    def __init__(self, phase: EtcdPhase) -> None:
        self.p = phase  # the constants (bytes, pages, throughput, dt) come from the phase under test
        fe, r, c = phase.waiting.shape
        self.waiting_k = np.zeros((0, fe, r, c))
        self.queue_wait_k = np.zeros((0, fe, r, c))
        self.start_k = np.zeros((0, r, c))
        self.admitted_s = np.zeros(0)
        self.served = np.zeros((r, c))
        self.hist = np.zeros((int(np.ceil(C.CLIENT_TIMEOUT_S / phase.dt)) + 1, r, c))
        self.steps = 0
        self.serving = np.ones(c)

    def admit(self, t: float, admitted: np.ndarray, waited: np.ndarray) -> None:
        if admitted.max() <= TINY:
            return
        self.waiting_k = np.concatenate([self.waiting_k, admitted[None]])
        self.queue_wait_k = np.concatenate([self.queue_wait_k, waited[None]])
        self.start_k = np.concatenate([self.start_k, self.served[None]])
        self.admitted_s = np.append(self.admitted_s, t)

    def advance(self, t: float, tau: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, ...] | None:
        p, self.steps = self.p, self.steps + 1
        n_hist = len(self.hist)
        if len(self.waiting_k) == 0:
            self.hist[self.steps % n_hist] = self.served
            return None
        w = self.waiting_k
        reading = w.sum(axis=(0, 1, 2))
        rate = np.minimum(C.ETCD_RANGE_BYTES_PER_S, p.throughput / np.maximum(reading, TINY)) * self.serving
        rate = rate[None, :] / slow
        # what each waiting request receives in the step: a step's worth, at most what is left of it
        left = np.maximum(p.bytes[None, :, None, :] - (self.served[None] - self.start_k)[:, None], 0.0)
        sent = (w * np.minimum(rate[None, None] * p.dt, left)).sum(axis=(0, 1, 2))
        self.served = self.served + rate * p.dt
        old = self.hist[(self.steps + 1) % n_hist]
        self.hist[self.steps % n_hist] = self.served
        progress = (self.served[None] - self.start_k)[:, None]
        age = (t - self.admitted_s)[:, None, None, None]
        arrived = w * (progress >= p.bytes[None, :, None, :] * (1.0 - 1e-9))
        rows = np.flatnonzero(arrived.reshape(len(arrived), -1).any(axis=1))
        late = arrived[rows] * ((self.queue_wait_k[rows] + age[rows] + tau[None])
                                > C.CLIENT_TIMEOUT_S * p.pages[None, :, None, :])
        w -= arrived
        o = int(np.count_nonzero(age >= C.CLIENT_TIMEOUT_S - C.APF_QUEUE_WAIT_LIMIT_S))
        page = p.page_bytes[None, :, None, :]
        first = (age[:o] >= C.CLIENT_TIMEOUT_S - self.queue_wait_k[:o]) & (progress[:o] < page)
        later = (age[:o] >= C.CLIENT_TIMEOUT_S) & ((self.served - old)[None, None] < page)
        cancel = w[:o] * (first | later)
        w[:o] -= cancel
        h = 0
        while h < len(w) and w[h].max() <= TINY:
            h += 1
        self._keep(slice(h, None))
        self.figures = (rate, sent, self.served)
        return arrived.sum(axis=0), late.sum(axis=0), cancel.sum(axis=0)

    def waiting(self) -> np.ndarray:
        return self.waiting_k.sum(axis=0) if len(self.waiting_k) else np.zeros(self.p.waiting.shape)

    def _keep(self, rows: slice) -> None:
        self.waiting_k, self.queue_wait_k = self.waiting_k[rows], self.queue_wait_k[rows]
        self.start_k, self.admitted_s = self.start_k[rows], self.admitted_s[rows]


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.tobytes() == b.tobytes(), np.abs(a - b).max()


@pytest.mark.parametrize(("n_clusters", "seed"), [(1, 1), (1, 2), (3, 3), (4, 4), (6, 5)])
def test_sparse_cohorts_give_the_dense_windows_figures_bit_for_bit(n_clusters: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_flows, n_replicas = 3, 2
    etcd_bytes = rng.choice([0.0, 2e6, 4e7, 3e8], size=(n_clusters, n_flows + 1))
    etcd_bytes[:, :n_flows] = np.maximum(etcd_bytes[:, :n_flows], 1e6)  # the last flow is not read from etcd
    etcd_bytes[:, n_flows] = 0.0
    pages = rng.choice([1.0, 1.0, 4.0], size=etcd_bytes.shape)
    phase = EtcdPhase(etcd_bytes, pages, n_replicas, 1.0, throughput=rng.uniform(0.2, 1.0, n_clusters) * 3.75e8)
    dense = DenseCohorts(phase)
    shape = phase.waiting.shape
    for step in range(1, 400):
        t = float(step)
        # Bursts, quiet spells, and traces of a request (below the tiny bound) alike.
        scale = rng.choice([0.0, 1e-14, 0.5, 30.0, 400.0], p=[0.3, 0.05, 0.25, 0.3, 0.1])
        admitted = rng.uniform(0, scale, shape) * (rng.random(shape) < 0.6) * rng.choice([1.0, 1e-15], shape, p=[0.9, 0.1])
        waited = np.minimum(rng.exponential(3.0, shape), C.APF_QUEUE_WAIT_LIMIT_S)
        phase.admit(t, admitted, waited)
        dense.admit(t, admitted, waited)
        if step % 53 == 0:  # an etcd outage on one cluster for a while
            c = int(rng.integers(n_clusters))
            phase.serving[c] = 0.0
            dense.serving[c] = 0.0
            _same(phase.fail_all(c), dense.waiting_k[:, :, :, c].sum(axis=0))
            dense.waiting_k[:, :, :, c] = 0.0
        if step % 53 == 20:
            phase.serving[:] = 1.0
            dense.serving[:] = 1.0
        tau = rng.uniform(0.0, 40.0, shape)
        slow = 1.0 + rng.exponential(0.5, (n_replicas, n_clusters)) * (rng.random((n_replicas, n_clusters)) < 0.3)
        out, ref = phase.advance(t, tau, slow), dense.advance(t, tau, slow)
        assert (out is None) == (ref is None) and phase.busy == (len(dense.waiting_k) > 0)
        if out is not None and ref is not None:
            for a, b in zip(out, ref, strict=True):
                _same(a, b)
            for a, b in zip((phase.rate, phase.sent_bytes, phase.served_bytes), dense.figures, strict=True):
                _same(a, b)
        _same(phase.waiting, dense.waiting())
        if step % 37 == 0 and phase.busy:  # a replica crashes: what it waits for fails
            r, c = int(rng.integers(n_replicas)), int(rng.integers(n_clusters))
            _same(phase.drop(r, c), dense.waiting_k[:, :, r, c].sum(axis=0))
            dense.waiting_k[:, :, r, c] = 0.0
        if step % 41 == 0 and phase.busy:  # pods deleted: part of some flows' waiting is cancelled
            rows = rng.random(n_flows) < 0.7
            keep = rng.choice([0.0, 0.3, 1.0], size=n_clusters)
            phase.scale(rows, keep)
            dense.waiting_k[:, rows] *= keep[None, None, None, :]
            _same(phase.waiting, dense.waiting())
