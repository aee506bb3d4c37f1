"""Field types for user files (fleet, plan, scenario) that take what the file says literally.

pydantic's lax mode reads ``true`` as 1 wherever a number is expected, so ``nodes: true`` would
be a one-node cluster: here a boolean is never a number, nor is NaN or an infinity. YAML gives
integers and floats as such, so no string conversion is needed either.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StrictStr

#: A DNS-1123 label (RFC 1123, as Kubernetes names namespaces and as kubeconfig contexts are
#: commonly named): lower-case letters, digits and '-', starting and ending with a letter or a
#: digit, at most 63 characters. Cluster names reach file paths and URLs: no '/', '.', spaces.
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def dns_label(value: str) -> str:
    """``value`` unchanged. Raises ValueError when it is not a DNS-1123 label."""
    if not re.fullmatch(DNS1123_LABEL, value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lower-case letters, digits and '-', starting and "
                         "ending with a letter or digit, at most 63 characters)")
    return value


#: A cluster name: a DNS-1123 label (:data:`DNS1123_LABEL`).
ClusterName = Annotated[StrictStr, AfterValidator(dns_label)]


def _not_a_boolean(value: Any) -> Any:
    """``value`` unchanged. Raises ValueError for a boolean (a number is expected)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    return value


def _number_not_text(value: Any) -> Any:
    """``value`` unchanged. Raises ValueError for a boolean or a string (a number is expected)."""
    if isinstance(value, str):
        raise ValueError(f"expected a number, got the text {value!r}")
    return _not_a_boolean(value)


#: A whole number, never a boolean or text: ``4e9`` written as a float is 4,000,000,000, but
#: ``2.5`` is refused (counts and byte sizes are whole).
Count = Annotated[int, BeforeValidator(_number_not_text)]


def _finite(value: Any) -> Any:
    """``value`` unchanged. Raises ValueError for a boolean, or for NaN, an infinity (YAML's
    ``.nan`` and ``.inf``, or text that reads as one) or an integer past a float's range: NaN
    failed a bound such as ``le=1`` with "should be less than or equal to 1", which it is
    not, and it passes every comparison."""
    _not_a_boolean(value)
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    except (TypeError, ValueError):
        return value  # not a number at all: pydantic says so
    if not finite:
        raise ValueError(f"expected a finite number, got {_yaml_spelling(value)}")
    return value


def _yaml_spelling(value: Any) -> str:
    """``value`` as a YAML file would spell it (``.nan``, ``-.inf``), text quoted, cut at 20."""
    if isinstance(value, str):
        return repr(value[:20])
    text = str(value)
    return {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}.get(text, text[:20] + "…")


#: A finite float (an integer is accepted), never a boolean, NaN or an infinity.
Number = Annotated[float, BeforeValidator(_finite)]
