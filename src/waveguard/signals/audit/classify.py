"""Classification: from the aggregated rows of one client to its measured classes, its scope
and per-node verdict, its name and priority level, and its request profile (the rules are in
the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from waveguard.model import constants as C
from waveguard.model.apf import APFConfig, Subject
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.signals.audit.models import MeasuredClass, MeasuredClient

#: Minimum pods for the per-node (DaemonSet) heuristics that have node evidence. Policy: two
#: pods on two nodes could be any Deployment; three filtering by their own node rarely are.
PER_NODE_MIN_PODS = 3
#: Minimum pods, each with its own source IP, to call a client per-node without node evidence.
#: Policy: API-talking Deployments rarely run ten replicas; DaemonSets run one per node.
PER_NODE_MIN_PODS_BY_IP = 10
#: Minimum pods of a client for a class sent by one pod only to count as leader-only. Policy.
LEADER_MIN_PODS = 3

#: Verbs the cost model costs, and the verbs costed as one of them.
MODEL_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
VERB_ALIASES = {"deletecollection": "delete"}

#: The flag bits of the aggregate's ``bits`` column (sql.py sets them).
BIT_NONRESOURCE, BIT_NAMESPACED, BIT_NAMED, BIT_LABEL_SEL, BIT_CONTINUE = 1, 2, 4, 8, 16
BIT_FIELD_SEL, BIT_NAME_FILTER, BIT_NODE_FILTER = 32, 64, 128
#: issue 12: WATCH parameters only client-go's reflector sends (allowWatchBookmarks=true;
#: sendInitialEvents=true, a WatchList). k8s: client-go tools/cache/reflector.go (watch options).
BIT_BOOKMARKS, BIT_INITIAL_EVENTS = 256, 512
#: The flags that say which objects a request reads (a LIST and a WATCH with the same are one
#: informer's): everything but the continue page and the WATCH parameters.
PAIR_MASK = BIT_NONRESOURCE | BIT_NAMESPACED | BIT_NAMED | BIT_LABEL_SEL | BIT_FIELD_SEL | BIT_NAME_FILTER \
    | BIT_NODE_FILTER
#: Leading columns of a class row and a status-code row that identify the class: user_key, ua
#: and the 8 class keys.
CLASS_KEY_COLUMNS = 10


@dataclass(frozen=True)
class ClientSummary:
    """One client's row of the aggregate: distinct pods, node names (token), node filters
    (``spec.nodeName`` values) and source IPs; requests (continue pages excluded); its groups;
    whether each pod has one source IP of its own."""

    user: str
    user_agent: str
    pods: int
    nodes: int
    node_filters: int
    source_ips: int
    requests: int
    groups: list[str]
    one_ip_per_pod: bool


@dataclass(frozen=True)
class WatchEvidence:
    """What one client's WATCHes of one set of objects (resource, scope and selector flags) say
    about its LISTs of them. ``watches``: WATCH requests, of them ``bookmarks`` with
    allowWatchBookmarks=true and ``initial_events`` with sendInitialEvents=true; ``list_pods``:
    pods that LISTed them, of them ``rv_pods`` WATCHed from the resourceVersion their LIST
    returned (a log with LIST responses: RequestResponse level) and ``after_pods`` from a
    resourceVersion number after their first LIST; ``list_rvs_known``: the log holds LIST
    responses' resourceVersions (then only ``rv_pods`` is evidence)."""

    watches: int = 0
    bookmarks: int = 0
    initial_events: int = 0
    list_pods: int = 0
    rv_pods: int = 0
    after_pods: int = 0
    list_rvs_known: bool = False


#: ``RequestClass.watch_list`` of a measured LIST: "no" (not an informer), "client-go-default" (an
#: informer, WatchListClient as client-go's default on the cluster's version), "yes" (a WatchList).
WatchList = Literal["no", "client-go-default", "yes"]


