"""`waveguard breakglass generate`: valid v1 manifests, right precedences, honest comments, bad input."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from tests.conftest import EXAMPLES
from waveguard.analysis import load_change
from waveguard.breakglass import (
    apf_config_from_manifests, api_service_accounts, generate_isolation, group_member,
    kubernetes_default_manifests, manifest_problems,
)
from waveguard.breakglass import policy as P
from waveguard.breakglass.apf_objects import read_flowcontrol_documents
from waveguard.cli.main import app
from waveguard.model.apf import DEFAULT_APF, Subject
from waveguard.model.errors import InputError

INCIDENT = str(EXAMPLES / "incident-telemetry")


@pytest.fixture(scope="module")
def filebeat(manifests):
    return generate_isolation(load_change([str(manifests / "filebeat-kubernetes.yaml")]), source="filebeat")


def test_generated_manifests_validate_against_the_api_schema(filebeat, manifests):
    for path in ("filebeat-kubernetes.yaml", "otel-collector-agent", "fluent-bit",
                 "cluster-metrics-node-exporter-ksm-alloy-k8s-monitoring-2.0.46.yaml"):
        iso = generate_isolation(load_change([str(manifests / path)]))
        kinds = [d["kind"] for d in iso.manifests]
        assert kinds.count("FlowSchema") == kinds.count("PriorityLevelConfiguration") == 1 + len(iso.service_accounts)
        for doc in iso.manifests:
            assert doc["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
            assert manifest_problems(doc) == [], (path, doc["metadata"]["name"])
    # the defaults written out by waveguard validate too
    assert all(manifest_problems(d) == [] for d in kubernetes_default_manifests())


@pytest.mark.parametrize("mutate, expected", [
    (lambda fs, plc: fs["spec"].update(matchingPrecedence=-1), "matchingPrecedence"),
    (lambda fs, plc: fs["spec"].update(bogusField=1), "bogusField"),
    (lambda fs, plc: fs["spec"]["rules"][0]["subjects"][0].pop("group"), "subjects.0"),
    (lambda fs, plc: fs["metadata"].update(name="Not_A_Name"), "metadata.name"),
    (lambda fs, plc: plc["spec"]["limited"]["limitResponse"]["queuing"].update(handSize=99), "handSize"),
    (lambda fs, plc: plc["spec"]["limited"].update(lendablePercent=101), "lendablePercent"),
    (lambda fs, plc: plc["spec"]["limited"].update(nominalConcurrencyShares="ten"), "nominalConcurrencyShares"),
])
def test_the_validator_catches_what_the_apiserver_would_refuse(filebeat, mutate, expected):
    plc = copy.deepcopy(filebeat.manifests[0])
    fs = copy.deepcopy(next(d for d in filebeat.manifests if d["kind"] == "FlowSchema"))
    mutate(fs, plc)
    problems = manifest_problems(fs) + manifest_problems(plc)
    assert any(expected in p for p in problems), problems


def test_yaml_round_trips_with_a_comment_before_every_document(filebeat):
    text = filebeat.to_yaml()
    assert list(yaml.safe_load_all(text)) == filebeat.manifests
    chunks = text.split("\n---\n")
    assert len(chunks) == len(filebeat.manifests)
    for chunk in chunks:
        assert chunk.lstrip().startswith("#"), chunk[:80]
    # levels before the schemas that refer to them (kubectl apply creates them in order)
    kinds = [d["kind"] for d in filebeat.manifests]
    assert kinds == sorted(kinds, key=lambda k: k != "PriorityLevelConfiguration")


@pytest.mark.parametrize("path", ["filebeat-kubernetes.yaml", "otel-collector-agent", "fluent-bit",
                                  "cluster-metrics-node-exporter-ksm-alloy-k8s-monitoring-2.0.46.yaml"])
def test_every_line_of_the_yaml_fits_80_columns_and_parses_to_the_same_objects(manifests, path):
    """Comment lines ran to 119 columns (the precedence table's break-glass row, the bullets
    wrapped at 110): every line now fits 80 — a terminal's width, and yamllint's default
    ``line-length`` — and the YAML still reads as the objects generated, the comments as the
    same text."""
    iso = generate_isolation(load_change([str(manifests / path)]), source=str(manifests / path))
    text = iso.to_yaml()
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long, too_long
    assert list(yaml.safe_load_all(text)) == iso.manifests
    comments = " ".join(line[1:].strip() for line in text.splitlines() if line.startswith("#"))
    for comment in (iso.header, *iso.comments):
        assert "".join(comment.split()) in "".join(comments.split())  # a path longer than a line is cut


def test_header_prints_nominal_seats_per_level_after_the_change(filebeat):
    # Σ shares = 245 defaults + 10 break-glass + 5 capped = 260; seats = ceil(600 × shares / 260)
    expected = {"workload-low": (245, math.ceil(600 * 100 / 260)), "workload-high": (98, math.ceil(600 * 40 / 260)),
                P.BREAKGLASS_NAME: ("-", math.ceil(600 * 10 / 260)),
                "waveguard-cap.kube-system.filebeat": ("-", math.ceil(600 * 5 / 260))}
    assert expected["workload-low"][1] == 231 and expected[P.BREAKGLASS_NAME][1] == 24
    header = filebeat.header
    for level, (before, after) in expected.items():
        row = next(line for line in header.splitlines() if line.split() and line.split()[0] == level)
        assert row.split()[2:] == [str(before), str(after)], row
    assert filebeat.apf.nominal_seats()[P.BREAKGLASS_NAME] == 24


def test_precedence_puts_rollback_first_and_the_agent_in_its_cap(filebeat):
    """Against the real defaults (all 13 FlowSchemas of bootstrap/default.go), not the model's subset."""
    apf = apf_config_from_manifests(kubernetes_default_manifests() + filebeat.manifests, merge_defaults=False)
    for verb, resource in P.ROLLBACK_REQUESTS:
        assert apf.classify(group_member(P.DEFAULT_GROUP), verb, resource).name == P.BREAKGLASS_NAME
        assert apf.classify(Subject.service_account(*P.DEFAULT_CONTROLLER), verb, resource).name == P.BREAKGLASS_NAME
    agent = Subject.service_account("kube-system", "filebeat")
    capped = "waveguard-cap.kube-system.filebeat"
    # beats kube-system-service-accounts (900) and system-leader-election (100, leases)
    assert apf.classify(agent, "list", "pods").priority_level == capped
    assert apf.classify(agent, "update", "leases").priority_level == capped
    # nobody else moved: controllers, kubelets, other kube-system SAs, admins
    assert apf.classify(Subject(user="system:kube-controller-manager"), "list", "pods").priority_level == "workload-high"
    assert apf.classify(Subject(user="system:node:n1", groups=["system:nodes"]), "patch", "nodes").priority_level \
        == "node-high"
    assert apf.classify(Subject.service_account("kube-system", "coredns"), "list", "services").priority_level \
        == "workload-high"
    assert apf.classify(Subject(user="admin", groups=["system:masters"]), "delete", "daemonsets").priority_level \
        == "exempt"
    # numbers: inside [1, 10000], above exempt/probes, below every default routing to a limited level
    limited_defaults = [p for n, p in P.DEFAULT_PRECEDENCES.items() if n not in ("exempt", "probes")]
    assert P.DEFAULT_PRECEDENCES["probes"] < P.BREAKGLASS_PRECEDENCE < P.CAPPED_PRECEDENCE < min(limited_defaults)


