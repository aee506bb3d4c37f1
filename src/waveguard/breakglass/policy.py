"""The break-glass policy: names, identities, precedences, shares and queues, each with its reason.

Kubernetes facts come from ``staging/src/k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/
default.go`` (flowcontrol.apiserver.k8s.io/v1, Kubernetes ≥ 1.29) and the API reference of
FlowSchema / PriorityLevelConfiguration; ``domain.md §2`` summarises them. Everything else here
is waveguard policy and says so.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import TYPE_CHECKING

from waveguard.model.errors import InputError

if TYPE_CHECKING:
    from waveguard.model.apf import Subject

API_VERSION = "flowcontrol.apiserver.k8s.io/v1"
#: flowcontrol API versions whose objects waveguard reads (v1beta1/2 name the shares
#: ``assuredConcurrencyShares``). k8s: API reference, flowcontrol.apiserver.k8s.io.
READ_API_VERSIONS = frozenset({
    "flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3",
    "flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1beta1",
})

#: Label on every object waveguard generates; an existing object carrying it may be replaced.
MANAGED_BY = ("app.kubernetes.io/managed-by", "waveguard")

#: Default break-glass group (policy). Put it in the O= of the emergency client certificates.
DEFAULT_GROUP = "waveguard:break-glass"
#: Default identity of the waveguard controller (policy): ServiceAccount namespace/name.
DEFAULT_CONTROLLER = ("waveguard-system", "waveguard-controller")

#: Names of the generated objects (policy). Capped ones are ``waveguard-cap.<ns>.<sa>``: a
#: namespace has no dots, so the name is unique per ServiceAccount and a valid DNS subdomain.
BREAKGLASS_NAME = "waveguard-break-glass"
CAPPED_PREFIX = "waveguard-cap"

#: ``matchingPrecedence`` must lie in [1, 10000]. k8s: FlowSchemaSpec API reference.
PRECEDENCE_RANGE = (1, 10000)
#: The defaults' precedences. k8s: bootstrap/default.go (mandatory: exempt, catch-all).
DEFAULT_PRECEDENCES: dict[str, int] = {
    "exempt": 1, "probes": 2, "system-leader-election": 100, "endpoint-controller": 150,
    "workload-leader-election": 200, "system-node-high": 400, "system-nodes": 500,
    "kube-controller-manager": 800, "kube-scheduler": 800, "kube-system-service-accounts": 900,
    "service-accounts": 9000, "global-default": 9900, "catch-all": 10000,
}
#: Mandatory objects: kube-apiserver restores their spec, a manifest cannot override them.
#: k8s: bootstrap/default.go (MandatoryFlowSchemas, MandatoryPriorityLevelConfigurations).
MANDATORY_NAMES = frozenset({"exempt", "catch-all"})

#: Break-glass FlowSchema precedence (policy). It must beat every default that could match a
#: break-glass user or the controller: system-leader-election (100) is the lowest default that
#: routes to a *limited* level (a controller ServiceAccount in kube-system matches it, and
#: kube-system-service-accounts at 900); exempt (1, system:masters) and probes (2, health
#: checks) route to the unlimited exempt level and may keep winning. Any value in 3..99 does
#: that; 50 leaves room on both sides for the operator's own schemas.
BREAKGLASS_PRECEDENCE = 50
#: Capped FlowSchema precedence (policy): beats kube-system-service-accounts (900) and
#: service-accounts (9000), and also system-leader-election (100) / workload-leader-election
#: (200), so a kube-system agent's lease traffic cannot flood the controllers' leader-election
#: level either; loses to the break-glass schema (50), so the rollback path always wins.
CAPPED_PRECEDENCE = 80

#: Break-glass level (policy): 10 shares, as k8s gives leader-election (the other small level
#: that exists to keep the control plane alive). With the 245 default shares that is
#: ceil(600 × 10 / Σ) ≈ 24 seats per apiserver: a rollback's few DELETE/PATCH (1 seat each)
#: plus full-width LISTs at once, while the others lose only ~4 % of their seats.
BREAKGLASS_SHARES = 10
#: lendablePercent 0: none of its seats is lent away, so they are free when the rollback
#: arrives in the middle of an overload (k8s default: leader-election lends 0 too).
BREAKGLASS_LENDABLE_PERCENT = 0
#: Queue, never Reject: 16 queues, handSize 4, queueLengthLimit 50 (leader-election's shape,
#: bootstrap/default.go). With the ByUser distinguisher each break-glass user and the
#: controller is its own flow, spread over 4 of 16 queues, with up to 4 × 50 = 200 queued: a
#: burst of rollback requests waits milliseconds instead of getting 429.
BREAKGLASS_QUEUING = {"queues": 16, "handSize": 4, "queueLengthLimit": 50}

#: Capped level per ServiceAccount (policy): 5 shares, the smallest level k8s ships (catch-all):
#: ≈ 12 seats per apiserver, enough for a healthy agent's watches and GETs, and the most its
#: overload can ever take.
CAPPED_SHARES = 5
#: lendablePercent 90 (workload-low's, where such a ServiceAccount would otherwise land): its
#: idle seats go back to the others; 10 % (1 seat) stays so the agent's own lease renewals
#: still get through while others borrow.
CAPPED_LENDABLE_PERCENT = 90
#: borrowingLimitPercent 0: it can never borrow beyond its nominal seats: the cap.
CAPPED_BORROWING_LIMIT_PERCENT = 0
#: A tiny queue (1 queue × 10) rather than Reject: all pods of a DaemonSet share one
#: ServiceAccount, hence one flow (domain.md §2), so more queues would not help; 10 slots
#: absorb a healthy agent's start-up burst (its informers start together) so it is not
#: 429'd at normal load, while an overload beyond 12 seats + 10 queued gets 429 at once
#: (cheap for the apiserver; client-go backs off) instead of waiting 15 s holding memory.
CAPPED_QUEUING = {"queues": 1, "handSize": 1, "queueLengthLimit": 10}

#: A protected break-glass level guarantees at least this many seats per apiserver (policy):
#: a full-width request (APF_MAX_SEATS_LIMIT = 10, domain.md §2) must fit.
MIN_GUARANTEED_SEATS = 10

#: Requests of a rollback, (verb, resource): what must get through. domain.md §1.
ROLLBACK_REQUESTS: tuple[tuple[str, str], ...] = (
    ("delete", "daemonsets"), ("patch", "daemonsets"), ("update", "daemonsets"),
    ("delete", "deployments"), ("patch", "deployments"), ("get", "daemonsets"), ("list", "pods"),
    ("create", "flowschemas"),
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_subdomain(name: str) -> bool:
    """RFC 1123 subdomain, ≤ 253 characters (what metadata.name of these kinds must be)."""
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def validate_group(name: str) -> str:
    """Check a break-glass group name; return it. Raises :class:`InputError` when it is empty,
    has whitespace or control characters, is ``*``, or starts with ``system:``.

    ``system:`` groups are assigned by Kubernetes' authenticators, so they are refused:
    ``system:masters`` is already exempt (and handing it out is what WG114 forbids),
    ``system:authenticated``, ``system:serviceaccounts[:ns]`` or ``system:nodes`` would put
    every user, agent or kubelet on the break-glass path and so protect nothing."""
    hint = f"use a dedicated group that only emergency credentials carry, e.g. {DEFAULT_GROUP}"
    if not name:
        raise InputError("--group", "the break-glass group name is empty", hint=hint)
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in name):
        raise InputError("--group", f"{name!r} is not a valid group subject: it has whitespace or control "
                         "characters", hint=hint)
    if name == "*":
        raise InputError("--group", "'*' matches every group: nothing would be isolated", hint=hint)
    if name.startswith("system:"):
        what = ("already exempt from APF; emergency access must not need it" if name == "system:masters"
                else "assigned by Kubernetes to many identities, which would all share the break-glass seats")
        raise InputError("--group", f"{name!r} is a reserved system: group ({what})", hint=hint)
    return name


def parse_service_account(text: str, source: str = "--controller") -> tuple[str, str]:
    """``namespace/name`` → (namespace, name). Raises InputError when either part is not a
    valid Kubernetes name (namespace: DNS label; name: DNS subdomain)."""
    ns, sep, name = text.partition("/")
    if not sep or not _DNS_LABEL.match(ns) or len(ns) > 63 or not is_dns_subdomain(name):
        raise InputError(source, f"{text!r} is not a ServiceAccount namespace/name",
                         hint="e.g. waveguard-system/waveguard-controller")
    return ns, name


def group_member(group: str, user: str = "break-glass-operator") -> Subject:
    """The APF subject of a person authenticated with an emergency credential of ``group``."""
    from waveguard.model.apf import Subject  # pydantic: kept out of the CLI's start-up

    return Subject(user=user, groups=[group, "system:authenticated"])


def capped_name(namespace: str, name: str) -> str:
    """Name of the capped FlowSchema and level of ServiceAccount ``namespace/name``: a DNS
    subdomain ≤ 253 characters (long names are cut and suffixed with a hash)."""
    full = f"{CAPPED_PREFIX}.{namespace}.{name}"
    if len(full) <= 253:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:10]
    return f"{full[:253 - 11].rstrip('.-')}-{digest}"
