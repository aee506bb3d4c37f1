"""`waveguard breakglass check`: from manifests, from a (stubbed) live cluster, and the APF translation."""

from __future__ import annotations

import copy
import io
import json
from urllib.parse import urlparse

import pytest
import urllib3
import yaml

from tests.conftest import EXAMPLES
from waveguard.analysis import load_change
from waveguard.breakglass import (
    apf_config_from_manifests, check_apf, check_manifests, generate_isolation, kubernetes_default_manifests,
    read_live_objects, translate,
)
from waveguard.breakglass import policy as P
from waveguard.cli.main import app
from waveguard.model.apf import DEFAULT_APF, Subject
from waveguard.model.errors import InputError

INCIDENT = str(EXAMPLES / "incident-telemetry")
AGENT = ("telemetry", "telemetry-agent")


@pytest.fixture(scope="module")
def isolation():
    return generate_isolation(load_change([INCIDENT]))


# --- the verdict on APF configurations ------------------------------------------------------------

def test_defaults_do_not_protect_the_way_back():
    report = check_apf(DEFAULT_APF, service_accounts=[AGENT])
    assert not report.protected and report.capped is False and not report.ok
    group = report.items[0]
    assert group.priority_level == "global-default" and "shared with other authenticated users" in group.detail
    agent = report.items[-1]
    assert agent.priority_level == "workload-low" and "may borrow" in agent.detail


def test_generated_isolation_protects_and_caps(isolation):
    report = check_apf(isolation.apf, service_accounts=[AGENT])
    assert report.ok and report.protected and report.capped
    assert {i.priority_level for i in report.items if i.role == "break-glass"} == {P.BREAKGLASS_NAME}
    assert report.items[0].nominal_seats == 24


def _with(isolation, kind: str, name: str, edit) -> list[dict]:
    docs = copy.deepcopy(isolation.manifests)
    edit(next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name))
    return docs


@pytest.mark.parametrize("kind, edit, why", [
    ("PriorityLevelConfiguration", lambda d: d["spec"]["limited"].update(lendablePercent=50), "lends 50%"),
    ("PriorityLevelConfiguration", lambda d: d["spec"]["limited"].update(nominalConcurrencyShares=1),
     "only 3 nominal seats"),
    ("PriorityLevelConfiguration", lambda d: d["spec"]["limited"].update(limitResponse={"type": "Reject"}),
     "rejects (429)"),
    ("FlowSchema", lambda d: d["spec"].update(matchingPrecedence=9950), "global-default"),
    ("FlowSchema", lambda d: d["spec"]["rules"][0]["subjects"].append(
        {"kind": "Group", "group": {"name": "system:serviceaccounts"}}),
     "shared with kube-system ServiceAccounts, other ServiceAccounts"),
])
def test_each_weakness_of_the_break_glass_level_fails_the_check(isolation, kind, edit, why):
    report = check_manifests(_with(isolation, kind, P.BREAKGLASS_NAME, edit))
    assert not report.protected
    assert why in report.items[0].detail, report.items[0].detail


def test_an_uncapped_or_exempt_agent_fails(isolation):
    name = P.capped_name(*AGENT)
    loose = _with(isolation, "PriorityLevelConfiguration", name, lambda d: d["spec"]["limited"].pop("borrowingLimitPercent"))
    report = check_manifests(loose, service_accounts=[AGENT])
    assert report.protected and report.capped is False and "may borrow" in report.items[-1].detail
    exempt = _with(isolation, "FlowSchema", name, lambda d: d["spec"].update(priorityLevelConfiguration={"name": "exempt"}))
    assert "exempt" in check_manifests(exempt, service_accounts=[AGENT]).items[-1].detail


