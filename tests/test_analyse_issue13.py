"""Issue 13 (items 2, 3, 6, 7): upper bounds as questions, severities, measured profiles,
and the input a real chart folder holds."""

from __future__ import annotations

import os

from tests.conftest import INPUTS, require_shared
from waveguard.analysis import analyse
from waveguard.cli.main import app
from waveguard.model.profiles_io import load_profiles

DS = """apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      serviceAccountName: {sa}
      containers: [{{name: a, image: example.com/unknown-agent:1}}]
"""
BINDING = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects: [{{kind: ServiceAccount, name: {sa}, namespace: {ns}}}]
"""
ROLE = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}}}
rules: [{{apiGroups: [""], resources: [{resources}], verbs: [{verbs}]}}]
"""


def _agent(tmp_path, resources='"pods"', verbs='"list", "watch"', ns="monitoring", extra=""):
    text = DS.format(name="agent", ns=ns, sa="agent") + ROLE.format(name="agent", resources=resources, verbs=verbs) \
        + BINDING.format(name="agent", role="agent", sa="agent", ns=ns) + extra
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_upper_bound_is_an_unverified_warning_unless_strict(tmp_path, runner):
    path = _agent(tmp_path)
    wg107 = [f for f in analyse([str(path)]).findings if f.rule == "WG107"]
    assert [f.severity for f in wg107] == ["warning"]
    assert "unverified" in wg107[0].message and "pods" in wg107[0].message and "O(nodes²)" in wg107[0].message
    assert "waveguard measure --audit-log" in wg107[0].fix and "--profiles" in wg107[0].fix
    assert runner.invoke(app, ["analyse", str(path)]).exit_code == 0
    strict = [f for f in analyse([str(path)], strict=True).findings if f.rule == "WG107"]
    assert strict[0].severity == "error"
    assert runner.invoke(app, ["analyse", str(path), "--strict"]).exit_code == 1


def test_wg105_is_a_warning_without_overload(tmp_path):
    path = _agent(tmp_path, resources='"namespaces"', ns="kube-system")
    wg105 = [f for f in analyse([str(path)]).findings if f.rule == "WG105"]
    assert [f.severity for f in wg105] == ["warning"]


def test_drain_rbac_is_not_an_informer(tmp_path):
    extra = ROLE.format(name="evict", resources='"pods/eviction"', verbs='"create"') + \
        BINDING.format(name="evict", role="evict", sa="agent", ns="monitoring")
    result = analyse([str(_agent(tmp_path, verbs='"list", "get", "delete"', extra=extra))])
    classes = result.profiles[0].classes
    assert [(c.verb, c.scope) for c in classes] == [("list", "node")]
    assert not any(f.rule == "WG107" and f.severity != "info" for f in result.findings)


def test_builtin_cluster_role_is_known(tmp_path):
    path = tmp_path / "kube-proxy.yaml"
    path.write_text(DS.format(name="kube-proxy", ns="kube-system", sa="kube-proxy")
                    + BINDING.format(name="kp", role="system:node-proxier", sa="kube-proxy", ns="kube-system"))
    result = analyse([str(path)])
    resources = {c.resource for c in result.profiles[0].classes}
    assert {"services", "endpoints", "endpointslices", "nodes"} <= resources


def test_workload_defined_twice_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text(DS.format(name="x", ns="n", sa="default"))
    (tmp_path / "b.yaml").write_text(DS.format(name="x", ns="n", sa="default"))
    result = analyse([str(tmp_path)])
    assert [f.rule for f in result.findings if f.rule == "WG120"] == ["WG120"]


def test_bare_config_file_is_skipped_with_an_info(tmp_path):
    _agent(tmp_path)
    (tmp_path / "agent-config.yml").write_text("receivers:\n  otlp: {}\n")
    notes = [f for f in analyse([str(tmp_path)]).findings if f.rule == "WG121"]
    assert len(notes) == 1 and notes[0].severity == "info" and "agent-config.yml" in notes[0].message


def test_kindling_as_published_is_not_a_traceback(runner):
    folder = require_shared(INPUTS / "realworld" / "kindling")
    result = runner.invoke(app, ["analyse", str(folder), "-o", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1)  # the other files are analysed; the bare config is an info
    assert any(f["rule"] == "WG121" and "kindling-collector-config.yml" in f["message"]
               for f in __import__("json").loads(result.stdout)["findings"])


def test_duplicate_yaml_keys_name_the_line(tmp_path, runner):
    path = tmp_path / "dup.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n")
    result = runner.invoke(app, ["analyse", str(path)])
    assert result.exit_code == 2 and f"{path}:5: duplicate key 'name' (first at line 4)" in result.stderr


def test_unreadable_folder_is_an_error(tmp_path, runner, monkeypatch):
    _agent(tmp_path)
    real_walk = os.walk

    def walk(top, onerror=None, **kw):
        onerror(PermissionError(13, "Permission denied", str(tmp_path / "secret")))
        yield from real_walk(top, onerror=onerror, **kw)

    monkeypatch.setattr(os, "walk", walk)
    result = runner.invoke(app, ["analyse", str(tmp_path)])
    assert result.exit_code == 2 and "cannot read folder" in result.stderr


def _measured(tmp_path, runner):
    log = require_shared(INPUTS / "audit" / "audit2rbac-demo-v1beta1-large.jsonl")
    out = tmp_path / "profile.yaml"
    assert runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(out)]).exit_code == 0
    return out


def test_measured_quorum_list_is_a_wg102(tmp_path, runner):
    out = _measured(tmp_path, runner)
    result = analyse([], profiles=load_profiles(out), profiles_source=str(out))
    wg102 = [f for f in result.findings if f.rule == "WG102"]
    assert wg102 and all("measured from audit logs" in f.message for f in wg102)


def test_measured_per_node_cluster_wide_list_is_a_wg101(tmp_path, runner):
    out = _measured(tmp_path, runner)
    path = tmp_path / "ds.yaml"
    path.write_text(DS.format(name="agent", ns="ns1", sa="sa1"))
    result = runner.invoke(app, ["analyse", str(path), "--profiles", str(out), "-o", "json"])
    import json

    findings = json.loads(result.stdout)["findings"]
    wg101 = [f for f in findings if f["rule"] == "WG101"]
    assert wg101 and "measured" in wg101[0]["message"] and wg101[0]["workload"] == "DaemonSet/ns1/agent"
