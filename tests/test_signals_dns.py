"""DNS probes against a real caching resolver (Debian ``unbound``) in front of an authoritative
server the test controls (dnslib on 127.0.0.1).

The point (issue 5, part 2): once the authoritative side stops, clients behind the cache keep
getting answers until their TTL expires, while the probe reports the failure at once.
"""

from __future__ import annotations

from tests.prometheus_server import free_port

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

dnslib = pytest.importorskip("dnslib")
from dnslib import QTYPE, RCODE, RR, SOA, A  # noqa: E402
from dnslib.server import BaseResolver, DNSLogger, DNSServer  # noqa: E402

from waveguard.signals.dns import (  # noqa: E402
    PROBE_LABEL_PREFIX, hidden_outage, probe_authoritative, probe_name, query_resolver,
)

ZONE = "svc.cluster.local"
TTL_S = 3  # short, so the test waits only a few seconds for the cache to expire
SERVICES = {f"kubernetes.default.{ZONE}.": "10.96.0.1", f"web.shop.{ZONE}.": "10.96.12.7"}


class ZoneResolver(BaseResolver):
    """Authoritative for ZONE: A records for SERVICES, NXDOMAIN (with SOA) for other names in it."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        reply.header.ra = 0
        qname = str(request.q.qname)
        self.queries.append(qname)
        if not qname.lower().endswith(ZONE + "."):
            reply.header.rcode = RCODE.REFUSED
            reply.header.aa = 0
            return reply
        ip = SERVICES.get(qname.lower())
        if ip and request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ip), ttl=TTL_S))
        else:
            if not ip:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR(ZONE + ".", QTYPE.SOA, ttl=TTL_S, rdata=SOA(
                "ns.dns." + ZONE + ".", "hostmaster." + ZONE + ".", (1, 7200, 1800, 86400, TTL_S))))
        return reply


@pytest.fixture
def authoritative():
    """A dnslib authoritative server on 127.0.0.1 (UDP), stopped at the end."""
    resolver = ZoneResolver()
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False))
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = server.server.server_address[1]
    state = {"running": True}

    def stop() -> None:
        if state["running"]:
            server.server.shutdown()
            server.server.server_close()
            thread.join(timeout=2)
            state["running"] = False

    yield {"port": port, "resolver": resolver, "stop": stop}
    stop()


def _unbound_binary() -> str | None:
    return shutil.which("unbound") or next(
        (p for p in ("/usr/sbin/unbound", "/usr/local/sbin/unbound") if os.access(p, os.X_OK)), None)


@pytest.fixture
def unbound(tmp_path: Path, authoritative):
    """A real unbound on 127.0.0.1:<free port>, stub zone → the authoritative server. In CI
    (CI=true) a missing unbound fails the test: .ci/run installs it."""
    binary = _unbound_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("unbound is not installed: .ci/run must install it (APT_PACKAGES)")
        pytest.skip("unbound is not installed (Debian: apt-get install unbound)")
    port = free_port()
    conf = tmp_path / "unbound.conf"
    conf.write_text(f"""
server:
  interface: 127.0.0.1
  port: {port}
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{tmp_path}"
  pidfile: "{tmp_path}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  serve-expired: no
  prefetch: no
  cache-min-ttl: 0
  infra-host-ttl: 60
  local-zone: "local." nodefault
remote-control:
  control-enable: no
stub-zone:
  name: "{ZONE}."
  stub-addr: 127.0.0.1@{authoritative['port']}