def informer_verdict(ev: WatchEvidence | None) -> tuple[WatchList, str]:
    """(``watch_list`` of the client's LISTs of these objects, the evidence in words). An informer
    only from evidence: a WATCH from the resourceVersion the pod's LIST returned (client-go
    tools/cache/reflector.go ``ListAndWatch``: LIST, then WATCH from the list's resourceVersion),
    or a WATCH parameter only client-go's reflector sends (allowWatchBookmarks=true,
    sendInitialEvents=true). Otherwise the client keeps its own measured behaviour."""
    if ev is None or ev.watches == 0:
        return "no", "not an informer: no WATCH of these objects (its LISTs at their measured rate)"
    if ev.initial_events:
        return "yes", f"WatchList informer: {ev.initial_events} WATCH(es) with sendInitialEvents=true"
    why = []
    if ev.rv_pods:
        why.append(f"{ev.rv_pods} of {ev.list_pods} pod(s) WATCHed from the resourceVersion their LIST returned")
    elif ev.after_pods and not ev.list_rvs_known:
        why.append(f"{ev.after_pods} of {ev.list_pods} pod(s) WATCHed from a resourceVersion after their LIST "
                   f"(no LIST responses in the log to match it)")
    if ev.bookmarks:
        why.append(f"{ev.bookmarks} WATCH(es) with allowWatchBookmarks=true")
    if why:
        return "client-go-default", "client-go informer: " + "; ".join(why)
    return "no", ("not an informer: its WATCHes neither start from its LIST's resourceVersion nor ask for "
                  "bookmarks (every broken WATCH is followed by a LIST)")


def pair_key(row: tuple[Any, ...]) -> tuple:
    """The :func:`waveguard.signals.audit.sql.watch_evidence` key of a class row."""
    return (row[0], row[1], row[3], row[4], row[5], int(row[6]) & PAIR_MASK)


def measured_client(summary: ClientSummary, class_rows: list[tuple], code_map: dict[tuple, dict[int, int]],
                    name: str, span: float, apf: APFConfig,
                    evidence: dict[tuple, WatchEvidence] | None = None) -> MeasuredClient:
    """One client from its summary, its class rows (user_key, ua, the 8 class keys, requests,
    continue pages, pods), the status codes per class and its LISTs' and WATCHes' evidence
    (keyed by :func:`pair_key`); ``span`` seconds of log."""
    per_node, reason = per_node_verdict(summary)
    evidence = evidence or {}
    starts = start_lists(class_rows)
    measured = [measured_class(row, summary.pods, code_map, span, evidence.get(pair_key(row)), i in starts)
                for i, row in enumerate(class_rows)]
    status: dict[int, int] = {}
    for mc in measured:
        for k, v in mc.status_codes.items():
            status[k] = status.get(k, 0) + v
    user, pods = summary.user, summary.pods
    ns, sa = service_account(user)
    profile = RequestProfile(
        client=name, agent=(summary.user_agent.split("/", 1)[0] or "unknown"), per_node=per_node,
        replicas=max(1, pods), namespace=ns or "default", service_account=sa or "default",
        user=None if sa else user, groups=[] if sa else summary.groups,
        classes=[rc for mc in measured for rc in request_classes(mc, span)],
    )
    return MeasuredClient(
        client=name, user=user, user_agent=summary.user_agent, groups=summary.groups, pods=pods,
        nodes=summary.nodes, source_ips=summary.source_ips, per_node=per_node, per_node_reason=reason,
        priority_level=priority_level(user, summary.groups, apf), requests=summary.requests,
        status_codes=status, throttled=status.get(429, 0), classes=measured, profile=profile,
    )


def start_lists(class_rows: list[tuple]) -> set[int]:
    """Indexes of the LIST rows that are their objects' start LIST: per :func:`pair_key`, the
    LIST class most pods sent (then most requests). Its other LIST classes (e.g. a reflector's
    relists from resourceVersion N, or "" after a 410) are LISTs at their measured rate."""
    best: dict[tuple, int] = {}
    for i, row in enumerate(class_rows):
        if row[2] != "list":
            continue
        top = best.get(pair_key(row))
        if top is None or (int(row[-1] or 0), int(row[-3] or 0)) > (int(class_rows[top][-1] or 0),
                                                                     int(class_rows[top][-3] or 0)):
            best[pair_key(row)] = i
    return set(best.values())


