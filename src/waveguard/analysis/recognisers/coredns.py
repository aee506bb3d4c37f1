"""CoreDNS and NodeLocal DNSCache (node-cache): what they ask of kube-apiserver, and what answers
DNS while kube-apiserver is unreachable.

CoreDNS's ``kubernetes`` plugin (coredns plugin/kubernetes/controller.go ``newdnsController``)
runs client-go informers, cluster-wide (``api.NamespaceAll``; the ``namespaces`` option filters
answers, not the watch): Services, Namespaces, the endpoints (EndpointSlices from Kubernetes 1.19,
kubernetes.go ``endpointSliceSupported``; none with ``noendpoints``) and Pods only with
``pods verified`` (``initPodCache = podMode == podModeVerified``; the plugin's README: "requires
substantially more memory ... since it will maintain a watch on all pods").

While kube-apiserver is unreachable a running CoreDNS keeps answering from its informers' stores
(stale, not gone). A CoreDNS pod (re)started meanwhile cannot become ready: the plugin reports
ready only once its informers have synced (plugin/kubernetes/ready.go ``Ready() = HasSynced()``;
README "Ready"), and after waiting ``STARTUP_SYNC_WAIT_S`` it starts serving from unsynced,
empty stores (kubernetes.go ``InitKubeCache``: "starting server with unsynced Kubernetes API";
newer releases make the wait ``startup_timeout``). Its own ``cache`` starts empty too, so
``serve_stale`` there does not help it.

NodeLocal DNSCache (kubernetes/kubernetes cluster/addons/dns/nodelocaldns/nodelocaldns.yaml)
runs CoreDNS as a per-node cache that forwards the cluster zone to CoreDNS; its template's cache
is ``success 9984 30, denial 9984 5`` without ``serve_stale`` (kubernetes/dns cmd/node-cache/Corefile,
the image's sample, has ``cache 30`` without it too). It sends nothing to kube-apiserver:
it finds its upstream from the ``kube-dns-upstream`` Service's environment variable and reads the
kube-dns ConfigMap from a volume (kubernetes/dns cmd/node-cache/app/cache_app.go ``toSvcEnv``).

How long a cache keeps answering after the server behind it stops (coredns plugin/cache/README):
an answer is cached for its record TTL, at most the cache's max TTL (``cache 30``; 3600 s when
unset) and at least its minimum (5 s); ``serve_stale [DURATION]`` (1 h by default) then serves
the expired answer for DURATION more. Rules WG131/WG132 (analysis/rules.py) and the WG133
remark below report it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from waveguard.analysis.recognisers.base import AgentContext, Recognised, duration_s
from waveguard.analysis.recognisers.corefile import ServerBlock, parse_corefile
from waveguard.model.findings import Severity
from waveguard.model.requests import RequestClass, informer

#: TTL of the kubernetes plugin's answers, seconds. coredns plugin/kubernetes/kubernetes.go
#: ``defaultTTL = 5``; README "ttl": the default is 5 seconds.
KUBERNETES_RECORD_TTL_S = 5.0
#: The cache plugin's maximum TTL for NOERROR answers when none is given, seconds, and the
#: minimum it keeps any answer. coredns plugin/cache/README.md ("3600 for NOERROR", "MINTTL ...
#: default 5").
CACHE_MAX_TTL_S = 3600.0
CACHE_MIN_TTL_S = 5.0
#: ``serve_stale`` without a DURATION serves expired answers for 1 h. coredns plugin/cache/README.md.
SERVE_STALE_DEFAULT_S = 3600.0
#: Seconds a starting CoreDNS waits for its informers' first sync before serving unsynced.
#: coredns plugin/kubernetes/kubernetes.go ``InitKubeCache``: ``timeout := 5 * time.Second``.
STARTUP_SYNC_WAIT_S = 5.0


@dataclass(frozen=True)
class KubernetesPlugin:
    """The ``kubernetes`` plugin as configured: pod mode (disabled | insecure | verified),
    whether it watches endpoints, and its answers' TTL (seconds)."""

    pods: str
    endpoints: bool
    ttl_s: float


@dataclass(frozen=True)
class DnsCache:
    """The ``cache`` of one server block, for cluster names: seconds an answer stays fresh
    (``fresh_s``) and seconds it is then served stale (``serve_stale_s``, 0 without
    ``serve_stale``)."""

    zones: tuple[str, ...]
    fresh_s: float
    serve_stale_s: float
    max_ttl_s: float = CACHE_MAX_TTL_S  # the longest any answer stays fresh here (forwarded names)

    @property
    def hides_s(self) -> float:
        """Seconds clients keep getting an answer after the server behind stops answering."""
        return self.fresh_s + self.serve_stale_s


