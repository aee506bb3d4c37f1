"""Lint WG114 (exempt access) and WG105 (kube-system ServiceAccount) with the break-glass fix."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from waveguard.analysis import analyse, load_change
from waveguard.breakglass import lint_change
from waveguard.model.findings import RULES

AGENT = (EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml").read_text()  # SA telemetry/telemetry-agent

FLOWSCHEMA = """apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: telemetry-fast-lane
spec:
  priorityLevelConfiguration: {{name: {level}}}
  matchingPrecedence: 500
  rules:
  - subjects: [{subject}]
    resourceRules: [{{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}}]
"""
SA = '{kind: ServiceAccount, serviceAccount: {namespace: telemetry, name: telemetry-agent}}'


def _change(tmp_path, *extra: str):
    (tmp_path / "agent.yaml").write_text(AGENT)
    for i, text in enumerate(extra):
        (tmp_path / f"extra-{i}.yaml").write_text(text)
    return load_change([str(tmp_path)])


@pytest.mark.parametrize("subject", [
    SA,
    '{kind: ServiceAccount, serviceAccount: {namespace: telemetry, name: "*"}}',
    '{kind: Group, group: {name: "system:serviceaccounts"}}',
    '{kind: Group, group: {name: "system:serviceaccounts:telemetry"}}',
    '{kind: User, user: {name: "system:serviceaccount:telemetry:telemetry-agent"}}',
    '{kind: Group, group: {name: "*"}}',
])
def test_flowschema_routing_the_change_s_service_account_to_exempt_is_an_error(tmp_path, subject):
    findings = lint_change(_change(tmp_path, FLOWSCHEMA.format(level="exempt", subject=subject)))
    assert [(f.rule, f.severity, f.workload) for f in findings] == [("WG114", "error", "FlowSchema/-/telemetry-fast-lane")]
    f = findings[0]
    assert f.file.endswith("extra-0.yaml") and f.line == 1
    assert "telemetry/telemetry-agent" in f.message and "exempt" in f.message
    assert "waveguard breakglass generate" in f.fix


def test_a_custom_exempt_level_counts_too(tmp_path):
    level = ("apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata: {name: vip}\n"
             "spec: {type: Exempt}\n")
    findings = lint_change(_change(tmp_path, FLOWSCHEMA.format(level="vip", subject=SA), level))
    assert [f.rule for f in findings] == ["WG114"] and "'vip'" in findings[0].message


@pytest.mark.parametrize("level, subject", [
    ("workload-low", SA),  # a limited level: fine
    ("exempt", '{kind: ServiceAccount, serviceAccount: {namespace: other, name: telemetry-agent}}'),  # not ours
    ("exempt", '{kind: Group, group: {name: "system:nodes"}}'),
])
def test_no_finding_when_the_change_s_service_account_is_not_made_exempt(tmp_path, level, subject):
    assert lint_change(_change(tmp_path, FLOWSCHEMA.format(level=level, subject=subject))) == []


RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: telemetry-extra}}
rules:
- apiGroups: [{groups}]
  resources: [{resources}]
  verbs: [{verbs}]
{names}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: telemetry-extra}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects: [{{kind: ServiceAccount, name: telemetry-agent, namespace: telemetry}}]
"""


def _rbac(groups='""', resources="groups", verbs="impersonate", names="", role="telemetry-extra") -> str:
    return RBAC.format(groups=groups, resources=resources, verbs=verbs, names=names, role=role)


@pytest.mark.parametrize("rbac, severity", [
    (_rbac(), "error"),
    (_rbac(names='  resourceNames: ["system:masters"]\n'), "error"),
    (_rbac(groups='"*"', resources='"*"'), "error"),
    (_rbac(groups="flowcontrol.apiserver.k8s.io", resources="flowschemas", verbs="create, patch"), "warning"),
])
def test_rbac_that_grants_exempt_access(tmp_path, rbac, severity):
    findings = lint_change(_change(tmp_path, rbac))
    assert [(f.rule, f.severity, f.workload) for f in findings] == [
        ("WG114", severity, "ClusterRoleBinding/-/telemetry-extra")]
    assert findings[0].line == rbac.splitlines().index("---") + 2  # the binding's document


@pytest.mark.parametrize("rbac", [
    _rbac(role="cluster-admin"),  # binding cluster-admin is NOT exempt: the SA is still classified as itself
    _rbac(names='  resourceNames: ["developers"]\n'),  # impersonating some other group
    _rbac(resources="users"),  # impersonating users does not add system:masters
    _rbac(groups='"*"', resources='"*"', verbs='"*"'),  # a wildcard role is RBAC hygiene, not this rule
    _rbac(groups="flowcontrol.apiserver.k8s.io", resources="flowschemas", verbs="get, list, watch"),
])
def test_rbac_that_does_not(tmp_path, rbac):
    assert lint_change(_change(tmp_path, rbac)) == []


def test_real_inputs_have_no_exempt_access(manifests):
    assert "WG114" in RULES
    for path in sorted(manifests.iterdir()):
        assert lint_change(load_change([str(path)])) == [], path.name


def test_kube_system_service_account_error_names_the_breakglass_fix(manifests):
    result = analyse([str(manifests / "filebeat-kubernetes.yaml")])
    wg105 = [f for f in result.findings if f.rule == "WG105"]
    # Issue 13: an error only when the agent's own load overloads workload-high (filebeat's does not).
    assert [(f.severity, f.workload) for f in wg105] == [("warning", "DaemonSet/kube-system/filebeat")]
    assert "workload-high" in wg105[0].message and "waveguard breakglass generate" in wg105[0].fix
