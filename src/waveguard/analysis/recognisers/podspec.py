"""Pod-spec reading the recognisers share: which binary a container runs, env from ConfigMaps,
image versions. Recognisers match on what the container runs and how it is configured, not only
on the image's last path segment: a mirrored or rebuilt image keeps its binary and flags.

The :class:`~waveguard.model.manifests.Workload` model keeps literal env values and downward-API
refs only; CNI manifests also set env from ``configMapKeyRef`` (Calico's ``calico-config``) and
name their agent by the binary in ``command``. These helpers read the raw pod spec of the
workload's document for that, without changing the model (base.py is shared with other helpers).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from waveguard.analysis.objects import dig, pod_spec
from waveguard.analysis.recognisers.base import AgentContext, truthy
from waveguard.model.manifests import Workload
from waveguard.model.requests import RequestClass
from waveguard.model.versions import WATCH_LIST_CLIENT_ENV, client_gate_from_env

#: Env values that mean "not set" in the agents' own manifests (Calico's calico-config writes
#: ``typha_service_name: "none"`` beside the comment "Typha is disabled").
UNSET_VALUES = frozenset({"", "none"})


def raw_containers(workload: Workload, *, init: bool = False) -> list[dict[str, Any]]:
    """The pod spec's container mappings (``init``: the initContainers instead)."""
    pod = pod_spec(workload.kind, dig(workload.doc.body, "spec"))
    key = "initContainers" if init else "containers"
    return [c for c in pod.get(key) or [] if isinstance(c, dict)]


def env_value(ctx: AgentContext, name: str) -> str | None:
    """Env ``name`` of any container: its literal value, or the value its ``configMapKeyRef``
    points to when that ConfigMap is in the change; None when unset or unresolvable."""
    literal = ctx.env(name)
    if literal is not None:
        return literal
    for container in raw_containers(ctx.workload):
        for entry in container.get("env") or []:
            if not isinstance(entry, dict) or entry.get("name") != name:
                continue
            ref = dig(entry, "valueFrom", "configMapKeyRef")
            cm = ctx.change.configmap(ctx.workload.namespace, str(ref.get("name", ""))) if ref else None
            if cm is not None and str(ref.get("key", "")) in cm.data:
                return cm.data[str(ref["key"])]
    return None


def env_set(ctx: AgentContext, name: str) -> bool:
    """True when env ``name`` has a value other than empty / ``none``."""
    value = env_value(ctx, name)
    return value is not None and value.strip().lower() not in UNSET_VALUES


def configmap_value(ctx: AgentContext, cm_name: str, key: str) -> str | None:
    """``data[key]`` of ConfigMap ``cm_name`` (the workload's namespace), None when absent."""
    cm = ctx.change.configmap(ctx.workload.namespace, cm_name)
    return None if cm is None else cm.data.get(key)


def binaries(workload: Workload) -> list[str]:
    """Base names of every executable the main containers run: ``command[0]`` and, for shell
    wrappers (``sh -c "... exec /bin/agent ..."``), every absolute path and every word after
    ``exec`` in the script."""
    names: list[str] = []
    for container in workload.containers:
        words = [*container.command, *container.args]
        if container.command:
            names.append(container.command[0].rsplit("/", 1)[-1])
        for word in words:
            names += [p.rsplit("/", 1)[-1] for p in re.findall(r"(?:^|\s)(/[\w./-]+)", word)]
            names += [p.rsplit("/", 1)[-1] for p in re.findall(r"\bexec\s+([\w./-]+)", word)]
    return names


def runs(ctx: AgentContext, *binary_names: str) -> bool:
    """True when a main container runs one of ``binary_names`` (base names)."""
    wanted = set(binary_names)
    return any(b in wanted for b in binaries(ctx.workload))


