"""Path options and arguments of the commands: never an empty path (typer read "" as ".")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _path_parser(what: str, text: bool = False):
    """typer's ``parser=`` of a path option: the value as a Path (``text``: as the str given).
    Raises typer.BadParameter for an empty one (``--fleet ""``, an unset shell variable): typer
    read "" as ".", and the error then named the current folder, or a folder option wrote there,
    or ``analyse ""`` read every manifest of it. ``what``: what to give instead."""
    def parse(value: Any) -> Any:
        if isinstance(value, Path):
            return value
        if not str(value).strip():
            raise typer.BadParameter(f"an empty path: give {what}")
        return str(value) if text else Path(value)
    return parse


_file_path, _folder_path = _path_parser("a file"), _path_parser("a folder")
#: Manifests given as text (files, folders, ``-`` for standard input): never an empty path.
manifests_path = _path_parser("a file or folder", text=True)


def path_option(default: Any, *names: str, folder: bool = False, **settings: Any) -> Any:
    """A file option (``folder``: a folder option) that is never an empty path; ``settings``:
    typer.Option's (``metavar`` by default ``<path>``)."""
    settings.setdefault("metavar", "<path>")
    return typer.Option(default, *names, parser=_folder_path if folder else _file_path, **settings)


def path_argument(default: Any, **settings: Any) -> Any:
    """A file argument that is never an empty path; ``settings``: typer.Argument's."""
    return typer.Argument(default, parser=_file_path, **settings)
