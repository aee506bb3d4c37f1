"""``waveguard rollout report --state FILE [--output-file out.html]``: a finished rollout as HTML.

Registered on the ``rollout`` command group by the import at the end of :mod:`waveguard.cli.rollout`.
Reads the state file only (never takes the lease, never appends): safe beside a running engine.
Exit 0 when the page is written, 2 on bad input (a missing or foreign state file, an unwritable
output), with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from waveguard.cli.common import input_errors, state_option, stdout_console
from waveguard.cli.paths import path_option
from waveguard.cli.rollout import DEFAULT_STATE, rollout_app


@rollout_app.command("report")
def report(
    state: Path = state_option(DEFAULT_STATE),
    output_file: Optional[Path] = path_option(None, "--output-file",
                                               help="HTML page to write (default: the state file's name with .html)."),
) -> None:
    """Render a rollout from its state file as HTML: waves, halts and why, gates against thresholds.

    Also the projection that halted it, and every event; read-only (safe beside a running engine).
    """
    from waveguard.model.yamlio import check_output_path
    from waveguard.report.rollout_report import write_report

    out = output_file if output_file is not None else state.with_suffix(".html")
    with input_errors():
        if out.resolve() == state.resolve():
            from waveguard.model.errors import InputError

            raise InputError(str(out), "is the state file itself", hint="give another --output-file")
        check_output_path(out, "--output-file")
        record = write_report(state, out)
    from waveguard.report.rollout_report import halt_headline

    console = stdout_console()
    console.print(f"report: {out} ({record.state.status}, {len(record.events):,} events)", highlight=False, markup=False)
    headline = halt_headline(record)
    if headline:
        console.print(headline, highlight=False, markup=False, width=min(console.width, 80))
