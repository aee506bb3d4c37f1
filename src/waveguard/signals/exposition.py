"""Prometheus text exposition (``/metrics``), read robustly.

``parse_exposition(text)`` splits the text into scrapes — a scrape ends where a metric family's
``# HELP`` or ``# TYPE`` line appears a second time, as when several scrapes were saved into one
file — parses each family block with ``prometheus_client.parser.text_string_to_metric_families``,
skips (and notes) blocks or lines that do not parse, and renames old metric names to the current
ones (:data:`METRIC_ALIASES`, e.g. CoreDNS < 1.7.0 ``coredns_dns_request_count_total`` →
``coredns_dns_requests_total``). The resulting :class:`Exposition` answers, per scrape (default:
the last), the value of a metric for some labels (:meth:`Exposition.value`), its series
(:meth:`Exposition.series`) and a histogram quantile (:meth:`Exposition.quantile`, Prometheus'
``histogram_quantile`` over the matching series summed by ``le``).

``fetch_exposition(url)`` reads a live ``/metrics`` endpoint with a timeout and a size cap and
raises :class:`SourceUnavailableError` (unreachable, slow, HTTP error, not exposition) — a gate turns
that into ``no-data``, never into ``pass``.

Names are sample names as exposed: counters with ``_total``, histograms by their family name for
:meth:`~Exposition.quantile` (``apiserver_request_duration_seconds``) and ``<name>_bucket`` /
``_sum`` / ``_count`` for their series.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from waveguard.model.errors import InputError, SourceUnavailableError

#: Old metric name → current name. CoreDNS 1.7.0 renamed its metrics (CoreDNS 1.7.0 release
#: notes, "metrics" section); the pairs follow Datadog's CoreDNS check, which maps both names to
#: one metric (DataDog/integrations-core coredns/datadog_checks/coredns/metrics.py:
#: DEFAULT_METRICS vs NEW_METRICS). ``coredns_cache_size`` → ``coredns_cache_entries`` is 1.8.5
#: (same source). kube-apiserver 1.14 renamed ``apiserver_request_count`` to
#: ``apiserver_request_total`` (kubernetes CHANGELOG-1.14, "metrics"). Names whose meaning or
#: unit changed (``apiserver_request_latencies`` in µs, ``coredns_dns_request_type_count_total``,
#: which is now a label of ``coredns_dns_requests_total`` and would double count) are not aliased.
METRIC_ALIASES: dict[str, str] = {
    "coredns_dns_request_count_total": "coredns_dns_requests_total",
    "coredns_dns_response_rcode_count_total": "coredns_dns_responses_total",
    "coredns_dns_request_do_count_total": "coredns_dns_do_requests_total",
    "coredns_panic_count_total": "coredns_panics_total",
    "coredns_cache_size": "coredns_cache_entries",
    "coredns_forward_request_count_total": "coredns_forward_requests_total",
    "coredns_forward_response_rcode_count_total": "coredns_forward_responses_total",
    "coredns_forward_healthcheck_failure_count_total": "coredns_forward_healthcheck_failures_total",
    "coredns_forward_healthcheck_broken_count_total": "coredns_forward_healthcheck_broken_total",
    "coredns_forward_max_concurrent_reject_count_total": "coredns_forward_max_concurrent_rejects_total",
    "coredns_reload_failed_count_total": "coredns_reload_failed_total",
    "coredns_hosts_entries_count": "coredns_hosts_entries",
    "coredns_autopath_success_count_total": "coredns_autopath_success_total",
    "coredns_grpc_request_count_total": "coredns_grpc_requests_total",
    "coredns_grpc_response_rcode_count_total": "coredns_grpc_responses_total",
    "apiserver_request_count": "apiserver_request_total",
}
#: Largest /metrics body :func:`fetch_exposition` reads. Policy: a large apiserver's /metrics is a
#: few MiB (the v1.35 sample in ../shared/inputs/metrics is 3.1 MB); 64 MiB is a runaway.
MAX_EXPOSITION_BYTES = 64 << 20
#: Seconds :func:`fetch_exposition` waits for a connection and for each read. Policy: a healthy
#: component answers /metrics in well under a second; Prometheus' default scrape_timeout is 10 s.
DEFAULT_FETCH_TIMEOUT_S = 5.0

_HIST_SUFFIXES = ("_bucket", "_sum", "_count", "_created")

LabelMatch = Mapping[str, "str | Collection[str]"]


def canonical_name(name: str) -> str:
    """The current name of a sample/family name (:data:`METRIC_ALIASES`), suffixes kept."""
    if name in METRIC_ALIASES:
        return METRIC_ALIASES[name]
    for suffix in _HIST_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in METRIC_ALIASES:
            return METRIC_ALIASES[name[: -len(suffix)]] + suffix
    return name


@dataclass(frozen=True, slots=True)
class Sample:
    """One series' value: ``name`` the canonical sample name, ``labels`` its labels, ``value`` a
    float (NaN/±Inf possible), ``timestamp`` seconds since the epoch when the line had one."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass
