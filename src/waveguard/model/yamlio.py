"""YAML parsing with libyaml when available (PyYAML's pure-Python parser is ~20× slower)."""

from __future__ import annotations

from typing import Any

import yaml

#: libyaml-backed SafeLoader, falling back to the pure-Python one.
FastSafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=FastSafeLoader)  # noqa: S506 - a SafeLoader
