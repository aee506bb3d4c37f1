"""DNS probes that see past caches (issue 5, part 2).

Clients resolve cluster names through caches (the resolver library, a node-local cache, CoreDNS's
own ``cache`` plugin), so when the authoritative side — CoreDNS's ``kubernetes`` plugin, which
needs the control plane — fails, clients keep getting answers until the cached records expire
(domain.md §1, §6: about 20 minutes in the incident). A rollout gate that watches what clients see
therefore passes a change that has already broken DNS.

* :func:`probe_authoritative` asks an authoritative server directly, without recursion, for a
  name no cache can hold (a fresh random label under the zone, e.g.
  ``wg-probe-3f9c1a2b7d4e.svc.cluster.local``): the answer, NXDOMAIN or an address, must come from
  the server's own data, now.
* :func:`query_resolver` asks a caching resolver the way a client's stub resolver does
  (recursion desired) and reports the rcode, addresses and remaining TTL.
* :func:`hidden_outage` combines the two: the authoritative side fails while clients still get
  answers — the outage is hidden from clients for up to the remaining TTL.

Statuses (:class:`~waveguard.signals.result.SignalResult`):

* ``pass``: an authoritative answer (NOERROR or NXDOMAIN, AA flag set) within the latency threshold;
* ``fail``: the server did not answer within the timeout (a stopped, hung or overloaded server:
  not answering *is* the signal), refused the connection, answered SERVFAIL/REFUSED/another error
  rcode, answered without the AA flag (it is not authoritative for the zone), or answered slower
  than the threshold;
* ``no-data``: the probe could not be made — an invalid server address, port or zone, or no route
  from here to the server's network (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL). A rollout pauses
  on ``no-data``; it never counts as ``pass``.
"""

from __future__ import annotations

import errno
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from waveguard.signals.result import SignalResult

#: Seconds to wait for a DNS answer. Policy, from the client side: glibc's resolver waits 5 s
#: per try (resolv.conf(5), ``timeout`` default); a healthy CoreDNS answers in milliseconds
#: (its request-duration histogram's first buckets are 0.25–1 ms), so 2 s already means trouble.
DEFAULT_TIMEOUT_S = 2.0
#: An authoritative answer slower than this fails the probe. Policy: CoreDNS answers its own
#: zone from memory in about a millisecond; 250 ms is two orders of magnitude of margin, and
#: below the 1 s at which clients with short timeouts start to retry.
DEFAULT_LATENCY_THRESHOLD_S = 0.25
#: Prefix of the random probe label (so the probes are recognisable in server logs).
PROBE_LABEL_PREFIX = "wg-probe-"

_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


def probe_name(zone: str) -> str:
    """A fresh name under ``zone`` that no cache holds: ``wg-probe-<12 hex>.<zone>``."""
    return f"{PROBE_LABEL_PREFIX}{secrets.token_hex(6)}.{zone.strip('.')}."


@dataclass(frozen=True, slots=True)
class DNSAnswer:
    """What one DNS query returned. ``rcode``: "NOERROR", "NXDOMAIN", "SERVFAIL"... or None when
    nothing came back (``error`` says why: "timeout", "refused", or an OS error); ``addresses``:
    A/AAAA answers; ``ttl``: the smallest TTL of the answer (seconds; for a client behind a cache,
    what is left of the cached copy), None without answers; ``authoritative``: the AA flag;
    ``latency_s``: seconds from sending to the answer (or to giving up)."""

    server: str
    port: int
    name: str
    qtype: str
    rcode: str | None
    addresses: list[str] = field(default_factory=list)
    ttl: int | None = None
    authoritative: bool = False
    latency_s: float = 0.0
    error: str = ""
    no_route: bool = False