def test_routing_break_glass_to_exempt_counts_as_protected():
    docs = [{"apiVersion": P.API_VERSION, "kind": "FlowSchema", "metadata": {"name": "bg"},
             "spec": {"priorityLevelConfiguration": {"name": "exempt"}, "matchingPrecedence": 10,
                      "rules": [{"subjects": [{"kind": "Group", "group": {"name": P.DEFAULT_GROUP}},
                                              {"kind": "ServiceAccount", "serviceAccount":
                                                  {"namespace": "waveguard-system", "name": "waveguard-controller"}}],
                                 "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                    "clusterScope": True, "namespaces": ["*"]}]}]}}]
    report = check_manifests(docs)
    assert report.protected and "exempt from APF" in report.items[0].detail


# --- translation of flowcontrol objects into the model --------------------------------------------

def test_no_manifests_means_exactly_the_model_defaults():
    apf = apf_config_from_manifests([])
    assert apf.levels == DEFAULT_APF.levels and apf.flow_schemas == DEFAULT_APF.flow_schemas


def test_the_real_defaults_translate_to_the_same_shares_and_landing_levels():
    live = apf_config_from_manifests(kubernetes_default_manifests(), merge_defaults=False)
    assert live.nominal_seats() == DEFAULT_APF.nominal_seats()
    for lvl in DEFAULT_APF.levels:
        assert live.level(lvl.name) == lvl
    for subject, verb, resource in [
        (Subject.service_account("telemetry", "agent"), "list", "pods"),
        (Subject.service_account("kube-system", "filebeat"), "watch", "pods"),
        (Subject(user="system:kube-scheduler"), "create", "bindings"),
        (Subject(user="system:node:a", groups=["system:nodes"]), "get", "pods"),
        (Subject(user="alice", groups=["system:authenticated"]), "get", "pods"),
    ]:
        assert live.classify(subject, verb, resource).name == DEFAULT_APF.classify(subject, verb, resource).name


def test_translation_details():
    reject = {"apiVersion": P.API_VERSION, "kind": "PriorityLevelConfiguration", "metadata": {"name": "r"},
              "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 7, "limitResponse": {"type": "Reject"}}}}
    beta = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "old"}, "spec": {"type": "Limited", "limited": {"assuredConcurrencyShares": 3}}}
    dangling = {"apiVersion": P.API_VERSION, "kind": "FlowSchema", "metadata": {"name": "d"},
                "spec": {"priorityLevelConfiguration": {"name": "nope"}, "matchingPrecedence": 5, "rules": []}}
    override = {"apiVersion": P.API_VERSION, "kind": "PriorityLevelConfiguration", "metadata": {"name": "catch-all"},
                "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 500}}}
    t = translate([reject, beta, dangling, override])
    r = t.apf.level("r")
    assert r.rejects_when_full and r.shares == 7 and r.lendable_percent == 0 and r.borrowing_limit_percent is None
    old = t.apf.level("old")
    assert old.shares == 3 and (old.queues, old.hand_size, old.queue_length_limit) == (64, 8, 50)  # v1 defaulting
    assert t.apf.level("catch-all").shares == 5  # mandatory: kube-apiserver keeps its own spec
    assert all(fs.name != "d" for fs in t.apf.flow_schemas)
    assert any("dangling" in n for n in t.notes) and any("mandatory" in n for n in t.notes)


@pytest.mark.parametrize("body, message", [
    ({"kind": "FlowSchema", "metadata": {"name": "x"}, "spec": {"matchingPrecedence": 5}}, "priorityLevelConfiguration"),
    ({"kind": "FlowSchema", "metadata": {}, "spec": {}}, "metadata.name"),
    ({"kind": "PriorityLevelConfiguration", "metadata": {"name": "x"}, "spec": {"type": "Sometimes"}}, "spec.type"),
    ({"kind": "FlowSchema", "metadata": {"name": "x"}, "spec": {"priorityLevelConfiguration": {"name": "exempt"},
      "matchingPrecedence": "high"}}, "not an integer"),
])
def test_malformed_objects_are_input_errors(body, message):
    with pytest.raises(InputError, match=message):
        apf_config_from_manifests([dict(body, apiVersion=P.API_VERSION)])


# --- the command, from manifests --------------------------------------------------------------------

def test_check_manifests_cli_fails_without_and_passes_with_the_flowschemas(tmp_path, runner, isolation):
    plain = tmp_path / "defaults.yaml"
    plain.write_text(yaml.safe_dump_all(kubernetes_default_manifests()))
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(plain), "--change", INCIDENT])
    assert result.exit_code == 1, result.output
    assert "break-glass path: NOT protected" in result.stdout and "FAIL" in result.stdout
    generated = tmp_path / "isolation.yaml"
    generated.write_text(isolation.to_yaml())
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(plain), "--manifests", str(generated),
                                 "--change", INCIDENT, "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["protected"] and doc["capped"]
    assert {i["priority_level"] for i in doc["items"]} == {P.BREAKGLASS_NAME, P.capped_name(*AGENT)}


def test_check_cli_bad_input(tmp_path, runner):
    r = runner.invoke(app, ["breakglass", "check"])
    assert r.exit_code == 2 and "exactly one of --manifests PATH or --live" in r.stderr
    r = runner.invoke(app, ["breakglass", "check", "--manifests", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = runner.invoke(app, ["breakglass", "check", "--manifests", INCIDENT, "--group", "system:authenticated"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    old = tmp_path / "old.yaml"
    old.write_text("apiVersion: flowcontrol.apiserver.k8s.io/v1alpha1\nkind: FlowSchema\nmetadata: {name: x}\n")
    r = runner.invoke(app, ["breakglass", "check", "--manifests", str(old)])
    assert r.exit_code == 2 and f"{old}:1:" in r.stderr


# --- the command, live: a contract test ---------------------------------------------------------------

class FakeApiserver:
    """Stands in for kube-apiserver at the kubernetes client's HTTP layer (urllib3.PoolManager).

    CONTRACT TEST: no kube-apiserver can run on this machine, so this asserts the exact HTTP
    requests `--live` makes through the real `kubernetes` client (method, URL, credentials) and
    answers them with the JSON a v1.29+ apiserver returns for those lists (items without
    apiVersion/kind, with status), built from the objects of bootstrap/default.go. It does not
    prove a real apiserver answers the same way; the API reference says it does."""

    def __init__(self, objects: list[dict], status: int = 200):
        self.objects = objects
        self.status = status
        self.requests: list[tuple[str, str, dict]] = []

    def pool_manager(self, *args, **kwargs):
        return self

    def request(self, method, url, **kwargs):
        self.requests.append((method, url, {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}))
        path = urlparse(url).path
        kind = {"flowschemas": "FlowSchema", "prioritylevelconfigurations": "PriorityLevelConfiguration"}.get(
            path.rsplit("/", 1)[-1])
        if self.status != 200 or kind is None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                    "code": self.status}
            return urllib3.HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), status=self.status,
                                        headers={"Content-Type": "application/json"}, preload_content=False,
                                        reason="Forbidden")
        items = []
        for obj in self.objects:
            if obj["kind"] == kind:
                item = {k: v for k, v in copy.deepcopy(obj).items() if k not in ("apiVersion", "kind")}
                item["metadata"].update(uid="0f0e", resourceVersion="42", generation=1)
                item["status"] = {"conditions": [{"type": "Dangling" if kind == "FlowSchema" else "ConcurrencyShared",
                                                  "status": "False", "reason": "Found",
                                                  "lastTransitionTime": "2024-12-11T15:16:00Z"}]}
                items.append(item)
        body = {"kind": f"{kind}List", "apiVersion": P.API_VERSION, "metadata": {"resourceVersion": "42"},
                "items": items}
        return urllib3.HTTPResponse(body=io.BytesIO(json.dumps(body).encode()), status=200,
                                    headers={"Content-Type": "application/json"}, preload_content=False, reason="OK")

    def clear(self):
        pass


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": "prod", "cluster": {"server": "https://10.0.0.10:6443",
                                                        "insecure-skip-tls-verify": True}},
                           {"name": "staging", "cluster": {"server": "https://10.9.0.10:443",
                                                           "insecure-skip-tls-verify": True}}],
              "users": [{"name": "oncall", "user": {"token": "s3cret-token"}}],
              "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "oncall"}},
                           {"name": "staging", "context": {"cluster": "staging", "user": "oncall"}}],
              "current-context": "prod"}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    return path


