"""Request profiles on disk: a YAML list of :class:`RequestProfile` (what ``waveguard measure
-o`` writes, and the simulator and the projection gate read)."""

from __future__ import annotations

import os
from pathlib import Path

from waveguard.model.errors import InputError, first_error
from waveguard.model.requests import RequestProfile
from waveguard.model.yamlio import line_of, read_yaml_file, write_text_atomically, yaml_text


def dump_profiles_yaml(profiles: list[RequestProfile], header: str = "") -> str:
    """YAML text of ``profiles``: a list, each item a ``RequestProfile`` as
    ``RequestProfile.model_validate`` reads it (no extra keys), after ``#`` comment lines."""
    return yaml_text([p.model_dump(mode="json") for p in profiles], header)


def write_profiles(profiles: list[RequestProfile], path: str | os.PathLike[str], header: str = "") -> None:
    """Write :func:`dump_profiles_yaml` to ``path`` whole or not at all. Raises InputError when
    it cannot be written."""
    write_text_atomically(path, dump_profiles_yaml(profiles, header))


def load_profiles(path: str | os.PathLike[str]) -> list[RequestProfile]:
    """Read a profile file written by :func:`write_profiles` (a YAML list of profiles, or one
    profile). Raises InputError on a missing file, bad YAML or an invalid profile."""
    from pydantic import ValidationError

    p = Path(path)
    data, node, _ = read_yaml_file(p, "profile file")
    _check_holds_profiles(p, data)
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(RequestProfile.model_validate(item))
        except ValidationError as exc:
            err = first_error(exc)
            key = "".join(f"{x}: " if j == len(err["loc"]) - 1 else f"{x}." for j, x in enumerate(err["loc"]))
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            line = line_of(node, (i, *err["loc"]) if isinstance(data, list) else tuple(err["loc"]))
            raise InputError(str(p), f"profile {i}: {key}{msg}", line=line, hint="fix this key") from None
    return out


def _check_holds_profiles(path: Path, data: object) -> None:
    """Raises InputError when ``data`` (a profile file's YAML) holds no profile: an empty file
    (or only comments), an empty list, or a value that is neither a list nor a mapping. What
    to give: the file ``waveguard measure --output-file`` writes."""
    if data is None:
        raise InputError(str(path), "no request profiles: an empty file", hint="see waveguard measure")
    if data == []:
        raise InputError(str(path), "no request profiles: an empty list", hint="see waveguard measure")
    if not isinstance(data, (list, dict)):
        raise InputError(str(path), f"{str(data)[:20]!r} is no list of profiles",
                         hint="see waveguard measure")