@dataclass
class DnsRecognised(Recognised):
    """CoreDNS's or node-cache's answer with the DNS facts the rules read: ``role``, the
    Corefile's name, its kubernetes plugin (None: none), its caches for cluster names, and the
    protections of its pods in the change (replicas, a PodDisruptionBudget, spreading)."""

    role: Literal["coredns", "node-cache"] = "coredns"
    corefile: str = ""
    kubernetes: KubernetesPlugin | None = None
    caches: list[DnsCache] = field(default_factory=list)
    replicas: int | None = None
    replicas_set: bool = False
    pdb: str | None = None
    spread: bool = False

    def protections_missing(self) -> list[str]:
        """What keeps DNS up through a CoreDNS restart that the change lacks (keys of
        ``PROTECTION_FIXES``)."""
        missing = []
        if not self.replicas_set:
            missing.append("replicas unset")
        elif self.replicas is not None and self.replicas < 2:
            missing.append("one replica")
        if self.pdb is None:
            missing.append("no PodDisruptionBudget")
        if not self.spread:
            missing.append("replicas not spread")
        return missing

    def restart_finding(self) -> Found | None:
        """WG131 for CoreDNS with the kubernetes plugin: a pod started while kube-apiserver is
        unreachable cannot become ready. Warning while a protection is missing, else info."""
        plugin = self.kubernetes
        if plugin is None:
            return None
        missing = self.protections_missing()
        watched = "services, namespaces" + (", endpointslices" if plugin.endpoints else "") + \
            (", pods (pods verified)" if plugin.pods == "verified" else "")
        message = (f"CoreDNS's kubernetes plugin ({self.corefile}) answers from informers on {watched}, "
                   "cluster-wide: while kube-apiserver is unreachable a running pod keeps answering from them, but a "
                   "pod started then cannot become ready (it reports ready only once its informers synced, and "
                   f"serves from empty stores after {STARTUP_SYNC_WAIT_S:.0f} s), and its own cache starts empty, "
                   "serve_stale or not: rolling this change while the API is degraded takes cluster DNS down"
                   + (f"; unprotected: {', '.join(missing)}" if missing else ""))
        fix = "; ".join(["roll CoreDNS only while kube-apiserver is healthy (gate the rollout on the control plane: "
                         "waveguard plan's apiserver gates), with maxUnavailable: 1 and maxSurge so old pods answer "
                         "until new ones are ready", *(PROTECTION_FIXES[m] for m in missing)])
        return ("warning" if missing else "info"), message, fix

    def serve_stale_finding(self) -> Found | None:
        """WG132 for a node cache whose cluster-zone cache has no ``serve_stale`` (warning)."""
        fresh = [c for c in self.caches if not c.serve_stale_s] if self.role == "node-cache" else []
        if not fresh:
            return None
        zones = ", ".join(sorted({z for c in fresh for z in c.zones}))
        message = (f"{self.corefile}: the node cache of {zones} has no serve_stale: when CoreDNS stops answering "
                   "(e.g. its pods restarted while kube-apiserver is unreachable cannot become ready), this node's "
                   "pods get SERVFAIL for cluster names once their cached answers expire, after at most "
                   f"{max(c.fresh_s for c in fresh):.0f} s")
        fix = (f"add 'serve_stale 1h' to the cache block of {zones} in {self.corefile}: answers stay available "
               "(stale) while CoreDNS is down; it hides the outage from checks that resolve through the cache for as "
               "long (WG133)")
        return "warning", message, fix


#: A finding's (severity, message, fix), for the rule that reports it (analysis/rules.py).
Found = tuple[Severity, str, str]
#: How to add each protection :meth:`DnsRecognised.protections_missing` names.
PROTECTION_FIXES = {
    "one replica": "run at least 2 replicas",
    "replicas unset": "set replicas: 2 or more, or check that the dns-autoscaler (cluster-proportional-autoscaler) "
                      "runs and keeps at least 2 (preventSinglePointFailure): unset, the Deployment runs 1",
    "no PodDisruptionBudget": "add a PodDisruptionBudget (maxUnavailable: 1) selecting the CoreDNS pods",
    "replicas not spread": "spread the replicas over nodes and zones (podAntiAffinity or topologySpreadConstraints)",
}


