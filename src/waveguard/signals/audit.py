"""Canary measurement: kube-apiserver audit logs → one request profile per client.

``measure_audit_logs(paths)`` reads audit logs as the log backend writes them (one JSON
``Event`` per line, ``audit.k8s.io/v1`` or ``v1beta1``; plain, gzip or zstd) with DuckDB — the file
is never loaded into Python; DuckDB works within ``memory_limit`` and spills to a temporary folder
— and returns a :class:`Measurement`: per file what was read and skipped, the log's time span, and
per client its request classes with counts, rates per pod and status codes, and the
:class:`~waveguard.model.requests.RequestProfile` that ``analyse``'s projection, the simulator and
the projection gate cost.

How events become requests (``Measurement.notes`` says what was skipped or assumed):

* **one request, one count.** A request appears once per stage (RequestReceived, ResponseStarted
  for long-running requests such as WATCH, ResponseComplete, Panic). Per client, request class and
  pod the events of the most advanced stage present are counted: ResponseStarted where the log
  has it (a WATCH is counted when it starts; its ResponseComplete, when it ends, is not counted
  again), else ResponseComplete/Panic. RequestReceived events are counted as lines only (a request
  still in flight when the log ends is not counted), except in a log whose policy keeps nothing
  but that stage, where they are the requests. k8s: staging/src/k8s.io/apiserver/pkg/apis/audit/
  types.go (Stage).
* **who.** The client is the *effective* user: ``impersonatedUser`` when set (that is the identity
  API Priority and Fairness and authorization see), else ``user``; split further by the
  user agent's first token (``otelcol-contrib/0.98.0``). All kubelets (``system:node:<node>``)
  are one client, ``system:node:*``, one pod per node.
* **pod.** ``user.extra["authentication.kubernetes.io/pod-name"]`` (bound ServiceAccount tokens),
  else the first source IP; for kubelets the node name.
* **what.** verb, ``objectRef`` resource/subresource/apiGroup; no objectRef = a non-resource URL
  (``/api``, ``/healthz``), class resource ``nonresource``. Scope: ``node`` when a LIST/WATCH has a
  ``spec.nodeName`` field selector, ``object`` when it names one object (objectRef.name, or a
  ``metadata.name`` field selector), else ``namespace`` / ``cluster`` from objectRef.namespace.
  ``deletecollection`` is costed as ``delete``; other verbs the cost model does not know (e.g.
  ``proxy``) are counted and skipped.
* **query.** ``labelSelector``/``fieldSelector`` → ``selector``; ``resourceVersion`` ``0`` → "any"
  (watch cache), empty or absent → "most-recent" (a consistent read), a number → "exact";
  ``limit`` (page size; a ``continue`` page is counted apart as ``continue_pages``, not as a new
  LIST). In the profile "exact" is costed as ``"0"`` (served from the watch cache, k8s
  ``storage/cacher``: NotOlderThan) unless ``resourceVersionMatch=Exact``, costed as ``""``.
* **rates.** The log's span is last − first timestamp (stageTimestamp, else the v1beta1
  ``timestamp``) over all files; a class's rate per pod = requests / span / pods that sent it.
  LISTs become a ``start`` class (one per pod start: the informer pattern) plus, when pods
  listed more than once, a ``periodic`` class with the extra LISTs' rate; WATCHes are ``held``;
  everything else ``periodic``.
* **per node (DaemonSet) heuristic**, first that applies: kubelets; pods whose tokens carry
  ``authentication.kubernetes.io/node-name`` with as many distinct nodes as pods (≥
  :data:`PER_NODE_MIN_PODS`); pods that filter by ``spec.nodeName`` with as many distinct node
  values as pods (≥ :data:`PER_NODE_MIN_PODS`); without either, ≥ :data:`PER_NODE_MIN_PODS_BY_IP`
  pods each with its own source IP (pods spread over addresses, as a DaemonSet's are over nodes).
  Otherwise the client has ``replicas`` = the pods seen. A class sent by exactly one pod of a
  client of ≥ :data:`LEADER_MIN_PODS` pods is ``leader_only``.

Files are not deduplicated against each other by auditID: give each log once (the same file
twice is an error; overlapping copies of one log would count their requests twice). Each
apiserver replica writes its own log with its own requests, so the logs of all replicas add up.

Bad input raises :class:`~waveguard.model.errors.InputError` (a missing/unreadable file, the same
file twice, a corrupt or truncated gzip/zstd stream, no usable event in any file). Lines that are
not audit events (garbage, a truncated last line, ``kind: EventList``) and events of an unknown
``apiVersion`` are skipped and counted per file, with a note; only when nothing usable remains is
that an error.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import yaml

from waveguard.model.apf import DEFAULT_APF, APFConfig, Subject
from waveguard.model.errors import InputError
from waveguard.model.requests import RequestClass, RequestProfile
from waveguard.model.yamlio import write_text_atomically, yaml_text

#: The audit Event versions this reader maps. k8s: staging/src/k8s.io/apiserver/pkg/apis/audit/
#: v1 and v1beta1 (v1beta1 removed from kube-apiserver in 1.24, still found in old logs).
KNOWN_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1")
#: Minimum pods for the per-node (DaemonSet) heuristics that have node evidence. Policy: two
#: pods on two nodes could be any Deployment; three filtering by their own node rarely are.
PER_NODE_MIN_PODS = 3
#: Minimum pods, each with its own source IP, to call a client per-node without node evidence.
#: Policy: API-talking Deployments rarely run ten replicas; DaemonSets run one per node.
PER_NODE_MIN_PODS_BY_IP = 10
#: Minimum pods of a client for a class sent by one pod only to count as leader-only. Policy.
LEADER_MIN_PODS = 3
#: DuckDB settings: memory it may use (it spills to disk beyond), and the largest line it reads
#: (DuckDB's own default; its JSON reader holds two such buffers per thread). Policy: well under
#: the 1 GiB RSS budget of issue 5. A longer line (a RequestResponse-level event with a huge LIST
#: response body) is counted as a line that is not an audit event.
DEFAULT_MEMORY_LIMIT = "512MB"
MAX_LINE_BYTES = 16 << 20

_POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
_NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
_MODEL_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
_VERB_ALIASES = {"deletecollection": "delete"}

_COLUMNS = {
    "kind": "VARCHAR",
    "apiVersion": "VARCHAR",
    "stage": "VARCHAR",
    "requestURI": "VARCHAR",
    "verb": "VARCHAR",
    "timestamp": "VARCHAR",
    "stageTimestamp": "VARCHAR",
    "userAgent": "VARCHAR",
    "sourceIPs": "VARCHAR[]",
    # extra as a STRUCT of the two keys read (a MAP of all keys costs twice the scan time)
    "user": (f'STRUCT(username VARCHAR, groups VARCHAR[], extra STRUCT("{_POD_NAME_KEY}" VARCHAR[], '
             f'"{_NODE_NAME_KEY}" VARCHAR[]))'),
    "impersonatedUser": "STRUCT(username VARCHAR, groups VARCHAR[])",
    "objectRef": "STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR, apiGroup VARCHAR, subresource VARCHAR)",
    "responseStatus": "STRUCT(code INTEGER)",
}


# --- Results ---------------------------------------------------------------------------------------


@dataclass
class FileReport:
    """What was read from one file. ``lines``: non-empty lines; ``events``: usable audit events;
    ``garbage_lines``: lines that are not an audit event (not JSON, truncated, no kind/apiVersion/verb);
    ``unknown_api_versions``: apiVersion → events skipped; ``truncated_last_line``: the file ends
    in a partial line (a log being written, or cut)."""

    path: str
    compression: str
    lines: int = 0
    events: int = 0
    garbage_lines: int = 0
    truncated_last_line: bool = False
    api_versions: dict[str, int] = field(default_factory=dict)
    unknown_api_versions: dict[str, int] = field(default_factory=dict)
    other_kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class MeasuredClass:
    """One request class of one client as measured.

    ``requests``: requests counted (continue pages excluded); ``continue_pages``: follow-up
    pages of paginated LISTs; ``pods``: pods that sent it; ``rate_per_pod_per_s``: requests /
    span / pods (1/s); ``status_codes``: HTTP code → requests (0 = none recorded);
    ``throttled``: requests answered 429 (APF rejected or queue time-out);
    ``resource_version``: "any" (``0``), "most-recent" (empty/absent), "exact" (a number).
    """

    verb: str
    resource: str
    subresource: str
    api_group: str
    scope: str
    selector: bool
    label_selector: bool
    field_selector: bool
    resource_version: str
    resource_version_match: str
    limit: int | None
    requests: int
    continue_pages: int
    pods: int
    rate_per_pod_per_s: float
    status_codes: dict[int, int]
    throttled: int
    leader_only: bool

    @property
    def resource_path(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass
class MeasuredClient:
    """One client (effective user × user agent). ``pods``: distinct pods (see module doc);
    ``per_node`` and ``per_node_reason``: the DaemonSet heuristic's verdict and why;
    ``priority_level``: where the default FlowSchemas put its LISTs (with its real groups)."""

    client: str
    user: str
    user_agent: str
    groups: list[str]
    pods: int
    nodes: int
    source_ips: int
    per_node: bool
    per_node_reason: str
    priority_level: str
    requests: int
    status_codes: dict[int, int]
    throttled: int
    classes: list[MeasuredClass]
    profile: RequestProfile


@dataclass
class Measurement:
    """The result of :func:`measure_audit_logs`. Times are UTC; ``span_s`` seconds (≥ 1)."""

    files: list[FileReport]
    start: datetime | None
    end: datetime | None
    span_s: float
    requests: int
    skipped_verbs: dict[str, int]
    clients: list[MeasuredClient]
    notes: list[str]

    def profiles(self) -> list[RequestProfile]:
        """The request profiles, one per client (client names are unique)."""
        return [c.profile for c in self.clients]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: files, span, notes, and per client its classes and profile."""
        def client(c: MeasuredClient) -> dict[str, Any]:
            d = {k: v for k, v in asdict(c).items() if k not in ("classes", "profile")}
            d["status_codes"] = {str(k): v for k, v in sorted(c.status_codes.items())}
            d["classes"] = []
            for mc in c.classes:
                cd = asdict(mc)
                cd["status_codes"] = {str(k): v for k, v in sorted(mc.status_codes.items())}
                d["classes"].append(cd)
            d["profile"] = c.profile.model_dump(mode="json")
            return d

        return {
            "files": [asdict(f) for f in self.files],
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "span_s": self.span_s,
            "requests": self.requests,
            "skipped_verbs": self.skipped_verbs,
            "notes": self.notes,
            "clients": [client(c) for c in self.clients],
        }