def flag_on(ctx: AgentContext, flag: str, default: bool) -> bool:
    """A Go/pflag boolean flag: ``--flag``, ``--flag=true/false``, also inside a shell wrapper's
    script (``sh -c "exec agent --flag"``); ``default`` when absent."""
    for arg in (word for a in ctx.workload.all_args() for word in a.split()):
        if arg == flag:
            return True
        if arg.startswith(flag + "="):
            return truthy(arg.split("=", 1)[1])
    return default


def image_version(ctx: AgentContext, *repositories: str) -> tuple[int, ...] | None:
    """The ``vMAJOR.MINOR[.PATCH]`` tag of the first image whose repository ends with one of
    ``repositories``, as a tuple; None when untagged, ``latest`` or a branch name."""
    for image in ctx.images:
        ref = image.split("@")[0]
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        if not any(repo.lower().endswith(r) for r in repositories):
            continue
        match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", tag)
        if match:
            return tuple(int(g) for g in match.groups() if g is not None)
    return None


def change_runs_image(ctx: AgentContext, *needles: str) -> list[Workload]:
    """Other workloads of the change whose image repository ends with one of ``needles``."""
    found = []
    for other in ctx.change.workloads:
        if other is ctx.workload:
            continue
        for image in other.images():
            repo = image.lower().split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else \
                image.lower().split("@")[0]
            if any(repo.endswith(n) for n in needles):
                found.append(other)
                break
    return found


def image_named(ctx: AgentContext, *names: str) -> bool:
    """True when an image's last path segment (without tag) is exactly one of ``names``:
    stricter than ``AgentContext.image_matches``, whose ``name-*`` variants would take
    ``cilium-envoy`` for ``cilium`` or ``multus-dynamic-networks-controller`` for ``multus``."""
    wanted = set(names)
    return any(repo.rsplit("/", 1)[-1] in wanted for repo in ctx.image_repositories())


def env_names(ctx: AgentContext) -> set[str]:
    """Names of every env var of the main containers, however their value is given."""
    return {str(e["name"]) for c in raw_containers(ctx.workload) for e in c.get("env") or []
            if isinstance(e, dict) and "name" in e}


def runs_binary(ctx: AgentContext, *names: str) -> bool:
    """True when a container's command or args name one of the binaries ``names``, by its file
    name (``/usr/bin/kured`` is ``kured``), also as a ``sh -c "exec kured …"`` word."""
    for container in ctx.workload.containers:
        for word in (*container.command, *container.args):
            for token in word.split():
                if token.rsplit("/", 1)[-1] in names:
                    return True
    return False


def images_or_binary(ctx: AgentContext, images: tuple[str, ...], binaries: tuple[str, ...]) -> bool:
    """The image (see :meth:`AgentContext.image_matches`) or the binary identifies the agent."""
    return ctx.image_matches(*images) or runs_binary(ctx, *binaries)



# issue 12: read path -----------------------------------------------------------------------------
def watch_list_env(ctx: AgentContext) -> Literal["off", "yes"] | None:
    """What the workload's ``KUBE_FEATURE_WatchListClient`` env var says about its client-go
    informers: "yes" (true), "off" (false), None when unset or not a boolean — read as client-go
    reads it (:func:`waveguard.model.versions.client_gate_from_env`, Go's strconv.ParseBool)."""
    setting = client_gate_from_env(env_value(ctx, WATCH_LIST_CLIENT_ENV))
    return None if setting is None else ("yes" if setting else "off")


def with_watch_list_env(ctx: AgentContext, classes: list[RequestClass]) -> list[RequestClass]:
    """``classes`` with the informers' start LISTs set as the workload's env var says (see
    :func:`watch_list_env`); unchanged without the variable. Non-informer classes (watch_list
    "no") never become WatchLists: the variable only changes client-go informers."""
    setting = watch_list_env(ctx)
    if setting is None:
        return classes
    return [rc.model_copy(update={"watch_list": setting}) if rc.informer else rc for rc in classes]
