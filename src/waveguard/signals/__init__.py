"""Signals from real clusters: audit logs, /metrics text, DNS probes.

Depends only on :mod:`waveguard.model`. Public entry points:

* :func:`waveguard.signals.audit.measure_audit_logs` — kube-apiserver audit logs (JSON lines,
  audit.k8s.io v1/v1beta1, gzip/zstd) → :class:`~waveguard.signals.audit.Measurement` with one
  :class:`~waveguard.model.requests.RequestProfile` per client (``waveguard measure``);
* :func:`waveguard.signals.exposition.parse_exposition` — Prometheus text exposition (several
  scrapes, old CoreDNS names) → :class:`~waveguard.signals.exposition.Exposition` with sample
  and histogram-quantile look-ups;
* :func:`waveguard.signals.dns.probe_authoritative` / :func:`~waveguard.signals.dns.query_resolver`
  — a DNS probe no cache can answer, and the same question asked the way clients ask it.

Probes and gates report a :class:`~waveguard.signals.result.SignalResult`
(``pass`` / ``fail`` / ``no-data`` with the figure and the threshold); ``no-data`` never counts as
``pass``.
"""

from waveguard.signals.result import SignalResult, Status

__all__ = ["SignalResult", "Status"]
