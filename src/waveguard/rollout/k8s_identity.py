"""Which kubeconfig context the Kubernetes target uses for a cluster, and loading it.

The rollout applies as the kubeconfig's context for the cluster (``contexts``). The rollback may
act as another identity: ``rollback_contexts`` (cluster → one or more contexts, tried in order)
in ``rollback_kubeconfig`` (default: the same kubeconfig), or — when only
``rollback_kubeconfig`` is given — that file's ``break-glass/<cluster>/<ip>`` contexts, one per
apiserver replica, as ``waveguard breakglass kubeconfig`` writes them
(:mod:`waveguard.breakglass.kubeconfig`; its client certificate carries the break-glass group,
so APF routes the rollback to the break-glass priority level).

Errors: :class:`~waveguard.model.errors.InputError` naming the kubeconfig and context.
"""

from __future__ import annotations

from typing import Any

from waveguard.model.errors import InputError
from waveguard.rollout.k8s_client import KubernetesConfig

#: Context names of the break-glass kubeconfig: ``break-glass/<cluster>/<ip>``
#: (waveguard.breakglass.kubeconfig.emergency_kubeconfig).
BREAK_GLASS_PREFIX = "break-glass/"


def load_api_client(path: str | None, cluster: str, context: str) -> Any:
    """A ``kubernetes.client.ApiClient`` for ``context`` of the kubeconfig at ``path`` (None:
    ~/.kube/config). Raises InputError naming the file, cluster and context."""
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    try:
        return kconfig.new_client_from_config(config_file=path, context=context, persist_config=False)
    except (ConfigException, OSError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(path or "~/.kube/config", f"cluster {cluster}: cannot load kubeconfig context "
                         f"{context!r}: {' '.join(str(exc).split())}",
                         hint="map fleet clusters to contexts: --context CLUSTER=CONTEXT or kubernetes.contexts") from None


def kubeconfig_contexts(path: str | None) -> list[str]:
    """The context names of the kubeconfig at ``path``. Raises InputError when it cannot be read."""
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, _ = kconfig.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(path or "~/.kube/config", f"cannot read the kubeconfig: {' '.join(str(exc).split())}",
                         hint="check kubernetes.kubeconfig / rollback_kubeconfig, or --kubeconfig") from None
    return [c["name"] for c in contexts or [] if isinstance(c, dict) and "name" in c]


def rollback_contexts(config: KubernetesConfig, cluster: str) -> list[str]:
    """The contexts the rollback of ``cluster`` uses, in the order tried; [] when the rollback
    uses the rollout's own client. Raises InputError when ``rollback_kubeconfig`` is set, names
    no context for the cluster and holds no ``break-glass/<cluster>/…`` context."""
    if cluster in config.rollback_contexts:
        return list(config.rollback_contexts[cluster])
    if not config.rollback_kubeconfig:
        return []
    prefix = f"{BREAK_GLASS_PREFIX}{cluster}/"
    found = [name for name in kubeconfig_contexts(config.rollback_kubeconfig) if name.startswith(prefix)]
    if not found:
        raise InputError(config.rollback_kubeconfig, f"cluster {cluster}: no rollback context (no "
                         f"kubernetes.rollback_contexts entry, no {prefix}… context in this kubeconfig)",
                         hint="waveguard breakglass kubeconfig --fleet FLEET --output-file FILE writes one per replica")
    return found
