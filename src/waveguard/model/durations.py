"""Durations as people and agents write them: ``21m``, ``1h30m``, ``30m0s``, ``300ms`` — or a
plain number of seconds.

One parser serves every duration waveguard reads, because they are all Go durations: the CLI's
options and the ``*_s`` fields of plan, fleet, backend and scenario files are written by
kubectl users (``kubectl wait --timeout=5m``, ``--request-timeout=1h30m`` take Go's
``time.ParseDuration`` syntax), and agents' configs (kured's ``--period``, a Corefile's TTL,
node-problem-detector's intervals) are read by Go programs with the same function. The parser is
:mod:`durationpy` (a port of Go's ``time.ParseDuration``: units ns, us/µs, ms, s, m, h, fractions
and sums; already a dependency of the ``kubernetes`` client). It also takes ``d`` and spaces,
which Go refuses: harmless for input meant for waveguard. A bare number is seconds (what every
``*_s`` field and option took before, and what a Corefile writes).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema


def parse_duration_s(value: Any) -> float:
    """Seconds of ``value``: an int/float, a numeric string ("90", "1.5"), or a Go duration
    ("21m", "1h30m", "300ms"). Raises ValueError (naming the accepted forms) for a boolean,
    anything else, or a value that is not finite."""
    if isinstance(value, bool):
        raise ValueError(f"expected seconds or a duration (21m, 1h30m), got the boolean {str(value).lower()}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _text_seconds(value.strip())
    else:
        raise ValueError(f"expected seconds or a duration (21m, 1h30m), got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    return seconds


def _text_seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    import durationpy

    try:
        return durationpy.from_str(text).total_seconds()
    except (durationpy.DurationError, ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a duration: give seconds (90) or a Go duration (21m, 1h30m, 300ms)"
                         ) from None


def go_duration_s(text: str | None, default: float) -> float:
    """Seconds of a Go duration in an agent's configuration (a bare number is seconds);
    ``default`` when absent or unreadable (the agent's own default applies then)."""
    if not text:
        return default
    try:
        return parse_duration_s(text)
    except ValueError:
        return default


#: What JSON Schema says of a :data:`Seconds` field: a number, or a duration's text.
SECONDS_JSON_SCHEMA = {
    "anyOf": [{"type": "number"},
              {"type": "string", "pattern": r"^\s*([0-9.]+(ns|us|µs|ms|s|m|h|d)\s*)+$|^\s*[0-9.eE+-]+\s*$"}],
    "description": "seconds, or a Go duration: 21m, 1h30m, 300ms"}

#: A field in seconds that also takes a duration string (files: ``bake_s: 21m``).
Seconds = Annotated[float, BeforeValidator(parse_duration_s), WithJsonSchema(SECONDS_JSON_SCHEMA, mode="validation")]
