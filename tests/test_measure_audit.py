"""``waveguard measure``: audit logs → request profiles.

Real inputs (../shared/inputs/audit/): the expected figures are computed in the test from the
raw lines with the json module, not copied from measure's output. Hand-written events check each
rule (stage dedupe, pods, scope, query parameters, 429s, per-node heuristic, bad lines).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.conftest import INPUTS, require_shared
from waveguard.cli.main import app
from waveguard.model.cost import project
from waveguard.model.errors import InputError
from waveguard.model.fleet import default_fleet
from waveguard.model.requests import RequestProfile
from waveguard.signals.audit import load_profiles, measure_audit_logs

AUDIT = INPUTS / "audit"
V1 = AUDIT / "audit2rbac-demo-v1.jsonl"
V1BETA1 = AUDIT / "audit2rbac-demo-v1beta1-large.jsonl"


@pytest.fixture(scope="module")
def audit_dir() -> Path:
    return require_shared(AUDIT)


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _effective_user(e: dict) -> str:
    return (e.get("impersonatedUser") or {}).get("username") or e["user"]["username"]


def _span(events: list[dict]) -> float:
    ts = [datetime.fromisoformat((e.get("stageTimestamp") or e["timestamp"]).replace("Z", "+00:00")) for e in events]
    return (max(ts) - min(ts)).total_seconds()


# --- Real inputs ---------------------------------------------------------------------------------------


def test_v1_demo_log(audit_dir):
    events = _events(V1)
    m = measure_audit_logs([V1])
    assert m.files[0].lines == len(events) == 37
    assert m.files[0].api_versions == {"audit.k8s.io/v1": 37}
    assert m.files[0].garbage_lines == 0 and not m.notes
    # Every line is a ResponseComplete of its own request: 37 requests.
    assert m.requests == len({e["auditID"] for e in events}) == 37
    assert m.span_s == _span(events) == 2039.0  # 19:55:05 → 20:29:04
    # Per effective (impersonated) user.
    want = Counter(_effective_user(e) for e in events)
    got = {c.user: c.requests for c in m.clients}
    assert got == dict(want) == {"bob": 29, "system:serviceaccount:ns1:sa1": 5, "alice": 3}
    bob = next(c for c in m.clients if c.user == "bob")
    lists = [e for e in events if _effective_user(e) == "bob" and e["verb"] == "list"
             and e["objectRef"]["resource"] == "pods"]
    pods_ns = next(mc for mc in bob.classes if mc.verb == "list" and mc.resource == "pods")
    assert pods_ns.scope == "namespace"
    assert pods_ns.requests == len(lists) == 5
    assert pods_ns.status_codes == dict(Counter(e["responseStatus"]["code"] for e in lists)) == {403: 3, 200: 2}
    assert pods_ns.rate_per_pod_per_s == pytest.approx(5 / 2039)
    # Discovery GETs (no objectRef) are one non-resource class.
    nonres = next(mc for mc in bob.classes if mc.resource == "nonresource")
    assert nonres.requests == sum(1 for e in events if _effective_user(e) == "bob" and "objectRef" not in e) == 23
    sa = next(c for c in m.clients if c.user == "system:serviceaccount:ns1:sa1")
    assert sa.client == "ServiceAccount/ns1/sa1" and sa.priority_level == "workload-low"
    assert sa.profile.namespace == "ns1" and sa.profile.service_account == "sa1"
    assert bob.priority_level == "global-default"


def test_v1beta1_large_log(audit_dir):
    events = _events(V1BETA1)
    m = measure_audit_logs([V1BETA1])
    assert m.files[0].lines == len(events) == 757
    assert m.files[0].api_versions == {"audit.k8s.io/v1beta1": 757}
    # RequestReceived + ResponseComplete per request: each request counted once.
    assert Counter(e["stage"] for e in events) == {"ResponseComplete": 437, "RequestReceived": 320}
    assert m.requests == len({e["auditID"] for e in events}) == 437
    done = [e for e in events if e["stage"] == "ResponseComplete"]
    admin = next(c for c in m.clients if c.user == "system:admin")
    assert admin.requests == sum(1 for e in done if _effective_user(e) == "system:admin") == 400
    assert admin.priority_level == "exempt"  # system:masters
    want_codes = Counter(e["responseStatus"]["code"] for e in done if _effective_user(e) == "system:admin")
    assert admin.status_codes == dict(want_codes) == {200: 230, 404: 90, 201: 80}
    deletes = next(mc for mc in admin.classes if mc.verb == "delete" and mc.resource == "roles")
    assert deletes.scope == "object"
    assert deletes.requests == sum(1 for e in done if e["verb"] == "delete" and e["objectRef"]["resource"] == "roles"
                                   and _effective_user(e) == "system:admin") == 30
    assert all(c.user_agent == "" and c.profile.agent == "unknown" for c in m.clients)  # no userAgent in this log


def test_both_real_logs_give_profiles_that_validate_and_project(audit_dir, tmp_path, runner):
    out = tmp_path / "profiles.yaml"
    res = runner.invoke(app, ["measure", "--audit-log", str(V1), str(V1BETA1), "--output-file", str(out), "-o", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [f["lines"] for f in doc["files"]] == [37, 757]
    data = yaml.safe_load(out.read_text())
    assert isinstance(data, list) and len(data) == len(doc["clients"])
    profiles = [RequestProfile.model_validate(item) for item in data]
    assert profiles == load_profiles(out)
    assert len({p.client for p in profiles}) == len(profiles)
    cluster = default_fleet().clusters[-1]
    for p in profiles:
        load = project(p, cluster)  # the projection gate's cost model takes them as they are
        assert load.verdict in ("ok", "warning", "overload")


# --- Hand-written events: one rule each ---------------------------------------------------------------

T0 = 1_700_000_000


def _ts(s: float) -> str:
    return datetime.utcfromtimestamp(T0 + s).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def ev(i: int, *, t: float, user: str, verb: str, uri: str, stage: str = "ResponseComplete", code: int | None = 200,
       resource: str | None = None, namespace: str | None = None, name: str | None = None, pod: str | None = None,
       node: str | None = None, ip: str = "10.0.0.1", ua: str = "agent/1.0 (linux/amd64)",
       api_version: str = "audit.k8s.io/v1", group: str = "", subresource: str | None = None,
       groups: tuple[str, ...] = ("system:serviceaccounts", "system:authenticated")) -> dict:
    e: dict = {"kind": "Event", "apiVersion": api_version, "level": "Metadata", "auditID": f"id-{i}",
               "stage": stage, "requestURI": uri, "verb": verb,
               "user": {"username": user, "groups": list(groups)},
               "sourceIPs": [ip], "userAgent": ua, "requestReceivedTimestamp": _ts(t), "stageTimestamp": _ts(t)}
    extra = {}
    if pod:
        extra["authentication.kubernetes.io/pod-name"] = [pod]
    if node:
        extra["authentication.kubernetes.io/node-name"] = [node]
    if extra:
        e["user"]["extra"] = extra
    if resource:
        ref = {"resource": resource, "apiGroup": group, "apiVersion": "v1"}
        if namespace:
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        if subresource:
            ref["subresource"] = subresource
        e["objectRef"] = ref
    if code is not None and stage != "RequestReceived":
        e["responseStatus"] = {"metadata": {}, "code": code}
    return e


def write(path: Path, events: list[dict], tail: str = "") -> Path:
    text = "".join(json.dumps(e) + "\n" for e in events) + tail
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


AGENT = "system:serviceaccount:telemetry:agent"


def _agent_log() -> list[dict]:
    """3 agent pods on 3 nodes over 100 s: each LISTs all pods (rv=0, limit 500, one continue page,
    one 429), WATCHes pods (3 stages) and GETs its node 10 times."""
    out: list[dict] = []
    i = 0
    for p in range(3):
        pod, node, ip = f"agent-{p}", f"node-{p}", f"10.0.1.{p}"
        kw = dict(user=AGENT, pod=pod, node=node, ip=ip)
        i += 1
        out.append(ev(i, t=0, verb="list", uri="/api/v1/pods?limit=500&resourceVersion=0", resource="pods", **kw))
        i += 1
        out.append(ev(i, t=1, verb="list", uri="/api/v1/pods?continue=abc&limit=500&resourceVersion=0",
                      resource="pods", **kw))
        i += 1
        out.append(ev(i, t=2, verb="list", uri="/api/v1/pods?limit=500&resourceVersion=0", resource="pods",
                      code=429, **kw))
        i += 1
        for stage in ("RequestReceived", "ResponseStarted", "ResponseComplete"):
            out.append(ev(i, t=3 if stage != "ResponseComplete" else 90, verb="watch", stage=stage,
                          uri="/api/v1/pods?allowWatchBookmarks=true&resourceVersion=12345&watch=true",
                          resource="pods", **kw))
        for k in range(10):
            i += 1
            out.append(ev(i, t=10 + k * 10, verb="get", uri=f"/api/v1/nodes/{node}", resource="nodes", name=node, **kw))
    return out


def test_agent_profile_from_hand_written_events(tmp_path):
    m = measure_audit_logs([write(tmp_path / "a.log", _agent_log())])
    assert m.span_s == 100.0
    (c,) = m.clients
    assert c.client == "ServiceAccount/telemetry/agent" and c.profile.agent == "agent"
    assert c.pods == 3 and c.nodes == 3 and c.per_node and "distinct nodes" in c.per_node_reason
    assert c.profile.per_node is True
    by = {(mc.verb, mc.resource): mc for mc in c.classes}
    lst = by[("list", "pods")]
    assert (lst.requests, lst.continue_pages, lst.pods) == (6, 3, 3)  # continue pages counted apart
    assert lst.scope == "cluster" and lst.resource_version == "any" and lst.limit == 500
    assert lst.status_codes == {200: 3, 429: 3} and lst.throttled == 3 and c.throttled == 3
    watch = by[("watch", "pods")]
    assert watch.requests == 3 and watch.resource_version == "exact"  # one per watch, not three stages
    get = by[("get", "nodes")]
    assert get.scope == "object" and get.requests == 30
    assert get.rate_per_pod_per_s == pytest.approx(30 / 100 / 3)
    rcs = {(rc.verb, rc.trigger): rc for rc in c.profile.classes}
    assert rcs[("list", "start")].resource_version == "0" and rcs[("list", "start")].limit == 500
    assert rcs[("list", "periodic")].rate_per_s == pytest.approx((6 - 3) / 100 / 3)  # LISTs beyond one per pod
    assert rcs[("watch", "held")].scope == "cluster"
    assert rcs[("get", "periodic")].rate_per_s == pytest.approx(0.1)


def test_node_filtered_watch_and_daemonset_without_node_name(tmp_path):
    events = []
    for p in range(4):
        node = f"node-{p}"
        events.append(ev(p, t=p, user=AGENT, pod=f"a-{p}", ip=f"10.0.2.{p}", verb="watch", stage="ResponseStarted",
                         uri=f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&resourceVersion=0&watch=true",
                         resource="pods"))
    m = measure_audit_logs([write(tmp_path / "n.log", events)])
    (c,) = m.clients
    (mc,) = c.classes
    assert mc.scope == "node" and mc.selector and mc.field_selector and not mc.label_selector
    assert c.per_node and "spec.nodeName" in c.per_node_reason
    assert c.profile.classes[0].selector is True


def test_fixed_replicas_leader_only_and_kubelets(tmp_path):
    events = []
    for p in range(3):  # 3 replicas; only replica 0 renews the lease
        events.append(ev(10 + p, t=p, user="system:serviceaccount:ops:ctl", pod=f"ctl-{p}", verb="list",
                         uri="/api/v1/namespaces/ops/configmaps", resource="configmaps", namespace="ops"))
    for k in range(5):
        events.append(ev(20 + k, t=10 + k, user="system:serviceaccount:ops:ctl", pod="ctl-0", verb="update",
                         uri="/apis/coordination.k8s.io/v1/namespaces/ops/leases/ctl", resource="leases",
                         group="coordination.k8s.io", namespace="ops", name="ctl"))
    for n in range(2):
        events.append(ev(30 + n, t=20, user=f"system:node:node-{n}", verb="get", ip=f"10.1.0.{n}",
                         uri=f"/api/v1/nodes/node-{n}", resource="nodes", name=f"node-{n}", ua="kubelet/v1.30.0",
                         groups=("system:nodes", "system:authenticated")))
    m = measure_audit_logs([write(tmp_path / "f.log", events)])
    ctl = next(c for c in m.clients if c.user.endswith(":ctl"))
    assert not ctl.per_node and ctl.profile.replicas == 3
    lease = next(mc for mc in ctl.classes if mc.resource == "leases")
    assert lease.leader_only and lease.scope == "object"
    cm = next(mc for mc in ctl.classes if mc.resource == "configmaps")
    assert cm.scope == "namespace" and not cm.leader_only
    nodes = next(c for c in m.clients if c.user == "system:node:*")
    assert nodes.client == "Nodes/system:node:*" and nodes.pods == 2 and nodes.per_node
    assert nodes.priority_level == "system"


def test_request_received_only_log_is_counted_without_codes(tmp_path):
    events = [ev(i, t=i, user=AGENT, verb="get", stage="RequestReceived", uri="/api/v1/nodes/x",
                 resource="nodes", name="x") for i in range(4)]
    m = measure_audit_logs([write(tmp_path / "r.log", events)])
    assert m.requests == 4 and m.clients[0].status_codes == {0: 4}
    assert any("RequestReceived" in n for n in m.notes)


# --- Bad input ---------------------------------------------------------------------------------------------


def test_garbage_and_truncated_last_line_are_counted_and_noted(tmp_path):
    events = _agent_log()
    good = "".join(json.dumps(e) + "\n" for e in events)
    path = tmp_path / "g.log"
    path.write_text("not json at all\n" + good[: len(good) // 2].rsplit("\n", 1)[0] + "\n{]garbage\n"
                    + good[len(good) // 2:].split("\n", 1)[1] + json.dumps(events[0])[:40])
    expected_lines = path.read_text().count("\n") + 1
    m = measure_audit_logs([path])
    f = m.files[0]
    assert f.garbage_lines == 3 and f.truncated_last_line
    assert f.lines == expected_lines
    assert any("3 line(s) are not audit events" in n and "truncated" in n for n in m.notes)


def test_gzip_gives_the_same_result(tmp_path):
    plain = measure_audit_logs([write(tmp_path / "a.log", _agent_log())])
    gz = measure_audit_logs([write(tmp_path / "a.log.gz", _agent_log())])
    assert gz.files[0].compression == "gzip"
    assert gz.to_json()["clients"] == plain.to_json()["clients"]
    # Compressed but named without .gz: sniffed from the magic bytes.
    (tmp_path / "b.log").write_bytes((tmp_path / "a.log.gz").read_bytes())
    assert measure_audit_logs([tmp_path / "b.log"]).requests == plain.requests


def test_truncated_gzip_stream_is_a_clear_input_error(tmp_path):
    raw = gzip.compress("".join(json.dumps(e) + "\n" for e in _agent_log() * 50).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"cut\.log\.gz: the compressed stream is corrupt or truncated"):
        measure_audit_logs([path])


def test_unknown_api_version_only_is_a_clear_error(tmp_path):
    events = [ev(i, t=i, user=AGENT, verb="get", uri="/api/v1/nodes/x", resource="nodes", name="x",
                 api_version="audit.k8s.io/v2alpha1") for i in range(3)]
    with pytest.raises(InputError, match=r"unknown apiVersion audit\.k8s\.io/v2alpha1 \(3 events\)"):
        measure_audit_logs([write(tmp_path / "u.log", events)])


def test_unknown_api_version_lines_are_skipped_with_a_count(tmp_path):
    events = _agent_log() + [ev(999, t=1, user="x", verb="get", uri="/api", api_version="audit.k8s.io/v9")]
    m = measure_audit_logs([write(tmp_path / "u.log", events)])
    assert m.files[0].unknown_api_versions == {"audit.k8s.io/v9": 1}
    assert any("audit.k8s.io/v9 ×1" in n for n in m.notes)
    assert [c.user for c in m.clients] == [AGENT]


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("hello\nworld\n", "none of the 2 line\\(s\\) is an audit event"),
    (json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []}) + "\n", "EventList"),
])
def test_files_without_events_are_input_errors(tmp_path, content, match):
    path = tmp_path / "bad.log"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        measure_audit_logs([path])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        measure_audit_logs([tmp_path / "nope.log"])
    with pytest.raises(InputError, match="is a folder"):
        measure_audit_logs([tmp_path])


def test_small_memory_limit_still_works(tmp_path):
    m = measure_audit_logs([write(tmp_path / "a.log", _agent_log() * 200)], memory_limit="64MB", threads=1)
    assert m.clients[0].pods == 3
