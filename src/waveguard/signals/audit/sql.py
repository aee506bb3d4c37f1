"""The SQL side of the audit-log measurement (DuckDB): the files read as one JSON source, one
aggregate row per (file, apiVersion, kind, client, class, pod, stage, code), the derived query
parameters, the requests counted at their most advanced stage, and the per-client queries.

The log is never loaded into Python: DuckDB works within its memory limit and spills to a
temporary folder beyond it.
"""

from __future__ import annotations

import json
from typing import Any

from waveguard.signals.audit.classify import (
    BIT_BOOKMARKS, BIT_CONTINUE, BIT_INITIAL_EVENTS, CLASS_KEY_COLUMNS, MODEL_VERBS, PAIR_MASK, VERB_ALIASES,
    ClientSummary, WatchEvidence,
)
from waveguard.signals.audit.files import KNOWN_API_VERSIONS, MAX_LINE_BYTES, AuditFile, duckdb_input_error

#: DuckDB's memory limit by default (it spills to disk beyond). Policy: well under the 1 GiB RSS
#: budget of issue 5.
DEFAULT_MEMORY_LIMIT = "512MB"

POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"

#: The columns read from each JSON line, with their DuckDB types.
COLUMNS = {
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
    # groups as their JSON text, parsed per client (a LIST per line costs ~4 % of the pass)
    "user": (f'STRUCT(username VARCHAR, groups VARCHAR, extra STRUCT("{POD_NAME_KEY}" VARCHAR[], '
             f'"{NODE_NAME_KEY}" VARCHAR[]))'),
    "impersonatedUser": "STRUCT(username VARCHAR, groups VARCHAR)",
    "objectRef": "STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR, apiGroup VARCHAR, subresource VARCHAR)",
    # the code as its JSON text: one that is no HTTP status is refused, not read as NULL
    "responseStatus": "STRUCT(code JSON)",
    # issue 12: the resourceVersion a LIST returned (RequestResponse level only)
    "responseObject": "STRUCT(metadata STRUCT(resourceVersion VARCHAR))",
}


