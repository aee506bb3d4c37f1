"""A *change*: the parsed manifests of one rollout, with the file and line of every document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from waveguard.model.defaults import empty_list
from waveguard.model.findings import Severity

#: Workload kinds whose pods waveguard models, with how their replica count is found.
WORKLOAD_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod")
#: Cluster-scoped kinds among those waveguard reads (others default to namespace "default").
CLUSTER_SCOPED_KINDS = frozenset({
    "ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "CustomResourceDefinition", "PriorityClass",
    "FlowSchema", "PriorityLevelConfiguration", "StorageClass", "PersistentVolume",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
})


class Location(BaseModel):
    """Where a document starts: ``file`` path and 1-based ``line``."""

    file: str
    line: int


class Document(BaseModel):
    """One YAML document of the change (after ``kind: List`` expansion)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    body: dict[str, Any]
    location: Location

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``: namespace ``-`` for cluster-scoped kinds, ``default`` when a
        namespaced object names none (kubectl apply puts it there)."""
        if self.kind in CLUSTER_SCOPED_KINDS:
            return f"{self.kind}/-/{self.name}"
        return f"{self.kind}/{self.namespace or 'default'}/{self.name}"


class Container(BaseModel):
    name: str
    image: str = ""
    command: list[str] = Field(default_factory=empty_list)
    args: list[str] = Field(default_factory=empty_list)
    env: dict[str, str] = Field(default_factory=dict)
    #: env vars whose value comes from ``fieldRef`` → the field path (e.g. ``spec.nodeName``).
    env_field_refs: dict[str, str] = Field(default_factory=dict)


class Workload(BaseModel):
    """A pod-running object: kind, replicas (None for DaemonSet: one per node), pod spec parts."""

    doc: Document
    kind: Literal["DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod"]
    replicas: int | None
    service_account: str
    automount_token: bool = True
    containers: list[Container]
    configmap_volumes: list[str] = Field(default_factory=empty_list)
    #: ConfigMaps mounted with ``optional: true``: the pod runs without them.
    optional_configmap_volumes: list[str] = Field(default_factory=empty_list)
    node_selector: dict[str, str] = Field(default_factory=dict)
    #: RollingUpdate maxUnavailable / maxSurge as written ("10%", 1) or None if unset.
    max_unavailable: str | int | None = None
    max_surge: str | int | None = None
    update_strategy: str = "RollingUpdate"

    @property
    def namespace(self) -> str:
        return self.doc.namespace or "default"

    @property
    def ref(self) -> str:
        return self.doc.ref

    @property
    def per_node(self) -> bool:
        """True when the workload runs one pod per node (DaemonSet)."""
        return self.kind == "DaemonSet"

    def all_args(self) -> list[str]:
        return [a for c in self.containers for a in (*c.command, *c.args)]

    def images(self) -> list[str]:
        return [c.image for c in self.containers]

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for c in self.containers:
            merged.update(c.env)
        return merged

    def env_field_refs(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for c in self.containers:
            merged.update(c.env_field_refs)
        return merged


class PolicyRule(BaseModel):
    api_groups: list[str] = Field(default_factory=empty_list)
    resources: list[str] = Field(default_factory=empty_list)
    verbs: list[str] = Field(default_factory=empty_list)
    resource_names: list[str] = Field(default_factory=empty_list)

    def allows(self, verb: str, resource: str) -> bool:
        verb_ok = "*" in self.verbs or verb in self.verbs
        res_ok = "*" in self.resources or resource in self.resources
        return verb_ok and res_ok and not self.resource_names


class Role(BaseModel):
    """A Role (namespaced) or ClusterRole."""

    doc: Document
    cluster_scoped: bool
    rules: list[PolicyRule]


class Binding(BaseModel):
    """A RoleBinding or ClusterRoleBinding: which ServiceAccounts get which role."""

    doc: Document
    cluster_scoped: bool
    role_kind: str
    role_name: str
    service_accounts: list[tuple[str, str]]  # (namespace, name)


class ConfigMap(BaseModel):
    doc: Document
    data: dict[str, str]


class Grant(BaseModel):
    """One RBAC rule as it applies to a ServiceAccount: cluster-wide or in one namespace."""

    rule: PolicyRule
    cluster_wide: bool
    source: str  # the binding's Kind/namespace/name


class Change(BaseModel):
    """Everything parsed from the paths given to ``waveguard analyse``."""

    documents: list[Document] = Field(default_factory=empty_list)
    workloads: list[Workload] = Field(default_factory=empty_list)
    service_accounts: list[Document] = Field(default_factory=empty_list)
    roles: list[Role] = Field(default_factory=empty_list)
    bindings: list[Binding] = Field(default_factory=empty_list)
    configmaps: list[ConfigMap] = Field(default_factory=empty_list)
    #: Notes produced while parsing (old API versions, schema problems, unmodelled kinds),
    #: turned into findings by the analysis: (rule id, severity, document, message, fix).
    parse_notes: list[tuple[str, Severity, Document, str, str]] = Field(default_factory=empty_list)
    _index: "_ChangeIndex | None" = PrivateAttr(default=None)

    def configmap(self, namespace: str, name: str) -> ConfigMap | None:
        """The ConfigMap ``namespace/name`` (the first defined); a ConfigMap rendered without a
        namespace matches by name (charts leave it empty on some objects). One dict lookup."""
        index = self._lookup()
        found = index.configmaps.get((namespace, name))
        return found if found is not None else index.configmaps_unnamespaced.get(name)

    def workload_config(self, workload: Workload) -> dict[str, str]:
        """All ConfigMap files mounted by ``workload`` (optional ones when present): file name → text."""
        files: dict[str, str] = {}
        for name in [*workload.configmap_volumes, *workload.optional_configmap_volumes]:
            cm = self.configmap(workload.namespace, name)
            if cm is not None:
                files.update(cm.data)
        return files

    def grants(self, namespace: str, service_account: str) -> list[Grant]:
        """The RBAC rules that bindings in this change give to ``namespace/service_account``.

        A ClusterRole bound by a RoleBinding applies only in the binding's namespace."""
        result: list[Grant] = []
        index = self._lookup()
        for b in index.bindings_of.get((namespace, service_account), []):
            role = index.role_of(b)
            if role is None:
                continue
            for rule in role.rules:
                result.append(Grant(rule=rule, cluster_wide=b.cluster_scoped, source=b.doc.ref))
        return result

    def _lookup(self) -> "_ChangeIndex":
        """The dict indexes of :meth:`configmap` and :meth:`grants`, built once and rebuilt when
        a list has grown (the lists are only appended to, while loading), so that a lookup costs
        a dict access instead of a scan of the change: analysing n documents stays O(n)."""
        key = (len(self.configmaps), len(self.roles), len(self.bindings))
        if self._index is None or self._index.key != key:
            self._index = _ChangeIndex(self, key)
        return self._index