def test_the_generated_levels_have_the_documented_shape(filebeat):
    bg, capped = (next(d for d in filebeat.manifests if d["kind"] == "PriorityLevelConfiguration"
                       and d["metadata"]["name"] == n) for n in (P.BREAKGLASS_NAME, "waveguard-cap.kube-system.filebeat"))
    assert bg["spec"]["limited"]["lendablePercent"] == 0
    assert "borrowingLimitPercent" not in bg["spec"]["limited"]
    assert bg["spec"]["limited"]["limitResponse"]["type"] == "Queue"
    assert capped["spec"]["limited"]["borrowingLimitPercent"] == 0
    assert capped["spec"]["limited"]["nominalConcurrencyShares"] < bg["spec"]["limited"]["nominalConcurrencyShares"]
    level = filebeat.apf.level("waveguard-cap.kube-system.filebeat")
    assert level.max_queued_per_flow == 10 and level.borrowing_limit_percent == 0


def test_comments_explain_the_kube_system_case(filebeat):
    text = filebeat.to_yaml()
    assert "kube-system-service-accounts (900)" in text and "WG105" in text
    assert "exempt 1" in text and "service-accounts 9000" in text


def test_service_accounts_of_real_changes(manifests):
    assert api_service_accounts(load_change([str(manifests / "fluent-bit")])) == [("logging", "fluent-bit")]
    assert api_service_accounts(load_change([INCIDENT])) == [("telemetry", "telemetry-agent")]
    many = api_service_accounts(load_change([str(manifests / "cluster-metrics-node-exporter-ksm-alloy-k8s-monitoring-"
                                                                 "2.0.46.yaml")]))
    assert ("default", "k8smon-kube-state-metrics") in many and ("default", "k8smon-alloy-metrics") in many
    assert ("default", "k8smon-node-exporter") not in many  # node-exporter does not talk to the API


