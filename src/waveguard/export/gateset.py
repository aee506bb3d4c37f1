"""The gates ``waveguard export`` and ``waveguard gate check`` act on, with their thresholds and
the one PromQL of each.

:func:`gate_set` picks the gates (a plan's signal gates, else the default-on control-plane
gates of the registry, ``waveguard.rollout.gates``), their thresholds (the plan's, else the
registry's defaults) and failures before a halt, and renders each gate's
:class:`~waveguard.model.readings.Reading` through
:meth:`~waveguard.signals.prometheus.PrometheusSignals.promql` — the text waveguard itself sends
to Prometheus. :meth:`GateSet.figure` is that text narrowed to the figure a rollout tool
compares: ``max(((Q) >= 0) < +Inf)`` — the worst priority level where the gate reads per level,
and no sample when Prometheus has none or only NaN/±Inf (waveguard's *no data*; every figure
is ≥ 0, so ``>= 0`` only drops NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from waveguard.model.errors import InputError
from waveguard.model.readings import APISERVER_UP
from waveguard.rollout.gates import GATES, Gate
from waveguard.rollout.plan import Plan
from waveguard.signals.prometheus import PrometheusConfig, PrometheusSignals
from waveguard.signals.prometheus_config import promql_duration

#: The Prometheus address exported objects query when none is given: kube-prometheus' in-cluster
#: Service (``manifests/prometheus-service.yaml``: ``prometheus-k8s`` in ``monitoring``, port
#: ``web`` 9090), the usual Prometheus beside Argo Rollouts and Flagger.
DEFAULT_PROMETHEUS_URL = "http://prometheus-k8s.monitoring.svc:9090"
#: Where the gates' runbooks live (docs/integrations.md, one anchor per gate), as the SARIF
#: rules' help points into docs/rules.md (``waveguard.report.rule_docs.RULES_DOC_URL``).
RUNBOOK_URL = "https://github.com/waveguard/waveguard/blob/main/docs/integrations.md"
#: Default seconds between evaluations without a plan: the plan's own default ``gate_interval_s``.
DEFAULT_INTERVAL_S = Plan.model_fields["gate_interval_s"].default
#: Default seconds without data before waveguard halts: the plan's ``no_data_timeout_s`` default.
DEFAULT_NO_DATA_TIMEOUT_S = Plan.model_fields["no_data_timeout_s"].default


@dataclass(frozen=True)
class ExportedGate:
    """One gate as exported: the registered ``gate``, its ``threshold`` (in ``gate.unit``) and
    ``failures_to_halt`` (failed evaluations in a row before a halt, ≥ 1)."""

    gate: Gate
    threshold: float
    failures_to_halt: int

    @property
    def name(self) -> str:
        return self.gate.name

    @property
    def slug(self) -> str:
        """The gate's name as a Kubernetes object/metric name (``apiserver-p99-latency``)."""
        return self.gate.name.replace("_", "-")

    @property
    def anchor(self) -> str:
        """Its runbook section in docs/integrations.md."""
        return f"{RUNBOOK_URL}#gate-{self.slug}"


@dataclass(frozen=True)
class GateSet:
    """The exported gates (registry order), the seconds between evaluations, the no-data
    timeout (seconds), the Prometheus address, the source that renders PromQL, and the names of
    the plan's gates that no PromQL reads (the projection, DNS probes), which are not exported."""

    gates: tuple[ExportedGate, ...]
    interval_s: float
    no_data_timeout_s: float
    prometheus_url: str
    signals: PrometheusSignals
    not_exported: tuple[str, ...] = ()

    @property
    def cluster_label(self) -> str:
        return self.signals.config.cluster_label

    @property
    def reads_apiserver(self) -> bool:
        """Some gate fails outright when no apiserver replica is up (registry ``reads_apiserver``)."""
        return any(g.gate.reads_apiserver for g in self.gates)

    def figure(self, gate: ExportedGate | None, cluster: str | None, *, by_cluster: bool = False) -> str:
        """The PromQL of ``gate``'s figure (None: the apiserver replicas up), narrowed to
        ``cluster`` (a value or a template such as ``{{args.cluster}}``; None: every cluster);
        ``by_cluster`` keeps one sample per cluster (alerts, dashboards)."""
        reading = APISERVER_UP if gate is None else gate.gate.reading
        assert reading is not None, "gate_set keeps gates with a reading only"
        matchers = {} if cluster is None else {self.cluster_label: cluster}
        inner = self.signals.promql(reading, matchers)
        by = f" by ({self.cluster_label})" if by_cluster else ""
        return f"max{by} ((({inner}) >= 0) < +Inf)"

    @property
    def interval(self) -> str:
        """The evaluation interval as a duration string (``30s``)."""
        return promql_duration(self.interval_s)

    @property
    def no_data_evaluations(self) -> int:
        """Evaluations without data waveguard waits through before it halts (≥ 1)."""
        return max(1, math.ceil(self.no_data_timeout_s / self.interval_s))


def gate_set(plan: Plan | None, *, prometheus_url: str | None = None,
             config: PrometheusConfig | None = None, interval_s: float | None = None,
             source: str = "plan") -> GateSet:
    """The gates to export or check. ``plan``: its signal gates with a PromQL reading (the
    projection is checked by ``gate check --change``, not exported), thresholds, interval and
    no-data timeout; None: the registry's default-on control-plane gates at their defaults.
    ``config``: the Prometheus settings (cluster label, selectors, scrape interval) the PromQL
    is rendered with. Raises InputError naming ``source`` (the plan file) when no gate is left."""
    if plan is not None:
        specs = [(GATES[s.kind], s.limit, s.failures_to_halt) for s in plan.gates]
        not_exported = tuple(dict.fromkeys(g.name for g, _, _ in specs if g.reading is None))
        interval = float(plan.gate_interval_s)
        timeout = float(plan.no_data_timeout_s)
    else:
        specs = [(g, g.default_threshold, 1) for g in GATES.values() if g.control_plane and g.default_on]
        not_exported = ()
        interval, timeout = DEFAULT_INTERVAL_S, DEFAULT_NO_DATA_TIMEOUT_S
    if interval_s is not None:
        interval = interval_s
    gates = tuple(dict.fromkeys(ExportedGate(g, float(t), int(n)) for g, t, n in specs if g.reading is not None))
    twice = next((g.name for i, g in enumerate(gates) if any(o.name == g.name for o in gates[:i])), None)
    if twice:  # one metric, template and alert name per gate: Flagger's second template would replace the first
        raise InputError(source, f"names gate {twice} twice with different settings",
                         hint="keep one; the exported objects have one name per gate")
    if not gates:
        raise InputError(source, "names no gate read from Prometheus",
                         hint="add a control-plane gate, e.g. {kind: apiserver_p99_latency}")
    url = prometheus_url or (config.url if config is not None else DEFAULT_PROMETHEUS_URL)
    cfg = config or PrometheusConfig(url=url)
    return GateSet(gates, interval, timeout, url, PrometheusSignals(cfg, interval), not_exported)

