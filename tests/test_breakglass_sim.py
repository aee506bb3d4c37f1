"""The way back (issue 6) in the simulator: a rollback sent through the simulated apiservers,
and ``waveguard demo --breakglass``. Every expectation is on what the engine produced."""

from __future__ import annotations

import json
from functools import partial
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from waveguard.cli.main import app
from waveguard.model.apf import DEFAULT_FLOW_SCHEMAS, DEFAULT_PRIORITY_LEVELS, APFConfig, FlowSchema, PriorityLevel
from waveguard.model.errors import InputError
from waveguard.model.fleet import Cluster, Fleet
from waveguard.demo import DemoResult, breakglass_targets, simulate_breakglass
from waveguard.sim import FleetSimulator, load_builtin, scenario_from_data, simulate
from waveguard.sim.rollback import DEFAULT_ROLLBACK_REQUESTS, parse_request

BREAKGLASS_LEVEL = "waveguard-break-glass"


@pytest.fixture(scope="module")
def incident():
    """The incident with the rollback on the largest clusters: (without, with) isolation, in two
    processes."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return tuple(pool.map(simulate_breakglass, (False, True)))


@pytest.fixture(scope="module")
def incident_131():
    """The same incident with every cluster at 1.31 (KEP-4568: a filling watch cache answers the
    relists 429 instead of sending them to etcd): (without, with) isolation."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return tuple(pool.map(partial(simulate_breakglass, kubernetes_version="1.31"), (False, True)))


@pytest.fixture(scope="module")
def targets():
    return breakglass_targets(load_builtin("incident-2024-12-11").fleet_model)


def _by_cluster(result):
    return {r.cluster: r for r in result.rollbacks}


# --- the incident -------------------------------------------------------------------------------

def test_rollback_lands_where_the_apf_configuration_puts_the_break_glass_group(incident, targets):
    without, with_ = incident
    assert {r.cluster for r in without.rollbacks} == set(targets) == {r.cluster for r in with_.rollbacks}
    assert all(r.priority_levels == ["global-default"] for r in without.rollbacks)  # a plain authenticated user
    assert all(r.priority_levels == [BREAKGLASS_LEVEL] for r in with_.rollbacks)
    assert all(r.identity == "breakglass" and r.user == "break-glass-operator" for r in with_.rollbacks)


def test_isolated_rollback_completes_at_least_ten_times_faster(incident, targets):
    without, with_ = _by_cluster(incident[0]), _by_cluster(incident[1])
    end = float(incident[0].times[-1])
    for cluster in targets:
        fast = with_[cluster].duration_s
        assert fast is not None and fast <= 10.0  # seconds: 5 sequential requests, one simulated step each
        slow = without[cluster].duration_s
        slow = slow if slow is not None else end - without[cluster].started_at_s  # not done: at least this long
        assert slow >= 10 * fast, (cluster, slow, fast)


def test_break_glass_requests_are_never_rejected_with_isolation(incident):
    result = incident[1]
    for record in result.rollbacks:
        assert record.rejected == 0 and record.failed == 0
        assert all(r.attempts == 1 for r in record.requests)
    for cluster in result.clusters:
        assert result.series("apiserver_flowcontrol_rejected_requests_total", cluster,
                             priority_level=BREAKGLASS_LEVEL)[-1] == 0
        assert result.series("waveguard_sim_rollback_rejected_requests_total", cluster)[-1] == 0
        assert result.series("waveguard_sim_rollback_failed_requests_total", cluster)[-1] == 0


def test_without_isolation_the_rollback_is_locked_out_for_minutes(incident, targets):
    """On the fleet's 1.30 the relists that reach a restarted apiserver's filling watch cache go
    to etcd and OOM-kill it again and again: the rollback's requests wait for a leader, fail
    with 500 after etcd's request timeout, and complete only in a window with a leader."""
    result = incident[0]
    records = _by_cluster(result)
    largest = records[targets[0]]
    end = float(result.times[-1])
    locked = (largest.completed_at_s or end) - largest.started_at_s
    assert locked >= 10 * 60  # the largest cluster: no way back for at least ten minutes
    for cluster in targets:
        record = records[cluster]
        assert record.duration_s is None or record.duration_s >= 60  # minutes, not seconds
        assert record.failed + record.rejected > 0
        # the ground-truth series count the same attempts
        assert result.series("waveguard_sim_rollback_failed_requests_total", cluster)[-1] == record.failed
        assert result.series("waveguard_sim_rollback_rejected_requests_total", cluster)[-1] == record.rejected
        # what locks it out is etcd without a leader: every failure is its 500, counted by the apiserver too
        assert record.etcd_timeouts == record.failed
        assert result.series("apiserver_request_total", cluster, code="500")[-1] >= record.etcd_timeouts
    assert largest.leaderless_s >= 0.9 * locked
    assert result.series("etcd_server_leader_changes_seen_total", targets[0])[-1] >= 5


