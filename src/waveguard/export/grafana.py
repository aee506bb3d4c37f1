"""Target ``grafana``: a Grafana dashboard (JSON model, ``schemaVersion`` 39) with one row per
gate — its figure per cluster over time, the threshold drawn as a line and a red area above it —
and the template variables ``datasource`` (a Prometheus data source) and ``cluster`` (the values
of the cluster label on the apiserver's ``up``), multi-valued.

The structure follows Grafana's dashboard schema (``kinds/dashboard/dashboard_kind.cue``): a
row panel (``type: row``, ``panels: []`` when expanded) followed by the row's time-series panel.
"""

from __future__ import annotations

from typing import Any

from waveguard.export import exporter
from waveguard.export.gateset import ExportedGate, GateSet

#: The dashboard JSON ``schemaVersion`` written (what Grafana 10.4 writes; Grafana migrates a
#: dashboard of an older schemaVersion when it loads it, so a newer Grafana reads it too).
SCHEMA_VERSION = 39
UID = "waveguard-gates"
#: Grafana units of the gates' units (Grafana's ``packages/grafana-data/src/valueFormats/categories.ts``).
UNITS = {"seconds": "s", "ratio": "percentunit", "requests/s": "reqps"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_HEIGHT = 8


@exporter("grafana", filename="grafana-dashboard.json", format="json",
          help="Grafana dashboard JSON: one row per gate, thresholds drawn, a cluster variable")
def dashboard(gates: GateSet, namespace: str) -> list[dict[str, Any]]:
    """The dashboard (``namespace`` is not used: a dashboard is not namespaced)."""
    panels: list[dict[str, Any]] = []
    y = 0
    for i, gate in enumerate(gates.gates):
        panels.append({"type": "row", "id": 2 * i + 1, "title": f"{gate.name} ({gate.gate.unit})",
                       "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panels.append(_panel(gates, gate, 2 * i + 2, y + 1))
        y += 1 + PANEL_HEIGHT
    return [{
        "uid": UID, "title": "waveguard gates", "description": "The control-plane gates of waveguard, per cluster.",
        "tags": ["waveguard"], "style": "dark", "timezone": "browser", "editable": True, "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"}, "refresh": gates.interval, "schemaVersion": SCHEMA_VERSION,
        "version": 1, "links": [], "annotations": {"list": []},
        "templating": {"list": [_datasource_variable(), _cluster_variable(gates)]},
        "panels": panels,
    }]


def _panel(gates: GateSet, gate: ExportedGate, panel_id: int, y: int) -> dict[str, Any]:
    return {
        "type": "timeseries", "id": panel_id, "title": gate.gate.reads, "description": (
            f"Threshold {gate.threshold:g} {gate.gate.unit}: {gate.gate.source}. Runbook: {gate.anchor}"),
        "datasource": DATASOURCE, "gridPos": {"h": PANEL_HEIGHT, "w": 24, "x": 0, "y": y},
        "transparent": False, "repeatDirection": "h", "transformations": [],
        "targets": [{"refId": "A", "datasource": DATASOURCE, "legendFormat": "{{%s}}" % gates.cluster_label,
                     "expr": _multi_cluster(gates, gates.figure(gate, "$cluster", by_cluster=True))}],
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "fieldConfig": {"defaults": {
            "unit": UNITS.get(gate.gate.unit, "short"), "min": 0,
            "color": {"mode": "palette-classic"},
            "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                          {"color": "red", "value": gate.threshold}]},
            "custom": {"thresholdsStyle": {"mode": "line+area"}},
        }, "overrides": []},
    }


def _multi_cluster(gates: GateSet, expr: str) -> str:
    """``expr`` with its cluster matchers as regular expressions: ``$cluster`` is multi-valued
    (Grafana interpolates several values as ``a|b``)."""
    label = gates.cluster_label
    return expr.replace(f'{label}="$cluster"', f'{label}=~"$cluster"')


def _datasource_variable() -> dict[str, Any]:
    return {"type": "datasource", "name": "datasource", "label": "Prometheus", "query": "prometheus",
            "id": "00000000-0000-0000-0000-000000000000", "global": False, "hide": 0, "skipUrlSync": False,
            "index": -1, "state": "Done", "current": {}, "options": [], "refresh": 1, "regex": ""}


def _cluster_variable(gates: GateSet) -> dict[str, Any]:
    label = gates.cluster_label
    selector = gates.signals.config.apiserver_selector
    query = f"label_values(up{{{selector}}}, {label})" if selector else f"label_values(up, {label})"
    return {"type": "query", "name": "cluster", "label": "cluster", "datasource": DATASOURCE,
            "query": {"query": query, "refId": "cluster"}, "definition": query,
            "id": "00000000-0000-0000-0000-000000000000", "global": False, "hide": 0, "skipUrlSync": False,
            "index": -1, "state": "Done", "multi": True, "includeAll": True, "allValue": ".+",
            "current": {}, "options": [], "refresh": 2, "regex": "", "sort": 1}
