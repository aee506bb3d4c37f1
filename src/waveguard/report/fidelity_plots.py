"""The series behind each fidelity figure, drawn so the figure the case tests can be read off.

``PANELS`` maps a check's name (:data:`waveguard.fidelity.cases.CHECKS`) to a function drawing,
on one axes, what its ``measure`` reads — e.g. antrea's memory rise on an axis zoomed to the
rise, not to the 9 GiB limit; calico's LIST counts, not its 429s. Each is
``(ax, runs: dict[str, Run]) -> None``; a check without one gets the comparison strip alone
(:func:`waveguard.report.fidelity.comparison_strip`). Apiserver figures are gaps where no
replica is up, in grey bands.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from waveguard.fidelity import cases as FC
from waveguard.fidelity import runs as FR
from waveguard.fidelity.runs import Run
from waveguard.model import constants as C
from waveguard.report import charts
from waveguard.sim.result import DNS_FAILING_RATIO, ClusterSummary

Panel = Callable[..., None]
PANELS: dict[str, Panel] = {}


def panel(*names: str) -> Callable[[Panel], Panel]:
    def register(fn: Panel) -> Panel:
        for name in names:
            PANELS[name] = fn
        return fn
    return register


def _up(r: Run) -> np.ndarray:
    return r.result.series("up", r.cluster, job="apiserver")


def _memory_gb(r: Run) -> np.ndarray:
    """Resident memory of the fullest replica in GB (10⁹ bytes, the unit antrea's figure is in), gaps when down."""
    return charts.gap_where_down(r.result.series("process_resident_memory_bytes", r.cluster) / FC.GB, _up(r))


@panel("antrea-1044")
def antrea_rise(ax, runs: dict[str, Run]) -> None:
    """The agents' run: memory on an axis zoomed to the rise, the peak before the restart, the peak after."""
    r = runs["antrea-1044"]
    minutes, mem = r.result.times / 60.0, _memory_gb(r)
    before = float(np.nanmax(mem[: r.result.at(FC.ANTREA_RESTART_S)]))
    peak = float(np.nanmax(mem))
    ax.plot(minutes, mem, linewidth=1.6, label="fullest apiserver replica")
    charts.threshold(ax, before, f"peak before the restart: {before:.2f} GB", colour="#546e7a", style=":")
    charts.threshold(ax, before + 1.0, "before + the published rise (> 1 GB)", colour="#000000", style="--")
    ax.annotate("", (minutes[int(np.nanargmax(mem))], peak), (minutes[int(np.nanargmax(mem))], before),
                arrowprops={"arrowstyle": "<->", "color": "#c62828", "lw": 1.5})
    ax.annotate(f" simulated rise {peak - before:.2f} GB", (minutes[int(np.nanargmax(mem))], (peak + before) / 2),
                color="#c62828", fontweight="bold", va="center")
    charts.mark_times(ax, [(FC.ANTREA_RESTART_S / 60.0, "agents restart")])
    ax.set_ylim(before - 0.3, max(peak, before + 1.0) + 0.3)
    limit = r.result.series("waveguard_sim_apiserver_memory_limit_bytes", r.cluster)[0] / FC.GB
    charts.finish(ax, "resident memory (GB)", legend="outside")
    ax.set_title(f"antrea-1044 (the limit, {limit:.1f} GB, is far above this zoomed axis)", loc="left", fontsize=10)


@panel("antrea-1044-kubelet")
def kubelet_rise(ax, runs: dict[str, Run]) -> None:
    """Both runs' memory above their own peak before the restart (GB)."""
    for name, label in (("antrea-1044", "agents (no resourceVersion: etcd)"),
                        ("antrea-1044-kubelet", 'kubelets (resourceVersion="0": watch cache)')):
        r = runs[name]
        mem = _memory_gb(r)
        before = float(np.nanmax(mem[: r.result.at(FC.ANTREA_RESTART_S)]))
        ax.plot(r.result.times / 60.0, mem - before, linewidth=1.6,
                label=f"{label}: rise {FR.memory_rise_bytes(r, FC.ANTREA_RESTART_S) / FC.GB:.3f} GB")
    charts.mark_times(ax, [(FC.ANTREA_RESTART_S / 60.0, "restart")])
    charts.finish(ax, "memory above the peak before (GB)", legend="outside")


@panel("calico-1200", "calico-1200-backoff")
def calico_lists(ax, runs: dict[str, Run]) -> None:
    """The pod LISTs each calico run sent in its 30 minutes (the audit-log count), against the published ~6,700."""
    check = next(c for c in FC.CHECKS if c.name == "calico-1200")
    names = [n for n in ("calico-1200", "calico-1200-backoff") if n in runs]
    counts = [FR.lists_sent(runs[n]) for n in names]
    bars = ax.barh(names, counts, color=["#1565c0", "#2e7d32"][: len(names)], height=0.5, zorder=3)
    low, high = check.bounds
    ax.axvspan(low or 0.0, high or max(counts) * 1.2, color="#a5d6a7", alpha=0.35, label=f"bounds {check.bounds_text}")
    if check.published is not None:
        ax.axvline(check.published, color="#000000", linestyle="--", linewidth=1.5,
                   label=f"published {check.published_text}")
    for bar, n in zip(bars, counts, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n:,.0f} LISTs", va="center",
                fontweight="bold")
    ax.set_xlim(0, max(counts + [high or 0.0]) * 1.15)
    ax.invert_yaxis()
    ax.set_xlabel("pod LISTs reaching an apiserver in 30 minutes")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0))


