"""CoreDNS and NodeLocal DNSCache changes (issue 13, item 5): the kubernetes plugin's informers,
what answers DNS while kube-apiserver is unreachable, and how long caches hide an outage.

The manifests are the upstream templates, trimmed: coredns/deployment kubernetes/coredns.yaml.sed
(CoreDNS 1.9, placeholders filled in) and kubernetes/kubernetes
cluster/addons/dns/nodelocaldns/nodelocaldns.yaml (the node cache, placeholders kept as shipped).
"""

from __future__ import annotations

from pathlib import Path

from waveguard.analysis import analyse
from waveguard.analysis.recognisers.coredns import (
    CACHE_MIN_TTL_S, KUBERNETES_RECORD_TTL_S, SERVE_STALE_DEFAULT_S, DnsRecognised,
)
from waveguard.analysis.recognisers.base import duration_s
from waveguard.analysis.recognisers.corefile import parse_corefile
from waveguard.model.cost import scaling_class

COREDNS_RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
"""

COREFILE = """\
.:53 {
    errors
    health {
      lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      fallthrough in-addr.arpa ip6.arpa%(pods)s
    }
    prometheus :9153
    forward . /etc/resolv.conf {
      max_concurrent 1000
    }
    %(cache)s
    loop
    reload
    loadbalance
}
"""

COREDNS_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
%(replicas)s  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1}
  selector:
    matchLabels: {k8s-app: kube-dns}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
%(affinity)s      containers:
      - name: coredns
        image: coredns/coredns:1.9.4
        args: ["-conf", "/etc/coredns/Corefile"]
        volumeMounts:
        - {name: config-volume, mountPath: /etc/coredns, readOnly: true}
        readinessProbe:
          httpGet: {path: /ready, port: 8181, scheme: HTTP}
      dnsPolicy: Default
      volumes:
        - name: config-volume
          configMap:
            name: coredns
            items: [{key: Corefile, path: Corefile}]
"""

ANTI_AFFINITY = """\
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchExpressions: [{key: k8s-app, operator: In, values: [kube-dns]}]
            topologyKey: kubernetes.io/hostname
"""

PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: coredns, namespace: kube-system}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {k8s-app: kube-dns}
"""

NODE_LOCAL_DNS = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: node-local-dns, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: node-local-dns, namespace: kube-system}
data:
  Corefile: |
    __PILLAR__DNS__DOMAIN__:53 {
        errors
        cache {
                success 9984 30
                denial 9984 5%(stale)s
        }
        reload
        loop
        bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
        forward . __PILLAR__CLUSTER__DNS__ {
                force_tcp
        }
        prometheus :9253
        health __PILLAR__LOCAL__DNS__:8080
        }
    in-addr.arpa:53 {
        errors
        cache 30
        reload
        loop
        bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
        forward . __PILLAR__CLUSTER__DNS__ {
                force_tcp
        }
        prometheus :9253
        }
    .:53 {
        errors
        cache 30
        reload
        loop
        bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
        forward . __PILLAR__UPSTREAM__SERVERS__
        prometheus :9253
        }
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-local-dns
  namespace: kube-system
  labels: {k8s-app: node-local-dns}
spec:
  updateStrategy:
    rollingUpdate: {maxUnavailable: 10%%}
  selector:
    matchLabels: {k8s-app: node-local-dns}
  template:
    metadata:
      labels: {k8s-app: node-local-dns}
    spec:
      priorityClassName: system-node-critical
      serviceAccountName: node-local-dns
      hostNetwork: true
      dnsPolicy: Default
      containers:
      - name: node-cache
        image: registry.k8s.io/dns/k8s-dns-node-cache:1.26.4
        args: ["-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile", "-upstreamsvc",
               "kube-dns-upstream", "-pidfile", "/tmp/node-cache.pid"]
        volumeMounts:
        - {name: config-volume, mountPath: /etc/coredns}
        - {name: kube-dns-config, mountPath: /etc/kube-dns}
      volumes:
      - name: kube-dns-config
        configMap: {name: kube-dns, optional: true}
      - name: config-volume
        configMap:
          name: node-local-dns
          items: [{key: Corefile, path: Corefile.base}]
"""


