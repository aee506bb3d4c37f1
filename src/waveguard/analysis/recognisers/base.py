"""What a recogniser sees and returns.

A recogniser knows one agent family's documented behaviour: given a workload, the RBAC of its
ServiceAccount and its configuration (mounted ConfigMaps, args, env), it returns the request
classes one replica sends. The registry (``recognisers/__init__.py``) asks each in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import yaml

from waveguard.model.yamlio import safe_load

from waveguard.model.durations import go_duration_s
from waveguard.model.findings import Severity
from waveguard.model.manifests import Change, Grant, Workload
from waveguard.model.requests import RequestClass


def truthy(value: object) -> bool:
    """An agent's boolean setting as configs write it: on/true/yes/1, any case."""
    return str(value).strip().lower() in ("on", "true", "yes", "1")


def duration_s(text: str | None, default: float) -> float:
    """A Go duration as agents' flags and Corefiles write it ("30", "30s", "5m", "1h30m", "1h0m0s")
    in seconds (Go's time.ParseDuration, by :func:`waveguard.model.durations.go_duration_s`); a
    bare number is seconds; ``default`` when absent or unreadable."""
    return go_duration_s(text, default)


@dataclass
class AgentContext:
    """A workload with everything that decides its API requests."""

    change: Change
    workload: Workload
    config: dict[str, str]  # mounted ConfigMap files: name → text
    grants: list[Grant]

    @property
    def images(self) -> list[str]:
        return self.workload.images()

    def image_repositories(self) -> list[str]:
        """The containers' image repositories, lower case, without registry port, tag or digest."""
        repos = []
        for image in self.images:
            ref = image.lower().split("@")[0]
            head, _, last = ref.rpartition("/")
            repos.append(f"{head}/{last.split(':')[0]}" if head else last.split(":")[0])
        return repos

    def image_matches(self, *needles: str) -> bool:
        """True when an image repository is one of ``needles``: ``owner/name`` matches that path
        suffix exactly (``grafana/alloy`` is not ``grafana/alloy-operator``); a bare ``name``
        matches the last path segment or its ``name-*`` variants (``filebeat-wolfi``)."""
        for repo in self.image_repositories():
            last = repo.rsplit("/", 1)[-1]
            for n in needles:
                if "/" in n and (repo == n or repo.endswith("/" + n)):
                    return True
                if "/" not in n and (last == n or last.startswith(n + "-")):
                    return True
        return False

    def env_from_node_name(self, name: str) -> bool:
        """True when env var ``name`` is set from the downward API's ``spec.nodeName``."""
        return self.workload.env_field_refs().get(name) == "spec.nodeName"

    def missing_configmaps(self) -> list[str]:
        """ConfigMaps the workload mounts that are not part of the change."""
        return [n for n in self.workload.configmap_volumes
                if self.change.configmap(self.workload.namespace, n) is None]

    def env(self, name: str) -> str | None:
        return self.workload.env().get(name)

    def arg_value(self, flag: str) -> str | None:
        """Value of ``--flag=value`` or ``--flag value`` in the containers' command/args."""
        args = self.workload.all_args()
        for i, a in enumerate(args):
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
            if a == flag and i + 1 < len(args):
                return args[i + 1]
        return None

    def yaml_configs(self) -> list[tuple[str, dict]]:
        """Mounted ConfigMap files that parse as YAML mappings: (file name, data)."""
        return list(self._parsed_yaml_configs)

    @cached_property
    def _parsed_yaml_configs(self) -> tuple[tuple[str, dict], ...]:
        # Parsed once per workload: every recogniser in the registry asks in turn.
        out = []
        for name, text in self.config.items():
            try:
                data = safe_load(text)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict):
                out.append((name, data))
        return tuple(out)


@dataclass
class Recognised:
    """A recogniser's answer: the agent family, the request classes of one replica, and
    remarks for findings (rule id, severity, message, fix) that only the recogniser can see."""

    agent: str
    classes: list[RequestClass] = field(default_factory=list)
    remarks: list[tuple[str, Severity, str, str]] = field(default_factory=list)
    upper_bound: bool = False


class Recogniser(Protocol):
    """One agent family. ``recognise`` returns None when the workload is not this agent."""

    name: str

    def recognise(self, ctx: AgentContext) -> Recognised | None: ...
