"""Generate the APF isolation that keeps the way back open for one change.

:func:`generate_isolation` (a parsed :class:`~waveguard.model.manifests.Change`) returns an
:class:`Isolation`: flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfigurations and FlowSchemas
that give the break-glass group and the waveguard controller guaranteed seats, and every
API-talking ServiceAccount of the change a capped level; :meth:`Isolation.to_yaml` writes them
as commented multi-document YAML for ``kubectl apply -f -``; :attr:`Isolation.apf` is the
resulting :class:`~waveguard.model.apf.APFConfig` for the simulator. Every choice is a
constant of :mod:`waveguard.breakglass.policy`, where its reason is written.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from waveguard.analysis.profiles import recognise_agents
from waveguard.breakglass import policy as P
from waveguard.breakglass.apf_objects import manifest_problems, translate
from waveguard.breakglass.check import BreakglassReport, check_apf
from waveguard.breakglass.defaults import ALL_NON_RESOURCES, ALL_RESOURCES
from waveguard.model import constants as C
from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.errors import InputError
from waveguard.model.manifests import Change, Document


#: Columns of every line :meth:`Isolation.to_yaml` writes: an 80-column terminal's, and
#: yamllint's default ``line-length`` (``max: 80``, yamllint.readthedocs.io, rules). Comments
#: are wrapped to it; PyYAML folds the objects' long strings at it (a name with no space to
#: fold at, longer than a line, still runs over).
WIDTH = 80


@dataclass
class Isolation:
    """The generated objects (levels first, then FlowSchemas), one comment block each, the
    header, the merged :class:`APFConfig`, and the self-check of that configuration."""

    group: str
    controller: tuple[str, str]
    service_accounts: list[tuple[str, str]]
    manifests: list[dict[str, Any]]
    comments: list[str]
    header: str
    apf: APFConfig
    report: BreakglassReport
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """Multi-document YAML (PyYAML ``safe_dump``), each document after its ``#`` comments."""
        parts = []
        for i, (doc, comment) in enumerate(zip(self.manifests, self.comments, strict=True)):
            text = _comment(comment) + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=WIDTH)
            parts.append((_comment(self.header) + "\n" if i == 0 else "") + text)
        return "---\n".join(parts)


