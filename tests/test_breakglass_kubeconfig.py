"""`waveguard breakglass kubeconfig`: every apiserver by IP, loadable by the real kubernetes client."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

import pytest
import yaml
from kubernetes import client, config

from waveguard.breakglass import emergency_kubeconfig
from waveguard.cli.main import app
from waveguard.model.errors import InputError
from waveguard.model.fleet import load_fleet

FLEET = """clusters:
  - name: prod-use1-7500
    nodes: 7500
    apiserver_endpoints: [10.0.0.10, 10.0.0.11, " 10.0.0.12 "]
  - name: prod-euw1-2000
    nodes: 2000
    apiserver_endpoints: ["fd00:0:0::a"]
  - name: staging
    nodes: 50
"""


@pytest.fixture
def fleet_file(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    return path


def test_every_replica_by_ip_and_the_client_loads_it(tmp_path, fleet_file, runner):
    out = tmp_path / "emergency.kubeconfig"
    result = runner.invoke(app, ["breakglass", "kubeconfig", "--fleet", str(fleet_file), "--cluster", "prod-use1-7500",
                                 "--cluster", "prod-euw1-2000", "--output-file", str(out)])
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# waveguard breakglass kubeconfig") and "O=waveguard:break-glass" in text
    doc = yaml.safe_load(text)
    servers = [c["cluster"]["server"] for c in doc["clusters"]]
    assert servers == ["https://10.0.0.10:6443", "https://10.0.0.11:6443", "https://10.0.0.12:6443",
                       "https://[fd00::a]:6443"]
    for s in servers:  # no name to resolve anywhere on the way back
        ipaddress.ip_address(urlparse(s).hostname)
    # the real client reads it: relative credential paths resolve next to the kubeconfig
    creds = tmp_path / "break-glass"
    creds.mkdir()
    for name in ("prod-use1-7500-ca.crt", "prod-euw1-2000-ca.crt", "client.crt", "client.key"):
        (creds / name).write_text("placeholder\n")
    for context, host in [("break-glass/prod-use1-7500/10.0.0.11", "https://10.0.0.11:6443"),
                          ("break-glass/prod-euw1-2000/fd00::a", "https://[fd00::a]:6443")]:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(out), context=context, client_configuration=cfg)
        assert cfg.host == host and cfg.tls_server_name == "kubernetes"
        assert cfg.ssl_ca_cert == str(creds / context.split("/")[1]) + "-ca.crt"
        assert cfg.cert_file == str(creds / "client.crt") and cfg.key_file == str(creds / "client.key")
    assert doc["current-context"] == "break-glass/prod-use1-7500/10.0.0.10"


def test_port_and_tls_name_options(fleet_file):
    cfg = emergency_kubeconfig(load_fleet(fleet_file), clusters=["prod-euw1-2000"], port=443,
                               tls_server_name="kubernetes.default.svc", credentials_dir="/secure")
    cluster = cfg["clusters"][0]["cluster"]
    assert cluster == {"server": "https://[fd00::a]:443", "tls-server-name": "kubernetes.default.svc",
                       "certificate-authority": "/secure/prod-euw1-2000-ca.crt"}
    with pytest.raises(InputError, match="not a TCP port"):
        emergency_kubeconfig(load_fleet(fleet_file), clusters=["prod-euw1-2000"], port=70000)


def test_a_cluster_without_endpoints_is_named(fleet_file, runner, tmp_path):
    out = tmp_path / "k"
    result = runner.invoke(app, ["breakglass", "kubeconfig", "--fleet", str(fleet_file), "--output-file", str(out)])
    assert result.exit_code == 2
    assert "cluster 'staging' has no apiserver_endpoints" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
    result = runner.invoke(app, ["breakglass", "kubeconfig", "--fleet", str(fleet_file), "--cluster", "prod-x"])
    assert result.exit_code == 2 and "no cluster named 'prod-x'" in result.stderr


def test_a_dns_name_in_the_fleet_is_refused_with_its_line(tmp_path, runner):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - name: a\n    nodes: 10\n    apiserver_endpoints:\n      - 10.0.0.1\n"
                     "      - api.a.example.internal\n")
    result = runner.invoke(app, ["breakglass", "kubeconfig", "--fleet", str(fleet)])
    assert result.exit_code == 2
    assert f"{fleet}:4:" in result.stderr and "clusters.0.apiserver_endpoints" in result.stderr
    assert "does not appear to be an IPv4 or IPv6 address" in result.stderr
    # the rest of the fleet file is unchanged: endpoints are optional
    assert load_fleet(fleet_file_without_endpoints(tmp_path)).clusters[0].apiserver_endpoints is None


def fleet_file_without_endpoints(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("clusters:\n  - name: a\n    nodes: 10\n")
    return path