class _ChangeIndex:
    """ConfigMaps by (namespace, name), roles by scope and name, bindings by the ServiceAccount
    they bind — each entry the first in the change's order, as a scan in that order finds it."""

    def __init__(self, change: Change, key: tuple[int, int, int]) -> None:
        self.key = key
        self.configmaps: dict[tuple[str, str], ConfigMap] = {}
        self.configmaps_unnamespaced: dict[str, ConfigMap] = {}
        for cm in change.configmaps:
            self.configmaps.setdefault((cm.doc.namespace or "default", cm.doc.name), cm)
            if cm.doc.namespace is None:
                self.configmaps_unnamespaced.setdefault(cm.doc.name, cm)
        self.cluster_roles: dict[str, Role] = {}
        self.roles: dict[tuple[str | None, str], Role] = {}
        for r in change.roles:
            if r.cluster_scoped:
                self.cluster_roles.setdefault(r.doc.name, r)
            else:
                self.roles.setdefault((r.doc.namespace, r.doc.name), r)
        self.bindings_of: dict[tuple[str, str], list[Binding]] = {}
        for b in change.bindings:
            # Subjects rendered without a namespace default to the binding's own (or "default").
            subjects = {(ns or b.doc.namespace or "default", name) for ns, name in b.service_accounts}
            for subject in subjects:
                self.bindings_of.setdefault(subject, []).append(b)

    def role_of(self, binding: Binding) -> Role | None:
        """The Role or ClusterRole ``binding`` refers to, when the change holds it."""
        if binding.role_kind == "ClusterRole":
            return self.cluster_roles.get(binding.role_name)
        if binding.role_kind == "Role":
            return self.roles.get((binding.doc.namespace, binding.role_name))
        return None
