"""waveguard's exceptions: one root, :class:`WaveguardError`, over three kinds.

* :class:`InputError` — bad user input (a file, a key, a line): the CLI prints it on one line
  and exits 2;
* :class:`SourceUnavailableError` — a source of readings (a /metrics endpoint, Prometheus) could
  not be read: a gate turns it into ``no-data``, a command into a one-line error;
* :class:`TargetError` — a rollout target (a cluster's apiserver) refused or did not answer a
  request that changes it.

``except WaveguardError`` catches every error waveguard raises on purpose; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class WaveguardError(Exception):
    """Root of the errors waveguard raises on purpose. Not raised itself: raised as one of its
    subclasses, whose ``str()`` is one line for a person."""


class InputError(WaveguardError):
    """Bad user input (file, line, key). The CLI prints ``str(err)`` on one line and exits 2.

    Raised by every reader of user files and options (fleet, plan, scenario, manifests, backend
    configuration, audit logs). ``source`` is a path or an address, ``line`` 1-based or None,
    ``hint`` what to do.
    """

    def __init__(self, source: str, message: str, *, line: int | None = None, hint: str = "") -> None:
        self.source = source
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __reduce__(self):
        # Keyword-only arguments: rebuild explicitly so the error crosses process pools.
        return (_rebuild_input_error, (self.source, self.message, self.line, self.hint))

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())


class SourceUnavailableError(WaveguardError):
    """A source of readings could not be read: raised by the readers of live endpoints
    (``waveguard.signals.exposition.fetch_exposition``, the Prometheus signal source).

    ``source``: the address read ("" when the message names it); ``reason``: why, a short word
    (``unreachable``, ``timeout``, ``http-error``, ``too-large``, ``not-exposition``);
    ``str()``: ``"<source>: <message>"``, one line for a person (just the message when there is
    no source). Gates read it as ``no-data`` (never a pass); commands print it and exit 2.
    """

    def __init__(self, source: str, reason: str, message: str) -> None:
        self.source = source
        self.reason = reason
        self.message = message
        super().__init__(f"{source}: {message}" if source else message)

    def __reduce__(self):
        # Rebuilt through the base initialiser: subclasses may take other arguments.
        return (_rebuild_source_error, (type(self), self.source, self.reason, self.message))


#: The name signals used before the ``Error`` suffix (ruff N818).
SourceUnavailable = SourceUnavailableError


class TargetError(WaveguardError):
    """A rollout target refused or did not answer a request that changes it (apply, rollback,
    restore): raised by targets (``waveguard.rollout.k8s_target.KubernetesError`` for the
    Kubernetes API). ``str()`` names the cluster and the request, on one line."""


def _rebuild_source_error(cls: type[SourceUnavailableError], source: str, reason: str,
                          message: str) -> SourceUnavailableError:
    err = cls.__new__(cls)
    SourceUnavailableError.__init__(err, source, reason, message)
    return err


def _rebuild_input_error(source: str, message: str, line: int | None, hint: str) -> InputError:
    return InputError(source, message, line=line, hint=hint)


def yaml_input_error(source: str, exc: Exception, text: str) -> InputError:
    """An InputError for a PyYAML error: the problem's line, or the line of the construct it
    belongs to when the problem is the end of the file (an unclosed bracket, say)."""
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    last_line = max(1, len(text.splitlines()))
    line = problem.line + 1 if problem else None
    if line is not None and line > last_line and context is not None:
        line = context.line + 1
    if line is not None:
        line = min(line, last_line)
    detail = getattr(exc, "problem", None) or str(exc)
    lines = text.splitlines()
    if detail == "but found another document":  # PyYAML's words for a second document in a one-document file
        return InputError(source, "holds several YAML documents: is it the right file?", line=line)
    hint = "fix the YAML syntax"
    if line is not None and 0 < line <= len(lines) and "\t" in lines[line - 1]:
        hint = "YAML indents with spaces, not tabs: replace the tabs on that line"
    return InputError(source, f"malformed YAML: {detail}", line=line, hint=hint)


def first_error(exc: Any) -> dict[str, Any]:
    """The error of a pydantic ValidationError ``exc`` to tell a person first: an unknown key
    before anything else — a misspelt key (``nodse:``) also leaves its right spelling "missing",
    and naming the misspelling is what lets them fix it."""
    errors = exc.errors()
    return dict(next((e for e in errors if e["type"] == "extra_forbidden"), errors[0]))


def unknown_key(key: object, known: Iterable[str] = ()) -> str:
    """"unknown key", and the valid key of ``known`` nearest ``key`` when one is close (difflib's
    ratio ≥ 0.6: ``wavse`` → ``waves``, ``clustres`` → ``clusters``)."""
    import difflib

    match = difflib.get_close_matches(str(key), list(known), n=1)
    return f"unknown key, did you mean {match[0]!r}?" if match else "unknown key"


def key_error(source: str, err: Mapping[str, Any], *, prefix: tuple = (), line: int | None = None,
              hint: str = "fix or remove this key", message: str | None = None, known: Iterable[str] = ()
              ) -> InputError:
    """An InputError for one pydantic validation error ``err`` (an item of
    ``ValidationError.errors()``): ``<key>: <message>``, the key its dotted location after
    ``prefix``, "unknown key" for a key the model forbids (with the nearest of ``known``, the
    valid keys at the top level, when it is a top-level key); ``message`` replaces pydantic's."""
    key = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
    if message is None and err["type"] == "extra_forbidden":
        message = unknown_key(err["loc"][-1], known if len(err["loc"]) == 1 else ())
    if message is None:
        message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing" and hint == "fix or remove this key":
        hint = "add this key"
    return InputError(source, f"{key}: {message}", line=line, hint=hint)
