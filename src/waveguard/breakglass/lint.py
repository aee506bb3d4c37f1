"""Lint a change for exempt API access (rule WG114), for :func:`waveguard.analysis.analyse`.

A request in the ``exempt`` priority level bypasses API Priority and Fairness entirely: no seat
limit, no queue, no 429. Kubernetes reserves it for ``system:masters`` and health probes
(k8s bootstrap/default.go: FlowSchemas ``exempt`` at 1 and ``probes`` at 2). A change gives its
own ServiceAccount that access when:

* a FlowSchema of the change routes the ServiceAccount (by name, namespace, a group it belongs
  to such as ``system:serviceaccounts``, or ``*``) to ``exempt`` or to a level of type Exempt
  the change defines — error;
* its RBAC lets the ServiceAccount **impersonate** the group ``system:masters`` (an
  ``impersonate`` rule on ``groups`` without resourceNames, or naming ``system:masters``):
  APF classifies the impersonated identity (the impersonation filter runs before APF in the
  apiserver's handler chain), so it lands in ``exempt`` — error;
* its RBAC lets the ServiceAccount write FlowSchemas or PriorityLevelConfigurations by name
  (it can route itself to ``exempt`` at run time) — warning.

Binding a ServiceAccount to ``cluster-admin`` is NOT exempt access (its requests are still
classified by its own identity: service-accounts → workload-low), and wildcard rules are not
read as impersonation or FlowSchema grants here: that is RBAC hygiene, not this rule.
ServiceAccounts in kube-system are WG105 (emitted by the analysis).
"""

from __future__ import annotations

from typing import Callable

from waveguard.breakglass.apf_objects import flow_schemas_from_manifest
from waveguard.model.apf import Subject
from waveguard.model.errors import InputError
from waveguard.model.findings import Finding, RuleRegistry
from waveguard.model.manifests import Change, PolicyRule

RULE = "WG114"
_FIX_FLOWSCHEMA = ("delete this FlowSchema (or route it to a limited level) and keep exempt for system:masters; "
                   "`waveguard breakglass generate CHANGE` gives the agent a capped level and the break-glass group "
                   "guaranteed seats instead")
_FIX_IMPERSONATE = ("drop the impersonate rule on groups (or restrict its resourceNames to groups other than "
                    "system:masters); an agent never needs to act as system:masters")
_FIX_WRITE_APF = ("drop write access to FlowSchemas/PriorityLevelConfigurations; apply API Priority and Fairness "
                  "objects out of band (`waveguard breakglass generate CHANGE | kubectl apply -f -`)")


def change_service_accounts(change: Change) -> list[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount the change defines or its workloads run as."""
    found = {(d.namespace or "default", d.name) for d in change.service_accounts}
    found |= {(w.namespace, w.service_account) for w in change.workloads}
    return sorted(found)


#: A change lint: one function per rule id, returning that rule's findings over the whole change.
ChangeLint = Callable[[Change], list[Finding]]

#: The break-glass lints, run in registration order. Add one: describe its id in
#: ``model.findings.RULES``, then define ``@CHANGE_LINTS.rule("WG1xx") def name(change) -> list[Finding]``.
CHANGE_LINTS: RuleRegistry[ChangeLint] = RuleRegistry("breakglass lint")


def lint_change(change: Change) -> list[Finding]:
    """The findings of every registered lint for ``change`` (see the module docstring): one per
    (workload, message), in document order (file, line)."""
    findings = [f for _, lint in CHANGE_LINTS.functions() for f in lint(change)]
    seen: set[tuple[str, str]] = set()
    unique = []
    for f in findings:
        if (f.workload, f.message) not in seen:
            seen.add((f.workload, f.message))
            unique.append(f)
    return sorted(unique, key=lambda f: (f.file, f.line))


@CHANGE_LINTS.rule(RULE)
def exempt_access(change: Change) -> list[Finding]:
    """WG114: FlowSchemas of the change that route its ServiceAccounts to an exempt level, then
    RBAC grants that let them impersonate system:masters (error) or write APF objects (warning)."""
    sas = change_service_accounts(change)
    return _exempt_flow_schemas(change, sas) + _exempt_grants(change, sas)


def _exempt_grants(change: Change, sas: list[tuple[str, str]]) -> list[Finding]:
    findings: list[Finding] = []
    for ns, name in sas:
        for grant in change.grants(ns, name):
            binding = next((b.doc for b in change.bindings if b.doc.ref == grant.source), None)
            if binding is None:
                continue
            if _impersonates_masters(grant.rule):
                findings.append(Finding.at(RULE, "error", binding, (
                    f"{grant.source} lets ServiceAccount {ns}/{name} impersonate the group system:masters: its "
                    "requests then land in the exempt priority level (APF classifies the impersonated identity), "
                    "bypassing every seat limit and queue: its overload can take the whole apiserver and lock the "
                    "rollback out"), _FIX_IMPERSONATE))
            elif _writes_apf_objects(grant.rule):
                findings.append(Finding.at(RULE, "warning", binding, (
                    f"{grant.source} lets ServiceAccount {ns}/{name} write FlowSchemas/PriorityLevelConfigurations: "
                    "it can route itself to the exempt level at run time"), _FIX_WRITE_APF))
    return findings


def _exempt_flow_schemas(change: Change, sas: list[tuple[str, str]]) -> list[Finding]:
    exempt_levels = {"exempt"} | {
        d.name for d in change.documents
        if d.kind == "PriorityLevelConfiguration" and isinstance(d.body.get("spec"), dict)
        and d.body["spec"].get("type") == "Exempt"
    }
    findings: list[Finding] = []
    for doc in change.documents:
        if doc.kind != "FlowSchema":
            continue
        try:
            parts = flow_schemas_from_manifest(doc.body, source=doc.location.file, line=doc.location.line)
        except InputError:
            continue  # malformed: the schema check (WG109) reports it
        if not parts or parts[0].priority_level not in exempt_levels:
            continue
        level = parts[0].priority_level
        for ns, name in sas:
            subject = Subject.service_account(ns, name)
            if any(fs.matches(subject) for fs in parts):
                findings.append(Finding.at(RULE, "error", doc, (
                    f"FlowSchema {doc.name} routes ServiceAccount {ns}/{name} to the exempt priority level "
                    f"{level!r}: its requests bypass API Priority and Fairness (no seat limit, no queue, no 429), so "
                    "its overload can take the whole apiserver and lock the rollback out"), _FIX_FLOWSCHEMA))
    return findings


def _impersonates_masters(rule: PolicyRule) -> bool:
    if "impersonate" not in rule.verbs:
        return False
    if not ({"groups", "*"} & set(rule.resources)) or not ({"", "*"} & set(rule.api_groups)):
        return False
    return not rule.resource_names or "system:masters" in rule.resource_names


def _writes_apf_objects(rule: PolicyRule) -> bool:
    writes = {"create", "update", "patch", "*"} & set(rule.verbs)
    named = {"flowschemas", "prioritylevelconfigurations"} & set(rule.resources)
    group_ok = {"flowcontrol.apiserver.k8s.io", "*"} & set(rule.api_groups)
    return bool(writes and named and group_ok)