def kubernetes_plugin(server: ServerBlock) -> KubernetesPlugin | None:
    """The kubernetes plugin of ``server``, or None."""
    plugin = server.plugin("kubernetes")
    if plugin is None:
        return None
    pods = plugin.find("pods")
    ttl = plugin.find("ttl")
    return KubernetesPlugin(pods=pods.args[0] if pods and pods.args else "disabled",
                            endpoints=plugin.find("noendpoints") is None,
                            ttl_s=duration_s(ttl.args[0] if ttl and ttl.args else None, KUBERNETES_RECORD_TTL_S))


def dns_cache(server: ServerBlock, record_ttl_s: float) -> DnsCache | None:
    """The cache of ``server`` for answers whose record TTL is ``record_ttl_s``, or None."""
    cache = server.plugin("cache")
    if cache is None:
        return None
    max_ttl = duration_s(cache.args[0] if cache.args and cache.args[0][0].isdigit() else None, CACHE_MAX_TTL_S)
    min_ttl = CACHE_MIN_TTL_S
    success = cache.find("success")
    if success is not None and len(success.args) >= 2:
        max_ttl = duration_s(success.args[1], max_ttl)
        min_ttl = duration_s(success.args[2], min_ttl) if len(success.args) >= 3 else min_ttl
    stale = cache.find("serve_stale")
    stale_s = 0.0 if stale is None else duration_s(stale.args[0] if stale.args else None, SERVE_STALE_DEFAULT_S)
    return DnsCache(zones=tuple(server.zones), fresh_s=max(min(record_ttl_s, max_ttl), min_ttl),
                    serve_stale_s=stale_s, max_ttl_s=max_ttl)


def _cluster_zone(server: ServerBlock) -> bool:
    """True for a node cache's block of the cluster zone: not the root, not a reverse zone."""
    return any(z != "." and not z.rstrip(".").endswith("arpa") for z in server.zones)


def _informers(file: str, plugin: KubernetesPlugin) -> list[RequestClass]:
    """The informers of one kubernetes plugin (controller.go ``newdnsController``), all cluster-wide."""
    common: dict[str, Any] = dict(config_key=f"{file}: kubernetes")
    classes = informer("services", "cluster", component=f"{file}: kubernetes plugin (services)", **common)
    classes += informer("namespaces", "cluster", component=f"{file}: kubernetes plugin (namespaces)", **common)
    if plugin.endpoints:
        classes += informer("endpointslices", "cluster", api_group="discovery.k8s.io",
                            component=f"{file}: kubernetes plugin (endpointslices)", **common)
    if plugin.pods == "verified":
        classes += informer("pods", "cluster", component=f"{file}: kubernetes plugin (pods verified)",
                            config_key=f"{file}: kubernetes / pods verified",
                            fix=f"set 'pods insecure' (or leave pods disabled) in the kubernetes plugin of {file} "
                                "unless autopath or pod-name verification needs it: 'pods verified' makes every "
                                "replica LIST and WATCH every pod of the cluster")
    return classes


