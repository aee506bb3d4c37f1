"""Target ``prometheus-rule``: a Prometheus Operator ``PrometheusRule``
(``monitoring.coreos.com/v1``) with one alert per gate at the same threshold, and one for no
apiserver replica up. Its ``spec`` is a Prometheus rules file (``promtool check rules`` reads it).

Each alert fires per cluster (``max by (cluster)`` of the gate's figure above the threshold);
``for`` = (``failures_to_halt`` − 1) × the gate interval, so it fires when waveguard would halt;
``evaluation`` interval = the gate interval. Annotations: summary, description (the figure and
the threshold) and ``runbook_url`` into docs/integrations.md. A cluster without data raises no
alert here (as no rule fires on an absent series): waveguard's no-data pause has no alert.
"""

from __future__ import annotations

from typing import Any

from waveguard.export import exporter
from waveguard.export.gateset import RUNBOOK_URL, ExportedGate, GateSet
from waveguard.signals.prometheus_config import promql_duration

API_VERSION = "monitoring.coreos.com/v1"
GROUP = "waveguard-gates"


@exporter("prometheus-rule", filename="prometheusrule.yaml",
          help="Prometheus Operator PrometheusRule: one alert per gate, with runbook links")
def prometheus_rule(gates: GateSet, namespace: str) -> list[dict[str, Any]]:
    """One PrometheusRule ``waveguard-gates`` in ``namespace``."""
    return [{
        "apiVersion": API_VERSION, "kind": "PrometheusRule",
        "metadata": {"name": GROUP, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "waveguard"}},
        "spec": rules_file(gates),
    }]


def rules_file(gates: GateSet) -> dict[str, Any]:
    """The rules file (``groups:``) the PrometheusRule's spec holds."""
    rules = [_alert(gates, g) for g in gates.gates]
    if gates.reads_apiserver:
        rules.insert(0, _up_alert(gates))
    return {"groups": [{"name": GROUP, "interval": gates.interval, "rules": rules}]}


def alert_name(gate: ExportedGate) -> str:
    """``WaveguardApiserverP99Latency`` for gate ``apiserver_p99_latency``."""
    return "Waveguard" + "".join(part.capitalize() for part in gate.name.split("_"))


def _alert(gates: GateSet, gate: ExportedGate) -> dict[str, Any]:
    label = gates.cluster_label
    rule: dict[str, Any] = {
        "alert": alert_name(gate),
        "expr": f"{gates.figure(gate, None, by_cluster=True)} > {gate.threshold:g}",
    }
    wait_s = (gate.failures_to_halt - 1) * gates.interval_s
    if wait_s > 0:
        rule["for"] = promql_duration(wait_s)
    rule["labels"] = {"severity": "critical", "waveguard_gate": gate.name}
    rule["annotations"] = {
        "summary": f"waveguard gate {gate.name} fails on {{{{ $labels.{label} }}}}",
        "description": (f"{gate.gate.reads}: {{{{ $value | humanize }}}} {gate.gate.unit}, above the gate's "
                        f"threshold {gate.threshold:g} ({gate.gate.source}). A rollout gated by waveguard halts "
                        "here."),
        "runbook_url": gate.anchor,
    }
    return rule


def _up_alert(gates: GateSet) -> dict[str, Any]:
    label = gates.cluster_label
    return {
        "alert": "WaveguardNoApiserverUp",
        "expr": f"{gates.figure(None, None, by_cluster=True)} == 0",
        "labels": {"severity": "critical", "waveguard_gate": "apiserver_up"},
        "annotations": {
            "summary": f"no kube-apiserver replica is up on {{{{ $labels.{label} }}}}",
            "description": "Every waveguard gate that reads the apiserver fails while no replica is scraped as up.",
            "runbook_url": f"{RUNBOOK_URL}#gate-apiserver-up",
        },
    }