def measured_class(row: tuple[Any, ...], client_pods: int, code_map: dict[tuple, dict[int, int]],
                   span: float, evidence: WatchEvidence | None = None, start_list: bool = True) -> MeasuredClass:
    """One class row of a client of ``client_pods`` pods as a :class:`MeasuredClass`; ``evidence``:
    the client's LISTs and WATCHes of the same objects (:func:`informer_verdict`); ``start_list``:
    a LIST row is its objects' start LIST (:func:`start_lists`)."""
    verb, resource, subresource, api_group, bits, rv_sem, rv_match, lim, n_req, n_pages, n_pods = row[2:]
    n_req, n_pages, n_pods = int(n_req or 0), int(n_pages or 0), int(n_pods or 0)
    cc = code_map.get(tuple(row[:CLASS_KEY_COLUMNS]), {})
    label_sel, field_sel = bool(bits & BIT_LABEL_SEL), bool(bits & BIT_FIELD_SEL)
    ev = evidence or WatchEvidence()
    watch_list, why = informer_verdict(ev) if verb in ("list", "watch") else ("no", "")
    return MeasuredClass(
        verb=verb, resource="nonresource" if bits & BIT_NONRESOURCE else resource, subresource=subresource,
        api_group=api_group, scope=scope_of(verb, bits), selector=label_sel or field_sel,
        label_selector=label_sel, field_selector=field_sel, resource_version=rv_sem,
        resource_version_match=rv_match or "", limit=int(lim) if lim is not None else None,
        requests=n_req, continue_pages=n_pages, pods=n_pods,
        rate_per_pod_per_s=n_req / span / n_pods if n_pods else 0.0,
        status_codes=cc, throttled=cc.get(429, 0),
        leader_only=client_pods >= LEADER_MIN_PODS and n_pods == 1,
        bookmarks=bool(bits & BIT_BOOKMARKS), initial_events=bool(bits & BIT_INITIAL_EVENTS),
        watch_list=watch_list, informer_evidence=why, listed=ev.list_pods > 0,
        plain_watches=ev.watches > ev.initial_events, start_list=start_list and verb == "list",
    )