def api_service_accounts(change: Change) -> list[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount of ``change`` that talks to kube-apiserver:
    the ServiceAccounts of the workloads the analysis recognises as API clients, and those
    the change's RBAC grants something to (they hold a token that may be used). Sorted."""
    found: set[tuple[str, str]] = set()
    for agent in recognise_agents(change):
        if agent.workload.automount_token and agent.profile.classes:
            found.add((agent.workload.namespace, agent.workload.service_account))
    for sa in change.service_accounts:
        ns = sa.namespace or "default"
        if change.grants(ns, sa.name):
            found.add((ns, sa.name))
    return sorted(found)


def change_service_accounts(change: Change, source: str) -> list[tuple[str, str]]:
    """:func:`api_service_accounts` of ``change``. Raises InputError (``source``) when there is
    none: nothing to cap or check (the change's manifests were not given: a plan, a values file)."""
    sas = api_service_accounts(change)
    if not sas:
        raise InputError(source, "the change has no ServiceAccount that talks to the API (no recognised API client, "
                         "no RBAC-bound ServiceAccount): nothing to cap",
                         hint="pass the change's rendered manifests, with its workloads and RBAC")
    return sas


def generate_isolation(change: Change, *, group: str = P.DEFAULT_GROUP,
                       controller: tuple[str, str] = P.DEFAULT_CONTROLLER,
                       existing: Iterable[Document] = (), source: str = "the change",
                       server_seats: int = C.SEATS_PER_REPLICA) -> Isolation:
    """The isolation for ``change``.

    ``existing``: FlowSchemas / levels already on the cluster (``kubectl get
    flowschemas,prioritylevelconfigurations -o yaml``); the change's own are added. Raises
    :class:`InputError` when: ``group`` is not a valid subject (see
    :func:`policy.validate_group`); the change has no API-talking ServiceAccount; one of them
    is the controller's identity; an existing object has a generated name and is not waveguard's
    (label ``app.kubernetes.io/managed-by: waveguard``); or, merged with the existing objects,
    the break-glass path is still not protected (an existing FlowSchema shadows it). Generated
    objects are validated with :func:`apf_objects.manifest_problems` (a failure is a bug:
    RuntimeError)."""
    P.validate_group(group)
    sas = change_service_accounts(change, source)
    if controller in sas:
        raise InputError(source, f"ServiceAccount {controller[0]}/{controller[1]} is the waveguard controller's "
                         "identity; the change cannot use it", hint="give the change its own ServiceAccount")
    existing = [*existing, *(d for d in change.documents if d.kind in ("FlowSchema", "PriorityLevelConfiguration"))]
    manifests, comments = _objects(group, controller, sas, change)
    _refuse_name_clashes(manifests, existing)
    for doc in manifests:
        problems = manifest_problems(doc)
        if problems:  # pragma: no cover - the generator's own bug, not bad input
            raise RuntimeError(f"generated {doc['kind']} {doc['metadata']['name']} is invalid: {problems}")
    generated_names = {(d["kind"], d["metadata"]["name"]) for d in manifests}
    kept = [d for d in existing if (d.kind, d.name) not in generated_names]
    merged_docs: list[Any] = [*kept, *manifests]
    t = translate(merged_docs)
    report = check_apf(t.apf, group=group, controller=controller, service_accounts=sas, server_seats=server_seats,
                       notes=t.notes, source=source)
    if not report.ok:
        bad = report.failures()[0]
        where = " with the existing FlowSchemas" if kept else ""
        raise InputError(source, f"the isolation would not hold{where}: {bad.identity}: {bad.detail}",
                         hint="remove or re-rank the FlowSchema that shadows it" if kept else
                              "split the change: too many ServiceAccounts leave the break-glass level too few seats")
    header = _header(source, group, controller, sas, t.apf, server_seats)
    return Isolation(group=group, controller=controller, service_accounts=sas, manifests=manifests,
                     comments=comments, header=header, apf=t.apf, report=report, notes=t.notes)


def _labels(component: str) -> dict[str, str]:
    return {P.MANAGED_BY[0]: P.MANAGED_BY[1], "app.kubernetes.io/component": component}


def _priority_level(name: str, component: str, limited: dict, queuing: dict) -> dict:
    """A Limited PriorityLevelConfiguration whose overflow queues (``limited``: its shares and
    lending fields)."""
    return {
        "apiVersion": P.API_VERSION, "kind": "PriorityLevelConfiguration",
        "metadata": {"name": name, "labels": _labels(component)},
        "spec": {"type": "Limited", "limited": {
            **limited, "limitResponse": {"type": "Queue", "queuing": dict(queuing)}}},
    }


def _flow_schema(name: str, component: str, precedence: int, subjects: list[dict]) -> dict:
    """A FlowSchema sending every request of ``subjects`` (all verbs, resources and non-resource
    URLs) to the level of the same name, one flow per user."""
    return {
        "apiVersion": P.API_VERSION, "kind": "FlowSchema",
        "metadata": {"name": name, "labels": _labels(component)},
        "spec": {
            "priorityLevelConfiguration": {"name": name},
            "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{"subjects": subjects, "resourceRules": [copy.deepcopy(ALL_RESOURCES)],
                       "nonResourceRules": [copy.deepcopy(ALL_NON_RESOURCES)]}],
        },
    }


def _objects(group: str, controller: tuple[str, str], sas: list[tuple[str, str]], change: Change
             ) -> tuple[list[dict], list[str]]:
    """The break-glass level and FlowSchema, then one capped level and FlowSchema per
    ServiceAccount of ``sas``: (objects, levels first; their comments, same order)."""
    parts = [_breakglass_objects(group, controller)] + [_capped_objects(ns, name, change) for ns, name in sas]
    levels = [level for level, _, _, _ in parts]
    level_comments = [comment for _, comment, _, _ in parts]
    schemas = [schema for _, _, schema, _ in parts]
    schema_comments = [comment for _, _, _, comment in parts]
    return [*levels, *schemas], [*level_comments, *schema_comments]


