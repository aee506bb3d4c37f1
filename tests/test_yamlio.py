"""The atomic writer: the data and the rename reach the disk (fsync of the file, then its folder)."""

from __future__ import annotations

import os
import stat

import pytest

from waveguard.model import yamlio
from waveguard.model.errors import InputError


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    target = tmp_path / "out.yaml"
    target.write_text("old\n")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        # what the file descriptor holds when it is synced: the new text, not yet renamed
        events.append((kind, target.read_text()))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("rename", target.read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(yamlio.os, "fsync", fsync)
    monkeypatch.setattr(yamlio.os, "replace", replace)
    yamlio.write_text_atomically(target, "new\n")
    assert [kind for kind, _ in events] == ["file", "rename", "folder"]
    assert events[0][1] == "old\n" and events[2][1] == "new\n"
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]  # no temporary file left


def test_a_failed_fsync_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.yaml"
    target.write_text("old\n")

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(yamlio.os, "fsync", failing_fsync)
    with pytest.raises(InputError, match="cannot write: Input/output error"):
        yamlio.write_text_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]