@panel("calico-1200-backoff-recovery")
def calico_recovery(ax, runs: dict[str, Run]) -> None:
    """Saturated (the one definition) over the back-off run, and the last 10 minutes the check reads."""
    r = runs["calico-1200-backoff"]
    minutes = r.result.times / 60.0
    ax.fill_between(minutes, r.result.saturated(r.cluster).astype(float), step="post", color="#d84315", alpha=0.6,
                    label="saturated", linewidth=0)
    ax.step(minutes, _up(r), where="post", color="#1565c0", label="apiserver replicas up")
    ax.set_ylim(0, _up(r).max(initial=1.0) + 0.5)
    ax.axvspan(minutes[-1] - 10.0, minutes[-1], color="#fff59d", alpha=0.5, label="the last 10 minutes (measured)")
    charts.finish(ax, "replicas / saturated (1 = yes)", legend="outside")


def _memory_vs_limit(ax, r: Run, label: str) -> None:
    mem = charts.gap_where_down(r.result.series("process_resident_memory_bytes", r.cluster) / 2**30, _up(r))
    ax.plot(r.result.times / 60.0, mem, linewidth=1.4, label=f"{label}: fullest replica")
    limit = r.result.series("waveguard_sim_apiserver_memory_limit_bytes", r.cluster)[0] / 2**30
    charts.threshold(ax, limit, f"memory limit {limit:.0f} GiB (OOM kill above)")
    charts.shade_down(ax, r.result.times, _up(r), r.result.step_s)
    ax.set_title(f"{r.scenario.name}: {FR.oom_kills(r)} OOM kills", loc="left", fontsize=10)
    charts.finish(ax, "resident memory (GiB)", legend="outside")


@panel("kindling-459")
def kindling_oom(ax, runs: dict[str, Run]) -> None:
    _memory_vs_limit(ax, runs["kindling-459"], "all agents replaced at once")


@panel("kindling-459-max-unavailable-1")
def kindling_one_at_a_time(ax, runs: dict[str, Run]) -> None:
    _memory_vs_limit(ax, runs["kindling-459-max-unavailable-1"], "one agent at a time")