# --- Reading -----------------------------------------------------------------------------------------


def _sniff_compression(path: Path) -> str:
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, str]]:
    out = []
    seen: dict[tuple[int, int], str] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(str(p), "no such file", hint="give audit log files written by the log backend")
        if p.is_dir():
            raise InputError(str(p), "is a folder", hint="give the audit log files themselves")
        if any(ch in str(p) for ch in "*?[]{}"):
            raise InputError(str(p), "file names with glob characters (*?[]{}) are not supported",
                             hint="rename or symlink the file")
        try:
            comp = _sniff_compression(p)
            st = p.stat()
        except OSError as exc:
            raise InputError(str(p), f"cannot read: {exc.strerror or exc}") from None
        if (st.st_dev, st.st_ino) in seen:  # the same file twice would count every request twice
            raise InputError(str(p), f"is the same file as {seen[(st.st_dev, st.st_ino)]}", hint="give each log once")
        seen[(st.st_dev, st.st_ino)] = str(p)
        out.append((p, comp))
    if not out:
        raise InputError("--audit-log", "no audit log given", hint="give one or more files")
    return out


def _source_sql(files: list[tuple[Path, str]]) -> str:
    cols = "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in _COLUMNS.items()) + "}"
    by_comp: dict[str, list[str]] = {}
    for p, comp in files:
        by_comp.setdefault(comp, []).append(str(p.resolve()))
    parts = []
    for comp, names in by_comp.items():
        listing = "[" + ", ".join(_sql_str(n) for n in names) + "]"
        parts.append(
            f"SELECT * FROM read_json({listing}, format='newline_delimited', records=true, "
            f"ignore_errors=true, compression={_sql_str(comp)}, columns={cols}, filename=true, "
            f"maximum_object_size={MAX_LINE_BYTES}, convert_strings_to_integers=false)"
        )
    return " UNION ALL ".join(parts)


