"""Usage errors (an unknown option, a bad option value, a missing argument) as one line.

click, under typer, prints a usage error as the command's usage, a "Try --help" line and a
boxed panel (rich). waveguard prints every error the same way instead: one line on stderr,
``error: <what>, <what to do>``, exit 2 (:data:`~waveguard.cli.common.EXIT_BAD_INPUT`, click's
own exit code for usage errors), short enough for an 80-column terminal when the values in it
are. :class:`OneLineErrorsGroup` is the root command's class; the sub-commands' errors reach
it because click builds their contexts inside the root's :meth:`invoke`.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import typer
from typer.core import TyperGroup

#: click's exceptions module, wherever this typer takes click from (its own copy since typer
#: vendored it, ``click`` before): the module of ``typer.BadParameter``.
click_exceptions = importlib.import_module(typer.BadParameter.__module__)

#: Columns a usage error fits when the values in it are short (a terminal's default width).
WIDTH = 80

#: pydantic's wording of a bad option value (typer 0.2x coerces through pydantic) → ours.
_REWORDED = (
    (re.compile(r"^Value error, "), ""),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be at least \1"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be more than \1"),
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be at most \1"),
    (re.compile(r"Input should be less than (\S+)"), r"must be less than \1"),
    (re.compile(r"Input should be a valid number.*"), "must be a number"),
    (re.compile(r"Input should be a valid integer.*"), "must be a whole number"),
    (re.compile(r"Input should be a valid boolean.*"), "must be true or false"),
    # click lists choices quoted ('warning', 'error'): unquoted, they read as words
    (re.compile(r"is not one of ((?:'[^']*'(?:, )?)+)"), lambda m: "is not one of " + m.group(1).replace("'", "")),
)
#: A choice's list of values, when the line is too long to carry it (``--help`` lists them).
_CHOICES = re.compile(r"is not one of .*$")


def usage_line(exc: Any) -> str:
    """The one line for click's usage error ``exc`` (a ``UsageError`` or ``BadParameter``):
    ``error: <what>, <what to do>``; the command's ``--help`` named in full when the line
    still fits :data:`WIDTH`, else just ``--help``."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else ""
    command = path.partition(" ")[2] or path  # "rollout status" of "waveguard rollout status"
    what, todo = _what_and_todo(exc, command)
    if todo is not None:
        return f"error: {what}, {todo}"
    full = f"see '{path} --help'" if path else "see --help"
    for line in (f"error: {what}, {full}", f"error: {what}, see --help"):
        if len(line) <= WIDTH:
            return line
    listed = _CHOICES.sub("is not one of its choices", what)  # --help lists them
    return f"error: {listed}, {full}" if len(f"error: {listed}, {full}") <= WIDTH else f"error: {listed}, see --help"


def _what_and_todo(exc: Any, command: str) -> tuple[str, str | None]:
    """What went wrong and, when the error itself says it, what to do (None: see --help)."""
    if isinstance(exc, click_exceptions.NoSuchOption):
        where = f"{command} has no option" if command else "no option"
        if exc.possibilities:
            return f"{where} {exc.option_name}", f"did you mean {' or '.join(sorted(exc.possibilities))}?"
        return f"{where} {exc.option_name}", None
    if isinstance(exc, click_exceptions.MissingParameter):
        return f"{command or 'the command'} needs {_param_name(exc.param)}", None
    if isinstance(exc, click_exceptions.BadParameter):
        name = _param_name(exc.param) if exc.param is not None else exc.param_hint
        return (f"{name}: " if name else "") + _reworded(exc.message), None
    message = exc.format_message()
    unknown = re.match(r"No such command '(.+?)'\.(?: Did you mean (.+)\?)?", message)
    if unknown:
        what = f"{command or 'waveguard'} has no command {unknown.group(1)!r}"
        return what, f"did you mean {unknown.group(2).replace(', ', ' or ')}?" if unknown.group(2) else None
    extra = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.+)\)", message)
    if extra:
        return f"{command or 'waveguard'} takes no argument {extra.group(1)!r} here", None
    return _reworded(message), None


def _param_name(param: Any) -> str:
    """How the command line spells ``param``: its longest option (``--cluster``), or an
    argument's metavar as its --help shows it (risk's ``PLAN``), else its name in capitals
    (``PLAN_PATH``)."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    if opts:
        return max(opts, key=len)
    return str(getattr(param, "metavar", None) or getattr(param, "name", "") or "an argument").upper()


def _reworded(message: str) -> str:
    """``message`` in waveguard's voice: pydantic's phrases reworded, lower-case first letter,
    no full stop."""
    for pattern, replacement in _REWORDED:
        message = pattern.sub(replacement, message)
    message = message.strip().rstrip(".")
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message


def _is_help(exc: Exception) -> bool:
    """``exc`` shows the help (a command group run without a command): not an error line."""
    return type(exc).__name__ == "NoArgsIsHelpError"


class OneLineErrorsGroup(TyperGroup):
    """The root command: click's usage errors of any command as :func:`usage_line` on stderr,
    exit 2 (``typer.Typer(cls=OneLineErrorsGroup)``)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_exceptions.UsageError as exc:
            if _is_help(exc):
                raise
            _exit_with(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_exceptions.UsageError as exc:
            if _is_help(exc):
                raise
            _exit_with(exc)


def _exit_with(exc: Any) -> None:
    """Print ``exc`` as one line and exit 2 (typer.Exit, so the caller's clean-up runs)."""
    from waveguard.cli.common import EXIT_BAD_INPUT, err_console

    err_console.print(usage_line(exc), markup=False, highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT) from None
