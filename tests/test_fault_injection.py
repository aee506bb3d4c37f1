"""Fault injection (issue 14) against the **contract** stub apiserver (tests/k8s_stub.py).

No kube-apiserver can run here: the stub records the exact requests and serves the objects; its
faults are scripted (429 storms with Retry-After, 5xx, connection resets, answers held back past
the read timeout, bodies dripped byte by byte, a cluster down for the whole rollback). Back-off
waits run on a fake clock (:class:`tests.k8s_stub.FakeTime`): no test waits real back-off time;
only the timeout and slow-body faults take real time, bounded by a read timeout of 0.3 s each.
Each test asserts what the user sees (the error, or the state ``rollout status`` prints from) and
what the state file holds. Through the command line, with Prometheus faults:
tests/test_fault_injection_cli.py.
"""

from __future__ import annotations


import pytest
import yaml

from tests.k8s_stub import (  # noqa: F401  (apiservers_fixture: the stub's fixture)
    CHANGE, DS_PATH, PATHS, FakeTime, Fault, apiservers_fixture, kubeconfig, labelled,
)
from tests.test_k8s_target_contract import backend_for, target_for
from waveguard.rollout.engine import Engine
from waveguard.rollout.eventlog import EventLog, fold
from waveguard.rollout.plan import ClusterSelector, GateSpec, Plan, Wave


def one_wave_plan(*clusters: str, share: float = 0.5) -> Plan:
    return Plan(change=str(CHANGE), waves=[Wave(name="w", clusters=ClusterSelector(names=list(clusters)),
                                                 node_share=share, bake_s=60)],
                gates=[GateSpec(kind="apiserver_p99_latency")], gate_interval_s=30)


def test_a_429_storm_with_retry_after_is_waited_out_as_the_server_asks(tmp_path, apiservers):
    stub = apiservers(nodes=4, script=[Fault("status", "PATCH", DS_PATH, times=5, status=429, retry_after="3")])
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake)
    log = EventLog(tmp_path / "s.db", create=True)
    state = Engine(plan=one_wave_plan("prod-a"), fleet=t.fleet, target=backend_for(t), log=log,
                   analysed_profiles=[]).run()
    assert state.status == "completed"
    assert fake.slept == [3.0] * 5  # Retry-After honoured, no jitter on top
    patches = [r for r in stub.requests if r.method == "PATCH" and r.path == DS_PATH]
    assert len(patches) == 6 and DS_PATH in stub.objects
    applied = [e for e in fold(log.events()).applied]
    assert applied == [(0, "prod-a")]  # one apply logged, whatever the retries


@pytest.mark.parametrize("fault", [
    Fault("status", "GET", "/api/v1/namespaces/telemetry", times=3, status=503),
    Fault("status", "GET", "/api/v1/namespaces/telemetry", times=3, status=500),
    Fault("reset", "GET", "/api/v1/namespaces/telemetry", times=3),
], ids=["503", "500", "reset"])
def test_5xx_and_connection_resets_are_retried_with_jittered_backoff(tmp_path, apiservers, fault):
    stub = apiservers(nodes=2, script=[fault])
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake)
    recorded = t.prepare("prod-a", 1.0)
    assert all(v is None for v in recorded["previous"].values())  # read despite the faults
    assert len(fake.slept) == 3 and all(0 <= w <= 0.5 * 2 ** n for n, w in enumerate(fake.slept))
    assert t.client("prod-a").retries == 3


def test_an_answer_held_back_and_a_dripped_body_are_timeouts_and_retried(tmp_path, apiservers):
    stub = apiservers(nodes=2, script=[Fault("hang", "GET", PATHS[0], seconds=1.5),
                                       Fault("slow_body", "GET", PATHS[1], seconds=0.05)])
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake, read_timeout_s=0.3)
    t.prepare("prod-a", 1.0)  # each fault once: a timeout, then the retry answers
    assert [r.path for r in stub.requests].count(PATHS[0]) == 2
    assert [r.path for r in stub.requests].count(PATHS[1]) == 2
    assert len(fake.slept) == 2