#: One row per (file, apiVersion, kind, client, class, pod, stage, code): everything later steps need.
_AGG_SQL = """
CREATE TEMP TABLE agg_raw AS
WITH src AS ({source}),
ev AS (
  SELECT
    filename AS file,
    apiVersion AS api_version,
    kind,
    (kind IS NULL AND apiVersion IS NULL AND verb IS NULL) AS garbage,
    CASE WHEN starts_with(coalesce(impersonatedUser.username, "user".username), 'system:node:') THEN 'system:node:*'
         ELSE coalesce(impersonatedUser.username, "user".username) END AS user_key,
    coalesce(impersonatedUser.groups, "user".groups) AS eff_groups,
    coalesce(userAgent, '') AS ua,  -- cut to its first token after the aggregation (cheaper)
    verb,
    coalesce(objectRef.resource, '') AS resource,
    coalesce(objectRef.subresource, '') AS subresource,
    coalesce(objectRef.apiGroup, '') AS api_group,
    -- flags, one bit each (fewer GROUP BY keys): 1 non-resource URL, 2 namespaced, 4 named
    (CASE WHEN objectRef.resource IS NULL THEN 1 ELSE 0 END
     + CASE WHEN coalesce(objectRef.namespace, '') <> '' THEN 2 ELSE 0 END
     + CASE WHEN coalesce(objectRef.name, '') <> '' THEN 4 ELSE 0 END) AS ref_bits,
    -- the query string with its per-request values (resource versions, continue tokens, watch
    -- time-outs) replaced by N, so that it can be a GROUP BY key; parsed after the aggregation
    CASE WHEN contains(requestURI, '?')
         THEN regexp_replace(split_part(requestURI, '?', 2),
                             '(resourceVersion=)[1-9][0-9]*|(continue=)[^&]+|(timeoutSeconds=)[0-9]+',
                             '\\1\\2\\3N', 'g')
         ELSE '' END AS q,
    stage,
    responseStatus.code AS code,
    CASE WHEN starts_with("user".username, 'system:node:') THEN substr("user".username, 13)
         ELSE coalesce("user".extra."{pod_key}"[1], sourceIPs[1], '') END AS pod,
    coalesce("user".extra."{node_key}"[1], '') AS node_name,
    coalesce(sourceIPs[1], '') AS source_ip,
    coalesce(stageTimestamp, "timestamp") AS ts,
    {collapse_rr} AS rr
  FROM src
)
-- RequestReceived rows (the first stage of requests counted at a later one) are collapsed to one
-- group per file and verb when rr: they are only counted as lines (a third of the hashing work).
SELECT file, api_version, kind, garbage,
       CASE WHEN rr THEN NULL ELSE user_key END AS user_key,
       CASE WHEN rr THEN NULL ELSE ua END AS ua,
       verb,
       CASE WHEN rr THEN NULL ELSE resource END AS resource,
       CASE WHEN rr THEN NULL ELSE subresource END AS subresource,
       CASE WHEN rr THEN NULL ELSE api_group END AS api_group,
       CASE WHEN rr THEN 0 ELSE ref_bits END AS ref_bits,
       CASE WHEN rr THEN '' ELSE q END AS q,
       CASE WHEN rr THEN NULL ELSE pod END AS pod,
       stage, code,
       count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts, any_value(eff_groups) AS groups,
       max(node_name) AS node_name, min(source_ip) AS ip_lo, max(source_ip) AS ip_hi
FROM ev
GROUP BY ALL
"""

