"""The simulated CoreDNS: DNS over UDP, authoritative for ``svc.<cluster>.local`` per cluster.

A name in a cluster's zone is answered NXDOMAIN with the AA flag — or SERVFAIL, for the share
of lookups that cluster's simulated CoreDNS failed in the latest step. Deterministically: an
error-diffusion counter per cluster, so a failure ratio r gives r of the answers as SERVFAIL.
A name outside every zone is REFUSED. So the cache-bypassing probe
(:func:`waveguard.signals.dns.probe_authoritative`) runs against it for real.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable

import numpy as np

from waveguard.model.errors import InputError

#: Seconds a blocked ``recvfrom`` waits before the server checks whether it should stop.
_POLL_S = 0.1
#: Largest query read (bytes): 4096, the usual EDNS(0) UDP payload size (RFC 6891 §6.2.5).
_MAX_QUERY_BYTES = 4096
#: A failure credit this close to 1 counts as 1 (summed float ratios).
_CREDIT_EPSILON = 1e-9


def dns_zone(cluster: str) -> str:
    """The zone the exporter's simulated CoreDNS is authoritative for: ``svc.<cluster>.local``."""
    return f"svc.{cluster}.local"


class SimulatedCoreDNS:
    """Answers DNS queries (wire format) for ``clusters``; ``fail_ratio(c)`` gives the share of
    answers cluster index ``c`` fails now (0 … 1). Thread-safe."""

    def __init__(self, clusters: list[str], fail_ratio: Callable[[int], float]) -> None:
        self._zones = {dns_zone(c).lower() + ".": i for i, c in enumerate(clusters)}
        self._fail_ratio = fail_ratio
        self._credit = np.zeros(len(clusters))  # accumulated failure share per cluster
        self._lock = threading.Lock()

    def answer(self, wire: bytes) -> bytes | None:
        """The reply to one query: NXDOMAIN + AA, or SERVFAIL in the share of the latest step's
        failures; REFUSED outside every zone. None for a message that is not a query."""
        import dns.flags
        import dns.message
        import dns.rcode

        try:
            query = dns.message.from_wire(wire)
        except Exception:  # whatever a malformed datagram raises: not a query
            return None
        if not query.question:
            return None
        qname = query.question[0].name.to_text().lower()
        reply = dns.message.make_response(query)
        reply.flags &= ~dns.flags.RA
        zone = next((z for z in self._zones if qname == z or qname.endswith("." + z)), None)
        if zone is None:
            reply.set_rcode(dns.rcode.REFUSED)
        elif self._fails(self._zones[zone]):
            reply.set_rcode(dns.rcode.SERVFAIL)
        else:
            _not_found(reply, zone)
        return reply.to_wire()

    def _fails(self, c: int) -> bool:
        """Whether this answer of cluster ``c`` fails (error diffusion over its failure ratio)."""
        with self._lock:
            self._credit[c] += self._fail_ratio(c)
            fail = bool(self._credit[c] >= 1.0 - _CREDIT_EPSILON)
            if fail:
                self._credit[c] -= 1.0
        return fail


def _not_found(reply, zone: str) -> None:
    """Make ``reply`` an authoritative NXDOMAIN with the zone's SOA (negative TTL 5 s)."""
    import dns.flags
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

    reply.flags |= dns.flags.AA
    reply.set_rcode(dns.rcode.NXDOMAIN)
    soa = dns.rrset.from_text(zone, 5, dns.rdataclass.IN, dns.rdatatype.SOA,
                              f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 5")
    reply.authority.append(soa)


class DNSServer:
    """Serves ``answer`` on UDP ``host:port`` in a daemon thread until :meth:`close`."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self._answer = answer
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, host: str, port: int) -> None:
        """Bind and serve. Raises InputError when the port is taken."""
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind((host, port))
        except OSError as exc:
            self.close()
            raise InputError(f"{host}:{port}/udp", f"cannot listen for DNS: {exc.strerror}",
                             hint="pick another port") from exc
        self._sock.settimeout(_POLL_S)
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), daemon=True,
                                        name="waveguard-exporter-dns")
        self._thread.start()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                wire, addr = sock.recvfrom(_MAX_QUERY_BYTES)
            except socket.timeout:
                continue
            except OSError:  # closed
                return
            answer = self._answer(wire)
            if answer is not None:
                try:
                    sock.sendto(answer, addr)
                except OSError:
                    pass

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop serving and close the socket (idempotent); waits up to ``timeout_s`` seconds."""
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
