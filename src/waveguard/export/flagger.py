"""Target ``flagger``: one Flagger ``MetricTemplate`` (``flagger.app/v1beta1``) per gate, for the
Canary's cluster (template variable ``cluster``).

A MetricTemplate holds the query; the threshold goes in the Canary's ``analysis.metrics``
(``thresholdRange.max``): the file's header is that list, ready to paste, and each template
carries its threshold as the annotation ``waveguard.io/threshold``. Flagger's prometheus provider
(``pkg/metrics/providers/prometheus.go``) takes the first sample; an empty answer is
``ErrNoValuesFound``, which halts advancement and counts as a failed check — no data never
passes, as in waveguard. A NaN sample would compare as within range, so the figure drops NaN
and ±Inf in PromQL (:meth:`~waveguard.export.gateset.GateSet.figure`): Flagger sees no value.
Set the Canary's ``analysis.threshold`` (failed checks before rollback) to the plan's
``failures_to_halt``, and its ``interval`` to the gate interval.
"""

from __future__ import annotations

from typing import Any

from waveguard.export import exporter
from waveguard.export.gateset import GateSet

API_VERSION = "flagger.app/v1beta1"
#: The Canary sets ``templateVariables: {cluster: <its cluster label value>}``.
CLUSTER_VARIABLE = "cluster"


def canary_header(gates: GateSet, namespace: str) -> str:
    """The file's header: the Canary's ``analysis`` that uses these templates."""
    import yaml

    analysis = {"analysis": {"interval": gates.interval, "threshold": max(g.failures_to_halt for g in gates.gates),
                             "metrics": canary_metrics(gates, namespace)}}
    return ("waveguard gates as Flagger MetricTemplates. In the Canary (spec.analysis), with\n"
            "CLUSTER-NAME the value of the cluster's 'cluster' label in Prometheus:\n"
            + yaml.safe_dump(analysis, sort_keys=False, width=100))


@exporter("flagger", filename="flagger-metrictemplates.yaml", header=canary_header,
          help="Flagger MetricTemplates: one per gate (thresholds for the Canary in annotations)")
def metric_templates(gates: GateSet, namespace: str) -> list[dict[str, Any]]:
    """One MetricTemplate ``waveguard-<gate>`` per gate in ``namespace``."""
    cluster = "{{ variables.%s }}" % CLUSTER_VARIABLE
    out = []
    for g in gates.gates:
        out.append({
            "apiVersion": API_VERSION, "kind": "MetricTemplate",
            "metadata": {"name": f"waveguard-{g.slug}", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "waveguard"},
                         "annotations": {"waveguard.io/threshold": f"{g.threshold:g}",
                                         "waveguard.io/unit": g.gate.unit,
                                         "waveguard.io/runbook": g.anchor}},
            "spec": {"provider": {"type": "prometheus", "address": gates.prometheus_url},
                     "query": gates.figure(g, cluster)},
        })
    return out


def canary_metrics(gates: GateSet, namespace: str) -> list[dict[str, Any]]:
    """The Canary's ``analysis.metrics`` entries that use the templates (for the docs and the
    file header): each with ``thresholdRange.max`` the gate's threshold."""
    return [{"name": g.slug, "templateRef": {"name": f"waveguard-{g.slug}", "namespace": namespace},
             "templateVariables": {CLUSTER_VARIABLE: "CLUSTER-NAME"},
             "thresholdRange": {"max": g.threshold}, "interval": gates.interval} for g in gates.gates]