#: The query parameters of the (small) aggregate: selectors, resourceVersion semantics, limit.
_DERIVE_SQL = r"""
CREATE TEMP TABLE agg AS
WITH a AS (
  SELECT * EXCLUDE (q),
    '&' || q AS q,
    split_part(split_part('&' || q, '&fieldSelector=', 2), '&', 1) AS fs,
    split_part(split_part('&' || q, '&resourceVersion=', 2), '&', 1) AS rv
  FROM agg_raw
)
SELECT * EXCLUDE (q, fs, rv, ref_bits),
  ref_bits
    + CASE WHEN split_part(split_part(q, '&labelSelector=', 2), '&', 1) <> '' THEN 8 ELSE 0 END
    + CASE WHEN split_part(split_part(q, '&continue=', 2), '&', 1) <> '' THEN 16 ELSE 0 END
    + CASE WHEN fs <> '' THEN 32 ELSE 0 END
    + CASE WHEN contains(fs, 'metadata.name') THEN 64 ELSE 0 END
    + CASE WHEN contains(fs, 'spec.nodeName') THEN 128 ELSE 0 END AS bits,
  CASE WHEN rv = '' THEN 'most-recent' WHEN rv = '0' THEN 'any' ELSE 'exact' END AS rv_sem,
  split_part(split_part(q, '&resourceVersionMatch=', 2), '&', 1) AS rv_match,
  CASE WHEN TRY_CAST(NULLIF(split_part(split_part(q, '&limit=', 2), '&', 1), '') AS BIGINT) > 0
       THEN TRY_CAST(NULLIF(split_part(split_part(q, '&limit=', 2), '&', 1), '') AS BIGINT) END AS lim,
  CASE WHEN contains(fs, 'spec.nodeName') THEN regexp_extract(fs, 'spec\.nodeName(?:%3D|=)([^&%,]*)', 1) END AS node_filter
FROM a
"""


def _connect(memory_limit: str, threads: int | None, temp_dir: str):
    import duckdb

    config = {"memory_limit": memory_limit, "temp_directory": temp_dir, "preserve_insertion_order": False}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(database=":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def measure_audit_logs(paths: Iterable[str | os.PathLike[str]], *, memory_limit: str = DEFAULT_MEMORY_LIMIT,
                       threads: int | None = None, apf: APFConfig = DEFAULT_APF) -> Measurement:
    """Measure the request profile of every client in the audit logs ``paths``.

    ``memory_limit``: DuckDB's memory limit (e.g. ``"512MB"``; it spills to a temporary folder
    beyond it); ``threads``: DuckDB threads (default: all cores). Returns a :class:`Measurement`.
    Raises :class:`InputError` for a missing file, a corrupt compressed stream, or when no file
    holds a usable audit.k8s.io/v1 or v1beta1 event.
    """
    files = _check_paths(paths)
    with tempfile.TemporaryDirectory(prefix="waveguard-measure-") as tmp:
        con = _connect(memory_limit, threads, tmp)
        try:
            _aggregate(con, files, collapse_rr=True)
            if _only_request_received(con):  # a policy that keeps only that stage: count it
                con.execute("DROP TABLE agg")
                _aggregate(con, files, collapse_rr=False)
            return _build(con, files, apf)
        finally:
            con.close()


def _aggregate(con, files: list[tuple[Path, str]], *, collapse_rr: bool) -> None:
    import duckdb

    sql = _AGG_SQL.format(source=_source_sql(files), pod_key=_POD_NAME_KEY, node_key=_NODE_NAME_KEY,
                          collapse_rr="stage = 'RequestReceived'" if collapse_rr else "false")
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise _duckdb_input_error(files, exc) from None
    con.execute(_DERIVE_SQL)
    con.execute("DROP TABLE agg_raw")


