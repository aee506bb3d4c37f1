"""What every command shares: one-line errors, exit codes, and the one output convention.

Output (issue 15, kubectl's convention): ``-o/--output FORMAT`` picks what is printed — ``table``,
``json``, ``yaml`` or ``sarif``, as far as the command supports it — and ``--output-file FILE``
writes it to a file instead of standard output (whole or not at all). Every JSON and YAML
document carries ``apiVersion: waveguard.io/v1alpha1`` and a ``kind`` (SARIF has its own
``version``). The spellings before it still work for one release, with a one-line note on
stderr: ``--format X``, ``--json``, and ``-o FILE`` where ``-o`` named a file.

Environment variables, as kubectl users expect of their tools: ``WAVEGUARD_STATE`` (the
rollout state database), ``WAVEGUARD_PROMETHEUS_URL``; ``KUBECONFIG`` (read by the Kubernetes
client when ``--kubeconfig`` is not given; ':'-separated lists are merged as kubectl does).
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import typer

if TYPE_CHECKING:  # rich is imported when something is printed through it, not at start-up
    from rich.console import Console

from waveguard.cli.trim import trimmed
from waveguard.model.apiversion import API_VERSION as API_VERSION  # re-exported: the commands use it
from waveguard.model.apiversion import versioned
from waveguard.model.errors import InputError

#: Exit codes: 0 fine, 1 findings/gates at or above the threshold, 2 bad input.
EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
#: Every output format any command knows; each command supports a subset.
FORMATS = ("table", "json", "yaml", "sarif")
#: Environment variables of options (typer's ``envvar=``).
STATE_ENV = "WAVEGUARD_STATE"
PROMETHEUS_URL_ENV = "WAVEGUARD_PROMETHEUS_URL"
KUBECONFIG_ENV = "KUBECONFIG"
#: Width of tables written to --output-file (no terminal to measure).
FILE_TABLE_WIDTH = 120

_stderr: Console | None = None


def stderr_console() -> Console:
    """rich's Console on stderr for one-line errors and notes, made on first use: a command whose
    output is JSON and which prints nothing on stderr does not import rich (~20 ms of start-up,
    issue 17). ``from waveguard.cli.common import err_console`` gives the same console."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True, soft_wrap=True, highlight=False)
    return _stderr


