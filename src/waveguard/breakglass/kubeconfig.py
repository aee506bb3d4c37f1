"""An emergency kubeconfig: every apiserver replica of every cluster, by IP address.

In the incident DNS failed together with the control plane (domain.md §1, §6), so the way back
must not resolve a name. :func:`emergency_kubeconfig` writes, from the fleet file's
``apiserver_endpoints``, one cluster and one context per replica (``https://IP:PORT``), with
``tls-server-name`` so TLS still verifies the apiserver's certificate by a name it carries
(kube-apiserver's serving certificate includes ``kubernetes``,
``kubernetes.default.svc``… — kubeadm and the managed services alike), and one user whose
client certificate carries the break-glass group in its O= (X.509 organisations become groups,
kubernetes.io "Authenticating"), so APF routes it to the break-glass level.

Credentials are referenced by path, relative to the kubeconfig's folder (kubectl and client-go
resolve relative paths there): the CA bundle ``DIR/<cluster>-ca.crt`` and ``DIR/client.crt`` /
``DIR/client.key``. waveguard never holds or writes keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from waveguard.breakglass import policy as P
from waveguard.model.errors import InputError
from waveguard.model.fleet import Fleet

#: kube-apiserver's default --secure-port. k8s: kube-apiserver flags reference. Managed
#: control planes usually listen on 443: pass ``port``.
DEFAULT_PORT = 6443
#: A name every kube-apiserver serving certificate carries (kubeadm's apiserver certificate
#: SANs: kubernetes, kubernetes.default, kubernetes.default.svc, …).
DEFAULT_TLS_SERVER_NAME = "kubernetes"
DEFAULT_CREDENTIALS_DIR = "break-glass"
USER_NAME = "waveguard-break-glass"


def server_url(ip: str, port: int) -> str:
    """``https://IP:PORT`` (IPv6 in brackets)."""
    host = f"[{ip}]" if ":" in ip else ip
    return f"https://{host}:{port}"


def emergency_kubeconfig(fleet: Fleet, *, clusters: Sequence[str] = (), port: int = DEFAULT_PORT,
                         tls_server_name: str = DEFAULT_TLS_SERVER_NAME,
                         credentials_dir: str = DEFAULT_CREDENTIALS_DIR, source: str = "fleet") -> dict[str, Any]:
    """The kubeconfig (a dict, kind Config) for ``clusters`` of ``fleet`` (default: all).
    Context names: ``break-glass/<cluster>/<ip>``; the current context is the first.

    Raises :class:`InputError` naming the cluster when it has no ``apiserver_endpoints``, or
    naming an unknown cluster; the port must be in 1..65535."""
    if not 1 <= port <= 65535:
        raise InputError("--port", f"{port} is not a TCP port", hint="1..65535; kube-apiserver listens on 6443 or 443")
    names = list(clusters) or [c.name for c in fleet.clusters]
    known = {c.name: c for c in fleet.clusters}
    kube_clusters, contexts = [], []
    for name in names:
        cluster = known.get(name)
        if cluster is None:
            raise InputError(source, f"no cluster named {name!r} in the fleet", hint="check --cluster")
        if not cluster.apiserver_endpoints:
            raise InputError(source, f"cluster {name!r} has no apiserver_endpoints",
                             hint="add apiserver_endpoints: [IP, ...] (the apiserver replicas' IP addresses) to it")
        for ip in cluster.apiserver_endpoints:
            entry = f"break-glass/{name}/{ip}"
            kube_clusters.append({"name": entry, "cluster": {
                "server": server_url(ip, port),
                "tls-server-name": tls_server_name,
                "certificate-authority": f"{credentials_dir}/{name}-ca.crt",
            }})
            contexts.append({"name": entry, "context": {"cluster": entry, "user": USER_NAME}})
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": kube_clusters,
        "users": [{"name": USER_NAME, "user": {
            "client-certificate": f"{credentials_dir}/client.crt",
            "client-key": f"{credentials_dir}/client.key",
        }}],
        "contexts": contexts,
        "current-context": contexts[0]["name"],
    }


def render_kubeconfig(kubeconfig: dict[str, Any], *, group: str = P.DEFAULT_GROUP,
                      credentials_dir: str = DEFAULT_CREDENTIALS_DIR) -> str:
    """The kubeconfig as YAML with a comment header saying how to use it."""
    header = [
        "waveguard breakglass kubeconfig: the way back when the control plane is saturated and DNS is failing.",
        "Every apiserver replica by IP (no DNS); TLS verified against tls-server-name. Keep it offline.",
        f"Needs, next to this file: {credentials_dir}/<cluster>-ca.crt (each cluster's CA bundle) and",
        f"{credentials_dir}/client.crt + client.key: a client certificate with O={group}, so API Priority and Fairness",
        "routes it to the break-glass level (waveguard breakglass generate). Issue it ahead of time, short-lived.",
        "Unset HTTPS_PROXY (or set NO_PROXY to these IPs): a proxy would need DNS again.",
        "Use: kubectl --kubeconfig THIS_FILE --context 'break-glass/CLUSTER/IP' ...; try the next IP when one replica",
        "does not answer.",
    ]
    return "".join(f"# {line}\n" for line in header) + yaml.safe_dump(kubeconfig, sort_keys=False,
                                                                       default_flow_style=False)
