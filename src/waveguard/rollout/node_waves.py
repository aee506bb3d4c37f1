"""How a DaemonSet wave reaches a share of a cluster's nodes: the node label, the node affinity
that requires it, and which nodes carry it. The Kubernetes target
(:mod:`waveguard.rollout.k8s_target`) applies them itself; ``waveguard plan --emit-patches``
(:mod:`waveguard.export.patches`) writes them as files a GitOps repository commits.
"""

from __future__ import annotations

import copy
import math

#: The node label a wave's nodes carry (its value: the wave's node share, e.g. ``0.01``).
NODE_LABEL = "waveguard.io/wave"


def with_wave_affinity(daemonset: dict, label: str = NODE_LABEL) -> dict:
    """A copy of ``daemonset`` that runs only on nodes carrying ``label``: the requirement
    ``label Exists`` is added to each required node-selector term (terms are ORed, expressions
    ANDed), or becomes the only term."""
    ds = copy.deepcopy(daemonset)
    pod = ds.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    required = (pod.setdefault("affinity", {}).setdefault("nodeAffinity", {})
                .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {}))
    terms = required.setdefault("nodeSelectorTerms", [])
    expr = {"key": label, "operator": "Exists"}
    if not terms:
        terms.append({"matchExpressions": [expr]})
    for term in terms:
        exprs = term.setdefault("matchExpressions", [])
        if expr not in exprs:
            exprs.append(expr)
    return ds


def nodes_for_share(names: list[str], share: float) -> list[str]:
    """The nodes a wave at node ``share`` (0 < share ≤ 1) labels: the first ⌈share × nodes⌉ by
    name, at least one (a larger share's set holds a smaller one's: waves only add nodes)."""
    ordered = sorted(names)
    if not ordered:
        return []
    k = min(len(ordered), max(1, math.ceil(share * len(ordered) - 1e-9)))
    return ordered[:k]


def label_value(share: float) -> str:
    """The label's value for a wave at ``share`` (``0.01``)."""
    return f"{share:g}"