def _serve(monkeypatch, objects, status=200) -> FakeApiserver:
    fake = FakeApiserver(objects, status)
    monkeypatch.setattr(urllib3, "PoolManager", fake.pool_manager)
    return fake


def test_live_reads_exactly_two_lists_with_the_context_s_credentials(kubeconfig, monkeypatch):
    fake = _serve(monkeypatch, kubernetes_default_manifests())
    objects = read_live_objects()
    assert [(m, u) for m, u, _ in fake.requests] == [
        ("GET", "https://10.0.0.10:6443/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations"),
        ("GET", "https://10.0.0.10:6443/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"),
    ]
    for _, _, headers in fake.requests:
        assert headers["authorization"] == "Bearer s3cret-token" and headers["accept"] == "application/json"
    assert len(objects) == 21 and {o["apiVersion"] for o in objects} == {P.API_VERSION}
    exempt = next(o for o in objects if o["kind"] == "FlowSchema" and o["metadata"]["name"] == "exempt")
    assert exempt["spec"]["matchingPrecedence"] == 1  # camelCase survives the client's models
    read_live_objects(context="staging")
    assert fake.requests[-1][1].startswith("https://10.9.0.10:443/apis/flowcontrol.apiserver.k8s.io/v1/")


def test_live_check_fails_on_a_cluster_without_the_flowschemas_and_passes_with_them(kubeconfig, monkeypatch, runner,
                                                                                    isolation):
    _serve(monkeypatch, kubernetes_default_manifests())
    result = runner.invoke(app, ["breakglass", "check", "--live"])
    assert result.exit_code == 1, result.output
    assert "NOT protected" in result.stdout and "live cluster" in result.stdout
    fake = _serve(monkeypatch, kubernetes_default_manifests() + isolation.manifests)
    result = runner.invoke(app, ["breakglass", "check", "--live", "--context", "staging", "--change", INCIDENT])
    assert result.exit_code == 0, result.output
    assert "break-glass path: protected" in result.stdout and "change ServiceAccounts: capped" in result.stdout
    assert len(fake.requests) == 2


def test_live_errors_are_one_line_exit_2(kubeconfig, monkeypatch, runner, tmp_path):
    _serve(monkeypatch, [], status=403)
    r = runner.invoke(app, ["breakglass", "check", "--live"])
    assert r.exit_code == 2 and "403" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["breakglass", "check", "--live", "--kubeconfig", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "cannot load the kubeconfig" in r.stderr
    r = runner.invoke(app, ["breakglass", "check", "--live", "--context", "nope"])
    assert r.exit_code == 2 and "nope" in r.stderr
    r = runner.invoke(app, ["breakglass", "check", "--manifests", INCIDENT, "--context", "prod"])
    assert r.exit_code == 2 and "only apply with --live" in r.stderr


def test_live_unreachable_apiserver_is_exit_2(kubeconfig, monkeypatch, runner):
    class Refusing(FakeApiserver):
        def request(self, method, url, **kwargs):
            raise urllib3.exceptions.MaxRetryError(None, url, "connection refused")
    monkeypatch.setattr(urllib3, "PoolManager", Refusing([]).pool_manager)
    r = runner.invoke(app, ["breakglass", "check", "--live"])
    assert r.exit_code == 2 and "cannot reach the apiserver" in r.stderr and "10.0.0.10" in r.stderr
