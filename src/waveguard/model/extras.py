"""Optional parts of waveguard and the extra that installs each (``pip install 'waveguard[sim]'``).

``pip install waveguard`` gives what a CI check and a rollout gate need: ``analyse``, ``plan``,
``schema``, ``breakglass generate|check --manifests|kubeconfig``, ``rollout status|pause|approve|
abort`` and the gates that read Prometheus. The rest is behind extras (pyproject.toml), and the
code that needs one calls :func:`require_extra` before importing it, so a missing one is one line
naming the extra, not a traceback:

* ``sim`` — the fleet simulator (numpy): ``simulate``, ``demo``, ``fidelity``, ``exporter``, and
  ``rollout start|resume`` on the simulated fleet;
* ``measure`` — audit-log measurement (DuckDB; zstandard for ``.zst`` files): ``measure``;
* ``report`` — HTML reports (matplotlib, Jinja2): every ``--report``;
* ``kubernetes`` — the Kubernetes client: ``rollout --target kubernetes``, ``breakglass check --live``;
* ``dashboard`` — the live rollout page (Starlette, uvicorn): ``dashboard``;
* ``risk`` — risk sweeps on Ray (``risk --ray-address``; the local pool needs only ``sim``);
* ``all`` — all of them.
"""

from __future__ import annotations

import importlib

from waveguard.model.errors import InputError

#: extra → the modules it provides (import names), checked in this order.
EXTRAS: dict[str, tuple[str, ...]] = {
    "sim": ("numpy",),
    "measure": ("duckdb",),
    "report": ("matplotlib", "jinja2"),
    "kubernetes": ("kubernetes", "urllib3"),
    "dashboard": ("starlette", "uvicorn"),
    "risk": ("ray",),
}

#: Import name → the extra that installs it (what a ModuleNotFoundError is turned into).
MODULE_EXTRA = {"numpy": "sim", "duckdb": "measure", "zstandard": "measure", "matplotlib": "report",
                "jinja2": "report", "kubernetes": "kubernetes", "urllib3": "kubernetes", "starlette": "dashboard",
                "uvicorn": "dashboard", "ray": "risk"}


class MissingExtraError(InputError):
    """An optional library is not installed; the message names the extra that installs it."""


def require_extra(extra: str, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` (``what`` needs …: pip install 'waveguard[extra]') unless
    every module of ``extra`` (or ``modules``) can be imported."""
    for module in modules or EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(what, f"needs {module}, which is not installed",
                                    hint=f"pip install 'waveguard[{extra}]'") from None


def missing_extra(exc: ModuleNotFoundError, what: str = "waveguard") -> MissingExtraError | None:
    """The :class:`MissingExtraError` of an import that failed for want of an extra's library
    (None for any other module: a broken install, not a missing extra)."""
    root = (exc.name or "").split(".")[0]
    extra = MODULE_EXTRA.get(root)
    if extra is None:
        return None
    return MissingExtraError(what, f"needs {root}, which is not installed", hint=f"pip install 'waveguard[{extra}]'")
