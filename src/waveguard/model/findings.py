"""Findings: what analyse (and later plan checks) report, with stable rule ids.

Rule ids are stable API: CI pipelines filter and suppress by them. See README.md for the list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Generic, Literal, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from waveguard.model.manifests import Document

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

#: Rule id → short name (SARIF ``rules[].name``) and one-line description.
RULES: dict[str, tuple[str, str]] = {
    "WG101": ("per-node-cluster-wide-watch", "A per-node workload LISTs/WATCHes a resource that grows with the "
              "cluster, cluster-wide: API load grows as nodes²"),
    "WG102": ("list-bypasses-watch-cache", "A LIST that is served from etcd instead of the watch cache"),
    "WG103": ("per-event-get", "GETs to kube-apiserver for every new pod or event"),
    "WG104": ("daemonset-leader-election", "Every replica of a DaemonSet takes part in leader election"),
    "WG105": ("shared-priority-level", "The ServiceAccount lands in a priority level shared with controllers"),
    "WG106": ("mass-update-strategy", "The update strategy restarts a large share of API-talking agents at once"),
    "WG107": ("unknown-agent-rbac-bound", "Unknown agent: API load is an upper bound derived from RBAC"),
    "WG108": ("old-api-version", "Old API version, analysed as its apps/v1 equivalent"),
    "WG109": ("schema-violation", "The manifest fails the Kubernetes schema"),
    "WG110": ("unmodelled-custom-resource", "A custom resource that may run pods is not modelled"),
    "WG111": ("single-replica-cluster-wide-watch", "A fixed-replica workload watches a growing resource "
              "cluster-wide: API load grows with nodes"),
    "WG112": ("logs-through-apiserver", "Pod logs are streamed through kube-apiserver"),
    "WG113": ("cluster-wide-request-from-node-agent", "A node-filtered agent still sends some requests "
              "cluster-wide"),
    "WG114": ("exempt-access", "The change gives its own ServiceAccount exempt API access (a FlowSchema to the "
              "exempt level, or impersonation of system:masters): its requests bypass API Priority and Fairness"),
    "WG115": ("configuration-missing", "The workload mounts a ConfigMap that is not in the change"),
    "WG120": ("duplicate-workload", "The same workload (kind/namespace/name) is defined twice in the input"),
    "WG121": ("not-a-kubernetes-object", "A file of the input holds no Kubernetes object (a bare agent "
              "configuration beside the manifests): skipped"),
    "WG201": ("bake-shorter-than-dns-ttl", "A wave bakes less than the longest DNS cache TTL plus two gate "
              "evaluations"),
    "WG202": ("first-wave-small-clusters-only", "The first production wave leaves out the largest clusters"),
    "WG203": ("no-control-plane-gate", "No gate reads the control plane"),
    "WG204": ("no-break-glass-isolation", "Clusters the plan reaches have no break-glass API Priority and Fairness "
              "isolation: if the change saturates their apiservers, its rollback may not get through"),
    "WG205": ("production-before-staging", "A wave reaches production before the plan's staging clusters have "
              "baked the change"),
    "WG206": ("whole-production-in-one-wave", "The first production wave reaches every production node at once: "
              "no later wave is left for a gate to protect"),
    "WG130": ("metadata-buffer-too-small", "A metadata lookup's response buffer is smaller than a pod's JSON: the "
              "lookup fails, is not cached and repeats for every chunk of records the pod logs"),
    "WG131": ("dns-server-needs-api", "CoreDNS's kubernetes plugin: a CoreDNS pod (re)started while kube-apiserver "
              "is unreachable cannot become ready, so rolling it then takes cluster DNS down"),
    "WG132": ("dns-cache-without-serve-stale", "A node-local DNS cache without serve_stale: its clients lose cluster "
              "names as soon as their cached answers expire when CoreDNS stops answering"),
    "WG133": ("dns-cache-hides-outage", "How long a DNS cache keeps answering after the server behind it stops: a "
              "check that resolves through it reads healthy that long"),
}


class Finding(BaseModel):
    """One finding: ``workload`` is ``Kind/namespace/name``; ``line`` 1-based."""

    rule: str
    severity: Severity
    workload: str
    file: str
    line: int
    message: str
    fix: str

    @classmethod
    def at(cls, rule: str, severity: Severity, doc: "Document", message: str, fix: str) -> "Finding":
        """A finding on the workload (or object) ``doc``, at its file and line."""
        return cls(rule=rule, severity=severity, workload=doc.ref, file=doc.location.file, line=doc.location.line,
                   message=message, fix=fix)


RuleFunction = TypeVar("RuleFunction", bound=Callable[..., object])


class RuleRegistry(Generic[RuleFunction]):
    """Rule id → the one function that emits that rule's findings, kept in registration order
    (a decorator registry in the style of kopf's ``on.*``)::

        AGENT_RULES: RuleRegistry[AgentRule] = RuleRegistry("analysis")

        @AGENT_RULES.rule("WG104")
        def daemonset_leader_election(view: AgentView) -> Finding | None: ...

    Callers run :meth:`functions` in order, so the order of the decorated definitions is the
    order of the findings. Raises ValueError when a rule id is not in :data:`RULES` (every id is
    documented there) or is registered twice.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: dict[str, RuleFunction] = {}

    def rule(self, rule_id: str) -> Callable[[RuleFunction], RuleFunction]:
        """Decorator: register the decorated function as the one emitter of ``rule_id``."""
        if rule_id not in RULES:
            raise ValueError(f"{self.name}: unknown rule id {rule_id}; describe it in model.findings.RULES first")
        if rule_id in self._functions:
            raise ValueError(f"{self.name}: rule {rule_id} is registered twice")

        def register(function: RuleFunction) -> RuleFunction:
            self._functions[rule_id] = function
            return function

        return register

    def rule_ids(self) -> list[str]:
        """The registered rule ids, in registration order."""
        return list(self._functions)

    def functions(self) -> list[tuple[str, RuleFunction]]:
        """(rule id, function) pairs in registration order."""
        return list(self._functions.items())