@pytest.mark.parametrize("group", ["", "break glass", "tab\there", "bell\x07", "*", "system:masters",
                                   "system:authenticated", "system:serviceaccounts:kube-system", "system:nodes"])
def test_invalid_groups_are_refused(group):
    with pytest.raises(InputError) as err:
        generate_isolation(load_change([INCIDENT]), group=group)
    assert err.value.source == "--group"


def test_a_change_without_service_accounts_is_bad_input(tmp_path, runner):
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n")
    result = runner.invoke(app, ["breakglass", "generate", str(cm)])
    assert result.exit_code == 2
    assert "no ServiceAccount that talks to the API" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def _existing_flowschema(tmp_path, name: str, labels: str = "", precedence: int = 500,
                         group: str = P.DEFAULT_GROUP, level: str = "global-default"):
    f = tmp_path / "existing.yaml"
    f.write_text(f"""apiVersion: v1
kind: List
items:
- apiVersion: flowcontrol.apiserver.k8s.io/v1
  kind: FlowSchema
  metadata:
    name: {name}
{labels}
  spec:
    priorityLevelConfiguration: {{name: {level}}}
    matchingPrecedence: {precedence}
    rules:
    - subjects: [{{kind: Group, group: {{name: "{group}"}}}}]
      resourceRules: [{{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}}]
""")
    return f


def test_an_existing_flowschema_with_the_same_name_is_bad_input(tmp_path, runner):
    existing = _existing_flowschema(tmp_path, P.BREAKGLASS_NAME)
    out = tmp_path / "out.yaml"
    result = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--existing", str(existing), "--output-file", str(out)])
    assert result.exit_code == 2
    assert f"{existing}:4:" in result.stderr and "already exists and is not waveguard's" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [existing]  # nothing written, no temp file left


def test_waveguard_s_own_earlier_objects_are_replaced_not_refused(tmp_path):
    labels = "    labels: {app.kubernetes.io/managed-by: waveguard}"
    existing = read_flowcontrol_documents([str(_existing_flowschema(tmp_path, P.BREAKGLASS_NAME, labels))])
    iso = generate_isolation(load_change([INCIDENT]), existing=existing)
    assert iso.report.ok


