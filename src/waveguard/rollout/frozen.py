"""The change frozen at ``rollout start``: its manifests' content and hash, kept in the state.

``resume`` rolls out what ``start`` analysed and began to apply — from any folder, and even when
the files on disk changed since (it says so, in one line, and goes on with the frozen ones unless
told ``--use-changed-manifests``). The frozen files are written to a private temporary folder for
the loader and the targets (:func:`materialise`).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from waveguard.model.errors import InputError


class FrozenChange(BaseModel):
    """``path``: the change as given to ``start``, made absolute; ``files``: each manifest's path
    relative to it (its name for a single file, POSIX separators) → its text (UTF-8);
    ``sha256``: hex digest over the sorted (path, text) pairs."""

    model_config = ConfigDict(extra="forbid")

    path: str
    files: dict[str, str]
    sha256: str
    #: The change was one file (not a folder).
    is_file: bool = False


def freeze(change: str) -> FrozenChange:
    """Read the manifests under ``change`` (a file or a folder) as the loader finds them.
    Raises InputError (missing, unreadable, not UTF-8)."""
    from waveguard.analysis.loader import manifest_files

    root = Path(change).resolve()
    files: dict[str, str] = {}
    for f in manifest_files([str(root)]):
        name = f.name if root.is_file() else f.relative_to(root).as_posix()
        try:
            files[name] = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(str(f), f"cannot read the manifest: {exc}", hint="check the file") from None
    return FrozenChange(path=str(root), files=files, sha256=digest(files), is_file=root.is_file())


def digest(files: dict[str, str]) -> str:
    """SHA-256 (hex) over the sorted (relative path, text) pairs, NUL-separated."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def load_frozen(data: dict[str, Any]) -> FrozenChange:
    """The stored dump, checked against its own hash. Raises InputError when it was altered."""
    frozen = FrozenChange.model_validate(data)
    if digest(frozen.files) != frozen.sha256:
        raise InputError(frozen.path, "the change frozen in the state database does not match its hash",
                         hint="the state database was altered; restore it from a backup")
    return frozen


def on_disk_differs(frozen: FrozenChange) -> str | None:
    """One line saying how the files at ``frozen.path`` differ from the frozen ones, or None
    when they are the same."""
    try:
        now = freeze(frozen.path)
    except InputError as exc:
        return f"the change at {frozen.path} cannot be read now ({exc.message})"
    if now.sha256 == frozen.sha256:
        return None
    changed = sorted(set(now.files) ^ set(frozen.files) | {n for n in set(now.files) & set(frozen.files)
                                                           if now.files[n] != frozen.files[n]})
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (f"the change at {frozen.path} differs from the one frozen at start ({shown}; "
            f"sha256 {now.sha256[:12]} on disk, {frozen.sha256[:12]} frozen)")


def materialise(frozen: FrozenChange) -> tempfile.TemporaryDirectory:
    """The frozen files in a new temporary folder (the caller cleans it up); the change's path
    there is ``folder/change`` (a folder, or the single file inside it: :func:`change_path`).
    Raises InputError for a stored name that would leave the folder."""
    folder = tempfile.TemporaryDirectory(prefix="waveguard-change-")
    root = Path(folder.name) / "change"
    for name, text in frozen.files.items():
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            folder.cleanup()
            raise InputError(frozen.path, f"a frozen manifest name leaves its folder: {name!r}",
                             hint="the state database was altered; restore it from a backup")
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def change_path(folder: tempfile.TemporaryDirectory, frozen: FrozenChange) -> str:
    """Where the loader reads the materialised change: the folder, or its one file when the
    change was a single file."""
    root = Path(folder.name) / "change"
    return str(root / next(iter(frozen.files))) if frozen.is_file else str(root)
