"""``waveguard``: the command line. Each command lives in its own module with a ``register``."""

from __future__ import annotations

import importlib
import os
import sys

# pydantic looks for plugins in every installed distribution's entry points on its first model
# (~13 ms with 90 packages); waveguard uses none. Typer does the same around its own adapters.
# A user who wants plugins sets the variable (to "" for all of them).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402  # after the variable above

from waveguard.cli.common import command_group
from waveguard.cli.usage import OneLineErrorsGroup

#: Usage errors of every command are one line (cli/usage.py); help is plain text (common.command_group).
app = command_group(
    name="waveguard", no_args_is_help=True, add_completion=True, cls=OneLineErrorsGroup,
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


#: The commands, each in the module waveguard.cli.NAME, in --help order.
COMMANDS = ("demo", "analyse", "plan", "rollout", "simulate", "measure", "breakglass", "fidelity", "exporter",
            "dashboard", "export", "gate", "risk", "schema")


def _register(argv: list[str]) -> None:
    """Import and register the command named by ``argv[1]`` alone, or every command when it names
    none (``--help``, a test importing ``app``), and none for ``--version`` alone: one command's
    start-up does not pay for the others' imports (``analyse`` on one file loads no break-glass or
    rollout code)."""
    if argv[1:] == ["--version"]:  # answered by the eager callback: no command is needed
        return
    named = [argv[1]] if len(argv) > 1 and argv[1] in COMMANDS else []
    for name in named or COMMANDS:
        importlib.import_module(f"waveguard.cli.{name}").register(app)


_register(sys.argv)


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
