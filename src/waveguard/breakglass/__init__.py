"""Keep the way back open (issue 6): break-glass API Priority and Fairness isolation.

Public API (depends on :mod:`waveguard.model` and :mod:`waveguard.analysis` only):

* :func:`generate_isolation` (Change → :class:`Isolation`: v1 manifests, commented YAML, the
  merged :class:`~waveguard.model.apf.APFConfig` and its self-check);
* :func:`check_apf` / :func:`check_manifests` (→ :class:`BreakglassReport`: is the break-glass
  path protected, are the change's ServiceAccounts capped) — for the simulator, the rollout
  plan and ``waveguard breakglass check``;
* :func:`apf_config_from_manifests` (flowcontrol objects → APFConfig, merged with the
  defaults), :func:`read_flowcontrol_documents`, :func:`kubernetes_default_manifests`;
* :func:`read_live_objects` (a cluster's FlowSchemas/levels through the kubernetes client);
* :func:`emergency_kubeconfig` (fleet → kubeconfig reaching every apiserver by IP);
* :func:`lint_change` (Change → WG114 findings, called by the analysis).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name → module. Loaded on first use (PEP 562), so that the analysis importing
#: :func:`lint_change` does not pay for the kubernetes client (~0.4 s).
_EXPORTS = {
    "apf_config_from_manifests": "apf_objects", "manifest_problems": "apf_objects",
    "read_flowcontrol_documents": "apf_objects", "translate": "apf_objects",
    "BreakglassReport": "check", "CheckItem": "check", "check_apf": "check", "check_manifests": "check",
    "kubernetes_default_manifests": "defaults",
    "Isolation": "generate", "api_service_accounts": "generate", "generate_isolation": "generate",
    "emergency_kubeconfig": "kubeconfig", "render_kubeconfig": "kubeconfig",
    "lint_change": "lint",
    "read_live_objects": "live",
    "DEFAULT_CONTROLLER": "policy", "DEFAULT_GROUP": "policy", "group_member": "policy",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
