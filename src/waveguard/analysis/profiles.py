"""From a Change to request profiles: one per workload that talks to kube-apiserver."""

from __future__ import annotations

from dataclasses import dataclass

from waveguard.analysis.recognisers import AgentContext, Recognised, podspec, recognise
from waveguard.model.manifests import Change, Workload
from waveguard.model.requests import RequestProfile


@dataclass
class Agent:
    """A workload, what recognised it, and its request profile."""

    workload: Workload
    recognised: Recognised
    profile: RequestProfile


def update_share(workload: Workload) -> float:
    """Share of replicas a rolling update restarts at once (maxUnavailable as a percentage;
    an absolute number is left to the rules, which know the node count — ``rules._update_burst``:
    0 here)."""
    if workload.update_strategy == "OnDelete":
        return 0.0
    value = workload.max_unavailable
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            return 0.0
    return 0.0


def recognise_agents(change: Change) -> list[Agent]:
    """Every workload of ``change`` that sends requests, with its profile."""
    agents: list[Agent] = []
    for w in change.workloads:
        ctx = AgentContext(change=change, workload=w, config=change.workload_config(w),
                           grants=change.grants(w.namespace, w.service_account))
        recognised = recognise(ctx)
        if recognised is None or not recognised.classes and not recognised.remarks:
            continue
        profile = RequestProfile(
            client=w.ref, agent=recognised.agent, per_node=w.per_node, replicas=w.replicas or 1,
            namespace=w.namespace, service_account=w.service_account,
            classes=podspec.with_watch_list_env(ctx, recognised.classes),  # issue 12: KUBE_FEATURE_WatchListClient
            update_share=update_share(w), upper_bound=recognised.upper_bound,
        )
        agents.append(Agent(workload=w, recognised=recognised, profile=profile))
    return agents


def build_profiles(change: Change, *, silent: bool = False) -> list[RequestProfile]:
    """The request profiles of every API-talking workload of ``change`` (for the simulator and
    the projection gate). ``silent``: also every other workload, as a profile without request
    classes — what the projection gate reads as a known cost of zero (node-exporter), not
    missing data; an empty list then means nothing is known (no workload the analysis could
    read, e.g. only a sidecar-mode collector: WG110), and the gate has no data."""
    agents = {a.workload.ref: a.profile for a in recognise_agents(change)}
    if not silent:
        return list(agents.values())
    return list(agents.values()) + [
        RequestProfile(client=w.ref, agent="sends no requests", per_node=w.per_node, replicas=w.replicas or 1,
                       namespace=w.namespace, service_account=w.service_account)
        for w in change.workloads if w.ref not in agents]
