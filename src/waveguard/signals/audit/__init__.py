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
  LIST). In the profile a LIST from a number N is ``"exact"`` with ``resourceVersionMatch=Exact``
  or with a limit and no match (the legacy exact read), else ``"not-older-than"``; where each is
  served per version: ``model.versions.Features.list_source`` (API concepts' resourceVersion
  table; cacher.go / delegator.go ``shouldDelegateList``).
* **informers, from evidence only** (issue 12). A client's LISTs of some objects (resource,
  scope, selectors) are a client-go informer's (``watch_list`` "client-go-default") when its
  WATCHes of them show the reflector (client-go tools/cache/reflector.go ``ListAndWatch``): a WATCH
  from the resourceVersion the pod's LIST returned (RequestResponse-level logs hold it; in a
  Metadata-level log, a WATCH from a resourceVersion number after the pod's first LIST), or
  ``allowWatchBookmarks=true``; ``sendInitialEvents=true`` is a WatchList informer ("yes").
  The evidence, in words, is the class's ``informer_evidence`` and ends its profile
  ``component``.
* **rates.** The log's span is last − first timestamp (stageTimestamp, else the v1beta1
  ``timestamp``) over all files; a class's rate per pod = requests / span / pods that sent it.
  LISTs of objects the client also WATCHes become a ``start`` class (one per pod start, and per
  relist) plus, when pods listed more than once, a ``periodic`` class with the extra LISTs'
  rate; LISTs of objects it never WATCHes keep their measured rate (``periodic``: it polls);
  WATCHes are ``held``; everything else ``periodic``.
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

Modules: :mod:`.files` (which files, compression, what each held), :mod:`.sql` (DuckDB),
:mod:`.classify` (rows → classes, scopes, per-node verdicts, profiles), :mod:`.models` (the
result), :mod:`.measure` (the whole). Profile files: :mod:`waveguard.model.profiles_io`,
re-exported here.
"""

from __future__ import annotations

from waveguard.model.profiles_io import dump_profiles_yaml, load_profiles, write_profiles
from waveguard.signals.audit.classify import LEADER_MIN_PODS, PER_NODE_MIN_PODS, PER_NODE_MIN_PODS_BY_IP
from waveguard.signals.audit.files import KNOWN_API_VERSIONS, MAX_LINE_BYTES
from waveguard.signals.audit.measure import measure_audit_logs
from waveguard.signals.audit.models import FileReport, MeasuredClass, MeasuredClient, Measurement, summary_line
from waveguard.signals.audit.sql import DEFAULT_MEMORY_LIMIT

__all__ = [
    "DEFAULT_MEMORY_LIMIT", "KNOWN_API_VERSIONS", "LEADER_MIN_PODS", "MAX_LINE_BYTES", "PER_NODE_MIN_PODS",
    "PER_NODE_MIN_PODS_BY_IP", "FileReport", "MeasuredClass", "MeasuredClient", "Measurement", "dump_profiles_yaml",
    "load_profiles", "measure_audit_logs", "summary_line", "write_profiles",
]
