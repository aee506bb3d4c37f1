"""``waveguard measure``: a canary's request profile, from kube-apiserver audit logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from waveguard.cli.common import EXIT_OK, err_console, input_errors, stdout_console
from waveguard.model.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("measure")(measure_command)


def measure_command(
    audit_log: list[Path] = typer.Option(..., "--audit-log", help="Audit log file (JSON lines; .gz/.zst too). Repeat, or list more files after it."),
    more: Optional[list[Path]] = typer.Argument(None, help="More audit log files.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the measurement as JSON (files, notes, clients, profiles)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the request profiles as YAML (for simulate / the projection gate)."),
    memory_limit: str = typer.Option("512MB", "--memory-limit", help="DuckDB memory limit; it spills to a temporary folder beyond it."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="DuckDB threads (default: all cores)."),
) -> None:
    """Measure each client's requests (per user / ServiceAccount / user agent) from audit logs.

    Reads audit.k8s.io/v1 and v1beta1 Event lines; skips and reports garbage lines, a truncated
    last line and unknown apiVersions. Exit 0 on success, 2 on bad input (nothing written).
    """
    from waveguard.signals.audit import measure_audit_logs, summary_line, write_profiles

    paths = [*audit_log, *(more or [])]
    with input_errors():
        if output is not None and output.is_dir():
            raise InputError(str(output), "is a folder", hint="give a file name for -o")
        try:
            m = measure_audit_logs(paths, memory_limit=memory_limit, threads=threads)
        except Exception as exc:  # duckdb settings errors (e.g. a bad --memory-limit)
            if isinstance(exc, InputError) or type(exc).__module__.split(".")[0] not in ("duckdb", "_duckdb"):
                raise
            raise InputError("--memory-limit/--threads", " ".join(str(exc).split())[:200]) from None
        for note in m.notes:
            err_console.print(f"note: {note}", markup=False)
        if output is not None:
            header = (f"waveguard measure: request profiles from {', '.join(str(p) for p in paths)}\n"
                      f"{summary_line(m)}; load with RequestProfile.model_validate per item")
            write_profiles(m.profiles(), output, header=header)
    if as_json:
        typer.echo(json.dumps(m.to_json(), indent=2, default=str))
    else:
        _render(m)
    raise typer.Exit(EXIT_OK)


def _render(m) -> None:
    console = stdout_console()
    from waveguard.signals.audit import summary_line

    span = f"{m.start:%Y-%m-%d %H:%M:%S} – {m.end:%H:%M:%S} UTC" if m.start and m.end else "no timestamps"
    console.print(f"{summary_line(m)} ({span})")
    table = Table(show_lines=False)
    for col in ("client", "agent", "pods", "per node", "level", "requests", "429", "class", "n", "rate/pod/s", "codes"):
        table.add_column(col, overflow="fold")
    for c in m.clients:
        first = True
        for mc in c.classes or [None]:
            cls = ""
            if mc is not None:
                cls = f"{mc.verb.upper()} {mc.resource_path} {mc.scope}"
                if mc.verb in ("list", "watch"):
                    cls += f" rv={mc.resource_version}" + (f" limit={mc.limit}" if mc.limit else "")
                if mc.selector:
                    cls += " sel"
                if mc.leader_only:
                    cls += " leader"
            row = ([c.client, c.profile.agent, str(c.pods), "yes" if c.per_node else "no", c.priority_level,
                    str(c.requests), str(c.throttled)] if first else [""] * 7)
            if mc is not None:
                codes = " ".join(f"{k}:{v}" for k, v in sorted(mc.status_codes.items()))
                row += [cls, str(mc.requests), f"{mc.rate_per_pod_per_s:.4g}", codes]
            else:
                row += ["", "", "", ""]
            table.add_row(*row)
            first = False
    console.print(table)
