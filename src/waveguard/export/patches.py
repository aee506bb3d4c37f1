"""``waveguard plan --emit-patches DIR``: a plan's waves as files a GitOps repository commits, so
Argo CD or Flux applies them and waveguard only gates (``waveguard gate check``).

What waveguard's Kubernetes target does to a cluster in a DaemonSet wave below a node share of 1
(:mod:`waveguard.rollout.k8s_target`, :mod:`waveguard.rollout.node_waves`) — the node affinity
``waveguard.io/wave Exists`` on the DaemonSet and the label on the first ⌈share × nodes⌉ nodes
by name — becomes, per wave and cluster::

    DIR/waves.yaml                                   the index: waves, shares, clusters, files
    DIR/NN-<wave>/<cluster>/daemonset.<ns>.<name>.yaml   strategic-merge patch: the affinity
    DIR/NN-<wave>/<cluster>/nodes.yaml               one Node patch per labelled node

A cluster's folder is its whole waveguard state after that wave (commit it in place of the
previous wave's). At a node share of 1 the change applies as written: the cluster has no files
(the index says so) — drop the patches; a leftover label selects nothing once the affinity is
gone. Node patches carry ``argocd.argoproj.io/sync-options: Prune=false,Delete=false,
ServerSideApply=true`` and ``kustomize.toolkit.fluxcd.io/prune: disabled``: removing the file
from Git must never delete a Node.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from waveguard.model.errors import InputError
from waveguard.model.fleet import Fleet
from waveguard.model.manifests import Change, Document
from waveguard.rollout.node_waves import NODE_LABEL, label_value, nodes_for_share, with_wave_affinity
from waveguard.rollout.plan import Plan

#: The format version of ``waves.yaml``.
API_VERSION = "waveguard.io/v1alpha1"
#: Annotations that keep GitOps tools from deleting a Node whose patch leaves the repository
#: (Argo CD sync options; Flux kustomize-controller's per-object prune switch).
NODE_ANNOTATIONS = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false,ServerSideApply=true",
                    "kustomize.toolkit.fluxcd.io/prune": "disabled"}
#: A Node's name: a DNS-1123 subdomain of at most 253 characters (k8s: pkg/apis/core/validation
#: ValidateNodeName → apimachinery's IsDNS1123Subdomain).
DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def folder_name(wave: str) -> str:
    """A wave's name as a portable folder name: ``production-1%`` → ``production-1pct``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", wave.replace("%", "pct")).strip("-") or "wave"


def affinity_patch(doc: Document) -> dict[str, Any]:
    """The strategic-merge patch that gives DaemonSet ``doc`` waveguard's wave affinity: its
    ``requiredDuringSchedulingIgnoredDuringExecution`` as :func:`with_wave_affinity` makes it
    (``nodeSelectorTerms`` has no merge key: a patch replaces the list whole)."""
    pod = with_wave_affinity(doc.body)["spec"]["template"]["spec"]
    required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    meta: dict[str, Any] = {"name": doc.name}
    if doc.namespace:
        meta["namespace"] = doc.namespace
    return {"apiVersion": doc.api_version, "kind": "DaemonSet", "metadata": meta,
            "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": required}}}}}}


