"""``waveguard``: the command line. Each command lives in its own module with a ``register``."""

from __future__ import annotations

import gc
import importlib
import os
import sys

# pydantic looks for plugins in every installed distribution's entry points on its first model
# (~13 ms with 90 packages); waveguard uses none. Typer does the same around its own adapters.
# A user who wants plugins sets the variable (to "" for all of them).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

#: Whether start-up found the cyclic GC enabled. Start-up — this module's imports, and
#: :func:`run`'s parsing of the command line, where typer imports pydantic's validators — makes
#: ~70,000 objects and no reference cycles: ~60 collections that find nothing. The GC is paused
#: for it and enabled again before the command's own code runs (:func:`_start_up_done`, from the
#: app's callback), with what start-up made frozen (``gc.freeze``: the modules, classes and
#: functions live as long as the process, and later collections, the one at exit included, need
#: not scan them). Together ~25 ms of ``analyse`` on one file (issue 17).
_gc_to_enable = False


def _start_up_begins() -> None:
    """Pause the cyclic GC until :func:`_start_up_done`."""
    global _gc_to_enable
    _gc_to_enable = _gc_to_enable or gc.isenabled()
    gc.disable()


def _start_up_done(freeze: bool = False) -> None:
    """Enable the cyclic GC again if :func:`_start_up_begins` paused it; ``freeze``: first move
    every object made so far out of its sight (a command starts: what start-up made stays)."""
    global _gc_to_enable
    if _gc_to_enable:
        if freeze:
            gc.freeze()
        _gc_to_enable = False
        gc.enable()


_start_up_begins()

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
    _start_up_done(freeze=True)


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
_start_up_done()  # imported without run() (a test, the API): the GC as it was


#: How kubectl runs its plugin ``kubectl-waveguard`` (krew installs it on PATH under that name).
KUBECTL_PROG_NAME = "kubectl waveguard"


def run(prog_name: str = "waveguard") -> None:
    """Entry point of ``waveguard``: the app, with a missing optional library (an extra not
    installed) as one line naming the extra to install, exit 2."""
    from waveguard.model.extras import MissingExtraError, missing_extra

    _start_up_begins()
    stdout_was = _stdout_now()
    try:
        app(prog_name=prog_name)
    except BrokenPipeError:
        _end_at_closed_pipe()
    except SystemExit as exc:
        if exc.code not in (0, None) and _stdout_now() != stdout_was:
            _end_at_closed_pipe()
        raise
    except (MissingExtraError, ModuleNotFoundError) as exc:
        error = exc if isinstance(exc, MissingExtraError) else missing_extra(exc, prog_name)
        if error is None:
            raise
        from waveguard.cli.common import EXIT_BAD_INPUT, err_console

        err_console.print(f"error: {error}", markup=False)
        sys.exit(EXIT_BAD_INPUT)
    finally:
        _start_up_done()
        _freeze_before_exit(sys.argv)


#: The exit code after standard output's reader went away (``waveguard … | head -1``): 128 +
#: SIGPIPE (13), what bash reports of a tool the signal ended (kubectl, git, cat; POSIX, Shell
#: Command Language §2.8.2: "greater than 128"), and not 1, which is waveguard's "findings".
EXIT_CLOSED_PIPE = 128 + 13


def _stdout_now() -> tuple[object, tuple[int, int] | None]:
    """Standard output as (``sys.stdout``, the device and inode of file descriptor 1). A write
    into a pipe whose reader went away changes one of them: click wraps ``sys.stdout`` (its
    EPIPE handling), rich points descriptor 1 at /dev/null (``Console.on_broken_pipe``); both
    then exit 1."""
    try:
        st = os.fstat(1)
    except OSError:
        return sys.stdout, None
    return sys.stdout, (st.st_dev, st.st_ino)


def _end_at_closed_pipe() -> None:
    """End quietly with :data:`EXIT_CLOSED_PIPE`: nothing more is written (descriptor 1 is
    /dev/null, so the interpreter's flush at exit cannot fail) and no traceback is printed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.exit(EXIT_CLOSED_PIPE)


#: Commands whose objects are frozen when :func:`run` ends them (the process exits next): they
#: have written and closed their output by then and hold nothing (a file, a connection) that a
#: collection would release, so the two full collections of interpreter exit need not scan what
#: they made. ``analyse`` on one file: ~9 ms less with a table, ~5 with ``-o json`` (issue 17).
FROZEN_AT_EXIT = frozenset({"analyse"})


def _freeze_before_exit(argv: list[str]) -> None:
    """``gc.freeze()`` when ``argv`` ran a command of :data:`FROZEN_AT_EXIT`."""
    if len(argv) > 1 and argv[1] in FROZEN_AT_EXIT:
        gc.freeze()


def kubectl_plugin() -> None:
    """Entry point of ``kubectl-waveguard``: ``kubectl waveguard analyse …`` runs ``waveguard
    analyse …``, and its help and errors name it ``kubectl waveguard``."""
    run(KUBECTL_PROG_NAME)


if __name__ == "__main__":  # pragma: no cover
    run()
