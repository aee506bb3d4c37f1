"""The measurement: audit log files → :class:`Measurement` (read through DuckDB by
:mod:`.sql`, classified by :mod:`.classify`), with notes on what was skipped or assumed."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from typing import Any, Iterable

from waveguard.model.apf import DEFAULT_APF, APFConfig
from waveguard.model.errors import InputError
from waveguard.signals.audit import sql
from waveguard.signals.audit.classify import client_names, measured_client
from waveguard.signals.audit.files import KNOWN_API_VERSIONS, AuditFile, check_paths, file_reports, nothing_usable
from waveguard.signals.audit.models import FileReport, MeasuredClient, Measurement


def measure_audit_logs(paths: Iterable[str | os.PathLike[str]], *, memory_limit: str = sql.DEFAULT_MEMORY_LIMIT,
                       threads: int | None = None, apf: APFConfig = DEFAULT_APF) -> Measurement:
    """Measure the request profile of every client in the audit logs ``paths``.

    ``memory_limit``: DuckDB's memory limit (e.g. ``"512MB"``; it spills to a temporary folder
    beyond it); ``threads``: DuckDB threads (default: all cores). Returns a :class:`Measurement`.
    Raises :class:`InputError` for a missing file, a corrupt compressed stream, or when no file
    holds a usable audit.k8s.io/v1 or v1beta1 event.
    """
    files = check_paths(paths)
    with tempfile.TemporaryDirectory(prefix="waveguard-measure-") as tmp:
        con = sql.connect(memory_limit, threads, tmp)
        try:
            cores = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
            sql.threads_for(con, False, cores=cores)
            collapse_rr = sql.later_stages_seen(con, files)
            # One pass over the logs (a policy that keeps only RequestReceived: counted there).
            sql.threads_for(con, True, cores=cores)
            sql.aggregate(con, files, collapse_rr=collapse_rr)
            sql.threads_for(con, False, cores=cores)
            return _build(con, files, apf)
        finally:
            con.close()


def _build(con: Any, files: list[AuditFile], apf: APFConfig) -> Measurement:
    """The measurement from the aggregate ``agg``. Raises InputError when no event is usable."""
    reports = file_reports(files, sql.file_rows(con))
    paths = ", ".join(r.path for r in reports)
    if sum(r.events for r in reports) == 0:
        raise InputError(paths, nothing_usable(reports),
                         hint="give kube-apiserver audit logs (log backend, --audit-log-format=json)")
    sql.select_usable(con)
    _check_codes(con, files)
    skipped = sql.skipped_verbs(con)
    stages = sql.count_requests(con)
    notes: list[str] = []
    if stages.get("RequestReceived"):
        notes.append(f"the log has only stage RequestReceived (its policy omits the later stages): "
                     f"{stages['RequestReceived']} requests counted there, without status codes")
    first, last, span = _span(con, notes, paths)
    clients = _clients(con, span, apf)
    if not clients:  # events, but not one request the model can cost: a wrong or mangled log, not "0 requests"
        raise InputError(paths, f"no request to measure in {sum(r.events for r in reports)} event(s)"
                         + (f" (skipped verbs: {', '.join(map(str, skipped))})" if skipped else ""),
                         hint="give API request audit logs")
    notes += _file_notes(reports)
    if skipped:
        notes.append("skipped verbs the cost model does not cost: "
                     + ", ".join(f"{k} ×{v}" for k, v in skipped.items()))
    return Measurement(files=reports, start=first, end=last, span_s=span, requests=sum(c.requests for c in clients),
                       skipped_verbs=skipped, clients=clients, notes=notes)


#: The earliest time an audit.k8s.io event can carry: the API group came with Kubernetes 1.7
#: ("Advanced Auditing", alpha), released 2017-06-29 (kubernetes/kubernetes CHANGELOG-1.7.md).
AUDIT_API_SINCE = datetime(2017, 6, 29, tzinfo=timezone.utc)


def _span(con: Any, notes: list[str], paths: str) -> tuple[datetime | None, datetime | None, float]:
    """(first, last, span in seconds ≥ 1) of the usable events; a note when the span is assumed.
    Raises InputError (naming ``paths``) for a timestamp that is no time, or one before the audit
    API existed or after now: one stray stamp stretches the span every rate is divided by (an
    event stamped 2999 made every client's rate ~1e-10/s, a profile that reads as harmless)."""
    first, last, unreadable = sql.time_bounds(con)
    hint = "fix or drop that event; every rate is the log's requests over its time span"
    if unreadable is not None:
        raise InputError(paths, f"an event's timestamp {unreadable[:40]!r} is not an RFC 3339 time", hint=hint)
    now = datetime.now(timezone.utc)
    for moment in (first, last):
        if moment is not None and not AUDIT_API_SINCE <= moment <= now:
            when = "after now" if moment > now else "before audit.k8s.io existed (Kubernetes 1.7, 2017-06-29)"
            raise InputError(paths, f"an event is stamped {moment.isoformat()}, {when}", hint=hint)
    if first is None:
        notes.append("no event has a readable timestamp: rates assume a 1 s span")
        return first, last, 1.0
    if (last - first).total_seconds() < 1.0:
        notes.append("the log spans less than 1 s: rates assume a 1 s span")
    return first, last, max(1.0, (last - first).total_seconds())


def _named(files: list[AuditFile], resolved: str) -> str:
    """The file as the user named it, of its resolved name in the aggregate."""
    return next((str(p) for p, _ in files if str(p.resolve()) == resolved), resolved)


def _check_codes(con: Any, files: list[AuditFile]) -> None:
    """Raises InputError (naming the file) for an event whose ``user`` is no object (it was
    dropped without a word: a string where audit.k8s.io has a UserInfo), or whose
    ``responseStatus.code`` is no HTTP status (100-599) nor 0 (not set): ``-5`` was counted as a
    status of its own, ``"abc"`` or ``1e30`` as none (:data:`sql.HTTP_STATUS_RE`). The codes are
    read from the aggregate; ``user`` too, but for the files it cannot tell (:func:`_file_without_user`)."""
    no_user = _file_without_user(con, files)
    if no_user is not None:
        raise InputError(_named(files, no_user), "an event's user is no object (a string, a number, null or "
                         "missing): audit.k8s.io Event.user is a UserInfo {\"username\": ...}",
                         hint="fix or drop that event")
    bad = sql.unreadable_code(con)
    if bad is not None:
        file, text = bad
        raise InputError(_named(files, file), f"an event's responseStatus.code {text[:20]!r} is no HTTP status (100-599)",
                         hint="fix or drop that event")


def _file_without_user(con: Any, files: list[AuditFile]) -> str | None:
    """The resolved name of a file with a usable event whose ``user`` is no object (a string,
    null, missing; read as a STRUCT it is one of NULLs, as ``{}`` is); None when every one is an
    object. A second pass reads ``user`` as JSON only when the aggregate has events without a
    user (a log of authenticated requests is read once)."""
    names = [r[0] for r in con.execute(f"SELECT DISTINCT file FROM agg WHERE {sql.valid_events()} "
                                       "AND user_key IS NULL AND resource IS NOT NULL").fetchall()]
    suspects = [f for f in files if str(f[0].resolve()) in names]
    if not suspects:
        return None
    columns = {"kind": "VARCHAR", "apiVersion": "VARCHAR", "verb": "VARCHAR", "user": "JSON"}
    known = ", ".join(sql.sql_str(v) for v in KNOWN_API_VERSIONS)
    row = con.execute(f"SELECT filename FROM ({sql.source_sql(suspects, columns)}) WHERE kind = 'Event' AND apiVersion "
                      f"IN ({known}) AND verb IS NOT NULL AND coalesce(json_type(\"user\"), '') <> 'OBJECT' "
                      "ORDER BY filename LIMIT 1").fetchone()
    return None if row is None else row[0]


def _clients(con: Any, span: float, apf: APFConfig) -> list[MeasuredClient]:
    """Every client of ``counted``, most requests first."""
    summaries = sql.client_summaries(con)
    rows = sql.class_rows(con)
    codes = sql.status_codes(con)
    evidence = sql.watch_evidence(con)  # issue 12: which LISTs are informers'
    names = client_names([(s.user, s.user_agent) for s in summaries])
    out = [measured_client(s, rows.get((s.user, s.user_agent), []), codes, names[(s.user, s.user_agent)], span, apf,
                           evidence)
           for s in summaries]
    out.sort(key=lambda c: (-c.requests, c.client))
    return out


def _file_notes(reports: list[FileReport]) -> list[str]:
    """Per file: lines that are not audit events, unknown apiVersions, other kinds."""
    notes = []
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
    return notes