def test_with_isolation_etcd_keeps_its_leader_on_130(incident, targets):
    """The generated isolation also caps the change's agent in its own level: its relists never
    reach etcd in the numbers that OOM-kill it, so the way back meets an etcd with a leader."""
    result = incident[1]
    for cluster in targets:
        assert result.series("etcd_server_leader_changes_seen_total", cluster)[-1] == 0
        assert result.series("apiserver_request_total", cluster, code="500")[-1] == 0
    assert all(r.leaderless_s == 0 and r.etcd_timeouts == 0 for r in result.rollbacks)


def test_on_131_paginated_relists_still_reach_etcd_and_isolation_still_wins(incident_131, targets):
    """KEP-4568 (1.31-1.33, cacher.go ``shouldDelegateListOnNotReadyCache``): a filling cache answers
    unpaginated relists 429 but delegates LISTs paginated without a selector to etcd — and the
    agent is a client-go informer (its pager's limit=500 with resourceVersion="0"), so without isolation etcd still loses its leader; the isolation's
    cap on the change's agent keeps it, and the slowest isolated rollback is at least ten times faster
    than the slowest without."""
    without, with_ = incident_131
    assert any(without.series("etcd_server_leader_changes_seen_total", c)[-1] > 0 for c in targets)
    for cluster in targets:
        assert with_.series("etcd_server_leader_changes_seen_total", cluster)[-1] == 0
    assert all(r.etcd_timeouts == 0 and r.leaderless_s == 0 for r in with_.rollbacks)
    fast = max(r.duration_s for r in with_.rollbacks)
    assert fast <= 10.0
    end = float(without.times[-1])
    slow = max(r.duration_s if r.duration_s is not None else end - r.started_at_s for r in without.rollbacks)
    assert slow >= 10 * fast
    assert sum(r.failed for r in without.rollbacks) > 0 == sum(r.failed for r in with_.rollbacks)


@pytest.mark.parametrize("isolated", [False, True])
def test_no_apf_level_gets_a_request_through_an_etcd_without_leader(isolated):
    """Contract (no etcd to run): with cluster a's etcd without a leader for 60 s, the rollback —
    in the default levels or the break-glass level — fails with 500 after each etcd request
    timeout and completes only once a leader is back; cluster b's rollback is untouched."""
    from waveguard.demo.breakglass import isolation_apf

    apf = isolation_apf(load_builtin("incident-2024-12-11")) if isolated else None
    sim = FleetSimulator(_small_fleet(), apf=apf, rollback_as=["breakglass"], seed=2)
    sim.step(5)
    leader_back = sim.time_s + 60.0
    sim.state.etcd_down_until[0] = leader_back  # as after an OOM kill (sim/phases/etcd.py _etcd_oom)
    sim.state.etcd_idle = False
    a, b = sim.rollback("a"), sim.rollback("b")
    sim.step(120)
    result = sim.result()
    assert a.completed_at_s is not None and a.completed_at_s > leader_back
    assert a.etcd_timeouts == a.failed >= 2 and a.rejected == 0  # 7 s waits, back-offs between
    assert a.leaderless_s == pytest.approx(60.0, abs=1.0)
    assert result.series("apiserver_request_total", "a", code="500")[-1] >= a.etcd_timeouts
    assert b.duration_s == 5.0 and b.failed == 0
    assert result.series("apiserver_request_total", "b", code="500")[-1] == 0


def test_control_plane_recovers_after_the_isolated_rollback(incident, targets):
    result = incident[1]
    records = _by_cluster(result)
    for cluster in targets:
        record = records[cluster]
        recovered = result.recovered_at(cluster, record.started_at_s)
        assert recovered is not None and recovered - record.completed_at_s <= 10 * 60
        assert record.change_removed_at_s == record.started_at_s + 1.0  # the first request, in the first step
        assert result.series("waveguard_sim_rollout_share", cluster)[-1] == 0.0
        assert result.series("up", cluster, job="apiserver")[-1] == load_builtin(
            "incident-2024-12-11").fleet_model.cluster(cluster).replicas
        assert not result.saturated_mask(cluster)[result.at(recovered):].any()
    assert all(s.oom_kills == 0 for s in result.summary())