def __getattr__(name: str) -> Console:
    """``err_console``: :func:`stderr_console` (a real Console, made when first imported)."""
    if name == "err_console":
        return stderr_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn InputError into one line on stderr and exit 2 (never a traceback)."""
    try:
        yield
    except InputError as exc:
        stderr_console().print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def stdout_console() -> Console:
    """stdout for prose and lists, word-wrapped: the terminal's width; piped, ``$COLUMNS`` when
    set, else 200 columns (grep sees whole lines)."""
    import os

    from rich.console import Console

    piped_width = 200 if not os.environ.get("COLUMNS", "").isdigit() else None
    return trimmed(Console(file=sys.stdout, soft_wrap=False, width=piped_width if not sys.stdout.isatty() else None))


def stderr_wrapping_console() -> Console:
    """stderr for findings printed beside a document on stdout: wrapped to the terminal's
    width (``$COLUMNS`` when set, else 80 when not a terminal), unlike the one-line errors."""
    from rich.console import Console

    return trimmed(Console(stderr=True, soft_wrap=False, highlight=False))


def wrapped_lines(text: str, width: int, first: str = "", hang: str = "  ") -> list[str]:
    """``text`` word-wrapped to ``width`` cells, ``first`` then ``hang`` (a hanging indent) before
    the lines; no word is cut or split at its hyphens (a longer one runs over)."""
    import textwrap

    return textwrap.wrap(text, max(width, 20), initial_indent=first, subsequent_indent=hang,
                         break_long_words=False, break_on_hyphens=False) or [first]


def table_console() -> Console:
    """stdout for tables that fit the width (issue 16): the terminal's width, else $COLUMNS,
    else 80 columns (piped), so a piped table reads as it does on an 80-column terminal.
    :func:`for_tables` sets what it renders."""
    from rich.console import Console

    return for_tables(Console(file=sys.stdout, soft_wrap=False, emoji=False))


def for_tables(console: Console) -> Console:
    """``console`` (made with ``emoji=False``) without highlighting when it writes no colour
    (piped, ``color_system`` None): rich's highlighter would only add styles that are never
    written, after compiling its patterns (~4 ms of ``analyse``'s start-up, issue 17); with
    colour, text is highlighted as before. No emoji: ``:name:`` in a path or a message is
    printed as written (rich's emoji codes, ~2 ms to import, are never loaded). Lines end
    without spaces (:func:`trimmed`)."""
    if console.color_system is None:
        from rich.highlighter import NullHighlighter

        console.highlighter = NullHighlighter()
    return trimmed(console)


def note(text: str) -> None:
    """One line on stderr (a deprecation, a skipped input)."""
    stderr_console().print(f"note: {text}", markup=False)


def command_group(**settings: Any) -> typer.Typer:
    """A typer app (the root command or a group such as ``rollout``) with plain help: flags
    shown as flags (``--watch``, not ``--watch <bool>``), no rich panels, 80 columns wrapped by
    click. ``settings``: typer.Typer's."""
    return typer.Typer(rich_markup_mode=None, **settings)


# --- options ---------------------------------------------------------------------------------
def _completer(formats: Sequence[str]):
    def complete(incomplete: str) -> list[str]:
        return [f for f in formats if f.startswith(incomplete)]
    return complete


def output_option(formats: Sequence[str], default: str | None = None) -> Any:
    """``-o/--output FORMAT`` among ``formats`` (the first is the default)."""
    return typer.Option(default or formats[0], "-o", "--output", metavar="|".join(formats),
                        help=f"Output format: {', '.join(formats)}.", autocompletion=_completer(formats))


def output_file_option(what: str = "the output") -> Any:
    """``--output-file FILE``: ``what`` goes to FILE (atomically) instead of standard output."""
    return typer.Option(None, "--output-file", metavar="FILE",
                        help=f"Write {what} to FILE (whole or not at all) instead of standard output.")


def legacy_format_option() -> Any:
    """``--format X`` (deprecated for -o X; hidden, works for one release)."""
    return typer.Option(None, "--format", hidden=True)


def legacy_json_option() -> Any:
    """``--json`` (deprecated for -o json; hidden, works for one release)."""
    return typer.Option(False, "--json", hidden=True)


@dataclass(frozen=True)
class Bounds:
    """The seconds a duration option accepts: at least ``low_s`` and at most ``high_s`` (None:
    no upper bound), each with why in a few words for the error line (``low_why``,
    ``high_why``) and ``why`` in a sentence for ``--help``."""

    low_s: float
    low_why: str
    high_s: float | None
    high_why: str
    why: str


#: How far back an instant query looks for a series' newest sample, seconds: Prometheus'
#: ``--query.lookback-delta`` default 5m (``prometheus --help``, 2.42; docs: querying/basics,
#: "Staleness"). A series scraped less often than this has no sample between scrapes.
PROMETHEUS_LOOKBACK_DELTA_S = 300.0
#: Longest a query may run before Prometheus aborts it, seconds: ``--query.timeout`` default 2m
#: (``prometheus --help``, 2.42); a query's own ``timeout`` parameter is capped by it (HTTP API).
PROMETHEUS_QUERY_TIMEOUT_S = 120.0
#: The default of a plan's ``no_data_timeout_s`` (rollout/plan/schema.py) and the lease timeout after
#: which an engine is presumed dead (rollout/lease.py), here so that ``--help`` imports neither (a test
#: keeps them equal).
PLAN_NO_DATA_TIMEOUT_S = 600.0
LEASE_TIMEOUT_S = 60.0

#: Every duration option's bounds, in one place (:func:`duration_option` checks them).
GATE_INTERVAL = Bounds(
    1.0, "rates per second",
    PLAN_NO_DATA_TIMEOUT_S, "the no-data timeout",
    "1s to 10m: gates read per-second rates (sooner re-reads them); a gate without data halts the "
    "rollout after no_data_timeout_s (10m), so it is evaluated again before that.")
SCRAPE_INTERVAL = Bounds(
    0.05, "exporter updates",
    PROMETHEUS_LOOKBACK_DELTA_S, "Prometheus' lookback",
    "50ms to 5m: the simulated exporter updates every 0.1 s (sooner reads the same sample); an "
    "instant query looks back 5m (--query.lookback-delta), so a slower scrape leaves gaps.")
QUERY_TIMEOUT = Bounds(
    0.1, "a round trip",
    PROMETHEUS_QUERY_TIMEOUT_S, "--query.timeout",
    "100ms to 2m: under 100ms even a Prometheus on the same host rarely answers (policy); Prometheus "
    "aborts a query after --query.timeout (2m by default).")
REFRESH_INTERVAL = Bounds(
    0.05, "a refresh's cost",
    LEASE_TIMEOUT_S, "the lease timeout",
    "50ms to 1m: a refresh of a 10,000-event log takes ~35 ms (benchmarks/bench_live.py); an engine "
    "is presumed dead after 1m without a heartbeat, which a slower refresh would not show.")
SIMULATED_DURATION = Bounds(
    1.0, "a simulator step",
    None, "",
    "at least 1s, the simulator's longest step (a scenario's step_s ≤ 1 s); no upper bound.")


def _human(seconds_: float) -> str:
    """``seconds_`` as a Go duration a person reads: 50ms, 1s, 10m, 1h30m."""
    if seconds_ < 1:
        return f"{seconds_ * 1000:g}ms"
    out, rest = "", seconds_
    for unit, size in (("h", 3600), ("m", 60)):
        if rest >= size:
            count = int(rest // size)
            out, rest = out + f"{count}{unit}", rest - count * size
    return out + (f"{rest:g}s" if rest or not out else "")


def bounded_seconds(bounds: Bounds):
    """typer's ``parser=`` for a duration option: a number of seconds or a Go duration (``21m``,
    ``1h30m``; :mod:`waveguard.model.durations`) within ``bounds``, as float seconds. Raises
    typer.BadParameter naming the value and the bound it crosses."""
    def parse(value: Any) -> Any:
        if value is None or isinstance(value, float):
            return value
        from waveguard.model.durations import parse_duration_s

        try:
            parsed = parse_duration_s(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not seconds or a duration (30s, 1m)") from None
        if parsed < bounds.low_s:
            raise typer.BadParameter(f"{value} is under {_human(bounds.low_s)}, {bounds.low_why}")
        if bounds.high_s is not None and parsed > bounds.high_s:
            raise typer.BadParameter(f"{value} is over {_human(bounds.high_s)}, {bounds.high_why}")
        return parsed
    return parse


def duration_option(default: float | None, name: str, bounds: Bounds, help: str, **settings: Any) -> Any:
    """``name SECONDS``: seconds or a Go duration within ``bounds``, whose ``why`` follows
    ``help`` in ``--help``. ``settings``: typer.Option's."""
    return typer.Option(default, name, parser=bounded_seconds(bounds), metavar="SECONDS",
                        help=f"{help} {bounds.why}", **settings)


def _file_path(value: Any) -> Path:
    """``value`` as a Path. Raises typer.BadParameter for an empty one (``--profiles ""``, an
    unset shell variable): typer reads "" as ".", and the error then named the current folder."""
    if isinstance(value, Path):
        return value
    if not str(value).strip():
        raise typer.BadParameter("an empty path: give a file")
    return Path(value)


def profiles_option(default: Any, help: str) -> Any:
    """``--profiles FILE``: a measured profile file (``waveguard measure --output-file``), never
    an empty path. ``default``: None (optional) or [] (repeatable)."""
    return typer.Option(default, "--profiles", parser=_file_path, metavar="<path>", help=help)


def context_map(values: Sequence[str], clusters: Sequence[str]) -> dict[str, str]:
    """Fleet cluster → kubeconfig context from ``--context`` values, as kubectl users write them:
    ``CLUSTER=CONTEXT`` for one cluster of the fleet, or a bare ``CONTEXT`` when the fleet has
    one cluster. Raises InputError naming the value."""
    out: dict[str, str] = {}
    for value in values:
        cluster, sep, context = value.partition("=")
        if not sep:
            if len(clusters) != 1:
                raise InputError(f"--context {value}", f"which of the {len(clusters)} clusters?",
                                 hint="give CLUSTER=CONTEXT")
            cluster, context = clusters[0], value
        if cluster not in clusters or not context:
            raise InputError(f"--context {value}", f"no cluster {cluster!r} in the fleet" if context else
                             "no context after '='", hint="give CLUSTER=CONTEXT with a cluster of the fleet")
        out[cluster] = context
    return out


def state_option(default: Path) -> Any:
    """``--state FILE`` with ``$WAVEGUARD_STATE``."""
    return typer.Option(default, "--state", envvar=STATE_ENV, help="SQLite rollout state database.")


# --- resolving them --------------------------------------------------------------------------
@dataclass(frozen=True)
class Output:
    """Where and how a command prints: ``format`` (one of :data:`FORMATS`), ``file`` (None:
    standard output)."""

    format: str
    file: Path | None = None

    @property
    def structured(self) -> bool:
        """JSON or YAML (a document, not a table)."""
        return self.format in ("json", "yaml")

    def emit(self, text: str) -> None:
        """``text`` to standard output, or to the file whole or not at all (InputError when it
        cannot be written)."""
        if self.file is None:
            typer.echo(text, nl=not text.endswith("\n"))
        else:
            from waveguard.model.yamlio import write_text_atomically

            write_text_atomically(self.file, text if text.endswith("\n") else text + "\n")

    @property
    def width(self) -> int:
        """Cells a text line may take: the terminal's width (``$COLUMNS`` when set, 80 when
        piped) on standard output, FILE_TABLE_WIDTH in a file."""
        import shutil

        return FILE_TABLE_WIDTH if self.file is not None else shutil.get_terminal_size((80, 24)).columns

    def emit_document(self, kind: str, doc: Any) -> None:
        """``doc`` with ``apiVersion``/``kind`` as JSON or YAML (by ``format``)."""
        self.emit(render_document(kind, doc, self.format))

    @contextmanager
    def console(self) -> Iterator[Console]:
        """A console for tables: standard output's, or one whose text goes to the file at the end."""
        if self.file is None:
            yield table_console()
            return
        from rich.console import Console

        buffer = io.StringIO()
        yield for_tables(Console(file=buffer, width=FILE_TABLE_WIDTH, soft_wrap=False, color_system=None, emoji=False))
        self.emit(buffer.getvalue())


def render_document(kind: str, doc: Any, fmt: str, *, indent: int | None = 2) -> str:
    """The versioned document as JSON (``indent``; None: one line) or YAML text."""
    data = versioned(kind, doc)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(data, default=float)), sort_keys=False)
    return json.dumps(data, indent=indent, default=float)


def _looks_like_path(value: str) -> bool:
    return any(ch in value for ch in "/.\\") or Path(value).suffix != ""


def resolve_output(value: str, formats: Sequence[str], *, output_file: Path | str | None = None,
                   legacy_format: str | None = None, legacy_json: bool = False,
                   aliases: dict[str, str] | None = None, file_option: bool = True) -> Output:
    """The :class:`Output` of a command's options, with a note for each deprecated spelling:
    ``--format X`` (``aliases`` maps old format names, e.g. text → table), ``--json``, and ``-o
    FILE`` (a value that is no format name but looks like a path: the file, in the default
    format). ``file_option``: the command has ``--output-file`` (commands that stream, such as
    ``rollout start``, do not: their errors do not offer it). Checks the file can be written
    before any work. Raises InputError."""
    aliases = aliases or {}
    fmt = value
    if legacy_format is not None:
        fmt = aliases.get(legacy_format, legacy_format)
        note(f"--format is deprecated and goes in the next release: use -o {fmt}")
    if legacy_json:
        fmt = "json"
        note("--json is deprecated and goes in the next release: use -o json")
    if fmt not in formats and fmt not in FORMATS and _looks_like_path(fmt):
        if output_file is not None or not file_option:
            raise InputError("-o", f"{fmt!r} is not an output format", hint=f"give one of {', '.join(formats)}")
        note(f"-o FILE is deprecated and goes in the next release: use --output-file {fmt}")
        output_file, fmt = fmt, formats[0]
    if fmt not in formats:
        raise InputError(f"-o {fmt}", "not an output format", hint=f"give one of {', '.join(formats)}")
    path = Path(output_file) if output_file is not None else None
    from waveguard.model.yamlio import check_output_path

    check_output_path(path, "--output-file")
    return Output(fmt, path)