@panel("kindling-459-unavailable")
def kindling_unavailable(ax, runs: dict[str, Run]) -> None:
    r = runs["kindling-459"]
    ax.step(r.result.times / 60.0, _up(r), where="post", linewidth=1.6, label="apiserver replicas up")
    bands = charts.shade_down(ax, r.result.times, _up(r), r.result.step_s)
    ax.set_ylim(0, _up(r).max(initial=1.0) + 0.5)
    ax.set_title(f"no apiserver up for {FR.minutes_unavailable(r):.1f} min in {bands} spans (published: 5–10 min)",
                 loc="left", fontsize=10)
    charts.finish(ax, "replicas up", legend="outside")


@panel("incident-staging")
def incident_staging(ax, runs: dict[str, Run]) -> None:
    r = runs[FR.INCIDENT]
    up = r.result.series("up", "staging", job="apiserver")
    p99 = r.result.series("apiserver_request_duration_seconds", "staging", scope="resource", quantile="0.99")
    ax.plot(r.result.times / 60.0, charts.gap_where_down(p99, up), linewidth=1.2, label="staging: p99 single-object")
    ax.fill_between(r.result.times / 60.0, r.result.saturated("staging") * C.SLO_SINGLE_OBJECT_S * 1.2, step="post",
                    color="#d84315", alpha=0.5, linewidth=0, label="saturated")
    charts.threshold(ax, C.SLO_SINGLE_OBJECT_S, f"SLO {C.SLO_SINGLE_OBJECT_S:g} s")
    charts.shade_down(ax, r.result.times, up, r.result.step_s)
    charts.finish(ax, "p99 latency (s)", legend="outside")


def _largest(runs: dict[str, Run]) -> tuple[Run, str, ClusterSummary]:
    r = runs[FR.INCIDENT]
    cluster = FR.largest_cluster(r)
    return r, cluster, FR.row_of(r, cluster)


@panel("incident-first-impact", "incident-dns")
def incident_largest(ax, runs: dict[str, Run]) -> None:
    """The largest cluster: the change's share, saturated (the one definition), DNS failures, with the moments marked."""
    r, cluster, row = _largest(runs)
    minutes = r.result.times / 60.0
    ax.plot(minutes, r.result.series("waveguard_sim_rollout_share", cluster) * 100, label="nodes running the change")
    ax.plot(minutes, r.result.series("waveguard_sim_dns_client_failure_ratio", cluster) * 100,
            label="lookups failing")
    ax.fill_between(minutes, r.result.saturated(cluster) * 100.0, step="post", color="#d84315", alpha=0.18,
                    linewidth=0, label="saturated")
    charts.threshold(ax, DNS_FAILING_RATIO * 100, f"DNS failing: {DNS_FAILING_RATIO:.0%} of lookups")
    marks = [(t / 60.0, f"{what} {t / 60.0:.1f} min") for t, what in
             ((row.change_at_s, "change reaches it"), (row.saturated_at_s, "saturated"),
              (row.dns_failing_at_s, "DNS failing")) if t is not None]
    charts.mark_moments(ax, marks)
    ax.set_title(f"{cluster} ({r.result.nodes[cluster]:,} nodes)", loc="left", fontsize=10)
    charts.finish(ax, "% of nodes / of lookups", legend="outside")


@panel("incident-large-clusters")
def incident_large(ax, runs: dict[str, Run]) -> None:
    """Each cluster of ≥ 3,000 nodes: its peak error ratio and OOM kills (fell over: both)."""
    large = [s for s in runs[FR.INCIDENT].result.summary() if s.nodes >= 3000]
    fell = [s.oom_kills > 0 and s.peak_error_rate >= 0.3 for s in large]
    bars = ax.bar([s.name for s in large], [s.peak_error_rate * 100 for s in large],
                  color=["#c62828" if f else "#78909c" for f in fell])
    for bar, s in zip(bars, large, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{s.oom_kills} OOM", ha="center", va="bottom",
                fontsize=8.5)
    charts.threshold(ax, 30.0, "fell over: ≥ 30 % errors and an OOM kill")
    ax.tick_params(axis="x", rotation=30)
    charts.finish(ax, "peak workload error (%)", xlabel="cluster (red: fell over)", legend="outside")
