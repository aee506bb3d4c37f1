"""Reading audit log files: which files (each once, no folders or glob characters), their
compression (sniffed from the magic bytes), what each held (:class:`FileReport`), and whether
the last line is truncated."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Iterable

from waveguard.model.errors import InputError
from waveguard.signals.audit.models import FileReport
from waveguard.signals.compressed import sniff, verify

#: The audit Event versions this reader maps. k8s: staging/src/k8s.io/apiserver/pkg/apis/audit/
#: v1 and v1beta1 (v1beta1 removed from kube-apiserver in 1.24, still found in old logs).
KNOWN_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1")
#: The largest line read, bytes (DuckDB's own default; its JSON reader holds two such buffers per
#: thread). A longer line (a RequestResponse-level event with a huge LIST response body) is
#: counted as a line that is not an audit event.
MAX_LINE_BYTES = 16 << 20

#: (file, compression): "none", "gzip" or "zstd".
AuditFile = tuple[Path, str]


def sniff_compression(path: Path) -> str:
    """"gzip", "zstd" or "none", from the file's first bytes. Raises OSError."""
    with path.open("rb") as fh:
        return sniff(fh.read(4))


def check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[AuditFile]:
    """The files of ``paths`` with their compression. Raises InputError for a missing file, a
    folder, glob characters, an unreadable file, the same file twice, no file at all, or a
    compressed file damaged anywhere (checked whole first: :func:`waveguard.signals.compressed.verify`)."""
    out = []
    seen: dict[tuple[int, int], str] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(str(p), "no such file", hint="give audit log files written by the log backend")
        if p.is_dir():
            raise InputError(str(p), "is a folder", hint="give the audit log files themselves")
        if not p.is_file():  # DuckDB reads a pipe with no writer forever
            raise InputError(str(p), "is not a regular file (a pipe, device or socket)",
                             hint="save the audit log to a file first")
        if any(ch in str(p) for ch in "*?[]{}"):
            raise InputError(str(p), "file names with glob characters (*?[]{}) are not supported",
                             hint="rename or symlink the file")
        try:
            comp = sniff_compression(p)
            st = p.stat()
        except OSError as exc:
            raise InputError(str(p), f"cannot read: {exc.strerror or exc}") from None
        if (st.st_dev, st.st_ino) in seen:  # the same file twice would count every request twice
            raise InputError(str(p), f"is the same file as {seen[(st.st_dev, st.st_ino)]}", hint="give each log once")
        seen[(st.st_dev, st.st_ino)] = str(p)
        out.append((p, comp))
    for p, comp in out:  # after the cheap checks: a typo in the last path fails before a long pass
        verify(p, comp)
    if not out:
        raise InputError("--audit-log", "no audit log given", hint="give one or more files")
    return out


def nothing_usable(reports: list[FileReport]) -> str:
    """Why no file held a usable event, in one sentence (for the InputError)."""
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


def file_reports(files: list[AuditFile], rows: Iterable[tuple[str, bool, str | None, str | None, bool, int]]
                 ) -> list[FileReport]:
    """One :class:`FileReport` per file from the aggregate's ``rows``: (resolved file name,
    garbage, apiVersion, kind, no verb, lines)."""
    reports = {str(p.resolve()): FileReport(path=str(p), compression=comp) for p, comp in files}
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
            r.truncated_last_line = last_line_truncated(p, comp)
    return list(reports.values())


def last_line_truncated(path: Path, compression: str) -> bool:
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


def duckdb_input_error(files: list[AuditFile], exc: Exception) -> InputError:
    """The InputError for a DuckDB error while reading ``files``, naming the file when DuckDB did."""
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
