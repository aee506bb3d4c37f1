"""One sweep: run the samples where asked and summarise them."""

from __future__ import annotations

from dataclasses import dataclass

from waveguard.risk.executors import Progress, run_pool, run_ray
from waveguard.risk.sample import SampleOutcome, SweepInputs
from waveguard.risk.summary import RiskSummary, summarise


@dataclass(frozen=True)
class Sweep:
    """A sweep's outcomes (in sample order) and their summary."""

    inputs: SweepInputs
    outcomes: list[SampleOutcome]
    summary: RiskSummary


def run_sweep(inputs: SweepInputs, samples: int, *, workers: int | None = None, ray_address: str | None = None,
              ray_cpus: int | None = None, progress: Progress | None = None) -> Sweep:
    """``samples`` samples of ``inputs`` on a local pool of ``workers`` processes, or on Ray at
    ``ray_address`` ("local": a Ray instance started here with ``ray_cpus`` workers). Raises
    ValueError for ``samples`` < 1, SourceUnavailableError when Ray cannot be used."""
    if samples < 1:
        raise ValueError("samples must be ≥ 1")
    if ray_address:
        outcomes = run_ray(inputs, samples, ray_address, progress, num_cpus=ray_cpus)
    else:
        outcomes = run_pool(inputs, samples, workers, progress)
    return Sweep(inputs, outcomes, summarise(outcomes, inputs.seed))