def _breakglass_objects(group: str, controller: tuple[str, str]) -> tuple[dict, str, dict, str]:
    """(level, its comment, FlowSchema, its comment) of the break-glass group and the controller."""
    level = _priority_level(P.BREAKGLASS_NAME, "break-glass", {
        "nominalConcurrencyShares": P.BREAKGLASS_SHARES, "lendablePercent": P.BREAKGLASS_LENDABLE_PERCENT,
    }, P.BREAKGLASS_QUEUING)
    q = P.BREAKGLASS_QUEUING
    level_comment = (
        f"Break-glass level: guaranteed seats for the way back.\n"
        f"- nominalConcurrencyShares {P.BREAKGLASS_SHARES}: as k8s gives leader-election, the other level that keeps "
        f"the control plane alive; the seats it buys are listed in the header.\n"
        f"- lendablePercent {P.BREAKGLASS_LENDABLE_PERCENT}: none of its seats is lent away, so they are free when the "
        f"rollback arrives in the middle of an overload.\n"
        f"- borrowingLimitPercent unset: it may still borrow idle seats of other levels.\n"
        f"- Queue {q['queues']} queues, handSize {q['handSize']}, queueLengthLimit {q['queueLengthLimit']} "
        f"(leader-election's shape): a burst of rollback requests waits, it is never rejected with 429.")
    schema = _flow_schema(P.BREAKGLASS_NAME, "break-glass", P.BREAKGLASS_PRECEDENCE, [
        {"kind": "Group", "group": {"name": group}},
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": controller[0], "name": controller[1]}},
    ])
    schema_comment = (
        f"Break-glass FlowSchema: group {group} (put it in the O= of the emergency client certificates, see "
        f"`waveguard breakglass kubeconfig`) and the waveguard controller, ServiceAccount {controller[0]}/{controller[1]}.\n"
        f"- matchingPrecedence {P.BREAKGLASS_PRECEDENCE}: lower wins. It beats every default that routes to a limited "
        f"level: system-leader-election 100, endpoint-controller 150, workload-leader-election 200, "
        f"kube-system-service-accounts 900, service-accounts 9000, global-default 9900 (k8s bootstrap/default.go); "
        f"exempt 1 (system:masters) and probes 2 (health checks) still win, and send to the unlimited exempt level.\n"
        f"- All verbs, resources and non-resource URLs: a rollback must never fall through to a shared level.\n"
        f"- distinguisherMethod ByUser: each person and the controller is its own flow, so one runaway script cannot "
        f"block another's rollback.")
    return level, level_comment, schema, schema_comment