def sql_str(s: str) -> str:
    """``s`` as an SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def source_sql(files: list[AuditFile], columns: dict[str, str] = COLUMNS) -> str:
    """One SELECT of ``columns`` over all ``files``: a read_json per compression, UNION ALL."""
    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in columns.items()) + "}"
    by_comp: dict[str, list[str]] = {}
    for p, comp in files:
        by_comp.setdefault(comp, []).append(str(p.resolve()))
    parts = []
    for comp, names in by_comp.items():
        listing = "[" + ", ".join(sql_str(n) for n in names) + "]"
        parts.append(
            f"SELECT * FROM read_json({listing}, format='newline_delimited', records=true, "
            f"ignore_errors=true, compression={sql_str(comp)}, columns={cols}, filename=true, "
            f"maximum_object_size={MAX_LINE_BYTES}, convert_strings_to_integers=false)"
        )
    return " UNION ALL ".join(parts)


#: An HTTP status code: three digits, 100-599 (RFC 9110 §15). The code of an audit event is one:
#: audit.k8s.io Event.responseStatus is a metav1.Status, whose ``code`` (int32) is "suggested HTTP
#: return code for this status, 0 if not set" (k8s: staging/src/k8s.io/apimachinery/pkg/apis/meta/
#: v1/types.go, Status.Code), and the apiserver's audit filter sets it to the status it wrote
#: (staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go). 0 reads as not set.
HTTP_STATUS_RE = "[1-5][0-9][0-9]"


#: One row per (file, apiVersion, kind, client, class, pod, stage, code): everything later steps
#: need. The common table expressions of :data:`_DERIVE_SQL` follow, in the same statement.
#: ``{rr}`` is true on a RequestReceived row of a log whose requests are counted at a later stage:
#: such a row is counted as a line only (per file and verb), and every per-line expression is
#: under ``CASE WHEN {rr} THEN NULL`` so that none is computed for it (~40 % of a log's lines;
#: issue 17: 4-5 % of the pass's CPU time against computing them and dropping them after).
_AGG_SQL = """
WITH src AS ({source}),
agg_raw AS (
  SELECT
    filename AS file,
    apiVersion AS api_version,
    kind,
    (kind IS NULL AND apiVersion IS NULL AND verb IS NULL) AS garbage,
    CASE WHEN {rr} THEN NULL
         WHEN starts_with(coalesce(impersonatedUser.username, "user".username), 'system:node:') THEN 'system:node:*'
         ELSE coalesce(impersonatedUser.username, "user".username) END AS user_key,
    CASE WHEN {rr} THEN NULL ELSE coalesce(userAgent, '') END AS ua,  -- cut to its first token later (cheaper)
    verb,
    CASE WHEN {rr} THEN NULL ELSE coalesce(objectRef.resource, '') END AS resource,
    CASE WHEN {rr} THEN NULL ELSE coalesce(objectRef.subresource, '') END AS subresource,
    CASE WHEN {rr} THEN NULL ELSE coalesce(objectRef.apiGroup, '') END AS api_group,
    -- flags, one bit each (fewer GROUP BY keys): 1 non-resource URL, 2 namespaced, 4 named
    CASE WHEN {rr} THEN 0
         ELSE CASE WHEN objectRef.resource IS NULL THEN 1 ELSE 0 END
              + CASE WHEN coalesce(objectRef.namespace, '') <> '' THEN 2 ELSE 0 END
              + CASE WHEN coalesce(objectRef.name, '') <> '' THEN 4 ELSE 0 END END AS ref_bits,
    -- the query string with its per-request values (resource versions, continue tokens, watch
    -- time-outs) replaced by N, so that it can be a GROUP BY key; parsed after the aggregation
    CASE WHEN {rr} THEN ''
         WHEN contains(requestURI, '?')
         THEN regexp_replace(split_part(requestURI, '?', 2),
                             '(resourceVersion=)[1-9][0-9]*|(continue=)[^&]+|(timeoutSeconds=)[0-9]+',
                             '\\1\\2\\3N', 'g')
         ELSE '' END AS q,
    CASE WHEN {rr} THEN NULL
         WHEN starts_with("user".username, 'system:node:') THEN substr("user".username, 13)
         ELSE coalesce("user".extra."{pod_key}"[1], sourceIPs[1], '') END AS pod,
    stage,
    responseStatus.code AS code,
    count(*) AS n,
    min(CASE WHEN {rr} THEN NULL ELSE coalesce(stageTimestamp, "timestamp") END) AS first_ts,
    max(CASE WHEN {rr} THEN NULL ELSE coalesce(stageTimestamp, "timestamp") END) AS last_ts,
    any_value(CASE WHEN {rr} THEN NULL ELSE coalesce(impersonatedUser.groups, "user".groups) END) AS groups,
    max(CASE WHEN {rr} THEN NULL ELSE coalesce("user".extra."{node_key}"[1], '') END) AS node_name,
    min(CASE WHEN {rr} THEN NULL ELSE coalesce(sourceIPs[1], '') END) AS ip_lo,
    max(CASE WHEN {rr} THEN NULL ELSE coalesce(sourceIPs[1], '') END) AS ip_hi,
    -- issue 12: the resourceVersion number a WATCH starts from, and the one a LIST returned
    min(CASE WHEN {rr} THEN NULL
             WHEN verb = 'watch' THEN TRY_CAST(regexp_extract(requestURI, '[?&]resourceVersion=([0-9]+)', 1) AS UBIGINT)
             WHEN verb = 'list' THEN TRY_CAST(responseObject.metadata.resourceVersion AS UBIGINT) END) AS rv_num
  FROM src
  GROUP BY ALL
)"""

#: The query parameters of the (small) aggregate: selectors, resourceVersion semantics, limit.
_DERIVE_SQL = rf""",
a AS (
  SELECT * EXCLUDE (q, code),
    '&' || q AS q,
    code::VARCHAR AS code_text,
    split_part(split_part('&' || q, '&fieldSelector=', 2), '&', 1) AS fs,
    split_part(split_part('&' || q, '&resourceVersion=', 2), '&', 1) AS rv
  FROM agg_raw
)
SELECT * EXCLUDE (q, fs, rv, ref_bits, code_text),
  CASE WHEN regexp_full_match(code_text, '{HTTP_STATUS_RE}') THEN code_text::INTEGER END AS code,
  CASE WHEN NOT regexp_full_match(code_text, '0|{HTTP_STATUS_RE}') THEN code_text END AS bad_code,
  ref_bits
    + CASE WHEN split_part(split_part(q, '&labelSelector=', 2), '&', 1) <> '' THEN 8 ELSE 0 END
    + CASE WHEN split_part(split_part(q, '&continue=', 2), '&', 1) <> '' THEN 16 ELSE 0 END
    + CASE WHEN fs <> '' THEN 32 ELSE 0 END
    + CASE WHEN contains(fs, 'metadata.name') THEN 64 ELSE 0 END
    + CASE WHEN contains(fs, 'spec.nodeName') THEN 128 ELSE 0 END
    + CASE WHEN contains(q, '&allowWatchBookmarks=true') THEN 256 ELSE 0 END
    + CASE WHEN contains(q, '&sendInitialEvents=true') THEN 512 ELSE 0 END AS bits,
  CASE WHEN rv = '' THEN 'most-recent' WHEN rv = '0' THEN 'any' ELSE 'exact' END AS rv_sem,
  split_part(split_part(q, '&resourceVersionMatch=', 2), '&', 1) AS rv_match,
  CASE WHEN TRY_CAST(NULLIF(split_part(split_part(q, '&limit=', 2), '&', 1), '') AS BIGINT) > 0
       THEN TRY_CAST(NULLIF(split_part(split_part(q, '&limit=', 2), '&', 1), '') AS BIGINT) END AS lim,
  CASE WHEN contains(fs, 'spec.nodeName') THEN regexp_extract(fs, 'spec\.nodeName(?:%3D|=)([^&%,]*)', 1) END AS node_filter
