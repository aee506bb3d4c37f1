"""``waveguard``: the command line. Each command lives in its own module with a ``register``."""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="waveguard", no_args_is_help=True, add_completion=False,
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
COMMANDS = ("demo", "analyse", "plan", "rollout", "simulate", "measure", "breakglass", "fidelity", "exporter")


def _register(argv: list[str]) -> None:
    """Import and register the command named by ``argv[1]`` alone, or every command when it names
    none (``--help``, ``--version``, a test importing ``app``): one command's start-up does not
    pay for the others' imports (``analyse`` on one file loads no break-glass or rollout code)."""
    named = [argv[1]] if len(argv) > 1 and argv[1] in COMMANDS else []
    for name in named or COMMANDS:
        importlib.import_module(f"waveguard.cli.{name}").register(app)


_register(sys.argv)


if __name__ == "__main__":  # pragma: no cover
    app()