def test_a_refusal_is_not_retried_and_names_the_status(tmp_path, apiservers):
    stub = apiservers(nodes=2, fail={("GET", PATHS[0]): 403})
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake)
    with pytest.raises(Exception, match="403"):
        t.prepare("prod-a", 1.0)
    assert fake.slept == []  # the refused GET was sent once, after the discovery of its group/version
    assert [(r.method, r.path) for r in stub.requests] == [("GET", "/api/v1"), ("GET", PATHS[0])]


def test_one_cluster_down_for_the_whole_rollback_is_left_pending_and_the_others_roll_back(tmp_path, apiservers):
    """The engine rolls every cluster back at once; prod-b's apiserver resets every connection
    past its cluster deadline: prod-a and prod-c are rolled back, prod-b is ``rollback_pending``
    with the reason, the rollout is not ``rolled_back``; once prod-b answers, the next run
    (``resume``) rolls it back."""
    stubs = {name: apiservers(nodes=2) for name in ("prod-a", "prod-b", "prod-c")}
    fake = FakeTime()
    t = target_for(tmp_path, stubs, fake, cluster_deadline_s=120, request_deadline_s=30)
    log = EventLog(tmp_path / "s.db", create=True)
    plan = one_wave_plan(*stubs)
    for name in stubs:
        t.prepare(name, 0.5)
        t.apply(name, 0.5)
    log.append("started", 0.0, plan=plan.model_dump(mode="json"))
    log.append("wave_started", 0.0, wave=0, name="w", node_share=0.5, bake_s=60)
    for name in stubs:
        log.append("apply_started", 0.0, wave=0, cluster=name, share=0.5, previous=t.previous[name])
        log.append("applied", 0.0, wave=0, cluster=name, share=0.5)
    log.append("aborted", 1.0)
    stubs["prod-b"].down = True
    state = Engine(plan=plan, fleet=t.fleet, target=backend_for(t), log=log, analysed_profiles=[]).run()
    assert state.status == "rolling_back"
    assert state.rolled_back == {"prod-a", "prod-c"}
    assert set(state.rollback_pending) == {"prod-b"} and "no answer" in state.rollback_pending["prod-b"]
    assert "gave up after 120 s" in state.rollback_pending["prod-b"]
    assert state.cluster_state["prod-b"] == "rollback_pending"
    assert stubs["prod-a"].objects == {} and stubs["prod-c"].objects == {}
    assert DS_PATH in stubs["prod-b"].objects  # untouched: it never answered
    assert sum(fake.slept) >= 120 - 30  # waited out its deadline, on the fake clock
    kinds = [(e.kind, e.cluster) for e in log.events()][-7:]
    assert ("rollback_pending", "prod-b") in kinds and ("rolled_back", None) not in kinds

    stubs["prod-b"].down = False
    fresh = target_for(tmp_path, stubs, FakeTime())
    state = Engine(plan=plan, fleet=fresh.fleet, target=backend_for(fresh), log=log, analysed_profiles=[]).run()
    assert state.status == "rolled_back" and state.rollback_pending == {}
    assert stubs["prod-b"].objects == {} and labelled(stubs["prod-b"]) == []


