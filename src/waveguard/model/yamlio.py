"""YAML parsing with libyaml when available (PyYAML's pure-Python parser is ~20× slower), and
writing files whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

#: libyaml-backed SafeLoader, falling back to the pure-Python one.
FastSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_file(path: "str | Path", what: str) -> tuple[Any, yaml.Node | None, str]:
    """(data, composed node for line numbers, text) of a YAML file. Raises InputError naming
    the file (and line) when it cannot be read, is not UTF-8, or is not YAML; ``what`` names the
    file's role in messages ("fleet file", "plan"...)."""
    from waveguard.model.errors import InputError, yaml_input_error

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), f"cannot read {what}: {exc.strerror}", hint="check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"{what} is not UTF-8 text", hint="re-encode it as UTF-8") from exc
    loader = FastSafeLoader(text)  # one pass: the node (for lines) and the data built from it
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node, text
    except yaml.YAMLError as exc:
        raise yaml_input_error(str(path), exc, text) from exc
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at ``loc`` (mapping keys and list indices, as pydantic
    reports an error's location) in the composed ``node``; the deepest line found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                return line
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=FastSafeLoader)  # noqa: S506 - a SafeLoader


def write_text_atomically(path: "str | os.PathLike[str]", text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: a
    failure leaves no partial file, and a crash or power loss leaves the old file or the new
    one. The temporary file is fsynced before the rename (else the rename may reach the disk
    before the data: an empty file after a crash), and the folder after it (the rename is an
    entry of the folder). Raises InputError naming ``path`` when it cannot be written."""
    import uuid

    from waveguard.model.errors import InputError

    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:  # created as open() creates files (umask)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(str(target), f"cannot write: {exc.strerror or exc}", hint="check the folder exists") from None
        raise


def _fsync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename in it) to disk. Raises OSError."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def yaml_text(data: Any, header: str = "") -> str:
    """``data`` as block YAML (keys in their order), after ``header`` as ``#`` comment lines."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)

