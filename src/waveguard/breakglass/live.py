"""Read a live cluster's FlowSchemas and PriorityLevelConfigurations (the ``kubernetes`` client).

Two requests, both reads served from the watch cache of a few dozen objects:
``GET /apis/flowcontrol.apiserver.k8s.io/v1/flowschemas`` and
``GET /apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations``, with the identity of
the kubeconfig context. Run it with the break-glass credentials and the answer also proves the
path works.
"""

from __future__ import annotations

import os
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from waveguard.breakglass.policy import API_VERSION
from waveguard.model.errors import InputError

#: (connect, read) timeout of each request, seconds (policy: a control plane that cannot
#: answer two small LISTs in 30 s is not one to roll out on).
REQUEST_TIMEOUT_S = (5, 30)


def read_live_objects(*, kubeconfig: str | None = None, context: str | None = None,
                      api_client: client.ApiClient | None = None) -> list[dict[str, Any]]:
    """The cluster's FlowSchemas and PriorityLevelConfigurations as v1 dicts (with apiVersion
    and kind), levels first. ``kubeconfig`` / ``context`` select the cluster as kubectl does
    (default: ``$KUBECONFIG`` or ``~/.kube/config``, its current context); ``api_client``
    overrides both. Raises :class:`InputError` when the kubeconfig cannot be loaded, the
    apiserver cannot be reached, or it refuses (status and reason in the message)."""
    own = api_client is None
    # $KUBECONFIG read now, not when the client was imported (it may hold several paths, ':'-separated).
    config_file = kubeconfig or os.environ.get("KUBECONFIG") or None
    source = config_file or "~/.kube/config"
    if api_client is None:
        try:
            api_client = config.new_client_from_config(config_file=config_file, context=context)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise InputError(source, f"cannot load the kubeconfig: {exc}",
                             hint="pass --kubeconfig FILE / --context NAME, or set KUBECONFIG") from exc
    host = api_client.configuration.host
    api = client.FlowcontrolApiserverV1Api(api_client)
    try:
        levels = api.list_priority_level_configuration(_request_timeout=REQUEST_TIMEOUT_S)
        schemas = api.list_flow_schema(_request_timeout=REQUEST_TIMEOUT_S)
    except ApiException as exc:
        raise InputError(host, f"the apiserver answered {exc.status} {exc.reason} to listing "
                         f"{API_VERSION} objects", hint="the identity needs get/list on flowschemas and "
                         "prioritylevelconfigurations; Kubernetes >= 1.29 serves v1") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise InputError(host, f"cannot reach the apiserver: {type(exc).__name__}",
                         hint="check the context's server address; for a locked-out cluster use the "
                              "`waveguard breakglass kubeconfig` one") from exc
    finally:
        if own:
            api_client.close()
    out: list[dict[str, Any]] = []
    for kind, items in (("PriorityLevelConfiguration", levels.items), ("FlowSchema", schemas.items)):
        for item in items or []:
            body = api_client.sanitize_for_serialization(item)
            body["apiVersion"], body["kind"] = API_VERSION, kind
            out.append(body)
    return out
