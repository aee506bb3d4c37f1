"""Is the way back open? Check an APF configuration for a protected break-glass path.

:func:`check_apf` works on a :class:`waveguard.model.apf.APFConfig` (what the simulator and the
rollout plan hold); :func:`check_manifests` on flowcontrol objects (files, or a live cluster's
list from :func:`waveguard.breakglass.live.read_live_objects`).

The break-glass path is **protected** when every rollback request (``policy.ROLLBACK_REQUESTS``)
of a break-glass group member and of the waveguard controller lands in a level that is either
exempt or (a) dedicated: no control-plane component, agent or ordinary user lands there,
(b) guaranteed: ``lendablePercent`` 0 and at least ``policy.MIN_GUARANTEED_SEATS`` nominal
seats on a 600-seat apiserver, (c) queuing, not rejecting. A change's ServiceAccount is
**capped** when its requests land in a limited level that cannot borrow
(``borrowingLimitPercent`` 0) and that no control-plane component or break-glass identity shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from waveguard.breakglass import policy as P
from waveguard.breakglass.apf_objects import Manifest, translate
from waveguard.model import constants as C
from waveguard.model.apf import DEFAULT_PRIORITY_LEVELS, APFConfig, PriorityLevel, Subject
from waveguard.model.manifests import Document

#: Identities that must never share the break-glass level or a capped level (who would be
#: starved, or would starve it): name → APF subject. Probe names are made up for the check.
CONTROL_PLANE_PROBES: dict[str, Subject] = {
    "kubelets (group system:nodes)": Subject(user="system:node:waveguard-probe",
                                             groups=["system:nodes", "system:authenticated"]),
    "kube-controller-manager": Subject(user="system:kube-controller-manager", groups=["system:authenticated"]),
    "kube-scheduler": Subject(user="system:kube-scheduler", groups=["system:authenticated"]),
    "kube-system ServiceAccounts": Subject.service_account("kube-system", "waveguard-probe"),
    "other ServiceAccounts": Subject.service_account("waveguard-probe", "waveguard-probe"),
    "other authenticated users": Subject(user="waveguard-probe-user", groups=["system:authenticated"]),
}
#: Requests the probes send when deciding who shares a level (verb, resource).
PROBE_REQUESTS: tuple[tuple[str, str], ...] = (
    ("get", "pods"), ("list", "pods"), ("watch", "pods"), ("update", "leases"), ("patch", "nodes"),
    ("create", "events"), ("delete", "daemonsets"),
)
_DEFAULT_LEVEL_NAMES = frozenset(lvl.name for lvl in DEFAULT_PRIORITY_LEVELS)


class CheckItem(BaseModel):
    """One identity's verdict: where its requests land and why that is (not) safe."""

    identity: str
    role: Literal["break-glass", "capped"]
    ok: bool
    flow_schema: str | None = None
    priority_level: str | None = None
    #: Nominal seats of that level on one apiserver of ``server_seats`` (0 for exempt).
    nominal_seats: int | None = None
    detail: str


class BreakglassReport(BaseModel):
    """The verdict. ``protected``: the break-glass path; ``capped``: the change's
    ServiceAccounts (None when none were asked about); ``ok``: both."""

    source: str
    protected: bool
    capped: bool | None
    items: list[CheckItem]
    notes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.protected and self.capped is not False

    def failures(self) -> list[CheckItem]:
        return [i for i in self.items if not i.ok]


def check_manifests(docs: Iterable[Manifest | Document], *, group: str = P.DEFAULT_GROUP,
                    controller: tuple[str, str] = P.DEFAULT_CONTROLLER,
                    service_accounts: Sequence[tuple[str, str]] = (), merge_defaults: bool = True,
                    server_seats: int = C.SEATS_PER_REPLICA, source: str = "manifests") -> BreakglassReport:
    """:func:`check_apf` on flowcontrol objects (dicts or Documents; other kinds skipped),
    merged with the Kubernetes defaults unless ``merge_defaults`` is False (a live cluster's
    complete list). Raises :class:`InputError` on a malformed object."""
    t = translate(docs, merge_defaults=merge_defaults)
    notes = list(t.notes)
    if not t.flow_schemas and not t.levels:
        notes.append("no FlowSchema or PriorityLevelConfiguration found: checked the Kubernetes defaults alone"
                     if merge_defaults else "no FlowSchema or PriorityLevelConfiguration found")
    return check_apf(t.apf, group=group, controller=controller, service_accounts=service_accounts,
                     server_seats=server_seats, notes=notes, source=source)


def check_apf(apf: APFConfig, *, group: str = P.DEFAULT_GROUP, controller: tuple[str, str] = P.DEFAULT_CONTROLLER,
              service_accounts: Sequence[tuple[str, str]] = (), server_seats: int = C.SEATS_PER_REPLICA,
              notes: Sequence[str] = (), source: str = "APF configuration") -> BreakglassReport:
    """Check ``apf`` for a protected break-glass path (``group`` members and the ``controller``
    ServiceAccount (namespace, name)) and, for each of ``service_accounts`` (namespace, name),
    a capped level. ``server_seats``: one apiserver's concurrency limit (600, domain.md §2)."""
    nominal = apf.nominal_seats(server_seats)
    bg_subjects = {f"group {group}": P.group_member(group),
                   f"controller ServiceAccount {controller[0]}/{controller[1]}": Subject.service_account(*controller)}
    sa_subjects = {f"ServiceAccount {ns}/{name}": Subject.service_account(ns, name) for ns, name in service_accounts}
    items: list[CheckItem] = []
    for identity, subject in bg_subjects.items():
        intruders = {**CONTROL_PLANE_PROBES, **sa_subjects}
        items.append(_breakglass_item(apf, nominal, identity, subject, intruders))
    for identity, subject in sa_subjects.items():
        intruders = {**CONTROL_PLANE_PROBES, **bg_subjects}
        items.append(_capped_item(apf, nominal, identity, subject, intruders))
    protected = all(i.ok for i in items if i.role == "break-glass")
    capped = all(i.ok for i in items if i.role == "capped") if sa_subjects else None
    return BreakglassReport(source=source, protected=protected, capped=capped, items=items, notes=list(notes))