def _only_request_received(con) -> bool:
    known = ", ".join(_sql_str(v) for v in KNOWN_API_VERSIONS)
    rr, later = con.execute(f"""
        SELECT count_if(stage = 'RequestReceived'), count_if(stage <> 'RequestReceived') FROM agg
        WHERE NOT garbage AND api_version IN ({known}) AND kind = 'Event' AND verb IS NOT NULL""").fetchone()
    return bool(rr) and not later


def _duckdb_input_error(files: list[tuple[Path, str]], exc: Exception) -> InputError:
    text = " ".join(str(exc).split())
    source = next((str(p) for p, _ in files if str(p.resolve()) in text), ", ".join(str(p) for p, _ in files))
    low = text.lower()
    if any(w in low for w in ("gzip", "zstd", "decompress", "inflate", "compression")):
        return InputError(source, f"the compressed stream is corrupt or truncated ({text[:160]})",
                          hint="check the file (gzip -t / zstd -t); recompress or give the uncompressed log")
    if "out of memory" in low:
        return InputError(source, "DuckDB ran out of memory within its --memory-limit",
                          hint="raise --memory-limit or lower --threads")
    if "maximum_object_size" in low or "object size" in low:
        return InputError(source, f"a line is longer than {MAX_LINE_BYTES >> 20} MiB",
                          hint="lower the audit policy level (Metadata) or split the line out")
    return InputError(source, f"cannot read the audit log: {text[:200]}",
                      hint="give audit.k8s.io/v1 JSON lines as the log backend writes them")


# --- From the aggregate to clients and profiles ------------------------------------------------------


def _build(con, files: list[tuple[Path, str]], apf: APFConfig) -> Measurement:
    notes: list[str] = []
    reports = _file_reports(con, files)
    known = ", ".join(_sql_str(v) for v in KNOWN_API_VERSIONS)
    valid = f"NOT garbage AND api_version IN ({known}) AND kind = 'Event' AND verb IS NOT NULL"
    usable = sum(r.events for r in reports)
    if usable == 0:
        raise InputError(", ".join(r.path for r in reports), _nothing_usable(reports),
                         hint="give kube-apiserver audit logs (log backend, --audit-log-format=json)")
    con.execute(f"CREATE TEMP TABLE ok AS SELECT * REPLACE (split_part(ua, ' ', 1) AS ua) FROM agg "
                f"WHERE {valid} AND user_key IS NOT NULL")

    # Skipped verbs: those the cost model cannot cost.
    model_verbs = ", ".join(_sql_str(v) for v in sorted(_MODEL_VERBS | set(_VERB_ALIASES)))
    skipped = dict(con.execute(
        f"SELECT verb, sum(n)::BIGINT FROM ok WHERE verb NOT IN ({model_verbs}) GROUP BY verb ORDER BY verb").fetchall())

    # Keep, per client × class × pod, the events of the most advanced stage present.
    con.execute(f"""
        CREATE TEMP TABLE counted AS
        SELECT * EXCLUDE (rank, top) FROM (
          SELECT *, max(rank) OVER (PARTITION BY user_key, ua, verb, resource, subresource, api_group, bits, rv_sem,
                                     rv_match, lim, pod) AS top
          FROM (SELECT *, CASE stage WHEN 'ResponseStarted' THEN 3 WHEN 'ResponseComplete' THEN 2
                                     WHEN 'Panic' THEN 2 WHEN 'RequestReceived' THEN 1 ELSE 0 END AS rank FROM ok
                WHERE verb IN ({model_verbs}))
        ) WHERE rank = top AND rank > 0
    """)
    stages = dict(con.execute("SELECT stage, sum(n)::BIGINT FROM counted GROUP BY stage").fetchall())
    if stages.get("RequestReceived"):
        notes.append(f"the log has only stage RequestReceived (its policy omits the later stages): "
                     f"{stages['RequestReceived']} requests counted there, without status codes")

    # Timestamps were kept as text per group (RFC 3339, one format per apiVersion): cast here.
    first, last = con.execute("SELECT min(TRY_CAST(first_ts AS TIMESTAMPTZ)), "
                              "max(TRY_CAST(last_ts AS TIMESTAMPTZ)) FROM ok").fetchone()
    if first is None:
        notes.append("no event has a readable timestamp: rates assume a 1 s span")
        span = 1.0
    else:
        span = max(1.0, (last - first).total_seconds())
        if (last - first).total_seconds() < 1.0:
            notes.append("the log spans less than 1 s: rates assume a 1 s span")

    clients = _clients(con, span, apf)
    total = sum(c.requests for c in clients)
    for r in reports:
        if r.garbage_lines:
            what = f"{r.garbage_lines} line(s) are not audit events and were skipped"
            if r.truncated_last_line:
                what += " (the last line is truncated)"
            notes.append(f"{r.path}: {what}")
        if r.unknown_api_versions:
            seen = ", ".join(f"{k} ×{v}" for k, v in sorted(r.unknown_api_versions.items()))
            notes.append(f"{r.path}: skipped events of unknown apiVersion ({seen}); "
                         f"known: {', '.join(KNOWN_API_VERSIONS)}")
        if r.other_kinds:
            seen = ", ".join(f"{k} ×{v}" for k, v in sorted(r.other_kinds.items()))
            notes.append(f"{r.path}: skipped lines of kind {seen} (one Event per line expected: the log backend)")
    if skipped:
        notes.append("skipped verbs the cost model does not cost: "
                     + ", ".join(f"{k} ×{v}" for k, v in skipped.items()))
    return Measurement(files=reports, start=first, end=last, span_s=span, requests=total, skipped_verbs=skipped,
                       clients=clients, notes=notes)


