"""``waveguard measure`` (issue 12): whether a measured client is a client-go informer, from
evidence in the audit log only, and the resourceVersion semantics of its LISTs.

Hand-written ``audit.k8s.io/v1`` events (requestURI with its query, verb, user, objectRef,
stage, timestamps, responseStatus; a ``responseObject`` where the policy level is
RequestResponse). The pattern is client-go's reflector (tools/cache/reflector.go
``ListAndWatch``): a LIST with resourceVersion=0 and its pager's limit=500, then a WATCH from the
resourceVersion that LIST returned, with allowWatchBookmarks=true and timeoutSeconds of 5–10
minutes. Where LISTs are served per version is checked against the cacher's rules
(model.versions ``Features.list_source``; no kube-apiserver binary runs here: the contract is the
Kubernetes source named there).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_measure_audit import ev, write
from waveguard.model.fleet import Cluster, Fleet
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.work import ListRoute, list_route, request_cost
from waveguard.signals.audit import Measurement, measure_audit_logs

AGENT = "system:serviceaccount:monitoring:collector"
LIST_URI = "/api/v1/pods?limit=500&resourceVersion=0"


def _watch_uri(rv: str | None, bookmarks: bool = False) -> str:
    query = ["allowWatchBookmarks=true"] if bookmarks else []
    query += [f"resourceVersion={rv}"] if rv is not None else []
    return "/api/v1/pods?" + "&".join(query + ["timeoutSeconds=420", "watch=true"])


def _with_response_rv(e: dict, rv: str) -> dict:
    """``e`` as a RequestResponse-level LIST event whose response has resourceVersion ``rv``."""
    return {**e, "level": "RequestResponse",
            "responseObject": {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                               "items": []}}


def _list_then_watch(pods: int, watch_rv: list[str | None], *, bookmarks: bool = False,
                     list_rv: list[str] | None = None) -> list[dict]:
    """Each pod LISTs all pods at t=0 (its LIST returning ``list_rv[p]`` when given), then WATCHes
    them from ``watch_rv[p]`` at t=1 (RequestReceived and ResponseStarted: a WATCH still open)."""
    out, i = [], 0
    for p in range(pods):
        kw = dict(user=AGENT, pod=f"collector-{p}", ip=f"10.0.2.{p}", resource="pods")
        i += 1
        listed = ev(i, t=0, verb="list", uri=LIST_URI, **kw)
        out.append(_with_response_rv(listed, list_rv[p]) if list_rv else listed)
        i += 1
        for stage in ("RequestReceived", "ResponseStarted"):
            out.append(ev(i, t=1, verb="watch", stage=stage, uri=_watch_uri(watch_rv[p], bookmarks), **kw))
    out.append(ev(i + 1, t=100, verb="get", uri="/api/v1/namespaces/monitoring/pods/collector-0",
                  resource="pods", namespace="monitoring", name="collector-0", user=AGENT, pod="collector-0"))
    return out


def _measure(tmp_path: Path, events: list[dict]) -> Measurement:
    return measure_audit_logs([write(tmp_path / "audit.log", events)])


def _classes(m: Measurement, verb: str) -> list:
    return [mc for c in m.clients for mc in c.classes if mc.verb == verb]


def _profile_classes(m: Measurement, verb: str) -> list[RequestClass]:
    return [rc for p in m.profiles() for rc in p.classes if rc.verb == verb]


# --- informer evidence ---------------------------------------------------------------------------


def test_a_watch_from_the_resource_version_its_list_returned_is_an_informer(tmp_path):
    m = _measure(tmp_path, _list_then_watch(2, ["777", "778"], list_rv=["777", "778"]))
    (lst,) = _classes(m, "list")
    assert lst.watch_list == "client-go-default"
    assert "2 of 2 pod(s) WATCHed from the resourceVersion their LIST returned" in lst.informer_evidence
    (start,) = _profile_classes(m, "list")
    assert (start.trigger, start.resource_version, start.limit) == ("start", "0", 500)
    assert start.informer and start.watch_list == "client-go-default"
    assert "client-go informer" in start.component and start.component.startswith("audit log:")
    (watch,) = _profile_classes(m, "watch")
    assert watch.trigger == "held"


def test_a_watch_from_another_resource_version_is_no_evidence_when_the_log_has_the_list_responses(tmp_path):
    m = _measure(tmp_path, _list_then_watch(2, ["999", "999"], list_rv=["777", "778"]))
    (lst,) = _classes(m, "list")
    assert lst.watch_list == "no" and lst.informer_evidence.startswith("not an informer")
    (start,) = _profile_classes(m, "list")
    # It LISTs and WATCHes: its LIST is still one per start, and it relists after a broken WATCH.
    assert start.trigger == "start" and not start.informer


def test_without_list_responses_a_watch_from_a_number_after_the_list_is_the_evidence_seen(tmp_path):
    m = _measure(tmp_path, _list_then_watch(3, ["5", "6", "7"]))  # Metadata level
    (lst,) = _classes(m, "list")
    assert lst.watch_list == "client-go-default"
    assert "3 of 3 pod(s) WATCHed from a resourceVersion after their LIST" in lst.informer_evidence
    assert "no LIST responses in the log" in lst.informer_evidence


def test_bookmarks_are_a_parameter_only_the_reflector_sends(tmp_path):
    m = _measure(tmp_path, _list_then_watch(2, [None, None], bookmarks=True))
    (lst,) = _classes(m, "list")
    assert lst.watch_list == "client-go-default" and lst.informer_evidence == \
        "client-go informer: 2 WATCH(es) with allowWatchBookmarks=true"


def test_a_watch_from_now_without_bookmarks_is_not_an_informer(tmp_path):
    m = _measure(tmp_path, _list_then_watch(2, [None, None]))
    (start,) = _profile_classes(m, "list")
    assert start.trigger == "start" and start.watch_list == "no"
    assert "neither start from its LIST's resourceVersion nor ask for bookmarks" in start.component


def test_lists_without_a_watch_keep_their_measured_rate(tmp_path):
    """A client that polls (kubectl get pods every 10 s): no start LIST, no relist storm."""
    events = [ev(i, t=10 * i, verb="list", uri="/api/v1/namespaces/default/pods?limit=500", user="alice",
                 resource="pods", namespace="default", ip="10.9.9.9") for i in range(11)]
    m = _measure(tmp_path, events)
    (rc,) = _profile_classes(m, "list")
    assert rc.trigger == "periodic" and rc.rate_per_s == pytest.approx(11 / 100)
    assert rc.watch_list == "no" and "no WATCH of these objects" in rc.component


def test_a_send_initial_events_watch_is_a_watch_list_start(tmp_path):
    uri = ("/api/v1/pods?allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&sendInitialEvents=true"
           "&timeoutSeconds=540&watch=true")
    events = [ev(p + 1, t=p, verb="watch", stage="ResponseStarted", uri=uri, user=AGENT, pod=f"collector-{p}",
                 ip=f"10.0.3.{p}", resource="pods") for p in range(2)]
    events.append(ev(9, t=60, verb="get", uri="/api/v1/nodes/n1", user=AGENT, resource="nodes", name="n1"))
    m = _measure(tmp_path, events)
    (watch_class,) = _classes(m, "watch")
    assert watch_class.initial_events and watch_class.watch_list == "yes"
    (start,) = _profile_classes(m, "list")
    assert (start.trigger, start.watch_list, start.resource_version, start.limit) == ("start", "yes", "0", 500)
    assert [rc.trigger for rc in _profile_classes(m, "watch")] == ["held"]


# --- resourceVersion semantics --------------------------------------------------------------------


@pytest.mark.parametrize(("query", "measured", "model"), [
    ("limit=500&resourceVersion=0", "any", "0"),
    ("limit=500&resourceVersion=0&resourceVersionMatch=NotOlderThan", "any", "0"),
    ("limit=500", "most-recent", ""),
    ("limit=500&resourceVersion=123", "exact", "exact"),  # the legacy exact read
    ("resourceVersion=123", "exact", "not-older-than"),
    ("limit=500&resourceVersion=123&resourceVersionMatch=NotOlderThan", "exact", "not-older-than"),
    ("resourceVersion=123&resourceVersionMatch=Exact", "exact", "exact"),
    ("limit=500&resourceVersion=123&resourceVersionMatch=Exact", "exact", "exact"),
])
def test_a_list_keeps_its_resource_version_semantics(tmp_path, query, measured, model):
    m = _measure(tmp_path, [ev(1, t=0, verb="list", uri=f"/api/v1/pods?{query}", user="bob", resource="pods"),
                            ev(2, t=10, verb="get", uri="/api", user="bob")])
    (lst,) = _classes(m, "list")
    assert lst.resource_version == measured
    (rc,) = _profile_classes(m, "list")
    assert rc.resource_version == model


def _cluster(version: str) -> Cluster:
    return Cluster(name="c", nodes=100, pods=3000, kubernetes_version=version)


def _rv_list(rv: str, limit: int | None) -> RequestClass:
    return RequestClass(verb="list", resource="pods", scope="cluster", trigger="periodic", rate_per_s=0.1,
                        resource_version=rv, limit=limit)  # type: ignore[arg-type]


CACHE, ETCD = ListRoute("cache", "cache", False), ListRoute("etcd", "etcd", True)


@pytest.mark.parametrize(("rv", "limit", "routes"), [
    # NotOlderThan without a limit: the cache, whole list, on every version.
    ("not-older-than", None, {"1.20": CACHE, "1.30": CACHE, "1.32": CACHE, "1.33": CACHE, "1.34": CACHE}),
    # ... with a limit: etcd up to 1.32 (hasLimit), the cache from 1.33 (delegator NotOlderThan),
    # its continuation pages from etcd until ListFromCacheSnapshot (1.34).
    ("not-older-than", 500, {"1.20": ETCD, "1.30": ETCD, "1.32": ETCD, "1.33": ListRoute("cache", "etcd", True),
                             "1.34": ListRoute("cache", "cache", True)}),
    # Exact (and the legacy exact read): etcd until the cache keeps snapshots (1.34).
    ("exact", 500, {"1.20": ETCD, "1.30": ETCD, "1.32": ETCD, "1.33": ETCD, "1.34": ListRoute("cache", "cache", True)}),
    ("exact", None, {"1.30": ListRoute("etcd", "etcd", False), "1.34": CACHE}),
])
def test_lists_from_a_resource_version_are_routed_as_the_cacher_does(rv, limit, routes):
    assert {v: list_route(_rv_list(rv, limit), _cluster(v)) for v in routes} == routes


def test_a_measured_informer_rewatches_and_a_measured_plain_client_relists(tmp_path):
    """End to end: the measured profiles in the simulator; a replica crash moves an informer's
    watches to the replicas that are up, and sends the other client to relist."""
    from waveguard.sim import FleetSimulator
    from waveguard.sim.phases import replicas

    for watch_rv, bookmarks, relists in ((["5", "6", "7"], True, False), ([None] * 3, False, True)):
        m = _measure(tmp_path, _list_then_watch(3, watch_rv, bookmarks=bookmarks))
        profile: RequestProfile = m.profiles()[0]
        sim = FleetSimulator(Fleet(clusters=[_cluster("1.30")]), [profile], initial_share=1.0, expected_steps=10)
        g = [sim.clients[i].role for i in sim.groups.client].index("change")
        watching = sim.state.synced_watches[g, 0, 0]
        assert watching > 0
        replicas.crash(sim.state, sim.params, 0, 0, oom=False)
        assert sim.state.backoff[1, g, 0] == pytest.approx(watching if relists else 0.0)


def test_one_start_list_per_informer_and_its_relists_at_their_measured_rate(tmp_path):
    """A reflector LISTs with resourceVersion=0 at start and relists from its last
    resourceVersion N (tools/cache/reflector.go relistResourceVersion): only the LIST all pods
    sent is the start LIST."""
    events = _list_then_watch(3, [None] * 3, bookmarks=True)
    events.append(ev(99, t=50, verb="list", uri="/api/v1/pods?resourceVersion=4242", user=AGENT,
                     pod="collector-1", ip="10.0.2.1", resource="pods"))
    m = _measure(tmp_path, events)
    lists = {(rc.resource_version, rc.trigger): rc for rc in _profile_classes(m, "list")}
    assert set(lists) == {("0", "start"), ("not-older-than", "periodic")}
    assert lists[("0", "start")].informer
    assert lists[("not-older-than", "periodic")].rate_per_s == pytest.approx(1 / 100)


def test_apf_estimates_an_exact_list_as_one_from_etcd_even_where_a_snapshot_serves_it():
    """list_work_estimator.go asks the delegator with ``CacheWithoutSnapshots``, whose
    ``ShouldDelegateExactRV`` always delegates: on 1.34 the cache's snapshot serves the LIST,
    APF charges the seats of one from etcd."""
    from waveguard.model.work import list_seats

    c = Cluster(name="c", nodes=10, pods=1000, kubernetes_version="1.34")
    exact = _rv_list("exact", None)
    assert list_route(exact, c).first == "cache"
    from_etcd, from_cache = list_seats(exact, c, "etcd", 100)[0], list_seats(exact, c, "cache", 100)[0]
    assert from_etcd > from_cache  # the size-based estimate caps what the cache streams
    assert request_cost(exact, c, max_seats=100).seats == from_etcd
