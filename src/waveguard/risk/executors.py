"""Where samples run: this process, a local process pool, or a Ray cluster.

Each runs :func:`~waveguard.risk.sample.run_sample` on every index and returns the outcomes in
sample order; a sample's answer does not depend on where it ran. The inputs go to each worker
once (the pool's initializer; ``ray.put``), the indices in chunks so that per-task overhead is
paid once per chunk, not per sample.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from waveguard.model.errors import SourceUnavailableError
from waveguard.risk.sample import SampleOutcome, SweepInputs, run_sample

Progress = Callable[[int], None]

_WORKER_INPUTS: SweepInputs | None = None


def _chunks(samples: int, chunk: int) -> Iterator[range]:
    for start in range(0, samples, chunk):
        yield range(start, min(samples, start + chunk))


def _chunk_size(samples: int, workers: int) -> int:
    """About four chunks per worker: few enough to amortise task overhead, enough to balance."""
    return max(1, samples // (4 * max(1, workers)))


def run_serial(inputs: SweepInputs, samples: int, progress: Progress | None = None) -> list[SampleOutcome]:
    outcomes = []
    for i in range(samples):
        outcomes.append(run_sample(inputs, i))
        if progress:
            progress(1)
    return outcomes


def _init_worker(inputs: SweepInputs) -> None:
    global _WORKER_INPUTS
    _WORKER_INPUTS = inputs


def _run_chunk_in_worker(indices: range) -> list[SampleOutcome]:
    assert _WORKER_INPUTS is not None, "worker not initialised"
    return [run_sample(_WORKER_INPUTS, i) for i in indices]


def run_pool(inputs: SweepInputs, samples: int, workers: int | None = None,
             progress: Progress | None = None) -> list[SampleOutcome]:
    """On a local process pool of ``workers`` processes (default: one per core)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or samples == 1:
        return run_serial(inputs, samples, progress)
    outcomes: list[SampleOutcome] = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(inputs,)) as pool:
        for chunk in pool.map(_run_chunk_in_worker, _chunks(samples, _chunk_size(samples, workers))):
            outcomes.extend(chunk)
            if progress:
                progress(len(chunk))
    return outcomes


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise SourceUnavailableError("", "missing", "Ray is not installed: pip install 'waveguard[risk]', "
                                     "or run without --ray-address (a local process pool)") from exc
    return ray


def run_ray(inputs: SweepInputs, samples: int, address: str, progress: Progress | None = None,
            num_cpus: int | None = None) -> list[SampleOutcome]:
    """On the Ray cluster at ``address`` (``ray://host:10001``, ``host:6379``) or, with
    ``address="local"``, on a Ray instance started here with ``num_cpus`` workers. Raises
    SourceUnavailableError when Ray is missing or the cluster cannot be reached."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == "local":
                # A Ray instance of this machine on loopback only, without usage reporting.
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         _node_ip_address="127.0.0.1")
            else:
                with warnings.catch_warnings():  # Ray warns before it raises: the error says it once
                    warnings.simplefilter("ignore")
                    # logging_level: the driver's "ray" logger (ray.init's own setting) at ERROR; its
                    # INFO line (ray:// "Passing the following kwargs ...") came before our error
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise SourceUnavailableError(address, "unreachable", f"cannot reach the Ray cluster ({exc}); check "
                                         "--ray-address (ray://HOST:10001 or HOST:6379)") from exc
    try:
        run_chunk = ray.remote(_run_chunk_remote)
        shared = ray.put(inputs)
        workers = int(ray.cluster_resources().get("CPU", 1))
        pending = [run_chunk.remote(shared, chunk) for chunk in _chunks(samples, _chunk_size(samples, workers))]
        return _gather_in_order(ray, pending, progress)
    finally:
        if started_here:
            ray.shutdown()


def _run_chunk_remote(inputs: SweepInputs, indices: range) -> list[SampleOutcome]:
    return [run_sample(inputs, i) for i in indices]


def _gather_in_order(ray: Any, pending: list, progress: Progress | None) -> list[SampleOutcome]:
    """The chunks' outcomes in submission (= sample) order, reporting progress as chunks land."""
    order = {ref: i for i, ref in enumerate(pending)}
    done: dict[int, list[SampleOutcome]] = {}
    waiting = list(pending)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        for ref in ready:
            done[order[ref]] = ray.get(ref)
            if progress:
                progress(len(done[order[ref]]))
    return [o for i in range(len(pending)) for o in done[i]]
