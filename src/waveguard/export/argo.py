"""Target ``argo``: an Argo Rollouts ``AnalysisTemplate`` (``argoproj.io/v1alpha1``), one
Prometheus metric per gate, for one cluster (argument ``cluster``).

waveguard's semantics in Argo's terms (Argo Rollouts ``utils/evaluate/evaluate.go``: a
measurement is *Failed* when ``failureCondition`` holds, *Successful* when only
``successCondition`` does, *Inconclusive* when neither; ``metricproviders/prometheus``: a query
that cannot be sent is an *Error*):

* **pass / fail** — ``successCondition: len(result) == 1 && result[0] <= T`` and
  ``failureCondition: len(result) == 1 && result[0] > T`` on the gate's figure
  (:meth:`~waveguard.export.gateset.GateSet.figure`), T the threshold.
* **failures before a halt** — ``failureLimit`` = the plan's ``failures_to_halt`` − 1 (Argo
  fails the metric when failed measurements exceed the limit).
* **no data** (no sample, NaN, ±Inf: the query's answer is empty) — neither condition holds:
  *Inconclusive*; ``inconclusiveLimit: 0`` makes the first one pause the rollout, as waveguard's
  engine pauses at the first no-data. A paused Argo rollout waits for a person; waveguard keeps
  evaluating and resumes on its own (the one difference).
* **Prometheus unreachable** (waveguard: no-data too) — Argo's *Error*;
  ``consecutiveErrorLimit`` = ⌈no_data_timeout_s / gate_interval_s⌉ errors in a row abort the
  rollout, as waveguard halts and rolls back after ``no_data_timeout_s`` without data.
* **no apiserver replica up** — metric ``apiserver-up`` fails at once, as the registry fails
  every apiserver gate then.

``interval`` is the plan's gate interval; no ``count``: as background analysis the metrics run
until the rollout ends (for an inline analysis step add ``count``).
"""

from __future__ import annotations

from typing import Any

from waveguard.export import exporter
from waveguard.export.gateset import ExportedGate, GateSet

API_VERSION = "argoproj.io/v1alpha1"
#: The Rollout passes the cluster's name (its ``cluster`` label in Prometheus) as this argument.
CLUSTER_ARG = "cluster"
NAME = "waveguard-gates"


@exporter("argo", filename="argo-analysistemplate.yaml",
          help="Argo Rollouts AnalysisTemplate: one Prometheus metric per gate")
def analysis_template(gates: GateSet, namespace: str) -> list[dict[str, Any]]:
    """One AnalysisTemplate named ``waveguard-gates`` in ``namespace``."""
    metrics = [_metric(gates, g) for g in gates.gates]
    if gates.reads_apiserver:
        metrics.insert(0, _up_metric(gates))
    return [{
        "apiVersion": API_VERSION, "kind": "AnalysisTemplate",
        "metadata": {"name": NAME, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "waveguard"}},
        "spec": {"args": [{"name": CLUSTER_ARG}], "metrics": metrics},
    }]


def _provider(gates: GateSet, query: str) -> dict[str, Any]:
    return {"prometheus": {"address": gates.prometheus_url, "query": query}}


def _metric(gates: GateSet, gate: ExportedGate) -> dict[str, Any]:
    t = f"{gate.threshold:g}"
    return {
        "name": gate.slug,
        "interval": gates.interval,
        "successCondition": f"len(result) == 1 && result[0] <= {t}",
        "failureCondition": f"len(result) == 1 && result[0] > {t}",
        "failureLimit": gate.failures_to_halt - 1,
        "inconclusiveLimit": 0,
        "consecutiveErrorLimit": gates.no_data_evaluations,
        "provider": _provider(gates, gates.figure(gate, "{{args.%s}}" % CLUSTER_ARG)),
    }


def _up_metric(gates: GateSet) -> dict[str, Any]:
    return {
        "name": "apiserver-up",
        "interval": gates.interval,
        "successCondition": "len(result) == 1 && result[0] > 0",
        "failureCondition": "len(result) == 1 && result[0] == 0",
        "failureLimit": 0,
        "inconclusiveLimit": 0,
        "consecutiveErrorLimit": gates.no_data_evaluations,
        "provider": _provider(gates, gates.figure(None, "{{args.%s}}" % CLUSTER_ARG)),
    }