def _ask(server: str, port: int, name: str, qtype: str, *, recursion: bool, timeout_s: float) -> DNSAnswer:
    """One query over UDP (TCP when truncated). Raises ValueError for an invalid address/name."""
    ipaddress.ip_address(server)  # ValueError for a bad address: the caller's config problem
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    qname = dns.name.from_text(name)
    rdtype = dns.rdatatype.from_text(qtype)
    query = dns.message.make_query(qname, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    t0 = time.perf_counter()
    base: dict[str, Any] = dict(server=server, port=port, name=qname.to_text(), qtype=qtype)
    try:
        resp = dns.query.udp(query, server, port=port, timeout=timeout_s, raise_on_truncation=True)
    except dns.message.Truncated:
        try:
            resp = dns.query.tcp(query, server, port=port, timeout=timeout_s)
        except (dns.exception.Timeout, OSError) as exc:
            return _failed(base, exc, t0)
    except (dns.exception.Timeout, OSError) as exc:
        return _failed(base, exc, t0)
    except dns.exception.DNSException as exc:
        return DNSAnswer(**base, rcode=None, latency_s=time.perf_counter() - t0, error=f"bad response: {exc}")
    latency = time.perf_counter() - t0
    addresses: list[str] = []
    ttls: list[int] = []
    for rrset in resp.answer:
        ttls.append(rrset.ttl)
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addresses.extend(r.address for r in rrset)
    return DNSAnswer(**base, rcode=dns.rcode.to_text(resp.rcode()), addresses=sorted(addresses),
                     ttl=min(ttls) if ttls else None, authoritative=bool(resp.flags & dns.flags.AA),
                     latency_s=latency)


def _failed(base: dict[str, Any], exc: BaseException, t0: float) -> DNSAnswer:
    latency = time.perf_counter() - t0
    if isinstance(exc, dns.exception.Timeout) or isinstance(exc, socket.timeout):
        return DNSAnswer(**base, rcode=None, latency_s=latency, error="timeout")
    if isinstance(exc, ConnectionRefusedError):
        return DNSAnswer(**base, rcode=None, latency_s=latency, error="refused")
    err = getattr(exc, "errno", None)
    return DNSAnswer(**base, rcode=None, latency_s=latency, error=f"{type(exc).__name__}: {exc}",
                     no_route=err in _NO_ROUTE)


def query_resolver(resolver: str, name: str, *, port: int = 53, qtype: str = "A",
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> DNSAnswer:
    """Ask the caching resolver at ``resolver``:``port`` for ``name`` as a client does (UDP, over
    TCP when the answer is truncated; recursion desired). Returns a :class:`DNSAnswer`; a timeout
    or refusal is an answer with ``rcode`` None. Raises ValueError for an invalid address or port
    and ``dns.exception.DNSException`` for an invalid name."""
    return _ask(resolver, port, name, qtype, recursion=True, timeout_s=timeout_s)


def probe_authoritative(server: str, zone: str, *, port: int = 53, name: str | None = None, qtype: str = "A",
                        timeout_s: float = DEFAULT_TIMEOUT_S,
                        latency_threshold_s: float = DEFAULT_LATENCY_THRESHOLD_S) -> SignalResult:
    """Probe the authoritative server ``server``:``port`` for ``zone`` past every cache.

    Asks, without recursion, for ``name`` (default: :func:`probe_name`, a fresh random label under
    ``zone``) and returns a :class:`SignalResult`: ``value`` the latency in seconds (None when no
    answer came), ``threshold`` ``latency_threshold_s``, ``data`` the rcode, name and AA flag.
    See the module doc for pass / fail / no-data. Never raises for a bad configuration: that is
    ``no-data``.
    """
    signal = f"dns-authoritative {server}:{port} {zone}"
    try:
        qname = name or probe_name(zone)
        ans = _ask(server, port, qname, qtype, recursion=False, timeout_s=timeout_s)
    except (ValueError, dns.exception.DNSException) as exc:
        return SignalResult("no-data", None, latency_threshold_s, f"invalid probe: {exc}", unit="s", signal=signal)
    data = {"name": ans.name, "rcode": ans.rcode, "authoritative": ans.authoritative, "addresses": ans.addresses,
            "error": ans.error}
    if ans.rcode is None:
        if ans.no_route:
            return SignalResult("no-data", None, latency_threshold_s,
                                f"cannot reach {server}:{port} from here ({ans.error}): network problem, "
                                "not a verdict on the server", unit="s", signal=signal, data=data)
        what = {"timeout": f"no answer within {timeout_s:g} s", "refused": "connection refused"}.get(ans.error, ans.error)
        return SignalResult("fail", None, latency_threshold_s, f"{ans.name} {qtype} @{server}:{port}: {what}",
                            unit="s", signal=signal, data=data)
    if ans.rcode not in ("NOERROR", "NXDOMAIN"):
        return SignalResult("fail", ans.latency_s, latency_threshold_s,
                            f"{ans.name} {qtype} @{server}:{port}: {ans.rcode}", unit="s", signal=signal, data=data)
    if not ans.authoritative:
        return SignalResult("fail", ans.latency_s, latency_threshold_s,
                            f"{ans.name} @{server}:{port}: {ans.rcode} without the AA flag: not authoritative for "
                            f"{zone} (a cache or forwarder answered)", unit="s", signal=signal, data=data)
    if ans.latency_s > latency_threshold_s:
        return SignalResult("fail", ans.latency_s, latency_threshold_s,
                            f"{ans.name} @{server}:{port}: {ans.rcode} in {ans.latency_s * 1000:.0f} ms, "
                            f"over {latency_threshold_s * 1000:.0f} ms", unit="s", signal=signal, data=data)
    return SignalResult("pass", ans.latency_s, latency_threshold_s,
                        f"{ans.name} @{server}:{port}: authoritative {ans.rcode} in {ans.latency_s * 1000:.1f} ms",
                        unit="s", signal=signal, data=data)


def hidden_outage(authoritative: SignalResult, client: DNSAnswer) -> SignalResult:
    """Combine an authoritative probe with what a client gets for a real name through its cache.

    Status is the authoritative probe's (the truth, seen now). When it fails while the client
    still gets addresses, the detail says the outage is hidden from clients and ``data``
    ``hidden_for_s`` gives the remaining TTL of their copy: the time left before clients fail."""
    data = dict(authoritative.data)
    data.update(client_rcode=client.rcode, client_addresses=client.addresses, client_ttl=client.ttl)
    detail = authoritative.detail
    if authoritative.status == "fail" and client.rcode == "NOERROR" and client.addresses:
        data["hidden_for_s"] = client.ttl
        detail += (f"; clients still get {client.name} → {', '.join(client.addresses)} from a cache for up to "
                   f"{client.ttl} s more: the outage is hidden from them until then")
    elif client.rcode is None or client.rcode not in ("NOERROR",):
        detail += f"; clients get {client.rcode or client.error} for {client.name}"
    return SignalResult(authoritative.status, authoritative.value, authoritative.threshold, detail,
                        unit=authoritative.unit, signal=authoritative.signal, data=data)