FROM a
"""


def connect(memory_limit: str, threads: int | None, temp_dir: str) -> Any:
    """An in-memory DuckDB connection (UTC) spilling to ``temp_dir`` beyond ``memory_limit``;
    ``threads``: for the pass over the logs (default: DuckDB's, all cores), see :func:`threads_for`.
    No progress bar: DuckDB draws one on the terminal for statements past 2 s, in the middle of
    measure's own output."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit, "temp_directory": temp_dir, "preserve_insertion_order": False}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(database=":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # a session setting: refused in config
    return con


def threads_for(con: Any, pass_over_logs: bool, *, cores: int) -> None:
    """``cores`` threads for the pass over the logs, one for the small statements around it: on
    the aggregate's ~10^4 rows, DuckDB's parallel tasks cost more than they save (a temp table
    of them is written 1.6-3.4x faster by one thread on a loaded 2-core machine; README)."""
    con.execute(f"SET threads = {cores if pass_over_logs else 1}")


def aggregate_sql(files: list[AuditFile], *, collapse_rr: bool) -> str:
    """The SELECT of table ``agg``: one statement, the log's aggregate and its derived columns
    with no table in between (``bench_measure.py`` runs it alone as a peer)."""
    return _AGG_SQL.format(source=source_sql(files), pod_key=POD_NAME_KEY, node_key=NODE_NAME_KEY,
                           rr="stage = 'RequestReceived'" if collapse_rr else "false") + _DERIVE_SQL


def aggregate(con: Any, files: list[AuditFile], *, collapse_rr: bool) -> None:
    """Create table ``agg`` from ``files``; ``collapse_rr``: RequestReceived rows counted as lines
    only. Raises InputError when DuckDB cannot read a file."""
    import duckdb

    try:
        con.execute("CREATE TEMP TABLE agg AS" + aggregate_sql(files, collapse_rr=collapse_rr))
    except duckdb.Error as exc:
        raise duckdb_input_error(files, exc) from None


#: Lines read from the start of the logs to see whether they hold stages after RequestReceived.
STAGE_SAMPLE_LINES = 10_000


def later_stages_seen(con: Any, files: list[AuditFile]) -> bool:
    """True when the first :data:`STAGE_SAMPLE_LINES` lines of the logs hold a stage after
    RequestReceived: the aggregate may then count RequestReceived rows as lines only. A log
    whose policy keeps only RequestReceived is aggregated in full (in the same single pass)
    instead of being read twice. Reads the start of the logs only. Raises InputError when
    DuckDB cannot read a file."""
    import duckdb

    try:
        later = con.execute(f"SELECT count_if(stage IS NOT NULL AND stage <> 'RequestReceived') FROM "
                            f"(SELECT stage FROM ({source_sql(files)}) LIMIT {STAGE_SAMPLE_LINES})").fetchone()[0]
    except duckdb.Error as exc:
        raise duckdb_input_error(files, exc) from None
    return bool(later)


def valid_events() -> str:
    """The SQL condition of a usable event: a JSON line of kind Event, a known apiVersion, a verb."""
    known = ", ".join(sql_str(v) for v in KNOWN_API_VERSIONS)
    return f"NOT garbage AND api_version IN ({known}) AND kind = 'Event' AND verb IS NOT NULL"


def _model_verbs() -> str:
    return ", ".join(sql_str(v) for v in sorted(MODEL_VERBS | set(VERB_ALIASES)))


def file_rows(con: Any) -> list[tuple[str, bool, str | None, str | None, bool, int]]:
    """(resolved file name, garbage, apiVersion, kind, no verb, lines) of the aggregate."""
    return con.execute("""
        SELECT file, garbage, api_version, kind, verb IS NULL, sum(n)::BIGINT FROM agg GROUP BY ALL
    """).fetchall()


def select_usable(con: Any) -> None:
    """Create view ``ok``: the usable events with a user, the user agent cut to its first token
    (a view: a filter of the aggregate costs less than writing it to a table)."""
    con.execute(f"CREATE TEMP VIEW ok AS SELECT * REPLACE (split_part(ua, ' ', 1) AS ua) FROM agg "
                f"WHERE {valid_events()} AND user_key IS NOT NULL")


def skipped_verbs(con: Any) -> dict[str, int]:
    """Verb → requests of the verbs the cost model cannot cost, sorted by verb."""
    return dict(con.execute(
        f"SELECT verb, sum(n)::BIGINT FROM ok WHERE verb NOT IN ({_model_verbs()}) GROUP BY verb ORDER BY verb"
    ).fetchall())


def count_requests(con: Any) -> dict[str, int]:
    """Create table ``counted``: per client × class × pod, the events of the most advanced stage
    present. Returns stage → requests counted there."""
    con.execute(f"""
        CREATE TEMP TABLE counted AS  -- without the columns no later step reads (less to write)
        SELECT * EXCLUDE (rank, top, file, api_version, kind, garbage) FROM (
          SELECT *, max(rank) OVER (PARTITION BY user_key, ua, verb, resource, subresource, api_group, bits, rv_sem,
                                     rv_match, lim, pod) AS top
          FROM (SELECT *, CASE stage WHEN 'ResponseStarted' THEN 3 WHEN 'ResponseComplete' THEN 2
                                     WHEN 'Panic' THEN 2 WHEN 'RequestReceived' THEN 1 ELSE 0 END AS rank FROM ok
                WHERE verb IN ({_model_verbs()}))
        ) WHERE rank = top AND rank > 0
    """)
    return dict(con.execute("SELECT stage, sum(n)::BIGINT FROM counted GROUP BY stage").fetchall())


def time_bounds(con: Any) -> tuple[Any, Any, str | None]:
    """(first, last, unreadable): the first and last event timestamps (datetimes, UTC; None when
    none is readable) and the text of a group's earliest or latest timestamp that is no time
    (None when every one is). Timestamps were kept as text per group (RFC 3339, one format per
    apiVersion), whose order puts text that is no time (``banana``, ``5``) first or last: cast here."""
    first, last, bad_first, bad_last = con.execute("""
        SELECT min(TRY_CAST(first_ts AS TIMESTAMPTZ)), max(TRY_CAST(last_ts AS TIMESTAMPTZ)),
               any_value(first_ts) FILTER (WHERE TRY_CAST(first_ts AS TIMESTAMPTZ) IS NULL),
               any_value(last_ts) FILTER (WHERE TRY_CAST(last_ts AS TIMESTAMPTZ) IS NULL)
        FROM ok""").fetchone()
    return first, last, bad_first if bad_first is not None else bad_last


def unreadable_code(con: Any) -> tuple[str, str] | None:
    """(resolved file name, text) of a usable event's ``responseStatus.code`` that is no HTTP
    status (:data:`HTTP_STATUS_RE`) nor 0; None when every one is. Read from the aggregate."""
    return con.execute("SELECT file, bad_code FROM ok WHERE bad_code IS NOT NULL "
                       "ORDER BY file, bad_code LIMIT 1").fetchone()


#: A class is the group keys less pod, stage, code and the continue bit.
_CLASS_KEYS = f"verb, resource, subresource, api_group, (bits & ~{BIT_CONTINUE}) AS cbits, rv_sem, rv_match, lim"
_CONTINUE = f"(bits & {BIT_CONTINUE}) <> 0"


def client_summaries(con: Any) -> list[ClientSummary]:
    """One :class:`ClientSummary` per (user, user agent) of ``counted``, ordered by both."""
    per_client = con.execute(f"""
        SELECT user_key, ua, count(DISTINCT pod), count(DISTINCT NULLIF(node_name, '')),
               count(DISTINCT NULLIF(node_filter, '')), count(DISTINCT NULLIF(ip_lo, '')),
               (sum(n) FILTER (WHERE NOT {_CONTINUE}))::BIGINT, any_value(groups)
        FROM counted GROUP BY user_key, ua ORDER BY user_key, ua
    """).fetchall()
    # "each pod has one source IP of its own": per pod a single address, no address shared.
    per_pod_ip = {(u, a): bool(x) for u, a, x in con.execute("""
        SELECT user_key, ua, bool_and(one) FROM (
          SELECT user_key, ua, pod, count(DISTINCT ip_lo) = 1 AND bool_and(ip_lo = ip_hi) AS one
          FROM counted GROUP BY ALL)
        GROUP BY ALL""").fetchall()}
    return [ClientSummary(user=user, user_agent=ua, pods=pods, nodes=nodes, node_filters=node_filters,
                          source_ips=ips, requests=int(requests or 0), groups=groups_of(groups),
                          one_ip_per_pod=per_pod_ip.get((user, ua), False))
            for user, ua, pods, nodes, node_filters, ips, requests, groups in per_client]


def groups_of(text: str | None) -> list[str]:
    """The groups of a user from their JSON text (``["system:authenticated", ...]``); [] when
    absent or not a list (a malformed line does not stop the measurement)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(g) for g in value if g is not None] if isinstance(value, list) else []


def class_rows(con: Any) -> dict[tuple[str, str], list[tuple]]:
    """(user, user agent) → its class rows: user_key, ua, the 8 class keys, requests, continue
    pages, pods; most requests first."""
    rows = con.execute(f"""
        SELECT user_key, ua, {_CLASS_KEYS},
               (sum(n) FILTER (WHERE NOT {_CONTINUE}))::BIGINT AS requests,
               (sum(n) FILTER (WHERE {_CONTINUE}))::BIGINT AS pages,
               count(DISTINCT pod) FILTER (WHERE NOT {_CONTINUE}) AS pods
        FROM counted GROUP BY ALL ORDER BY user_key, ua, requests DESC NULLS LAST, verb, resource
    """).fetchall()
    by_client: dict[tuple[str, str], list[tuple]] = {}
    for row in rows:
        by_client.setdefault((row[0], row[1]), []).append(row)
    return by_client


def status_codes(con: Any) -> dict[tuple, dict[int, int]]:
    """Class key (user_key, ua, the 8 class keys) → HTTP status code (0: none) → requests."""
    codes = con.execute(f"""
        SELECT user_key, ua, {_CLASS_KEYS}, coalesce(code, 0), sum(n)::BIGINT
        FROM counted WHERE NOT {_CONTINUE} GROUP BY ALL
    """).fetchall()
    code_map: dict[tuple, dict[int, int]] = {}
    for row in codes:
        code_map.setdefault(tuple(row[:CLASS_KEY_COLUMNS]), {})[int(row[CLASS_KEY_COLUMNS])] = \
            int(row[CLASS_KEY_COLUMNS + 1])
    return code_map


#: issue 12: per client and set of objects, its LISTs and WATCHes side by side (pods that
#: LISTed, of them those that WATCHed from the resourceVersion their LIST returned, or from a
#: resourceVersion after their first LIST), and its WATCHes' client-go-only parameters.
_WATCH_EVIDENCE_SQL = f"""
WITH c AS (
  SELECT user_key, ua, pod, verb, resource, subresource, api_group, (bits & {PAIR_MASK}) AS k, bits, rv_sem, n,
         TRY_CAST(first_ts AS TIMESTAMPTZ) AS t0, TRY_CAST(last_ts AS TIMESTAMPTZ) AS t1, rv_num
  FROM counted WHERE verb IN ('list', 'watch') AND NOT {_CONTINUE}),
l AS (SELECT user_key, ua, pod, resource, subresource, api_group, k, min(t0) AS t, min(rv_num) AS rv
      FROM c WHERE verb = 'list' GROUP BY ALL),
w AS (SELECT user_key, ua, pod, resource, subresource, api_group, k, max(t1) AS t, min(rv_num) AS rv
      FROM c WHERE verb = 'watch' AND rv_sem = 'exact' GROUP BY ALL),
p AS (SELECT l.user_key, l.ua, l.resource, l.subresource, l.api_group, l.k, count(*) AS list_pods,
             count(*) FILTER (WHERE w.rv = l.rv) AS rv_pods, count(*) FILTER (WHERE w.t >= l.t) AS after_pods,
             bool_or(l.rv IS NOT NULL) AS list_rvs_known
      FROM l LEFT JOIN w ON l.user_key = w.user_key AND l.ua = w.ua AND l.pod = w.pod AND l.resource = w.resource
                        AND l.subresource = w.subresource AND l.api_group = w.api_group AND l.k = w.k
      GROUP BY ALL),
f AS (SELECT user_key, ua, resource, subresource, api_group, k, sum(n) AS watches,
             coalesce(sum(n) FILTER (WHERE (bits & {BIT_BOOKMARKS}) <> 0), 0) AS bookmarks,
             coalesce(sum(n) FILTER (WHERE (bits & {BIT_INITIAL_EVENTS}) <> 0), 0) AS initial_events
      FROM c WHERE verb = 'watch' GROUP BY ALL)
SELECT user_key, ua, resource, subresource, api_group, k, coalesce(watches, 0), coalesce(bookmarks, 0),
       coalesce(initial_events, 0), coalesce(list_pods, 0), coalesce(rv_pods, 0), coalesce(after_pods, 0),
       coalesce(list_rvs_known, false)
FROM f FULL OUTER JOIN p USING (user_key, ua, resource, subresource, api_group, k)
"""


def watch_evidence(con: Any) -> dict[tuple, WatchEvidence]:
    """(user_key, ua, resource, subresource, api_group, bits & PAIR_MASK) → the
    :class:`WatchEvidence` of that client's LISTs and WATCHes of those objects (from ``counted``:
    the aggregate, not the log)."""
    out = {}
    for row in con.execute(_WATCH_EVIDENCE_SQL).fetchall():
        watches, bookmarks, initial, list_pods, rv_pods, after_pods = (int(v) for v in row[6:12])
        out[tuple(row[:6])] = WatchEvidence(watches, bookmarks, initial, list_pods, rv_pods, after_pods, bool(row[12]))
    return out