def _landing(apf: APFConfig, subject: Subject, requests: Sequence[tuple[str, str]]
             ) -> list[tuple[str, str, str, str]]:
    """(verb, resource, FlowSchema, level) of each request; level '' when nothing matches."""
    out = []
    for verb, resource in requests:
        try:
            fs = apf.classify(subject, verb, resource)
        except LookupError:
            out.append((verb, resource, "", ""))
            continue
        out.append((verb, resource, fs.name, fs.priority_level))
    return out


def _sharers(apf: APFConfig, level: str, others: dict[str, Subject]) -> list[str]:
    return [name for name, subject in others.items()
            if any(lvl == level for *_, lvl in _landing(apf, subject, PROBE_REQUESTS))]


def _breakglass_item(apf: APFConfig, nominal: dict[str, int], identity: str, subject: Subject,
                     intruders: dict[str, Subject]) -> CheckItem:
    landing = _landing(apf, subject, P.ROLLBACK_REQUESTS)
    problems: list[str] = []
    for verb, resource, _schema, landed_level in landing:
        if not landed_level:
            problems.append(f"no FlowSchema matches {verb} {resource}")
    levels = sorted({lvl for *_, lvl in landing if lvl})
    for name in levels:
        lvl = apf.level(name)
        if lvl.exempt:
            continue
        problems += _guarantee_problems(apf, lvl, nominal[name], intruders)
    fs_names = sorted({fs for _, _, fs, lvl in landing if lvl})
    level = levels[0] if len(levels) == 1 else None
    seats = nominal.get(level) if level else None
    if problems:
        detail = f"{', '.join(fs_names)} → {', '.join(levels)}: " + "; ".join(dict.fromkeys(problems))
    elif level and apf.level(level).exempt:
        detail = f"{fs_names[0]} → {level}: exempt from APF (never queued or rejected; also never bounded)"
    else:
        lvl = apf.level(levels[0])
        detail = (f"{', '.join(fs_names)} → {', '.join(levels)}: {seats} guaranteed seats per apiserver, lends none, "
                  f"queues up to {lvl.max_queued_per_flow} per flow, shared with nobody else")
    return CheckItem(identity=identity, role="break-glass", ok=not problems, flow_schema=", ".join(fs_names) or None,
                     priority_level=", ".join(levels) or None, nominal_seats=seats, detail=detail)


def _guarantee_problems(apf: APFConfig, lvl: PriorityLevel, seats: int, intruders: dict[str, Subject]) -> list[str]:
    problems = []
    sharers = _sharers(apf, lvl.name, intruders)
    if sharers:
        problems.append(f"shared with {', '.join(sharers)}")
    elif lvl.name in _DEFAULT_LEVEL_NAMES:
        problems.append("a default level, shared with whatever else lands there")
    if lvl.lendable_percent > 0:
        problems.append(f"lends {lvl.lendable_percent}% of its seats away")
    if seats < P.MIN_GUARANTEED_SEATS:
        problems.append(f"only {seats} nominal seats (< {P.MIN_GUARANTEED_SEATS})")
    if lvl.rejects_when_full:
        problems.append("rejects (429) instead of queuing when its seats are busy")
    return problems


def _capped_item(apf: APFConfig, nominal: dict[str, int], identity: str, subject: Subject,
                 intruders: dict[str, Subject]) -> CheckItem:
    landing = _landing(apf, subject, PROBE_REQUESTS)
    problems: list[str] = []
    levels = sorted({lvl for *_, lvl in landing if lvl})
    fs_names = sorted({fs for _, _, fs, lvl in landing if lvl})
    for name in levels:
        lvl = apf.level(name)
        if lvl.exempt:
            problems.append(f"{name} is exempt: nothing bounds its requests")
            continue
        sharers = _sharers(apf, name, intruders)
        if sharers:
            problems.append(f"{name} is shared with {', '.join(sharers)}")
        if lvl.borrowing_limit_percent != 0:
            limit = "no limit" if lvl.borrowing_limit_percent is None else f"{lvl.borrowing_limit_percent}%"
            problems.append(f"{name} may borrow others' seats (borrowingLimitPercent: {limit})")
    level = levels[0] if len(levels) == 1 else None
    seats = nominal.get(level) if level else None
    if problems:
        detail = f"{', '.join(fs_names)} → " + "; ".join(problems)
    else:
        detail = (f"{', '.join(fs_names)} → {', '.join(levels)}: capped at {seats} seats per apiserver, cannot "
                  "borrow, shares them with no control-plane component")
    return CheckItem(identity=identity, role="capped", ok=not problems, flow_schema=", ".join(fs_names) or None,
                     priority_level=", ".join(levels) or None, nominal_seats=seats, detail=detail)