def _nothing_usable(reports: list[FileReport]) -> str:
    unknown: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for r in reports:
        for k, v in r.unknown_api_versions.items():
            unknown[k] = unknown.get(k, 0) + v
        for k, v in r.other_kinds.items():
            kinds[k] = kinds.get(k, 0) + v
    lines = sum(r.lines for r in reports)
    if unknown:
        seen = ", ".join(f"{k} ({v} events)" for k, v in sorted(unknown.items()))
        return f"no usable audit event: unknown apiVersion {seen}; known: {', '.join(KNOWN_API_VERSIONS)}"
    if kinds:
        seen = ", ".join(f"{k} ({v})" for k, v in sorted(kinds.items()))
        return f"no audit Event line: found kind {seen}; one Event per line expected (the log backend)"
    if lines == 0:
        return "no audit event: the file is empty"
    return f"none of the {lines} line(s) is an audit event (JSON with kind Event, apiVersion, verb)"


def _file_reports(con, files: list[tuple[Path, str]]) -> list[FileReport]:
    reports = {str(p.resolve()): FileReport(path=str(p), compression=comp) for p, comp in files}
    rows = con.execute("""
        SELECT file, garbage, api_version, kind, verb IS NULL, sum(n)::BIGINT FROM agg GROUP BY ALL
    """).fetchall()
    for file, garbage, api_version, kind, no_verb, n in rows:
        r = reports.get(file) or reports.setdefault(file, FileReport(path=file, compression="none"))
        r.lines += n
        if garbage or (kind is None and api_version is None):
            r.garbage_lines += n
        elif kind != "Event":
            r.other_kinds[str(kind)] = r.other_kinds.get(str(kind), 0) + n
        elif api_version not in KNOWN_API_VERSIONS:
            r.unknown_api_versions[str(api_version)] = r.unknown_api_versions.get(str(api_version), 0) + n
        elif no_verb:
            r.garbage_lines += n
        else:
            r.events += n
            r.api_versions[api_version] = r.api_versions.get(api_version, 0) + n
    for (p, comp) in files:
        r = reports[str(p.resolve())]
        if r.garbage_lines:
            r.truncated_last_line = _last_line_truncated(p, comp)
    return list(reports.values())


def _last_line_truncated(path: Path, compression: str) -> bool:
    """True when the file does not end with a newline and its last line is not valid JSON.

    Reads backwards from the end of a plain file; a gzip file is decompressed as a stream keeping
    only the current partial line (memory bounded by the longest line); a zstd file is not
    checked (False)."""
    tail = b""
    if compression == "none":
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            pos = fh.tell()
            while pos > 0 and b"\n" not in tail and len(tail) <= MAX_LINE_BYTES:
                step = min(1 << 16, pos)
                pos -= step
                fh.seek(pos)
                tail = fh.read(step) + tail
    elif compression == "gzip":
        try:
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    tail = (tail + chunk)[-(MAX_LINE_BYTES + 1):]
                    cut = tail.rfind(b"\n", 0, len(tail) - 1)
                    if cut >= 0:
                        tail = tail[cut:]
        except (OSError, EOFError):
            return True
    else:
        return False
    if not tail or tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1].strip()
    if not last:
        return False
    try:
        json.loads(last)
    except ValueError:
        return True
    return False


_BIT_NONRESOURCE, _BIT_NAMESPACED, _BIT_NAMED, _BIT_LABEL_SEL, _BIT_CONTINUE = 1, 2, 4, 8, 16
_BIT_FIELD_SEL, _BIT_NAME_FILTER, _BIT_NODE_FILTER = 32, 64, 128