def test_an_existing_schema_that_shadows_the_path_is_refused(tmp_path):
    # someone routes the break-glass group to global-default at precedence 10: ours (50) would never match
    existing = read_flowcontrol_documents([str(_existing_flowschema(tmp_path, "ops-override", precedence=10))])
    with pytest.raises(InputError) as err:
        generate_isolation(load_change([INCIDENT]), existing=existing)
    assert "ops-override" in str(err.value) and "would not hold" in str(err.value)


def test_a_flowschema_of_the_change_with_the_same_name_is_refused(tmp_path):
    (tmp_path / "agent.yaml").write_text((EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml").read_text())
    _existing_flowschema(tmp_path, "waveguard-cap.telemetry.telemetry-agent")
    with pytest.raises(InputError, match="already exists"):
        generate_isolation(load_change([str(tmp_path)]))


def test_cli_writes_stdout_or_the_output_file_atomically(tmp_path, runner):
    result = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--group", "oncall:break-glass",
                                 "--controller", "ops/waveguard"])
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    subjects = docs[2]["spec"]["rules"][0]["subjects"]
    assert {"kind": "Group", "group": {"name": "oncall:break-glass"}} in subjects
    assert {"kind": "ServiceAccount", "serviceAccount": {"namespace": "ops", "name": "waveguard"}} in subjects
    out = tmp_path / "iso.yaml"
    out.write_text("previous content\n")
    assert runner.invoke(app, ["breakglass", "generate", INCIDENT, "--output-file", str(out)]).exit_code == 0
    assert list(yaml.safe_load_all(out.read_text()))[0]["kind"] == "PriorityLevelConfiguration"
    bad = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--group", "system:masters", "--output-file", str(out)])
    assert bad.exit_code == 2 and "system:masters" in bad.stderr
    assert list(yaml.safe_load_all(out.read_text()))[0]["kind"] == "PriorityLevelConfiguration"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.yaml"]


def test_bad_controller_and_unwritable_output(tmp_path, runner):
    r = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--controller", "no-slash"])
    assert r.exit_code == 2 and "--controller" in r.stderr
    r = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--output-file", str(tmp_path / "missing" / "x.yaml")])
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_default_apf_is_unchanged_by_generation(filebeat):
    assert DEFAULT_APF.nominal_seats()["workload-low"] == 245
    assert P.BREAKGLASS_NAME not in DEFAULT_APF.nominal_seats()


def test_the_controller_identity_cannot_be_one_of_the_change_s(runner):
    r = runner.invoke(app, ["breakglass", "generate", INCIDENT, "--controller", "telemetry/telemetry-agent"])
    assert r.exit_code == 2 and "is the waveguard controller's identity" in r.stderr


def test_capped_names_are_unique_valid_dns_subdomains():
    assert P.capped_name("a-b", "c") != P.capped_name("a", "b-c")
    long = P.capped_name("telemetry", "x" * 250)
    assert len(long) <= 253 and P.is_dns_subdomain(long)
    assert long != P.capped_name("telemetry", "x" * 249 + "y")


def test_default_manifests_dump_without_yaml_anchors():
    """Each FlowSchema has its own resourceRules: no ``&id001`` anchor or ``*id001`` alias."""
    manifests = kubernetes_default_manifests()
    dumped = yaml.safe_dump(manifests) + yaml.safe_dump_all(manifests)
    assert "&id" not in dumped and "*id" not in dumped
    schemas = [m for m in manifests if m["kind"] == "FlowSchema"]
    rules = [r for s in schemas for rule in s["spec"]["rules"] for r in rule.get("resourceRules", [])]
    assert len({id(r) for r in rules}) == len(rules)
    assert len({id(r["verbs"]) for r in rules}) == len(rules)


def test_generated_isolation_dumps_without_yaml_anchors():
    isolation = generate_isolation(load_change([INCIDENT]), source="incident")
    assert "&id" not in yaml.safe_dump(isolation.manifests)
