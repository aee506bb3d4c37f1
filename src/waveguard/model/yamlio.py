"""YAML parsing with libyaml when available (PyYAML's pure-Python parser is ~20× slower), and
writing files whole or not at all.

Every YAML file waveguard reads (fleet, plan, scenario, profiles, backend configuration;
manifests through ``analysis.loader``, which runs the same duplicate-key check on its nodes) goes
through :func:`read_yaml_file` or :func:`strict_load`: a duplicate key in one mapping is an
error naming both lines (YAML 1.2 forbids it; PyYAML silently keeps the last value, and a second
``kind:`` would change what the file means), and so is a document that aliases expand past
:data:`MAX_EXPANDED_NODES`. :func:`safe_load` stays lenient: it parses agent configurations
embedded in ConfigMaps, which are read as well as possible, never rejected."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import yaml

#: libyaml-backed SafeLoader, falling back to the pure-Python one.
FastSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: Most YAML nodes one document may expand to through aliases: far above any real file (the
#: 10 MB benchmark manifest bundle's largest document has a few thousand), far below a memory
#: blow-up (an "alias bomb" of nine nested lists expands to 10⁹). Same bound as the manifests'.
MAX_EXPANDED_NODES = 1_000_000


def read_yaml_file(path: "str | Path", what: str) -> tuple[Any, yaml.Node | None, str]:
    """(data, composed node for line numbers, text) of a YAML file. Raises InputError naming
    the file (and line) when it cannot be read (a folder, no permission, missing), is not
    UTF-8, is not YAML, holds more than one document, or has a duplicate key; ``what`` names
    the file's role in messages ("fleet file", "plan"...)."""
    from waveguard.model.errors import InputError

    path = Path(path)
    try:
        text = read_input_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"{what} is not UTF-8 text", hint="re-encode it as UTF-8") from exc
    node, data = strict_compose(text, str(path))
    return data, node, text


def read_input_bytes(path: "str | Path", what: str) -> bytes:
    """The bytes of an input file, never waiting forever: a named pipe is opened without
    blocking, so one that nobody writes to reads as nothing and is an error, while a pipe a
    writer holds (a shell's ``<(…)``, ``/dev/stdin`` piped) is read to its end. Raises
    InputError naming ``path`` for a folder, a device or socket (``/dev/zero`` never ends), a
    missing or unreadable file, and a pipe with nothing in it."""
    import stat

    from waveguard.model.errors import InputError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError as exc:
        raise InputError(str(path), f"cannot read {what}: it is a folder", hint="pass the file") from exc
    except OSError as exc:
        raise InputError(str(path), f"cannot read {what}: {exc.strerror or exc}", hint="check the path") from exc
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        os.close(fd)
        raise InputError(str(path), f"cannot read {what}: " + ("it is a folder" if stat.S_ISDIR(mode) else
                         "a device or socket"), hint="pass the file")
    os.set_blocking(fd, True)  # a pipe's writer, if any, is read to its end
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    if not data and stat.S_ISFIFO(mode):
        raise InputError(str(path), f"cannot read {what}: an empty pipe", hint="pass the file")
    return data


def strict_compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """(composed node, data) of the one YAML document in ``text``; (None, None) when it is empty.
    Raises InputError naming ``source`` and the line: malformed YAML, several documents, a
    duplicate key, or aliases expanding past :data:`MAX_EXPANDED_NODES`."""
    from waveguard.model.errors import yaml_input_error

    loader = FastSafeLoader(text)  # one pass: the node (for lines) and the data built from it
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_node(node, source)
        return node, loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise yaml_input_error(source, exc, text) from exc
    except RecursionError as exc:  # nesting deeper than Python's stack: not a file a person wrote
        from waveguard.model.errors import InputError

        raise InputError(source, "YAML nested too deeply", hint="flatten the file") from exc
    finally:
        loader.dispose()


def strict_load(text: str, source: str) -> Any:
    """The data of the one YAML document in ``text`` (None when empty), strictly: see
    :func:`strict_compose` for the InputErrors raised."""
    return strict_compose(text, source)[1]