def _pod_labels(body: dict[str, Any]) -> dict[str, str]:
    """The labels of a workload's pod template (what a PodDisruptionBudget selects)."""
    template = (body.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _pdb_for(ctx: AgentContext) -> str | None:
    """A PodDisruptionBudget of the change whose matchLabels select the workload's pods."""
    labels = _pod_labels(ctx.workload.doc.body)
    for doc in ctx.change.documents:
        if doc.kind != "PodDisruptionBudget" or (doc.namespace or "default") != ctx.workload.namespace:
            continue
        match = ((doc.body.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if isinstance(match, dict) and match and all(labels.get(str(k)) == str(v) for k, v in match.items()):
            return doc.ref
    return None


def _spread(body: dict[str, Any]) -> bool:
    """True when the pods are kept apart: podAntiAffinity or topologySpreadConstraints."""
    pod = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    affinity = pod.get("affinity") or {}
    return bool((isinstance(affinity, dict) and affinity.get("podAntiAffinity")) or pod.get("topologySpreadConstraints"))


def _corefiles(ctx: AgentContext) -> list[tuple[str, list[ServerBlock]]]:
    """The mounted files that parse as Corefiles (at least one server block with plugins)."""
    out = []
    for name, text in ctx.config.items():
        servers = [s for s in parse_corefile(text) if s.plugins]
        if servers and (name.lower().startswith("corefile") or any(s.plugin("forward") or s.plugin("kubernetes")
                                                                   for s in servers)):
            out.append((name, servers))
    return out


class CoreDNS:
    """CoreDNS (coredns/coredns, EKS's and other registries' builds) and NodeLocal DNSCache
    (k8s-dns-node-cache), by image or by a mounted Corefile with ``-conf`` in the args."""

    name = "coredns"

    def recognise(self, ctx: AgentContext) -> Recognised | None:
        node_cache = ctx.image_matches("k8s-dns-node-cache")
        by_image = node_cache or ctx.image_matches("coredns")
        corefiles = _corefiles(ctx)
        conf_flag = any(a.lstrip("-").split("=", 1)[0] == "conf" for a in ctx.workload.all_args())
        if not (by_image or (corefiles and conf_flag)):
            return None
        body = ctx.workload.doc.body
        result = DnsRecognised(agent="node-local-dns (k8s-dns-node-cache)" if node_cache else "coredns",
                               role="node-cache" if node_cache else "coredns", replicas=ctx.workload.replicas,
                               replicas_set=(body.get("spec") or {}).get("replicas") is not None,
                               pdb=_pdb_for(ctx), spread=_spread(body))
        for file, servers in corefiles:
            result.corefile = result.corefile or file
            self._read(result, file, servers, upstream_ttl_s=_upstream_ttl(ctx))
        for cache in result.caches:
            if result.role == "node-cache" or cache.serve_stale_s:
                result.remarks.append(hidden_outage_remark(result, cache))
        return result

    @staticmethod
    def _read(result: DnsRecognised, file: str, servers: list[ServerBlock], upstream_ttl_s: float) -> None:
        for server in servers:
            plugin = kubernetes_plugin(server)
            if plugin is not None and result.kubernetes is None:
                result.kubernetes = plugin
                result.classes += _informers(file, plugin)
            if result.role == "node-cache" and not _cluster_zone(server):
                continue
            cache = dns_cache(server, plugin.ttl_s if plugin else upstream_ttl_s)
            if cache is not None:
                result.caches.append(cache)


def _upstream_ttl(ctx: AgentContext) -> float:
    """The TTL of the cluster-zone answers a node cache gets from CoreDNS: the kubernetes
    plugin's ``ttl`` in a Corefile of the change, else its default."""
    for cm in ctx.change.configmaps:
        for text in cm.data.values():
            for server in parse_corefile(text):
                plugin = kubernetes_plugin(server)
                if plugin is not None:
                    return plugin.ttl_s
    return KUBERNETES_RECORD_TTL_S


def hidden_outage_remark(dns: DnsRecognised, cache: DnsCache) -> tuple[str, Literal["info"], str, str]:
    """WG133: how long clients behind ``cache`` keep getting answers once the server behind it
    stops answering (configuration only: a remark of the recogniser). A node cache hides a CoreDNS
    outage; CoreDNS's own serve_stale hides only its upstream resolvers' (forwarded names): its
    kubernetes plugin answers from its informers while it runs, and a restarted pod's cache is
    empty."""
    fix = ("gate rollouts on an authoritative DNS probe that bypasses caches (waveguard's DNS gate asks CoreDNS "
           "directly), and bake each wave longer than {:.0f} s plus two gate evaluations (plan rule WG201)")
    if dns.role == "coredns":
        hides = cache.max_ttl_s + cache.serve_stale_s
        message = (f"{dns.corefile}: serve_stale serves expired answers for {cache.serve_stale_s:.0f} s: forwarded "
                   f"(external) names keep resolving up to {hides:.0f} s after the upstream resolvers fail; cluster "
                   "names gain nothing from it when kube-apiserver is unreachable (the kubernetes plugin answers from "
                   "its informers while CoreDNS runs, and a restarted pod's cache starts empty)")
        return ("WG133", "info", message, fix.format(hides))
    stale = (f", then serve_stale serves it expired for {cache.serve_stale_s:.0f} s more" if cache.serve_stale_s
             else " (no serve_stale)")
    message = (f"{dns.corefile} caches cluster names ({', '.join(cache.zones)}) fresh for {cache.fresh_s:.0f} s"
               f"{stale}: clients keep getting answers up to {cache.hides_s:.0f} s after CoreDNS stops answering, "
               "so a DNS check that resolves through this cache reads healthy that long after DNS broke")
    return ("WG133", "info", message, fix.format(cache.hides_s))