def _capped_objects(ns: str, name: str, change: Change) -> tuple[dict, str, dict, str]:
    """(level, its comment, FlowSchema, its comment) capping ServiceAccount ``ns/name``."""
    cname = P.capped_name(ns, name)
    level = _priority_level(cname, "capped", {
        "nominalConcurrencyShares": P.CAPPED_SHARES, "lendablePercent": P.CAPPED_LENDABLE_PERCENT,
        "borrowingLimitPercent": P.CAPPED_BORROWING_LIMIT_PERCENT,
    }, P.CAPPED_QUEUING)
    cq = P.CAPPED_QUEUING
    level_comment = (
        f"Capped level of ServiceAccount {ns}/{name}: the most its overload can take.\n"
        f"- nominalConcurrencyShares {P.CAPPED_SHARES}: the smallest level k8s ships (catch-all's): enough for a "
        f"healthy agent's watches and GETs.\n"
        f"- borrowingLimitPercent {P.CAPPED_BORROWING_LIMIT_PERCENT}: it never borrows beyond its nominal seats: "
        f"that is the cap.\n"
        f"- lendablePercent {P.CAPPED_LENDABLE_PERCENT} (workload-low's): its idle seats go back to the others; 10 % "
        f"stays for the agent's own lease renewals.\n"
        f"- Queue {cq['queues']} queue × {cq['queueLengthLimit']} (handSize {cq['handSize']}), not Reject: all pods of "
        f"a DaemonSet share one ServiceAccount, one flow, so more queues would not help; 10 slots absorb a healthy "
        f"start-up burst, anything beyond gets 429 at once (cheap; client-go backs off) instead of waiting "
        f"{C.APISERVER_REQUEST_TIMEOUT_S / 4:.0f} s in a queue holding memory.")
    schema = _flow_schema(cname, "capped", P.CAPPED_PRECEDENCE, [
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": ns, "name": name}}])
    default_schema = ("kube-system-service-accounts (900) → workload-high, beside kube-controller-manager and "
                      "kube-scheduler (WG105)" if ns == "kube-system" else "service-accounts (9000) → workload-low")
    extra = ""
    if name == "default":
        extra = f"\n- Note: this caps every pod of namespace {ns} that runs as its default ServiceAccount."
    schema_comment = (
        f"Capped FlowSchema of ServiceAccount {ns}/{name} (used by {_users_of(change, ns, name)}).\n"
        f"- Without it: {default_schema}.\n"
        f"- matchingPrecedence {P.CAPPED_PRECEDENCE}: beats kube-system-service-accounts 900 and service-accounts "
        f"9000, and the leader-election schemas 100/200 (a kube-system agent's lease traffic cannot flood the "
        f"controllers' leader-election level); loses to the break-glass schema {P.BREAKGLASS_PRECEDENCE}.{extra}")
    return level, level_comment, schema, schema_comment


def _users_of(change: Change, ns: str, name: str) -> str:
    refs = [w.ref for w in change.workloads if w.namespace == ns and w.service_account == name]
    return ", ".join(refs) if refs else "no workload of the change; bound by its RBAC"


def _refuse_name_clashes(manifests: list[dict], existing: Sequence[Document]) -> None:
    for doc in manifests:
        name, kind = doc["metadata"]["name"], doc["kind"]
        for other in existing:
            if other.kind != kind or other.name != name:
                continue
            labels = (other.body.get("metadata") or {}).get("labels") or {}
            if labels.get(P.MANAGED_BY[0]) == P.MANAGED_BY[1]:
                continue  # waveguard's own, from an earlier run: applying replaces it
            raise InputError(other.location.file, f"a {kind} named {name!r} already exists and is not waveguard's",
                             line=other.location.line,
                             hint="rename or delete it, or label it app.kubernetes.io/managed-by=waveguard if "
                                  "waveguard made it")


def _header(source: str, group: str, controller: tuple[str, str], sas: list[tuple[str, str]],
            apf: APFConfig, server_seats: int) -> str:
    lines = [
        f"waveguard breakglass generate: API Priority and Fairness isolation for {source}",
        "flowcontrol.apiserver.k8s.io/v1 (Kubernetes >= 1.29). Apply BEFORE the rollout: kubectl apply -f FILE",
        "Check it: waveguard breakglass check --manifests FILE (or --live on the cluster).",
        "",
        "Matching precedence, lower wins (defaults: k8s bootstrap/default.go; exempt and catch-all are mandatory "
        "and cannot be overridden):",
    ]
    rows = [(prec, name, "") for name, prec in P.DEFAULT_PRECEDENCES.items()]
    rows.append((P.BREAKGLASS_PRECEDENCE, P.BREAKGLASS_NAME,
                 f"<- group {group}, ServiceAccount {controller[0]}/{controller[1]}"))
    rows += [(P.CAPPED_PRECEDENCE, P.capped_name(ns, n), f"<- ServiceAccount {ns}/{n}") for ns, n in sas]
    for prec, name, note in sorted(rows, key=lambda r: (r[0], r[1])):
        lines.append(f"  {prec:>6}  {name}  {note}".rstrip())
    before = DEFAULT_APF.nominal_seats(server_seats)
    after = apf.nominal_seats(server_seats)
    total = sum(lvl.shares for lvl in apf.levels if not lvl.exempt)
    lines += ["", f"Nominal seats per level on one {server_seats}-seat apiserver = ceil({server_seats} x shares / "
                  f"sum of shares) (domain.md section 2); adding levels takes seats from every other level. Sum of "
                  f"shares after: {total}.",
              f"  {'level':<48} {'shares':>6} {'before':>6} {'after':>6}"]
    for lvl in apf.levels:
        if lvl.exempt:
            continue
        b = str(before[lvl.name]) if lvl.name in before else "-"
        lines.append(f"  {lvl.name:<48} {lvl.shares:>6} {b:>6} {after[lvl.name]:>6}")
    lines.append("  exempt: unlimited (system:masters and health probes only)")
    widest = apf.max_seats_per_request(P.BREAKGLASS_NAME, server_seats)
    capped = [apf.max_seats_per_request(P.capped_name(ns, n), server_seats) for ns, n in sas]
    lines.append(f"Seats one request may take = min(10, ceil(0.15 x nominal)) (domain.md section 2): {widest} on the "
                 f"break-glass level, {max(capped)} on a capped level.")
    return "\n".join(lines)


def _comment(text: str, width: int = WIDTH) -> str:
    """``text`` as YAML comment lines of at most ``width`` columns, ``# `` included: bullets
    and table rows keep a hanging indent (a row's continuation under its second column); a
    word longer than a line (a path) is cut."""
    out = []
    for line in text.splitlines():
        if len(line) + 2 <= width:
            out.append(f"# {line}".rstrip())
            continue
        lead = len(line) - len(line.lstrip(" "))
        indent = " " * (lead + 4) if lead else ("  " if line.startswith("- ") else "")
        out += [f"# {part}" for part in textwrap.wrap(line.lstrip(" "), width - 2, initial_indent=" " * lead,
                                                      subsequent_indent=indent, break_on_hyphens=False)]
    return "\n".join(out) + "\n"