def _clients(con, span: float, apf: APFConfig) -> list[MeasuredClient]:
    # A class is the group keys less pod, stage, code and the continue bit.
    class_keys = f"verb, resource, subresource, api_group, (bits & ~{_BIT_CONTINUE}) AS cbits, rv_sem, rv_match, lim"
    cont = f"(bits & {_BIT_CONTINUE}) <> 0"
    per_client = con.execute(f"""
        SELECT user_key, ua, count(DISTINCT pod), count(DISTINCT NULLIF(node_name, '')),
               count(DISTINCT NULLIF(node_filter, '')), count(DISTINCT NULLIF(ip_lo, '')),
               (sum(n) FILTER (WHERE NOT {cont}))::BIGINT, any_value(groups)
        FROM counted GROUP BY user_key, ua ORDER BY user_key, ua
    """).fetchall()
    # "each pod has one source IP of its own": per pod a single address, no address shared.
    per_pod_ip = {(u, a): bool(x) for u, a, x in con.execute("""
        SELECT user_key, ua, bool_and(one) FROM (
          SELECT user_key, ua, pod, count(DISTINCT ip_lo) = 1 AND bool_and(ip_lo = ip_hi) AS one
          FROM counted GROUP BY ALL)
        GROUP BY ALL""").fetchall()}
    classes = con.execute(f"""
        SELECT user_key, ua, {class_keys},
               (sum(n) FILTER (WHERE NOT {cont}))::BIGINT AS requests,
               (sum(n) FILTER (WHERE {cont}))::BIGINT AS pages,
               count(DISTINCT pod) FILTER (WHERE NOT {cont}) AS pods
        FROM counted GROUP BY ALL ORDER BY user_key, ua, requests DESC NULLS LAST, verb, resource
    """).fetchall()
    codes = con.execute(f"""
        SELECT user_key, ua, {class_keys}, coalesce(code, 0), sum(n)::BIGINT
        FROM counted WHERE NOT {cont} GROUP BY ALL
    """).fetchall()
    ncols = 10  # user_key, ua and the 8 class keys
    code_map: dict[tuple, dict[int, int]] = {}
    for row in codes:
        code_map.setdefault(tuple(row[:ncols]), {})[int(row[ncols])] = int(row[ncols + 1])

    by_client: dict[tuple[str, str], list[tuple]] = {}
    for row in classes:
        by_client.setdefault((row[0], row[1]), []).append(row)

    out: list[MeasuredClient] = []
    names = _client_names([(u, a) for u, a, *_ in per_client])
    for user, ua, pods, nodes, node_filters, ips, requests, groups in per_client:
        rows = by_client.get((user, ua), [])
        per_node, reason = _per_node(user, pods, nodes, node_filters, ips, per_pod_ip.get((user, ua), False))
        measured: list[MeasuredClass] = []
        for row in rows:
            verb, resource, subresource, api_group, bits, rv_sem, rv_match, lim, n_req, n_pages, n_pods = row[2:]
            n_req, n_pages, n_pods = int(n_req or 0), int(n_pages or 0), int(n_pods or 0)
            scope = _scope(verb, bits)
            cc = code_map.get(tuple(row[:ncols]), {})
            label_sel, field_sel = bool(bits & _BIT_LABEL_SEL), bool(bits & _BIT_FIELD_SEL)
            measured.append(MeasuredClass(
                verb=verb, resource="nonresource" if bits & _BIT_NONRESOURCE else resource, subresource=subresource,
                api_group=api_group, scope=scope, selector=label_sel or field_sel,
                label_selector=label_sel, field_selector=field_sel, resource_version=rv_sem,
                resource_version_match=rv_match or "", limit=int(lim) if lim is not None else None,
                requests=n_req, continue_pages=n_pages, pods=n_pods,
                rate_per_pod_per_s=n_req / span / n_pods if n_pods else 0.0,
                status_codes=cc, throttled=cc.get(429, 0),
                leader_only=pods >= LEADER_MIN_PODS and n_pods == 1,
            ))
        status: dict[int, int] = {}
        for mc in measured:
            for k, v in mc.status_codes.items():
                status[k] = status.get(k, 0) + v
        ns, sa = _service_account(user)
        name = names[(user, ua)]
        groups = list(groups or [])
        level = _priority_level(user, groups, apf)
        profile = RequestProfile(
            client=name, agent=(ua.split("/", 1)[0] or "unknown"), per_node=per_node, replicas=max(1, pods),
            namespace=ns or "default", service_account=sa or "default",
            user=None if sa else user, groups=[] if sa else groups,
            classes=[rc for mc in measured for rc in _request_classes(mc, span)],
        )
        out.append(MeasuredClient(
            client=name, user=user, user_agent=ua, groups=groups, pods=pods, nodes=nodes, source_ips=ips,
            per_node=per_node, per_node_reason=reason, priority_level=level, requests=int(requests or 0),
            status_codes=status, throttled=status.get(429, 0), classes=measured, profile=profile,
        ))
    out.sort(key=lambda c: (-c.requests, c.client))
    return out