class Scrape:
    """One scrape: its samples by canonical name, family types, and the 1-based line it starts on."""

    index: int
    first_line: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def series(self, name: str, labels: LabelMatch | None = None) -> list[Sample]:
        """Samples of ``name`` (canonical or old name) whose labels match ``labels``: each given
        label equal to the value, or in the collection of values (other labels are free)."""
        found = self.samples.get(canonical_name(name), [])
        if not labels:
            return list(found)
        return [s for s in found if _matches(s.labels, labels)]


def _matches(have: Mapping[str, str], want: LabelMatch) -> bool:
    for k, v in want.items():
        got = have.get(k, "")
        if isinstance(v, str):
            if got != v:
                return False
        elif got not in v:
            return False
    return True


@dataclass
class Exposition:
    """Parsed /metrics text: ``scrapes`` in file order, ``notes`` on what was skipped or renamed."""

    source: str
    scrapes: list[Scrape]
    notes: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    def scrape(self, index: int = -1) -> Scrape:
        """Scrape ``index`` (Python indexing: -1 is the last). Raises IndexError."""
        return self.scrapes[index]

    def series(self, name: str, labels: LabelMatch | None = None, *, scrape: int = -1) -> list[Sample]:
        """See :meth:`Scrape.series`."""
        return self.scrape(scrape).series(name, labels)

    def value(self, name: str, labels: LabelMatch | None = None, *, scrape: int = -1,
              agg: str = "sum") -> float | None:
        """The value of ``name`` over the series matching ``labels``: their ``sum`` (default),
        ``max``, ``min``, or ``one`` (exactly one series must match, else LookupError).
        None when no series matches — a missing metric is no data, not zero."""
        found = self.series(name, labels, scrape=scrape)
        if agg == "one":
            if len(found) != 1:
                raise LookupError(f"{name} {dict(labels or {})}: {len(found)} series match, expected 1")
            return found[0].value
        if not found:
            return None
        values = [s.value for s in found]
        if agg == "sum":
            return math.fsum(values)
        if agg == "max":
            return max(values)
        if agg == "min":
            return min(values)
        raise ValueError(f"agg must be sum, max, min or one, not {agg!r}")

    def quantile(self, q: float, name: str, labels: LabelMatch | None = None, *, scrape: int = -1) -> float | None:
        """Prometheus ``histogram_quantile(q, sum by (le) (name_bucket{labels}))`` on one scrape:
        seconds for a ``_seconds`` histogram. None when no bucket matches or the count is 0.
        Raises ValueError for q outside [0, 1]."""
        base = canonical_name(name)
        for suffix in ("_bucket",):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        by_le: dict[float, float] = {}
        for s in self.series(base + "_bucket", labels, scrape=scrape):
            try:
                le = float(s.labels["le"])
            except (KeyError, ValueError):
                continue
            by_le[le] = by_le.get(le, 0.0) + s.value
        return histogram_quantile(q, sorted(by_le.items()))

    def names(self, scrape: int = -1) -> list[str]:
        """Canonical sample names of one scrape, sorted."""
        return sorted(self.scrape(scrape).samples)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` on cumulative ``(upper bound, count)`` buckets sorted
    by bound, ending with +Inf: linear interpolation inside the bucket holding rank q × total;
    in the +Inf bucket, the highest finite bound. Counts are made monotonic first. Prometheus:
    promql/quantile.go (bucketQuantile). None without a +Inf bucket or with a zero total."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], not {q}")
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    fixed: list[tuple[float, float]] = []
    running = 0.0
    for le, count in buckets:
        running = max(running, count)
        fixed.append((le, running))
    total = fixed[-1][1]
    if total == 0 or math.isnan(total):
        return None
    rank = q * total
    # the first bucket that holds the rank (the +Inf bucket's count is the total: it always does)
    i = next((index for index, (_, count) in enumerate(fixed) if count >= rank), len(fixed) - 1)
    le, count = fixed[i]
    if math.isinf(le):
        return fixed[-2][0]
    if i == 0:
        if le <= 0:
            return le
        start, prev = 0.0, 0.0
    else:
        start, prev = fixed[i - 1]
    if count == prev:
        return le
    return start + (le - start) * (rank - prev) / (count - prev)


# --- Parsing -------------------------------------------------------------------------------------------


def _split_scrapes(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(first line index, lines) per scrape: a new scrape starts where a family's HELP or TYPE
    line repeats within the current one."""
    out: list[tuple[int, list[str]]] = []
    start = 0
    helped: set[str] = set()
    typed: set[str] = set()
    for i, line in enumerate(lines):
        if not line.startswith("# HELP ") and not line.startswith("# TYPE "):
            continue
        parts = line.split(None, 3)
        if len(parts) < 3:
            continue
        seen = helped if parts[1] == "HELP" else typed
        if parts[2] in seen:
            out.append((start, lines[start:i]))
            start = i
            helped, typed = set(), set()
            seen = helped if parts[1] == "HELP" else typed
        seen.add(parts[2])
    out.append((start, lines[start:]))
    return [(s, chunk) for s, chunk in out if any(l.strip() and not l.startswith("#") for l in chunk)]


def _family_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Split one scrape into blocks that each start at a HELP/TYPE line of a new family."""
    blocks: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    cur_start = 0
    cur_name: str | None = None
    for i, line in enumerate(lines):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(None, 3)
            name = parts[2] if len(parts) >= 3 else None
            if name != cur_name and cur:
                blocks.append((cur_start, cur))
                cur, cur_start = [], i
            cur_name = name
        cur.append(line)
    if cur:
        blocks.append((cur_start, cur))
    return blocks


def parse_exposition(text: str, source: str = "<text>") -> Exposition:
    """Parse Prometheus text exposition (format 0.0.4; several scrapes may follow each other).

    Returns an :class:`Exposition`. Lines that do not parse are skipped and noted (source:line).
    Raises :class:`InputError` when the text holds no sample at all (empty, HTML, JSON...)."""
    from prometheus_client.parser import text_string_to_metric_families

    lines = text.removeprefix("\ufeff").splitlines()  # a byte-order mark would hide the first sample
    exp = Exposition(source=source, scrapes=[])
    skipped = 0
    for scrape_start, scrape_lines in _split_scrapes(lines):
        scrape = Scrape(index=len(exp.scrapes), first_line=scrape_start + 1)
        try:  # the whole scrape at once (fast); block by block, then line by line, when it fails
            families = list(text_string_to_metric_families("\n".join(scrape_lines) + "\n"))
        except Exception:  # noqa: BLE001 - the parser raises ValueError, IndexError, TypeError...
            families = []
            for block_start, block in _family_blocks(scrape_lines):
                first = scrape_start + block_start + 1
                try:
                    families += list(text_string_to_metric_families("\n".join(block) + "\n"))
                except Exception:  # noqa: BLE001
                    good, bad = _parse_lines(block, first, text_string_to_metric_families)
                    families += good
                    skipped += len(bad)
                    exp.notes.extend(f"{source}:{n}: skipped a line that is not exposition: {t[:80]!r}"
                                     for n, t in bad[: max(0, 5 - skipped + len(bad))])
        for fam in families:
            for smp in fam.samples:
                name = canonical_name(smp.name)
                if name != smp.name:
                    exp.renamed[smp.name] = name
                scrape.samples.setdefault(name, []).append(
                    Sample(name=name, labels=smp.labels, value=float(smp.value),
                           timestamp=float(smp.timestamp) if smp.timestamp is not None else None))
            scrape.types[canonical_name(fam.name)] = fam.type
        if scrape.samples:
            exp.scrapes.append(scrape)
    if skipped > 5:
        exp.notes.append(f"{source}: {skipped} lines skipped in all")
    if not exp.scrapes:
        what = "is empty" if not text.strip() else "holds no Prometheus sample"
        raise InputError(source, f"{what}", hint="give the text a /metrics endpoint serves (text/plain 0.0.4)")
    if exp.renamed:
        exp.notes.append(f"{source}: old metric names read as the current ones: "
                         + ", ".join(f"{a} → {b}" for a, b in sorted(exp.renamed.items())))
    return exp


def _parse_lines(block: list[str], first_line: int, parser) -> tuple[list, list[tuple[int, str]]]:
    """Parse a block line by line (after its HELP/TYPE header); return families and bad lines."""
    header = [l for l in block if l.startswith("#")]
    families = []
    bad: list[tuple[int, str]] = []
    for offset, line in enumerate(block):
        if line.startswith("#") or not line.strip():
            continue
        try:
            families.extend(parser("\n".join([*header, line]) + "\n"))
        except Exception:  # noqa: BLE001
            bad.append((first_line + offset, line))
    return families, bad


def read_exposition(path: str | Path) -> Exposition:
    """Parse a saved /metrics file, plain, gzip or zstd. Raises InputError when it cannot be
    read, its compressed stream is damaged anywhere (file and offset named), or it holds no
    sample."""
    from waveguard.signals.compressed import sniff, verify_bytes

    from waveguard.model.yamlio import read_input_bytes

    p = Path(path)
    data = read_input_bytes(p, "/metrics file")  # a pipe nobody writes to, or /dev/zero: an error, not a hang
    data = verify_bytes(data, sniff(data[:4]), str(p))
    return parse_exposition(data.decode("utf-8", errors="replace"), source=str(p))


# --- Live endpoints -------------------------------------------------------------------------------------



def fetch_exposition(url: str, *, timeout_s: float = DEFAULT_FETCH_TIMEOUT_S,
                     max_bytes: int = MAX_EXPOSITION_BYTES) -> Exposition:
    """GET ``url`` (a /metrics endpoint) and parse it.

    ``timeout_s``: seconds to connect and for each read; everything (connect, headers, body)
    within a total deadline of 4 × ``timeout_s``, so a server that trickles bytes is cut off
    (:mod:`waveguard.signals.deadline_http`). Raises :class:`SourceUnavailableError` on any
    failure; never returns a partial or empty exposition."""
    from waveguard.signals.deadline_http import open_with_deadline

    try:
        req = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4"})
        with open_with_deadline(req, timeout_s=timeout_s, total_s=4 * timeout_s) as resp:
            chunks: list[bytes] = []
            size = 0
            while chunk := resp.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise SourceUnavailableError(url, "too-large", f"body exceeds {max_bytes} bytes")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailableError(url, "http-error", f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise SourceUnavailableError(url, "timeout", f"no answer within {timeout_s:g} s") from None
        raise SourceUnavailableError(url, "unreachable", f"cannot connect: {reason}") from None
    except TimeoutError:
        raise SourceUnavailableError(url, "timeout", f"no complete answer within {timeout_s:g} s per read, "
                                     f"{4 * timeout_s:g} s in all") from None
    except ValueError as exc:  # a malformed URL (bad port, unclosed IPv6 bracket, unknown scheme)
        raise SourceUnavailableError(url, "unreachable", f"not a usable URL: {exc}") from None
    except (ConnectionError, OSError) as exc:
        raise SourceUnavailableError(url, "unreachable", f"connection failed: {exc}") from None
    try:
        return parse_exposition(b"".join(chunks).decode("utf-8", errors="replace"), source=url)
    except InputError as exc:
        raise SourceUnavailableError(url, "not-exposition", exc.message) from None
