"""The sentence an agent's findings quote (analysis/overload.py): the worst cluster is the one
closest to overload by any figure that overloads a cluster — seats, apiserver memory, etcd
member memory, etcd throughput — and its quoted reason is the one naming that figure."""

from __future__ import annotations

from waveguard.analysis.overload import overload_summary
from waveguard.model.cost import ClusterLoad, project, verdict_for
from waveguard.model.fleet import Cluster
from waveguard.model.requests import RequestProfile, informer

PROFILE = RequestProfile(client="DaemonSet/x/agent", agent="t", per_node=True, namespace="x", service_account="a",
                         classes=informer("pods", "cluster", component="t"))


def load(name: str, *, level: float = 0.0, memory: float = 0.0, etcd_memory: float = 0.0) -> ClusterLoad:
    """A projected load with the given figures and the verdict and reasons model.cost gives them."""
    base = project(PROFILE, Cluster(name=name, nodes=100))
    verdict, reasons = verdict_for(base.priority_level, level, 0.0, memory, 10.0, 0.0, etcd_memory=etcd_memory)
    return base.model_copy(update={"level_utilisation": level, "memory_share": memory,
                                   "etcd_memory_fraction": etcd_memory, "verdict": verdict, "reasons": reasons})


def test_the_cluster_whose_etcd_runs_out_of_memory_first_is_the_worst():
    seats = load("seats-bound", level=1.2, memory=0.9)
    etcd = load("etcd-bound", level=0.3, memory=0.6, etcd_memory=3.0)
    severity, sentence = overload_summary([seats, etcd])
    assert severity == "error" and "on etcd-bound" in sentence
    assert "300% of an etcd member's memory" in sentence


def test_the_quoted_reason_names_the_largest_figure_even_when_it_is_not_listed_first():
    # verdict_for lists the etcd memory reason first; the apiserver memory figure is larger here
    both = load("both", memory=2.5, etcd_memory=1.5)
    _, sentence = overload_summary([both])
    assert "250% of an apiserver's memory limit" in sentence


def test_a_warning_names_the_worst_cluster_by_etcd_memory_too():
    mild, etcd = load("mild", level=0.6), load("etcd-warned", etcd_memory=0.8)
    severity, sentence = overload_summary([mild, etcd])
    assert severity == "warning" and "worst etcd-warned: needs 80% of an etcd member's memory" in sentence