def _client_names(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Unique, readable client names: ``ServiceAccount/ns/name``, ``Nodes/system:node:*`` or
    ``User/<name>``, with `` [user agent]`` when one user has several."""
    users: dict[str, int] = {}
    for u, _ in keys:
        users[u] = users.get(u, 0) + 1
    out = {}
    for u, a in keys:
        ns, sa = _service_account(u)
        if ns is not None:
            base = f"ServiceAccount/{ns}/{sa}"
        elif u == "system:node:*":
            base = "Nodes/system:node:*"
        else:
            base = f"User/{u}"
        out[(u, a)] = f"{base} [{a or 'no user agent'}]" if users[u] > 1 else base
    return out


def _service_account(user: str) -> tuple[str | None, str | None]:
    parts = (user or "").split(":")
    if len(parts) == 4 and parts[0] == "system" and parts[1] == "serviceaccount":
        return parts[2], parts[3]
    return None, None


def _priority_level(user: str, groups: list[str], apf: APFConfig) -> str:
    name = "system:node:x" if user == "system:node:*" else user
    try:
        return apf.classify(Subject(user=name, groups=groups), "list", "pods").priority_level
    except LookupError:
        return "unknown"


def _per_node(user: str, pods: int, nodes: int, node_filters: int, ips: int, one_ip_per_pod: bool) -> tuple[bool, str]:
    if user == "system:node:*":
        return True, "kubelets: one client per node"
    if nodes >= PER_NODE_MIN_PODS and nodes == pods:
        return True, f"{pods} pods on {nodes} distinct nodes (token node-name)"
    if node_filters >= PER_NODE_MIN_PODS and node_filters == pods:
        return True, f"{pods} pods each filtering by its own node (spec.nodeName, {node_filters} values)"
    if nodes == 0 and node_filters == 0 and pods >= PER_NODE_MIN_PODS_BY_IP and ips == pods and one_ip_per_pod:
        return True, f"{pods} pods, each with its own source IP (no node evidence: heuristic)"
    return False, f"{pods} pod(s): fixed replicas"


def _scope(verb: str, bits: int) -> str:
    if bits & (_BIT_NONRESOURCE | _BIT_NAMED | _BIT_NAME_FILTER):
        return "object"
    if verb in ("list", "watch", "deletecollection") and bits & _BIT_NODE_FILTER:
        return "node"
    return "namespace" if bits & _BIT_NAMESPACED else "cluster"


def _request_classes(mc: MeasuredClass, span: float) -> list[RequestClass]:
    """The profile's request classes for one measured class (see the module doc, "rates")."""
    verb = _VERB_ALIASES.get(mc.verb, mc.verb)
    if verb not in _MODEL_VERBS or mc.requests == 0:
        return []
    rv = "" if (mc.resource_version == "most-recent" or mc.resource_version_match == "Exact") else "0"
    codes = ", ".join(f"{k}×{v}" for k, v in sorted(mc.status_codes.items()))
    common = dict(
        verb=verb, resource=mc.resource_path, api_group=mc.api_group, scope=mc.scope, resource_version=rv,
        limit=mc.limit, selector=mc.selector or mc.scope == "node", leader_only=mc.leader_only,
        component=(f"audit log: {mc.requests} {mc.verb} from {mc.pods} pod(s) in {span:.0f} s"
                   + (f", {mc.continue_pages} continue pages" if mc.continue_pages else "")
                   + (f"; codes {codes}" if codes else "")),
    )
    if verb == "watch":
        return [RequestClass(trigger="held", **common)]
    if verb == "list":
        out = [RequestClass(trigger="start", **common)]
        extra = mc.requests - mc.pods
        if extra > 0:
            out.append(RequestClass(trigger="periodic", rate_per_s=extra / span / mc.pods, **common))
        return out
    return [RequestClass(trigger="periodic", rate_per_s=mc.rate_per_pod_per_s, **common)]


# --- Profiles on disk ---------------------------------------------------------------------------------


def dump_profiles_yaml(profiles: list[RequestProfile], header: str = "") -> str:
    """YAML text of ``profiles``: a list, each item a ``RequestProfile`` as
    ``RequestProfile.model_validate`` reads it (no extra keys), after ``#`` comment lines."""
    return yaml_text([p.model_dump(mode="json") for p in profiles], header)


def write_profiles(profiles: list[RequestProfile], path: str | os.PathLike[str], header: str = "") -> None:
    """Write :func:`dump_profiles_yaml` to ``path`` whole or not at all. Raises InputError when
    it cannot be written."""
    write_text_atomically(path, dump_profiles_yaml(profiles, header))


def load_profiles(path: str | os.PathLike[str]) -> list[RequestProfile]:
    """Read a profile file written by :func:`write_profiles` (a YAML list of profiles, or one
    profile). Raises InputError on a missing file, bad YAML or an invalid profile."""
    from pydantic import ValidationError

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(str(p), f"cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        from waveguard.model.errors import yaml_input_error

        raise yaml_input_error(str(p), exc, p.read_text(encoding="utf-8", errors="replace")) from None
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(RequestProfile.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise InputError(str(p), f"profile {i}: {loc}: {err['msg']}", hint="a list of request profiles") from None
    return out


def summary_line(m: Measurement) -> str:
    """One line: requests, clients, span, 429s."""
    throttled = sum(c.throttled for c in m.clients)
    return (f"{m.requests} requests from {len(m.clients)} clients over {m.span_s:.0f} s"
            + (f", {throttled} answered 429" if throttled else ""))


