"""``waveguard measure``: a canary's request profile, from kube-apiserver audit logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import (
    EXIT_OK, Output, err_console, input_errors, legacy_json_option, output_file_option, output_option, resolve_output,
    stdout_console,
)
from waveguard.cli.progress import progress
from waveguard.model.errors import InputError, first_error


#: Output formats of `measure` (the first is the default).
FORMATS = ("table", "json", "yaml")


def register(app: typer.Typer) -> None:
    app.command("measure")(measure_command)


def measure_command(
    audit_log: Optional[list[Path]] = typer.Option(None, "--audit-log", help="Audit log file (JSON lines; .gz/.zst too). Repeat, or list more files after it."),
    more: Optional[list[Path]] = typer.Argument(None, help="More audit log files.", show_default=False),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="kube-apiserver /metrics, a saved file or an http(s) URL: object counts and bytes per object."),
    output: str = output_option(FORMATS),
    legacy_json: bool = legacy_json_option(),
    output_file: Optional[Path] = output_file_option("the request profiles (YAML, for analyse --profiles, simulate and the projection gate)"),
    fleet_output: Optional[Path] = typer.Option(None, "--fleet-output", help="Write a fleet YAML holding the --metrics cluster (nodes, pods, objects, object_bytes)."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Name of the cluster --fleet-output writes (required with it)."),
    memory_limit: str = typer.Option("512MB", "--memory-limit", help="DuckDB memory limit; it spills to a temporary folder beyond it."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="DuckDB threads (default: all cores)."),
) -> None:
    """Measure a cluster: each client's requests from audit logs (per user / ServiceAccount /
    user agent), and its object counts and sizes from kube-apiserver's /metrics.

    Reads audit.k8s.io/v1 and v1beta1 Event lines; skips and reports garbage lines, a truncated
    last line and unknown apiVersions. Exit 0 on success, 2 on bad input (nothing written).
    """
    paths = [*(audit_log or []), *(more or [])]
    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file, legacy_json=legacy_json)
        _check_arguments(paths, metrics, out.file, fleet_output, cluster)
        _check_threads(threads)
        memory_limit = _duckdb_memory_limit(memory_limit)
        m = inventory = None
        if paths:  # one DuckDB query over every file: a spinner, not a share done
            with progress(f"measuring {len(paths)} audit log file(s), {_size(paths)}"):
                m = _measure_audit(paths, out.file, memory_limit, threads)
        if metrics:
            with progress(f"reading kube-apiserver /metrics from {metrics}"):
                inventory = _measure_objects(metrics, fleet_output, cluster)
    if out.structured:
        parts = {"audit": m.to_json() if m else None, "objects": inventory.to_json() if inventory else None}
        doc = parts if m and inventory else parts["audit"] or parts["objects"]
        kind = "Measurement" if m and inventory else "AuditMeasurement" if m else "ObjectInventory"
        Output(out.format).emit_document(kind, json.loads(json.dumps(doc, default=str)))
    else:
        if m:
            _render(m)
        if inventory:
            _render_objects(inventory)
    raise typer.Exit(EXIT_OK)


def _check_arguments(paths: list[Path], metrics: str | None, output: Path | None, fleet_output: Path | None,
                     cluster: str | None) -> None:
    if not paths and not metrics:
        raise InputError("measure", "nothing to measure", hint="give --audit-log and/or --metrics")
    if metrics and "://" in metrics and not metrics.startswith(("http://", "https://")):
        raise InputError(metrics, "not an http(s) URL", hint="give http(s):// or a saved file")
    if output is not None and not paths:
        raise InputError("--output-file", "request profiles come from audit logs", hint="add --audit-log")
    if fleet_output is not None and not metrics:
        raise InputError("--fleet-output", "the cluster comes from /metrics", hint="add --metrics FILE|URL")
    if (fleet_output is None) != (cluster is None):
        raise InputError("--cluster", "goes with --fleet-output: give both or neither")
    if cluster is not None and not cluster.strip():
        raise InputError("--cluster", "the cluster needs a name")
    from waveguard.model.yamlio import check_distinct_outputs, check_output_path

    for target, flag in ((output, "--output-file"), (fleet_output, "--fleet-output")):
        check_output_path(target, flag)
    check_distinct_outputs({"--output-file": output, "--fleet-output": fleet_output},
                           [*paths, *([metrics] if metrics and "://" not in metrics else [])])


def _check_threads(threads: int | None) -> None:
    """Raises InputError for more DuckDB threads than this machine's cores (``os.cpu_count``,
    DuckDB's own default): each thread takes memory, and 100,000 of them got the process
    OOM-killed without a word."""
    import os

    cores = os.cpu_count() or 1
    if threads is not None and threads > cores:
        raise InputError("--threads", f"{threads} is over the {cores} cores here",
                         hint=f"give at most {cores}")


def _duckdb_memory_limit(text: str) -> str:
    """``--memory-limit`` (``512MB``, ``2GiB``: pydantic's ``ByteSize`` units, KB = 1000 bytes,
    KiB = 1024) as DuckDB's setting in whole MiB. Raises InputError for anything else, a
    negative or a zero size (DuckDB took ``-5GB`` without a word)."""
    from pydantic import ByteSize, TypeAdapter, ValidationError

    try:
        size = TypeAdapter(ByteSize).validate_python(text)
    except ValidationError:
        size = ByteSize(0)
    if size < 2**20:
        raise InputError("--memory-limit", f"{text!r} is no size of 1 MiB or more", hint="e.g. 512MB or 2GiB")
    return f"{size // 2**20}MiB"


def _size(paths: list[Path]) -> str:
    """The files' total size, e.g. ``1.2 GB`` (0 for a file that cannot be read: the
    measurement names it)."""
    total = sum(p.stat().st_size if p.is_file() else 0 for p in paths)
    return f"{total / 1e9:.1f} GB" if total >= 1e8 else f"{total / 1e6:.1f} MB"


def _measure_audit(paths: list[Path], output: Path | None, memory_limit: str, threads: int | None):
    from waveguard.signals.audit import measure_audit_logs, summary_line, write_profiles

    try:
        m = measure_audit_logs(paths, memory_limit=memory_limit, threads=threads)
    except Exception as exc:  # duckdb settings errors (e.g. a bad --memory-limit)
        if isinstance(exc, InputError) or type(exc).__module__.split(".")[0] not in ("duckdb", "_duckdb"):
            raise
        raise InputError("--memory-limit", " ".join(str(exc).split())[:200]) from None
    for note in m.notes:
        err_console.print(f"note: {note}", markup=False)
    if output is not None:
        header = (f"waveguard measure: request profiles from {', '.join(str(p) for p in paths)}\n"
                  f"{summary_line(m)}; load with RequestProfile.model_validate per item")
        write_profiles(m.profiles(), output, header=header)
    return m


def _measure_objects(source: str, fleet_output: Path | None, cluster: str | None):
    """Object counts and sizes from one kube-apiserver /metrics (file or URL); writes the fleet
    YAML when asked, after everything was read."""
    from pydantic import ValidationError

    from waveguard.model.fleet import Fleet
    from waveguard.model.yamlio import write_text_atomically, yaml_text
    from waveguard.model.errors import SourceUnavailableError
    from waveguard.signals.exposition import fetch_exposition, read_exposition
    from waveguard.signals.objects import object_inventory

    try:
        expo = fetch_exposition(source) if source.startswith(("http://", "https://")) else read_exposition(source)
    except SourceUnavailableError as exc:
        raise InputError(source, str(exc).removeprefix(f"{source}: "), hint="check the URL, or save /metrics to a file") from None
    try:
        inventory = object_inventory(expo)
        # --cluster comes with --fleet-output (checked before anything is read)
        entry = inventory.fleet_cluster(cluster) if fleet_output is not None and cluster is not None else None
    except ValueError as exc:
        raise InputError(source, str(exc), hint="give kube-apiserver's /metrics (kubectl get --raw /metrics)") from None
    for note in [*expo.notes, *inventory.notes]:
        err_console.print(f"note: {note}", markup=False)
    if entry is not None and fleet_output is not None:
        try:  # what it writes must load as a fleet
            Fleet.model_validate({"clusters": [entry]})
        except ValidationError as exc:
            err = first_error(exc)
            where = ".".join(str(p) for p in err["loc"][2:])
            raise InputError(source, f"not a valid fleet entry: {where}: {err['msg']}",
                             hint="check the counts") from None
        header = f"waveguard measure: cluster {cluster} from {source} (object counts and bytes per object)"
        write_text_atomically(fleet_output, yaml_text({"clusters": [entry]}, header))
    return inventory


def _render(m) -> None:
    """One heading line per client (who it is, its pods and priority level), then a table of its
    request classes: four columns fit 80 columns, where eleven folded every word and figure."""
    console = stdout_console()
    from waveguard.signals.audit import summary_line

    span = f"{m.start:%Y-%m-%d %H:%M:%S} – {m.end:%H:%M:%S} UTC" if m.start and m.end else "no timestamps"
    console.print(f"{summary_line(m)} ({span})", markup=False)
    for c in m.clients:
        console.print()
        console.print(_client_heading(c), markup=False, highlight=False)
        if c.classes:
            console.print(_classes_table(c.classes))


def _client_heading(c) -> str:
    """``client: agent A, N pod(s), per node or not, level L: R requests, T throttled (429)``."""
    per_node = "per node" if c.per_node else "not per node"
    return (f"{c.client}: agent {c.profile.agent}, {c.pods} pod(s), {per_node}, level {c.priority_level}: "
            f"{c.requests} requests, {c.throttled} throttled (429)")


def _class_label(mc) -> str:
    """A request class as ``VERB resource scope`` and its flags (rv=, limit=, sel, leader, informer)."""
    cls = f"{mc.verb.upper()} {mc.resource_path} {mc.scope}"
    if mc.verb in ("list", "watch"):
        cls += f" rv={mc.resource_version}" + (f" limit={mc.limit}" if mc.limit else "")
    if mc.selector:
        cls += " sel"
    if mc.leader_only:
        cls += " leader"
    if mc.verb == "list" and mc.watch_list != "no":  # issue 12: evidence in -o json
        cls += " informer"
    return cls


def _classes_table(classes):
    """A client's request classes; the figures never wrap (a folded rate reads as another number)."""
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("class", ratio=3)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("rate/pod/s", justify="right", no_wrap=True)
    table.add_column("codes", ratio=1)
    for mc in classes:
        codes = " ".join(f"{k}:{v}" for k, v in sorted(mc.status_codes.items()))
        table.add_row(_class_label(mc), str(mc.requests), f"{mc.rate_per_pod_per_s:.4g}", codes)
    return table


