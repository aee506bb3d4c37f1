"""`waveguard analyse` as a user runs it: formats, exit codes, unusual and bad input."""

from __future__ import annotations

import json

import pytest
from sarif_pydantic import Sarif

from tests.conftest import EXAMPLES
from waveguard.cli.main import app

INCIDENT = str(EXAMPLES / "incident-telemetry")
FIXED = str(EXAMPLES / "incident-telemetry-node-filtered")


def test_json_schema_and_exit_code(runner):
    result = runner.invoke(app, ["analyse", INCIDENT, "-o", "json"])
    assert result.exit_code == 1, result.output  # an error finding
    doc = json.loads(result.stdout)
    finding = doc["findings"][0]
    assert set(finding) >= {"rule", "severity", "workload", "file", "line", "message", "fix"}
    assert finding["rule"] == "WG101" and finding["workload"] == "DaemonSet/telemetry/telemetry-agent"
    proj = {p["cluster"]: p for p in doc["projections"]}
    assert set(proj["prod-24-7500"]) >= {"cluster", "nodes", "verdict", "utilisation", "scaling"}
    assert proj["prod-24-7500"]["verdict"] == "overload" and proj["prod-24-7500"]["scaling"] == "O(nodes²)"
    assert proj["staging"]["verdict"] == "ok"


def test_json_keeps_its_fields_and_adds_the_changes_part_of_memory_and_etcd(runner):
    """memory_share and etcd_memory_fraction keep their meaning (the total, the cluster's own
    memory included: what the verdict judges); *_added is the change's part of each."""
    doc = json.loads(runner.invoke(app, ["analyse", INCIDENT, "-o", "json"]).stdout)
    largest = {p["cluster"]: p for p in doc["projections"]}["prod-24-7500"]
    assert {"memory_share", "etcd_memory_fraction", "etcd_utilisation"} <= set(largest)
    assert 0 < largest["memory_share_added"] < largest["memory_share"] == pytest.approx(1.9566, abs=0.01)
    assert 0 <= largest["etcd_memory_fraction_added"] < largest["etcd_memory_fraction"]


def test_fixed_change_exits_zero_and_fail_on_warning(runner, manifests):
    assert runner.invoke(app, ["analyse", FIXED]).exit_code == 0
    # the Fluent Bit change has warnings only: 0 by default, 1 with --fail-on warning
    assert runner.invoke(app, ["analyse", str(manifests / "fluent-bit")]).exit_code == 0
    assert runner.invoke(app, ["analyse", str(manifests / "fluent-bit"), "--fail-on", "warning"]).exit_code == 1


def test_table_names_the_rule_and_the_overloaded_cluster(runner):
    result = runner.invoke(app, ["analyse", INCIDENT])
    assert "WG101" in result.stdout and "prod-24-7500" in result.stdout and "overload" in result.stdout


def test_sarif_is_valid_and_points_at_manifest_lines(runner, manifests):
    result = runner.invoke(app, ["analyse", str(manifests / "fluent-bit"), "-o", "sarif"])
    doc = json.loads(result.stdout)
    Sarif.model_validate(doc)  # the SARIF 2.1.0 object model
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    wg103 = next(r for r in results if r["ruleId"] == "WG103")
    loc = wg103["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("fluent-bit/fluent-bit-ds.yaml")
    assert loc["region"]["startLine"] == 1
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rules[wg103["ruleIndex"]]["id"] == "WG103"
    assert wg103["level"] == "warning"


def test_fleet_file_changes_the_projection(runner, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - name: tiny\n    nodes: 20\n  - name: huge\n    nodes: 9000\n"
                     "    labels: {env: prod}\n    apiserver_replicas: 3\n")
    doc = json.loads(runner.invoke(app, ["analyse", INCIDENT, "--fleet", str(fleet), "-o", "json"]).stdout)
    assert [(p["cluster"], p["verdict"]) for p in doc["projections"]] == [("tiny", "ok"), ("huge", "overload")]


def test_list_kind_empty_documents_and_line_numbers(runner, tmp_path):
    bundle = tmp_path / "bundle.yaml"
    incident = (EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml").read_text()
    items = incident.split("---\n")
    body = "\n".join("  - " + "\n    ".join(doc.strip().splitlines()) for doc in items if "kind:" in doc
                     and not doc.lstrip().startswith("#"))
    bundle.write_text("---\n---\n# nothing above\napiVersion: v1\nkind: List\nitems:\n" + body + "\n")
    from waveguard.analysis import analyse

    result = analyse([str(bundle)])
    assert result.findings and result.findings[0].rule == "WG101"
    assert result.findings[0].line > 6  # the DaemonSet item's own line, not the List's


@pytest.mark.parametrize("content, expected", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n", ":3: malformed YAML"),
    ("- just\n- a list\n", ":1: document is a list, not a mapping"),
    ("apiVersion: v1\nmetadata: {name: x}\n", ":1: document has no apiVersion/kind"),
])
def test_bad_manifests_get_one_line_and_exit_2(runner, tmp_path, content, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = runner.invoke(app, ["analyse", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) + expected in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content, expected", [
    ("clusters:\n  - name: a\n    nodes: -5\n", ":3: clusters.0.nodes: cluster 'a': a cluster has at least one node"),
    ("clusters:\n  - name: a\n    nodes: 5\n    nodez: 3\n", ":4: clusters.0.nodez: cluster 'a': unknown key"),
    ("clusters: [\n", ":1: malformed YAML"),
    ("- a\n", ":1: not a mapping with a 'clusters' list"),
])
def test_bad_fleet_files(runner, tmp_path, content, expected):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(content)
    result = runner.invoke(app, ["analyse", INCIDENT, "--fleet", str(fleet)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(fleet) + expected in result.stderr, result.stderr


def test_missing_path(runner, tmp_path):
    result = runner.invoke(app, ["analyse", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such file or folder" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["analyse", str(empty)])
    assert result.exit_code == 2 and "no .yaml" in result.stderr
