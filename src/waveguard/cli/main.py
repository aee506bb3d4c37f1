"""``waveguard``: the command line. Each command lives in its own module with a ``register``."""

from __future__ import annotations

import sys

import typer

from waveguard.cli import analyse as analyse_cmd
from waveguard.cli import breakglass as breakglass_cmd
from waveguard.cli import dashboard as dashboard_cmd
from waveguard.cli import demo as demo_cmd
from waveguard.cli import export as export_cmd
from waveguard.cli import exporter as exporter_cmd
from waveguard.cli import gate as gate_cmd
from waveguard.cli import fidelity as fidelity_cmd
from waveguard.cli import measure as measure_cmd
from waveguard.cli import plan as plan_cmd
from waveguard.cli import risk as risk_cmd
from waveguard.cli import rollout as rollout_cmd
from waveguard.cli import schema as schema_cmd
from waveguard.cli import simulate as simulate_cmd

app = typer.Typer(
    name="waveguard", no_args_is_help=True, add_completion=True,
    help="Keep infrastructure rollouts from taking down Kubernetes control planes.",
)


def _print_version(value: bool) -> None:
    if value:
        from waveguard import __version__

        typer.echo(f"waveguard {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Keep infrastructure rollouts from taking down Kubernetes control planes."""


for command in (demo_cmd, analyse_cmd, plan_cmd, rollout_cmd, simulate_cmd, measure_cmd, breakglass_cmd, fidelity_cmd,
                exporter_cmd, dashboard_cmd, export_cmd, gate_cmd, risk_cmd, schema_cmd):
    command.register(app)


#: How kubectl runs its plugin ``kubectl-waveguard`` (krew installs it on PATH under that name).
KUBECTL_PROG_NAME = "kubectl waveguard"


def run(prog_name: str = "waveguard") -> None:
    """Entry point of ``waveguard``: the app, with a missing optional library (an extra not
    installed) as one line naming the extra to install, exit 2."""
    from waveguard.model.extras import MissingExtraError, missing_extra

    try:
        app(prog_name=prog_name)
    except (MissingExtraError, ModuleNotFoundError) as exc:
        error = exc if isinstance(exc, MissingExtraError) else missing_extra(exc, prog_name)
        if error is None:
            raise
        from waveguard.cli.common import EXIT_BAD_INPUT, err_console

        err_console.print(f"error: {error}", markup=False)
        sys.exit(EXIT_BAD_INPUT)


def kubectl_plugin() -> None:
    """Entry point of ``kubectl-waveguard``: ``kubectl waveguard analyse …`` runs ``waveguard
    analyse …``, and its help and errors name it ``kubectl waveguard``."""
    run(KUBECTL_PROG_NAME)


if __name__ == "__main__":  # pragma: no cover
    run()