def client_names(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Unique, readable client names: ``ServiceAccount/ns/name``, ``Nodes/system:node:*`` or
    ``User/<name>``, with `` [user agent]`` when one user has several."""
    users: dict[str, int] = {}
    for u, _ in keys:
        users[u] = users.get(u, 0) + 1
    out = {}
    for u, a in keys:
        ns, sa = service_account(u)
        if ns is not None:
            base = f"ServiceAccount/{ns}/{sa}"
        elif u == "system:node:*":
            base = "Nodes/system:node:*"
        else:
            base = f"User/{u}"
        out[(u, a)] = f"{base} [{a or 'no user agent'}]" if users[u] > 1 else base
    return out


def service_account(user: str) -> tuple[str | None, str | None]:
    """(namespace, name) of a ServiceAccount user ``system:serviceaccount:NS:NAME``, else (None, None)."""
    parts = (user or "").split(":")
    if len(parts) == 4 and parts[0] == "system" and parts[1] == "serviceaccount":
        return parts[2], parts[3]
    return None, None


def priority_level(user: str, groups: list[str], apf: APFConfig) -> str:
    """The priority level ``apf`` puts the user's LISTs of pods in ("unknown" when none matches)."""
    name = "system:node:x" if user == "system:node:*" else user
    try:
        return apf.classify(Subject(user=name, groups=groups), "list", "pods").priority_level
    except LookupError:
        return "unknown"


def per_node_verdict(client: ClientSummary) -> tuple[bool, str]:
    """(per node, why): the DaemonSet heuristic of the package docstring, first rule that applies."""
    user, pods, nodes, node_filters = client.user, client.pods, client.nodes, client.node_filters
    if user == "system:node:*":
        return True, "kubelets: one client per node"
    if nodes >= PER_NODE_MIN_PODS and nodes == pods:
        return True, f"{pods} pods on {nodes} distinct nodes (token node-name)"
    if node_filters >= PER_NODE_MIN_PODS and node_filters == pods:
        return True, f"{pods} pods each filtering by its own node (spec.nodeName, {node_filters} values)"
    if nodes == 0 and node_filters == 0 and pods >= PER_NODE_MIN_PODS_BY_IP and client.source_ips == pods \
            and client.one_ip_per_pod:
        return True, f"{pods} pods, each with its own source IP (no node evidence: heuristic)"
    return False, f"{pods} pod(s): fixed replicas"


def scope_of(verb: str, bits: int) -> str:
    """The request scope from the flag bits: object, node, namespace or cluster."""
    if bits & (BIT_NONRESOURCE | BIT_NAMED | BIT_NAME_FILTER):
        return "object"
    if verb in ("list", "watch", "deletecollection") and bits & BIT_NODE_FILTER:
        return "node"
    return "namespace" if bits & BIT_NAMESPACED else "cluster"


def model_resource_version(mc: MeasuredClass) -> Literal["0", "", "not-older-than", "exact"]:
    """``RequestClass.resource_version`` of a measured class, as the API concepts'
    resourceVersion / resourceVersionMatch table reads its query: absent or empty → "" (most
    recent); "0" → "0" (any); a number N on a LIST → "exact" with ``resourceVersionMatch=Exact``
    or, without a match, with a limit (the legacy exact read), else "not-older-than"; N on a GET
    or WATCH → "0" (served from the watch cache once it has caught up with N)."""
    if mc.resource_version == "most-recent":
        return ""
    if mc.resource_version == "any" or mc.verb != "list":
        return "0"
    if mc.resource_version_match == "Exact" or (mc.resource_version_match == "" and mc.limit is not None):
        return "exact"
    return "not-older-than"


def request_classes(mc: MeasuredClass, span: float) -> list[RequestClass]:
    """The profile's request classes for one measured class (see the module doc, "rates").

    A LIST is an informer's start LIST only with the evidence of :func:`informer_verdict`; a
    LIST followed by WATCHes of the same objects without it is a ``start`` LIST of a client that
    is not an informer (``watch_list`` "no": a LIST after every broken WATCH); one start LIST per
    set of objects (:func:`start_lists`); any other LIST, and a LIST without any WATCH of its
    objects, is ``periodic`` at its measured rate. A WATCH with
    sendInitialEvents=true is a WatchList informer's start (``watch_list`` "yes"; client-go falls
    back to a LIST with its pager's limit where the server has no WatchList)."""
    verb = VERB_ALIASES.get(mc.verb, mc.verb)
    if verb not in MODEL_VERBS or mc.requests == 0:
        return []
    codes = ", ".join(f"{k}×{v}" for k, v in sorted(mc.status_codes.items()))
    component = (f"audit log: {mc.requests} {mc.verb} from {mc.pods} pod(s) in {span:.0f} s"
                 + (f", {mc.continue_pages} continue pages" if mc.continue_pages else "")
                 + (f"; codes {codes}" if codes else "")
                 + (f"; {mc.informer_evidence}" if mc.informer_evidence else ""))
    common: dict[str, Any] = dict(
        verb=verb, resource=mc.resource_path, api_group=mc.api_group, scope=mc.scope,
        resource_version=model_resource_version(mc), limit=mc.limit, selector=mc.selector or mc.scope == "node",
        leader_only=mc.leader_only, component=component,
    )
    if verb == "watch":
        return _watch_classes(mc, span, common)
    if verb == "list" and mc.start_list and (mc.plain_watches or mc.initial_events):
        return _starts(mc, span, {**common, "watch_list": mc.watch_list})
    return [RequestClass(trigger="periodic", rate_per_s=mc.rate_per_pod_per_s, **common)]


def _starts(mc: MeasuredClass, span: float, common: dict[str, Any]) -> list[RequestClass]:
    """A start LIST (once per pod start, and per relist), plus a ``periodic`` class with the rate
    of the LISTs beyond one per pod."""
    out = [RequestClass(trigger="start", **common)]
    extra = mc.requests - mc.pods
    if extra > 0:
        out.append(RequestClass(trigger="periodic", rate_per_s=extra / span / mc.pods, **common))
    return out


def _watch_classes(mc: MeasuredClass, span: float, common: dict[str, Any]) -> list[RequestClass]:
    """A WATCH held open; one with sendInitialEvents=true is also the WatchList start of an
    informer that does not LIST these objects (held only when no plain WATCH of them is its
    re-WATCH: one watch per pod at a time)."""
    if not mc.initial_events:
        return [RequestClass(trigger="held", **common)]
    out = [] if mc.plain_watches else [RequestClass(trigger="held", **common)]
    if not mc.listed:
        start = {**common, "verb": "list", "resource_version": "0", "limit": C.CLIENT_GO_LIST_PAGE_SIZE,
                 "watch_list": "yes"}
        out += _starts(mc, span, start)
    return out