def test_pending_requests_series_counts_down_to_zero(incident, targets):
    result = incident[1]
    pending = result.series("waveguard_sim_rollback_pending_requests", targets[0])
    assert pending.max() == len(DEFAULT_ROLLBACK_REQUESTS) - 1  # the first one is served in its first step
    assert pending[-1] == 0


# --- the mechanics, on a small fleet ---------------------------------------------------------------

def _blocking_apf() -> APFConfig:
    """Operators land in a level with no seats that rejects; the controller in one with no seats
    that queues and cannot borrow."""
    levels = [*DEFAULT_PRIORITY_LEVELS,
              PriorityLevel(name="blocked", shares=0, queues=0, hand_size=0, queue_length_limit=0),
              PriorityLevel(name="stuck", shares=0, borrowing_limit_percent=0, queues=1, hand_size=1,
                            queue_length_limit=10)]
    schemas = [*DEFAULT_FLOW_SCHEMAS,
               FlowSchema(name="block-operators", precedence=50, priority_level="blocked", users=["operator"]),
               FlowSchema(name="stuck-controller", precedence=50, priority_level="stuck",
                          service_accounts=[("waveguard-system", "waveguard-controller")])]
    return APFConfig(levels=levels, flow_schemas=schemas)


def _small_fleet() -> Fleet:
    return Fleet(clusters=[Cluster(name="a", nodes=100), Cluster(name="b", nodes=100)])


def test_429s_are_counted_in_the_record_the_level_and_the_ground_truth():
    sim = FleetSimulator(_small_fleet(), apf=_blocking_apf(), rollback_as=["user", "controller"], seed=3)
    sim.step(10)
    rejected_at_once = sim.rollback("a", "user")
    timed_out = sim.rollback("b", "controller")
    sim.step(120)
    result = sim.result()
    assert rejected_at_once.completed_at_s is None and rejected_at_once.rejected >= 5
    assert rejected_at_once.queue_wait_s == 0 and rejected_at_once.backoff_s > 0
    assert result.series("apiserver_flowcontrol_rejected_requests_total", "a", priority_level="blocked")[-1] == \
        rejected_at_once.rejected == result.series("waveguard_sim_rollback_rejected_requests_total", "a")[-1]
    # a queue that never gets a seat: 429 after the APF wait limit (15 s), each attempt
    assert timed_out.rejected >= 2 and timed_out.completed_at_s is None
    assert timed_out.queue_wait_s == pytest.approx(15.0 * timed_out.rejected, abs=1e-6)
    assert result.series("apiserver_flowcontrol_current_inqueue_requests", "b", priority_level="stuck").max() == 1
    assert result.series("apiserver_flowcontrol_rejected_requests_total", "b", priority_level="stuck")[-1] == \
        timed_out.rejected


def test_rollback_api_errors():
    plain = FleetSimulator(_small_fleet())
    with pytest.raises(ValueError, match="rollback_as"):
        plain.rollback("a")
    sim = FleetSimulator(_small_fleet(), rollback_as=["breakglass"])
    with pytest.raises(KeyError):
        sim.rollback("missing")
    with pytest.raises(ValueError, match="controller"):
        sim.rollback("a", "controller")
    with pytest.raises(ValueError, match="at least one"):
        sim.rollback("a", requests=[])
    sim.rollback("a")
    with pytest.raises(ValueError, match="already running"):
        sim.rollback("a")
    with pytest.raises(ValueError):
        FleetSimulator(_small_fleet(), rollback_as=["root"])
    with pytest.raises(ValueError):
        parse_request("list pods")


def test_a_rollback_leaves_other_clusters_and_runs_without_one_unchanged():
    def run(with_rollback: bool):
        sim = FleetSimulator(_small_fleet(), rollback_as=["breakglass"] if with_rollback else [], seed=5)
        sim.step(5)
        if with_rollback:
            sim.rollback("a")
        sim.step(60)
        return sim.result()

    base, other = run(False), run(True)
    for metric in ("apiserver_flowcontrol_current_executing_seats", "apiserver_request_duration_seconds",
                   "waveguard_sim_workload_error_ratio"):
        np.testing.assert_allclose(other.series(metric, "b"), base.series(metric, "b"), rtol=1e-9, atol=1e-12)
    assert other.rollbacks[0].completed_at_s == 10.0  # 5 requests, one step each, from t = 5 s