def node_patch(name: str, share: float) -> dict[str, Any]:
    """The Node patch labelling node ``name`` for a wave at ``share``."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {NODE_LABEL: label_value(share)},
                         "annotations": dict(NODE_ANNOTATIONS)}}


def emit(plan: Plan, fleet: Fleet, change: Change, nodes: dict[str, list[str]] | None,
         *, nodes_source: str = "--nodes") -> dict[str, str]:
    """Relative path → text of every file (``waves.yaml`` first). ``nodes``: cluster → node
    names, needed for each cluster a wave takes to a share below 1 when the change has a
    DaemonSet. Raises InputError (naming ``nodes_source``) for a cluster it lacks."""
    daemonsets = [d for d in change.documents if d.kind == "DaemonSet"]
    files: dict[str, str] = {}
    index: list[dict[str, Any]] = []
    for i, wave in enumerate(plan.waves, start=1):
        folder = f"{i:02d}-{folder_name(wave.name)}"
        clusters = []
        for cluster in plan.clusters_of(wave, fleet):
            written = _cluster_files(f"{folder}/{cluster.name}", cluster.name, wave.node_share, daemonsets,
                                     nodes, nodes_source)
            files.update(written)
            clusters.append({"name": cluster.name, "files": sorted(written),
                             "gate": f"waveguard gate check --cluster {cluster.name}"})
        index.append({"name": wave.name, "folder": folder, "node_share": wave.node_share, "bake_s": wave.bake_s,
                      "clusters": clusters})
    head = {"apiVersion": API_VERSION, "kind": "WavePatches", "change": plan.change, "node_label": NODE_LABEL,
            "waves": index}
    return {"waves.yaml": yaml.safe_dump(head, sort_keys=False), **files}


def _cluster_files(folder: str, cluster: str, share: float, daemonsets: list[Document],
                   nodes: dict[str, list[str]] | None, nodes_source: str) -> dict[str, str]:
    """The files of one cluster in one wave (none at share 1 or without a DaemonSet)."""
    if share >= 1.0 or not daemonsets:
        return {}
    if nodes is None or cluster not in nodes:
        raise InputError(nodes_source, f"names no nodes of cluster {cluster!r}, which a wave takes to "
                         f"{share:.0%} of its nodes", hint=f"add '{cluster}: [node names]' "
                         "(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')")
    out = {}
    for ds in daemonsets:
        out[f"{folder}/daemonset.{ds.namespace or 'default'}.{ds.name}.yaml"] = yaml.safe_dump(
            affinity_patch(ds), sort_keys=False)
    labelled = [node_patch(n, share) for n in nodes_for_share(nodes[cluster], share)]
    out[f"{folder}/nodes.yaml"] = yaml.safe_dump_all(labelled, sort_keys=False)
    return out


def load_nodes(data: Any, source: str) -> dict[str, list[str]]:
    """``--nodes``: a mapping cluster → list of node names (unique, non-empty strings). Raises
    InputError naming ``source`` and the cluster."""
    if not isinstance(data, dict):
        raise InputError(source, "is not a mapping of cluster → node names", hint="e.g. 'prod-1: [node-a, node-b]'")
    out: dict[str, list[str]] = {}
    for cluster, names in data.items():
        if not (isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)):
            raise InputError(source, f"cluster {cluster!r}: give a non-empty list of node names")
        if len(set(names)) != len(names):
            raise InputError(source, f"cluster {cluster!r}: a node is named twice")
        bad = next((n for n in names if len(n) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN, n)), None)
        if bad is not None:  # kubectl would refuse the node patches written for it
            raise InputError(source, f"cluster {cluster!r}: {bad[:60]!r} is not a node name (a DNS-1123 subdomain: "
                             "lower-case letters, digits, '-' and '.', at most 253 characters)",
                             hint="give the names kubectl get nodes prints")
        out[str(cluster)] = list(names)
    return out


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path → text) as folder ``root``, whole or not at all: into a
    temporary sibling folder, renamed to ``root`` at the end. ``root`` must not exist, or be
    an empty folder (stale files of an older plan must not mix in). Raises InputError."""
    import shutil
    import uuid

    from waveguard.model.yamlio import write_text_atomically

    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise InputError(str(root), "exists and is not an empty folder", hint="give a new or empty folder")
    if not root.parent.is_dir():
        raise InputError(str(root), "its parent folder does not exist", hint="create it first")
    staging = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomically(path, text)
        if root.exists():
            root.rmdir()
        staging.rename(root)
    except OSError as exc:
        raise InputError(str(root), f"cannot be written ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