def test_the_rollback_uses_its_own_identity_and_fails_over_between_replicas(tmp_path, apiservers):
    """``rollback_kubeconfig`` with ``break-glass/<cluster>/<ip>`` contexts (as
    ``waveguard breakglass kubeconfig`` writes them): the rollback's requests carry that
    identity, and a replica that resets is passed over for the next."""
    stub = apiservers(nodes=2)
    dead = apiservers(nodes=2, down=True)
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake)
    t.prepare("prod-a", 1.0)
    t.apply("prod-a", 1.0)
    bg = {"apiVersion": "v1", "kind": "Config", "current-context": "break-glass/prod-a/10.0.0.1",
          "clusters": [{"name": f"break-glass/prod-a/{ip}", "cluster": {"server": s.url}}
                       for ip, s in (("10.0.0.1", dead), ("10.0.0.2", stub))],
          "users": [{"name": "waveguard-break-glass", "user": {"token": "break-glass-token"}}],
          "contexts": [{"name": f"break-glass/prod-a/{ip}",
                        "context": {"cluster": f"break-glass/prod-a/{ip}", "user": "waveguard-break-glass"}}
                       for ip in ("10.0.0.1", "10.0.0.2")]}
    path = tmp_path / "break-glass.kubeconfig"
    path.write_text(yaml.safe_dump(bg))
    t.config = t.config.model_copy(update={"rollback_kubeconfig": str(path)})
    stub.requests.clear()
    t.rollback("prod-a")
    assert stub.objects == {}
    assert {r.authorization for r in stub.requests} == {"Bearer break-glass-token"}
    assert len(dead.requests) == 1 and len(fake.slept) == 1  # the dead replica once, then the next


def test_a_missing_rollback_identity_is_that_clusters_pending_reason_not_a_stop(tmp_path, apiservers):
    """``rollback_kubeconfig`` without a context for prod-b: prod-b is ``rollback_pending`` with
    the reason, prod-a rolls back through its break-glass context. Settings accept one context
    or a list."""
    from waveguard.rollout.k8s_client import KubernetesConfig

    assert KubernetesConfig.from_backend({"rollback_contexts": {"a": "ctx"}}).rollback_contexts == {"a": ["ctx"]}
    stubs = {"prod-a": apiservers(nodes=2), "prod-b": apiservers(nodes=2)}
    t = target_for(tmp_path, stubs, FakeTime())
    plan = one_wave_plan(*stubs)
    log = EventLog(tmp_path / "s.db", create=True)
    log.append("started", 0.0, plan=plan.model_dump(mode="json"))
    for name in stubs:
        t.prepare(name, 1.0)
        t.apply(name, 1.0)
        log.append("apply_started", 0.0, wave=0, cluster=name, share=1.0, previous=t.previous[name])
        log.append("applied", 0.0, wave=0, cluster=name, share=1.0)
    log.append("aborted", 1.0)
    path, _ = kubeconfig(tmp_path, {"prod-a": stubs["prod-a"]})
    text = path.read_text().replace("ctx-prod-a", "break-glass/prod-a/10.0.0.1")
    (tmp_path / "bg.kubeconfig").write_text(text)
    t.config = t.config.model_copy(update={"rollback_kubeconfig": str(tmp_path / "bg.kubeconfig")})
    state = Engine(plan=plan, fleet=t.fleet, target=backend_for(t), log=log, analysed_profiles=[]).run()
    assert state.rolled_back == {"prod-a"} and stubs["prod-a"].objects == {}
    assert "no rollback context" in state.rollback_pending["prod-b"]
    assert DS_PATH in stubs["prod-b"].objects


def test_retry_after_is_read_as_seconds_or_an_http_date_and_never_waited_past_the_deadline(tmp_path, apiservers):
    import time
    from email.utils import formatdate

    from waveguard.rollout.k8s_client import KubernetesError, retry_after_s

    assert retry_after_s("7") == 7.0 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert 25 <= retry_after_s(formatdate(time.time() + 30, usegmt=True)) <= 31
    stub = apiservers(nodes=2, script=[Fault("status", "GET", PATHS[0], times=50, status=429, retry_after="120")])
    fake = FakeTime()
    t = target_for(tmp_path, {"prod-a": stub}, fake, request_deadline_s=60)
    with pytest.raises(KubernetesError, match="429") as err:
        t.prepare("prod-a", 1.0)
    assert fake.slept == [] and err.value.attempts == 1  # asked to wait 120 s with 60 s left: gave up at once