def _render_objects(inventory) -> None:
    """The object inventory as a table that fits the width: a resource's group under its name
    (names are never cut; at 80 columns the cells were folded mid-word), then what "measured by"
    means. Too narrow for "WATCH event ×n" on one line (80 columns: "measured by" wrapped onto
    three), the table says "WATCH ×n", as the note under it explains."""
    from waveguard.cli.common import table_console
    from waveguard.report.fit import Column, fits, fitted_table

    def columns(measured_wraps: bool) -> list[Column]:
        return [Column("resource (group)", wrap=True), Column("objects", justify="right"),
                Column("bytes per object", justify="right", wrap=True),
                Column("model constant", justify="right", wrap=True), Column("measured by", wrap=measured_wraps)]

    console = table_console()
    rows = _object_rows(inventory, short=False)
    short = not fits(console.width, columns(False), rows)  # "measured by" on one line, or shorter
    if short:
        rows = _object_rows(inventory, short=True)
    table, _ = fitted_table(console, f"object counts and sizes from {inventory.source}", columns(short), rows)
    console.print(table)
    console.print("[dim]bytes per object: the mean of the responses named under measured by (GET ×n: n GETs; "
                  f"{'WATCH ×n' if short else 'WATCH event ×n'}: n watch events; LIST ×n: n LISTs, over the objects "
                  "listed); model constant: the size the model assumes without a measurement.[/]")


def _object_rows(inventory, short: bool) -> list[list[str]]:
    """One row per resource; ``short``: "WATCH ×n" for "WATCH event ×n" (the label of
    :func:`waveguard.signals.objects.object_inventory`)."""
    from waveguard.model import constants as C

    rows = []
    for r in inventory.resources:
        model = C.OBJECT_BYTES.get(r.resource)
        measured_by = r.measured_by.replace("WATCH event ×", "WATCH ×") if short else r.measured_by
        rows.append([r.resource + (f"\n({r.group})" if r.group else ""), "—" if r.objects is None else f"{r.objects:,}",
                     "—" if r.bytes_per_object is None else f"{r.bytes_per_object:,.0f}",
                     "—" if model is None else f"{model:,}", measured_by])
    return rows
