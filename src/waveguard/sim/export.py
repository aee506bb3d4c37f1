"""Write a simulation's series as CSV (``waveguard simulate --metrics-out series.csv``).

Wide format, one row per (step, cluster): ``time_s,cluster,<series>...`` where each series
column is named like a Prometheus selector, e.g.
``apiserver_flowcontrol_current_executing_seats{priority_level="workload-low"}``. Counters are
written as per-second rates (column suffix ``:rate``), quantiles and gauges as values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from waveguard.model.errors import InputError
from waveguard.sim.metrics import METRICS
from waveguard.sim.result import SimulationResult


def series_columns(result: SimulationResult) -> list[tuple[str, str, dict[str, str]]]:
    """(column name, metric, labels) for every exported series."""
    labels = result.reader.labels
    cols: list[tuple[str, str, dict[str, str]]] = []
    for name, spec in METRICS.items():
        fixed = dict(spec.fixed_labels)
        values = {"priority_level": labels.priority_level, "scope": labels.scope, "code": labels.code}.get(spec.label or "", [None])
        if spec.label == "instance":
            values = [None]  # aggregated: worst (memory) or total (up) over replicas
        for value in values:
            lab = dict(fixed)
            if value is not None and spec.label is not None:
                lab[spec.label] = value
            shown = ",".join(f'{k}="{v}"' for k, v in lab.items())
            col = f"{name}{{{shown}}}" if shown else name
            if spec.kind == "counter":
                col += ":rate"
            cols.append((col, name, lab))
    return cols


def write_csv(result: SimulationResult, path: str | Path) -> int:
    """Write every series of every cluster to ``path``; returns the number of rows. Raises
    InputError when the file cannot be written."""
    path = Path(path)
    cols = series_columns(result)
    times = result.times
    try:
        with path.open("w") as fh:
            fh.write("time_s,cluster," + ",".join(f'"{c.replace(chr(34), chr(34) * 2)}"' for c, _, _ in cols) + "\n")
            for cluster in result.clusters:
                block = np.empty((len(times), len(cols)))
                for j, (_, metric, lab) in enumerate(cols):
                    kind = METRICS[metric].kind
                    block[:, j] = result.rate(metric, cluster, **lab) if kind == "counter" else \
                        result.series(metric, cluster, **lab)
                lines = [f"{t:g},{cluster}," + ",".join(f"{v:.6g}" for v in row) for t, row in zip(times, block, strict=True)]
                fh.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise InputError(str(path), f"cannot write metrics: {exc.strerror}", hint="check --metrics-out") from exc
    return len(times) * len(result.clusters)