SCENARIO = {
    "name": "rollback-event", "duration_s": 240, "seed": 4,
    "fleet": {"clusters": [{"name": "small", "labels": {"env": "prod"}, "nodes": 300},
                           {"name": "large", "labels": {"env": "prod"}, "nodes": 3000}]},
    "change": "examples/incident-telemetry",
    "schedule": [{"selector": {"env": "prod"}, "at_s": 0}],
    "events": [{"at_s": 60, "rollback": {"cluster": "large", "as": "controller"}},
               {"at_s": 60, "rollback": {"cluster": "small", "as": "user",
                                         "requests": ["patch daemonsets", "delete configmaps"]}}],
}


def test_scenario_rollback_events_same_with_worker_processes():
    scenario = scenario_from_data(SCENARIO)
    one, two = simulate(scenario), simulate(scenario, workers=2)
    doc = one.to_json()
    assert [(r["cluster"], r["identity"]) for r in doc["rollbacks"]] == [("large", "controller"), ("small", "user")]
    small = next(r for r in doc["rollbacks"] if r["cluster"] == "small")
    assert [(q["verb"], q["resource"]) for q in small["requests"]] == [("patch", "daemonsets"), ("delete", "configmaps")]
    assert small["completed_at_s"] is not None and small["change_removed_at_s"] == 61.0
    assert [r.model_dump() for r in one.rollbacks] == [r.model_dump() for r in two.rollbacks]
    assert "rollbacks" not in simulate(scenario_from_data({**SCENARIO, "events": []})).to_json()


@pytest.mark.parametrize("event, message", [
    ({"cluster": "nope"}, "events.0.rollback.cluster: no cluster named 'nope'"),
    ({"cluster": "large", "as": "root"}, "events.0.rollback.as"),
    ({"cluster": "large", "requests": ["list pods"]}, "events.0.rollback.requests"),
    ({"cluster": "large", "restart": True}, "unknown key"),
])
def test_bad_rollback_events_are_input_errors(event, message):
    data = {**SCENARIO, "events": [{"at_s": 10, "rollback": event}]}
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        scenario_from_data(data)


# --- waveguard demo --breakglass -------------------------------------------------------------------

def test_demo_breakglass_json_and_report(runner, tmp_path, targets):
    report = tmp_path / "demo.html"
    result = runner.invoke(app, ["demo", "--breakglass", "-o", "json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["strategies"]] == ["none", "workload-errors", "waveguard"]  # unchanged
    bg = doc["breakglass"]
    assert {"scenario", "change", "identity", "speedup", "cases"} <= set(bg)
    assert bg["identity"] == "breakglass" and bg["speedup"] >= 10
    assert [(c["name"], c["isolated"]) for c in bg["cases"]] == [("without isolation", False), ("with isolation", True)]
    keys = {"cluster", "nodes", "priority_level", "saturated_at_s", "started_at_s", "completed_at_s", "duration_s",
            "rejected", "failed", "queue_wait_s", "backoff_s", "recovered_at_s", "oom_kills", "etcd_timeouts",
            "leaderless_s"}
    for case in bg["cases"]:
        assert len(case["rollbacks"]) == 3 and all(keys <= set(r) for r in case["rollbacks"])
    isolated = bg["cases"][1]["rollbacks"]
    assert {r["cluster"] for r in isolated} == set(targets)
    assert all(r["priority_level"] == BREAKGLASS_LEVEL and r["rejected"] == 0 and r["duration_s"] == 5.0
               and r["recovered_at_s"] is not None for r in isolated)
    html = report.read_text()
    assert "The way back" in html and html.count("data:image/png;base64,") == 4
    # the 1.30 default: etcd is named as what held the rollback without isolation up
    without = bg["cases"][0]["rollbacks"]
    assert all(r["etcd_timeouts"] > 0 and r["leaderless_s"] > 60 for r in without)
    assert "etcd had no leader for" in html and "isolation cannot help" in html and "1.31" in html
    assert "breakglass" not in DemoResult(scenario="s", strategies=[], production_traffic=None).as_json()