""")
    check = subprocess.run([shutil.which("unbound-checkconf") or "true", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = (tmp_path / "unbound.log").open("w")
    proc = subprocess.Popen([binary, "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"unbound exited {proc.returncode}: {(tmp_path / 'unbound.log').read_text()[-2000:]}")
            ans = query_resolver("127.0.0.1", f"ready.{ZONE}", port=port, timeout_s=0.3)
            if ans.rcode is not None:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"unbound did not answer within 10 s: {(tmp_path / 'unbound.log').read_text()[-2000:]}")
        yield {"port": port, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_probe_name_is_fresh_and_under_the_zone():
    a, b = probe_name(ZONE), probe_name(ZONE + ".")
    assert a != b
    assert a.startswith(PROBE_LABEL_PREFIX) and a.endswith("." + ZONE + ".")


def test_probe_passes_on_an_authoritative_nxdomain(authoritative):
    res = probe_authoritative("127.0.0.1", ZONE, port=authoritative["port"], timeout_s=1.0)
    assert res.status == "pass", res.detail
    assert res.data["rcode"] == "NXDOMAIN" and res.data["authoritative"] is True
    assert 0 < res.value < res.threshold
    # The probe asked a name nobody asked before: no cache can have held it.
    assert authoritative["resolver"].queries[-1].startswith(PROBE_LABEL_PREFIX)


def test_probe_of_a_real_name_gets_its_address(authoritative):
    res = probe_authoritative("127.0.0.1", ZONE, port=authoritative["port"], name=f"web.shop.{ZONE}", timeout_s=1.0)
    assert res.status == "pass"
    assert res.data["addresses"] == ["10.96.12.7"]


def test_clients_behind_unbound_keep_answers_until_the_ttl_expires_while_the_probe_fails_at_once(
        authoritative, unbound):
    name = f"web.shop.{ZONE}"
    # Before: client through the cache and probe both fine.
    first = query_resolver("127.0.0.1", name, port=unbound["port"], timeout_s=1.0)
    assert first.rcode == "NOERROR" and first.addresses == ["10.96.12.7"]
    assert first.ttl is not None and first.ttl <= TTL_S
    cached_at = time.monotonic()
    before = probe_authoritative("127.0.0.1", ZONE, port=authoritative["port"], timeout_s=0.5)
    assert before.status == "pass", before.detail

    authoritative["stop"]()
    asked = len(authoritative["resolver"].queries)

    # The probe sees it at once: no answer within its timeout → fail (not no-data).
    probe = probe_authoritative("127.0.0.1", ZONE, port=authoritative["port"], timeout_s=0.5)
    assert probe.status == "fail", probe.detail
    assert "no answer within 0.5 s" in probe.detail  # its own time-out, not a wall-clock bound
    assert probe.value is None and probe.threshold > 0

    # Clients through unbound still get the cached answer, as long as the TTL lasts.
    client = query_resolver("127.0.0.1", name, port=unbound["port"], timeout_s=1.0)
    assert client.rcode == "NOERROR" and client.addresses == ["10.96.12.7"], client
    assert client.ttl is not None and client.ttl <= TTL_S
    combined = hidden_outage(probe, client)
    assert combined.status == "fail"
    assert "hidden" in combined.detail and combined.data["hidden_for_s"] == client.ttl
    # ... and the stopped server was not asked: the answer came from unbound's cache.
    assert len(authoritative["resolver"].queries) == asked

    # Clients keep getting the answer until the TTL expires (unbound counts whole seconds, so
    # allow one more second), then SERVFAIL or no answer: the cache has nothing left to serve.
    served_until = time.monotonic()
    while True:
        ans = query_resolver("127.0.0.1", name, port=unbound["port"], timeout_s=1.5)
        if not (ans.rcode == "NOERROR" and ans.addresses):
            break
        served_until = time.monotonic()
        assert served_until - cached_at < TTL_S + 2.5, "unbound served the record long past its TTL"
        time.sleep(0.1)
    # (unbound's clock has whole seconds: the copy may expire up to 1 s before TTL after we saw it)
    assert served_until - cached_at >= TTL_S - 1.5, "the cached answer stopped before its TTL"
    assert ans.rcode in (None, "SERVFAIL"), ans


def test_an_invalid_probe_is_no_data_never_pass():
    res = probe_authoritative("not-an-ip", ZONE, timeout_s=0.2)
    assert res.status == "no-data" and not res.passed
    res = probe_authoritative("127.0.0.1", ZONE, port=70000, timeout_s=0.2)
    assert res.status == "no-data"


def test_a_server_that_does_not_answer_fails():
    # A UDP socket that never answers: a hung server.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        res = probe_authoritative("127.0.0.1", ZONE, port=s.getsockname()[1], timeout_s=0.3)
    assert res.status == "fail" and "no answer" in res.detail


def test_a_non_authoritative_or_error_answer_fails(authoritative):
    # REFUSED for a name outside the zone the server serves.
    res = probe_authoritative("127.0.0.1", "example.org", port=authoritative["port"], timeout_s=1.0)
    assert res.status == "fail" and "REFUSED" in res.detail


def test_unreachable_network_is_no_data(monkeypatch):
    import errno

    import dns.query

    def no_route(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(dns.query, "udp", no_route)
    res = probe_authoritative("192.0.2.1", ZONE, timeout_s=0.2)
    assert res.status == "no-data" and "network" in res.detail
