"""``waveguard export``: the gates where the rollout tools are — one module per target, each
registered once in :data:`EXPORTERS` with :func:`exporter`.

Every target is written from the one gate registry (``waveguard.rollout.gates``) and the one
PromQL of each gate (:class:`~waveguard.export.gateset.GateSet`): ``argo`` (an Argo Rollouts
``AnalysisTemplate``), ``flagger`` (Flagger ``MetricTemplate`` objects), ``prometheus-rule`` (a
Prometheus Operator ``PrometheusRule``), ``grafana`` (a dashboard JSON). ``patches`` writes a
plan's waves as GitOps patches (``waveguard plan --emit-patches``). Adding a target: a module
here with ``@exporter(...)`` on ``(gates, namespace) -> [objects]``, and its import below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Literal

import yaml

from waveguard.export.gateset import GateSet

#: Renders the exported objects: (gates, namespace) → objects (dicts), in file order.
Render = Callable[[GateSet, str], "list[dict[str, Any]]"]


@dataclass(frozen=True)
class Target:
    """One export target: ``name`` (the command's argument), ``filename`` (under
    ``--output-dir``), ``format`` of the file, a one-line ``help``, ``render``, and for YAML an
    optional ``header`` (a comment put before the objects)."""

    name: str
    filename: str
    format: Literal["yaml", "json"]
    help: str
    render: Render
    header: Callable[[GateSet, str], str] | None = None

    def text(self, gates: GateSet, namespace: str) -> str:
        """The file's text: multi-document YAML, or one JSON document (indented, newline-ended)."""
        objects = self.render(gates, namespace)
        if self.format == "json":
            assert len(objects) == 1, "a JSON target renders one document"
            return json.dumps(objects[0], indent=2) + "\n"
        head = self.header(gates, namespace) if self.header is not None else ""
        comment = "".join(f"# {line}".rstrip() + "\n" for line in head.splitlines())
        return comment + yaml.safe_dump_all(objects, sort_keys=False, width=100)


#: Every target by name, in registration order.
EXPORTERS: dict[str, Target] = {}


def exporter(name: str, *, filename: str, format: Literal["yaml", "json"] = "yaml",
             help: str, header: Callable[[GateSet, str], str] | None = None) -> Callable[[Render], Render]:
    """Decorator: register ``render`` as export target ``name``. Raises ValueError for a name
    registered twice."""
    def decorate(render: Render) -> Render:
        if name in EXPORTERS:
            raise ValueError(f"export target {name!r} is registered twice")
        EXPORTERS[name] = Target(name, filename, format, help, render, header)
        return render
    return decorate


# The target modules register themselves on import, in this order.
from waveguard.export import argo, flagger, prometheus_rule, grafana  # noqa: E402,F401