def _coredns(tmp_path: Path, *, cache: str = "cache 30", pods: str = "", protected: bool = False) -> Path:
    corefile = COREFILE % {"cache": cache.replace("\n", "\n    "), "pods": f"\n      pods {pods}" if pods else ""}
    configmap = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: coredns, namespace: kube-system}\n"
                 "data:\n  Corefile: |\n" + "".join(f"    {line}\n" for line in corefile.splitlines()))
    deployment = COREDNS_DEPLOYMENT % {"replicas": "  replicas: 2\n" if protected else "",
                                       "affinity": ANTI_AFFINITY if protected else ""}
    docs = [COREDNS_RBAC, configmap, deployment] + ([PDB] if protected else [])
    (tmp_path / "coredns.yaml").write_text("---\n".join(docs))
    return tmp_path


def _node_local(tmp_path: Path, stale: str = "") -> Path:
    (tmp_path / "nodelocaldns.yaml").write_text(NODE_LOCAL_DNS % {"stale": f"\n                {stale}" if stale else ""})
    return tmp_path


def _subdir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def _by_rule(result, rule):
    return [f for f in result.findings if f.rule == rule]


def test_corefile_reader_reads_blocks_nested_plugins_and_durations():
    (server,) = parse_corefile(COREFILE % {"cache": "cache {\n  success 9984 30\n  serve_stale 2h\n}", "pods": ""})
    assert server.zones == ["."]
    kubernetes = server.plugin("kubernetes")
    assert kubernetes is not None and kubernetes.args == ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    cache = server.plugin("cache")
    assert cache is not None and cache.find("serve_stale").args == ["2h"]
    assert [s.zones for s in parse_corefile("cluster.local:53 {\n cache 30\n}STUB\n.:53 {\n forward . 1.1.1.1\n}")] \
        == [["cluster.local"], ["."]]
    assert (duration_s("1h30m", 0), duration_s("30", 0), duration_s("5s", 0), duration_s("soon", 7)) == \
        (5400.0, 30.0, 5.0, 7)


def test_coredns_informers_are_recognised_from_the_kubernetes_plugin(tmp_path):
    result = analyse([str(_coredns(tmp_path))])
    (profile,) = result.profiles
    assert profile.agent == "coredns" and not profile.upper_bound
    assert {(rc.verb, rc.resource, rc.scope) for rc in profile.classes} == {
        (verb, resource, "cluster") for verb in ("list", "watch") for resource in ("services", "namespaces",
                                                                                  "endpointslices")}
    assert scaling_class(profile) == "O(nodes)"  # fixed replicas watching what grows with the cluster
    assert any(f.rule == "WG111" for f in result.findings)


def test_pods_verified_adds_a_cluster_wide_pod_informer_with_its_fix(tmp_path):
    result = analyse([str(_coredns(tmp_path, pods="verified"))])
    (profile,) = result.profiles
    pods = [rc for rc in profile.classes if rc.resource == "pods"]
    assert {(rc.verb, rc.scope) for rc in pods} == {("list", "cluster"), ("watch", "cluster")}
    assert all("pods insecure" in rc.fix for rc in pods)
    insecure = analyse([str(_coredns(_subdir(tmp_path, "insecure"), pods="insecure"))])
    assert not [rc for rc in insecure.profiles[0].classes if rc.resource == "pods"]


def test_an_unprotected_coredns_is_warned_that_a_restart_needs_the_api(tmp_path):
    result = analyse([str(_coredns(tmp_path))])
    (wg131,) = _by_rule(result, "WG131")
    assert wg131.severity == "warning" and wg131.workload == "Deployment/kube-system/coredns"
    assert "cannot become ready" in wg131.message and "5 s" in wg131.message
    # the upstream template leaves replicas to the dns-autoscaler: unset, the Deployment runs 1
    assert "replicas unset" in wg131.message and "no PodDisruptionBudget" in wg131.message
    assert "dns-autoscaler" in wg131.fix
    assert "kube-apiserver is healthy" in wg131.fix and "PodDisruptionBudget" in wg131.fix
    assert "podAntiAffinity" in wg131.fix


def test_replicas_spread_and_a_pdb_leave_only_the_rollout_advice(tmp_path):
    result = analyse([str(_coredns(tmp_path, protected=True))])
    (wg131,) = _by_rule(result, "WG131")
    assert wg131.severity == "info"
    assert "unprotected" not in wg131.message and "PodDisruptionBudget" not in wg131.fix
    assert "kube-apiserver is healthy" in wg131.fix


