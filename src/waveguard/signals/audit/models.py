"""What an audit-log measurement returns: per file what was read, per client its measured
request classes and its :class:`~waveguard.model.requests.RequestProfile` (see the package
docstring for how events become requests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from waveguard.model.requests import RequestProfile


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

    issue 12, a LIST's or WATCH's informer verdict, from evidence only: ``bookmarks`` /
    ``initial_events``: the WATCHes ask for allowWatchBookmarks / sendInitialEvents;
    ``watch_list``: the verdict for the client's LISTs of these objects ("no": not an informer,
    "client-go-default": a client-go informer, "yes": a WatchList informer) and
    ``informer_evidence`` its evidence in words; ``listed`` / ``plain_watches``: the client
    LISTs these objects / WATCHes them without sendInitialEvents; ``start_list``: this LIST is
    its objects' start LIST (the LIST class most pods sent; others keep their measured rate).
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
    bookmarks: bool = False
    initial_events: bool = False
    watch_list: str = "no"
    informer_evidence: str = ""
    listed: bool = False
    plain_watches: bool = False
    start_list: bool = False

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


def summary_line(m: Measurement) -> str:
    """One line: requests, clients, span, 429s."""
    throttled = sum(c.throttled for c in m.clients)
    return (f"{m.requests} requests from {len(m.clients)} clients over {m.span_s:.0f} s"
            + (f", {throttled} answered 429" if throttled else ""))