def check_node(node: yaml.Node, source: str) -> None:
    """Raise InputError naming ``source`` when ``node`` has a duplicate key in one mapping (at
    the second one's line, naming the first's) or expands past :data:`MAX_EXPANDED_NODES`."""
    from waveguard.model.errors import InputError

    if expanded_size(node) > MAX_EXPANDED_NODES:
        raise InputError(source, f"alias bomb? over {MAX_EXPANDED_NODES:,} nodes",
                         line=node.start_mark.line + 1, hint="remove the anchors")
    duplicate = first_duplicate_key(node)
    if duplicate is not None:
        key, first_line, line = duplicate
        raise InputError(source, f"duplicate key {key!r} (first at line {first_line})", line=line,
                         hint="remove one")


def first_duplicate_key(node: yaml.Node) -> tuple[str, int, int] | None:
    """(key, first line, second line) of the first key given twice in one mapping of ``node``
    (lines 1-based; merge keys ``<<`` excepted), or None. Walks the node graph once (aliases
    share nodes, so an alias bomb costs its size, not its expansion)."""
    stack, visited = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in first:
                        return key.value, first[key.value], key.start_mark.line + 1
                    first[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return None


def expanded_size(node: yaml.Node) -> int:
    """Number of nodes ``node`` becomes once aliases are expanded (capped just above
    :data:`MAX_EXPANDED_NODES`), computed on the node graph without expanding anything."""
    memo: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:  # post-order without recursion: deep nesting must not overflow the stack
        current, children_done = stack.pop()
        if children_done:
            total = 1 + sum(memo[id(child)] for child in _children(current))
            memo[id(current)] = min(total, MAX_EXPANDED_NODES + 1)
        elif id(current) not in memo:
            memo[id(current)] = 1  # cycles (recursive anchors) count once
            stack.append((current, True))
            stack.extend((child, False) for child in _children(current))
    return memo[id(node)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


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



def check_distinct_outputs(outputs: "dict[str, str | os.PathLike[str] | None]",
                           inputs: "Iterable[str | os.PathLike[str]]" = ()) -> None:
    """Check, before any work, that no two output options (flag → path; None: not given) name the
    same file and that none names one of the command's input files: each write replaces the
    file whole, so the last one would replace the other output (or the input, read before it)
    without a word. Raises InputError naming the path and both flags."""
    from waveguard.model.errors import InputError

    taken = {os.path.realpath(p): "an input of this command" for p in inputs if Path(p).is_file()}
    for flag, path in outputs.items():
        if path is None:
            continue
        owner = taken.setdefault(os.path.realpath(path), flag)
        if owner != flag:
            what = f"is {owner}" if owner.startswith("an input") else f"names the same file as {owner}"
            raise InputError(str(path), f"{flag} {what}", hint=f"give {flag} another file")


def check_output_path(path: "str | os.PathLike[str] | None", flag: str) -> None:
    """Check, before any work, that ``path`` (an output option's value; None: not given) can be
    written as :func:`write_text_atomically` writes it: its folder exists and a file can be
    created in it, and it is not a folder, a device, a pipe or a socket. Raises InputError naming
    ``path`` and ``flag``."""
    from waveguard.model.errors import InputError

    if path is None:
        return
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise InputError(str(target), "is a folder", hint=f"give a file name for {flag}")
    if target.exists() and not target.is_file():  # the rename would replace a device or pipe (as root: /dev/null)
        raise InputError(str(target), "is not a regular file (a device?)",
                         hint=f"give another {flag}")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(str(target), f"the folder {folder} {what}",
                         hint=f"create it or give another {flag}")
    # The write goes through a temporary file in the folder and a rename: the folder must be writable.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(str(target), f"no write permission in {folder}",
                         hint=f"give another {flag}")
    if target.exists() and not os.access(target, os.W_OK):
        raise InputError(str(target), "is read-only", hint=f"give another {flag}")
    _probe_folder(target, folder, flag)


def _probe_folder(target: Path, folder: Path, flag: str) -> None:
    """Create and remove a file in ``folder``, as :func:`write_text_atomically` will before its
    rename over ``target``: some folders pass the permission checks and still refuse (/proc, even
    to root). Raises InputError naming ``target`` and ``flag``."""
    import tempfile

    from waveguard.model.errors import InputError

    try:
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".waveguard-probe-")
    except OSError:
        raise InputError(str(target), f"no file can be created in {folder}",
                         hint=f"give another {flag}") from None
    os.close(descriptor)
    os.unlink(probe)