def test_coredns_cache_with_serve_stale_reports_how_long_it_hides_an_outage(tmp_path):
    plain = analyse([str(_coredns(_subdir(tmp_path, "plain")))])
    assert not _by_rule(plain, "WG133")  # answers live the record's 5 s: nothing worth saying
    stale = analyse([str(_coredns(_subdir(tmp_path, "stale"), cache="cache 30 {\n  serve_stale\n}"))])
    (wg133,) = _by_rule(stale, "WG133")
    assert wg133.severity == "info"
    # forwarded names: fresh up to the cache's 30 s cap, then stale for serve_stale's default hour
    assert f"up to {30 + SERVE_STALE_DEFAULT_S:.0f} s" in wg133.message and "forwarded" in wg133.message
    assert "cluster names gain nothing" in wg133.message
    # serve_stale does not save a restarted CoreDNS: WG131 still says so
    assert "serve_stale or not" in _by_rule(stale, "WG131")[0].message


def test_node_local_dns_without_serve_stale_is_a_warning_and_sends_nothing_to_the_api(tmp_path):
    result = analyse([str(_node_local(tmp_path))])
    (profile,) = result.profiles
    assert profile.agent.startswith("node-local-dns") and profile.classes == []
    (wg132,) = _by_rule(result, "WG132")
    assert wg132.severity == "warning" and wg132.workload == "DaemonSet/kube-system/node-local-dns"
    # cluster names carry the kubernetes plugin's 5 s TTL: below the cache's 30 s cap, at its 5 s floor
    fresh = max(min(KUBERNETES_RECORD_TTL_S, 30.0), CACHE_MIN_TTL_S)
    assert f"after at most {fresh:.0f} s" in wg132.message
    assert "serve_stale 1h" in wg132.fix
    (wg133,) = _by_rule(result, "WG133")
    assert f"up to {fresh:.0f} s" in wg133.message
    # no API requests: no priority level to share (WG105), no projected load
    assert not _by_rule(result, "WG105")
    assert all(p.loads[profile.client].steady_seat_seconds_per_s == 0 for p in result.projections)
    # the kube-dns ConfigMap is mounted optional: true, so its absence is not a missing configuration
    assert not _by_rule(result, "WG115")


def test_node_local_dns_with_serve_stale_hides_an_outage_for_its_duration(tmp_path):
    result = analyse([str(_node_local(tmp_path, stale="serve_stale 30m immediate"))])
    assert not _by_rule(result, "WG132")
    (wg133,) = _by_rule(result, "WG133")
    assert f"up to {KUBERNETES_RECORD_TTL_S + 1800:.0f} s" in wg133.message
    assert "WG201" in wg133.fix


def test_node_cache_takes_coredns_record_ttl_from_the_change(tmp_path):
    _coredns(tmp_path, cache="cache 30")
    (tmp_path / "coredns.yaml").write_text((tmp_path / "coredns.yaml").read_text().replace(
        "fallthrough in-addr.arpa ip6.arpa", "fallthrough in-addr.arpa ip6.arpa\n          ttl 20"))
    _node_local(tmp_path)
    result = analyse([str(tmp_path)])
    node_cache = next(a for a in _recognised(result) if a.role == "node-cache")
    assert [c.fresh_s for c in node_cache.caches] == [20.0]  # min(20 s record TTL, 30 s cap)


def _recognised(result) -> list[DnsRecognised]:
    from waveguard.analysis import load_change, recognise_agents

    files = sorted({f.file for f in result.findings})
    return [a.recognised for a in recognise_agents(load_change(files))
            if isinstance(a.recognised, DnsRecognised)]


def test_coredns_is_recognised_by_its_corefile_under_another_image_name(tmp_path):
    _coredns(tmp_path)
    manifest = (tmp_path / "coredns.yaml").read_text()
    (tmp_path / "coredns.yaml").write_text(manifest.replace("coredns/coredns:1.9.4",
                                                            "registry.example.com/platform/dns-server:2.3"))
    result = analyse([str(tmp_path)])
    (profile,) = result.profiles
    assert profile.agent == "coredns" and not profile.upper_bound
    assert {rc.resource for rc in profile.classes} == {"services", "namespaces", "endpointslices"}


def test_one_explicit_replica_is_named(tmp_path):
    _coredns(tmp_path)
    manifest = (tmp_path / "coredns.yaml").read_text()
    (tmp_path / "coredns.yaml").write_text(manifest.replace("  strategy:", "  replicas: 1\n  strategy:", 1))
    (wg131,) = _by_rule(analyse([str(tmp_path)]), "WG131")
    assert "one replica" in wg131.message and "replicas unset" not in wg131.message
