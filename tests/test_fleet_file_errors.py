"""A fleet file a person got wrong: one line naming the file, the line, the cluster and what to
do, exit 2, and nothing written (the brief's bad-input rule), for the mistakes a new user made:
``nodes: 0``, negative counts, empty and duplicate cluster names."""

from __future__ import annotations

from pathlib import Path

import pytest

from waveguard.cli.main import app
from waveguard.model.errors import InputError
from waveguard.model.fleet import Cluster, Fleet, load_fleet

INCIDENT = str(Path(__file__).resolve().parents[1] / "examples" / "incident-telemetry")
GOOD = "  - name: ok\n    nodes: 10\n"


@pytest.mark.parametrize(("body", "line", "expected", "todo"), [
    ("  - name: a\n    nodes: 0\n", 3, "clusters.1.nodes: cluster 'a': a cluster has at least one node, got 0",
     "kubectl get nodes"),
    ("  - name: a\n    nodes: -5\n", 3, "clusters.1.nodes: cluster 'a': a cluster has at least one node, got -5",
     "kubectl get nodes"),
    ("  - name: a\n", 2, "clusters.1.nodes: cluster 'a': a cluster's node count is missing", "kubectl get nodes"),
    ("  - name: a\n    nodes: 5\n    pods: -1\n", 4, "clusters.1.pods: cluster 'a': must be at least 0, got -1",
     "remove the key for its default"),
    ("  - name: a\n    nodes: 5\n    apiserver_replicas: 0\n", 4,
     "clusters.1.apiserver_replicas: cluster 'a': must be at least 1, got 0", "give the measured value"),
    ("  - name: ''\n    nodes: 5\n", 2, "clusters.1.name: cluster 2 (unnamed): a cluster needs a name", "DNS-1123 name"),
    ("  - name: '  '\n    nodes: 5\n", 2, "clusters.1.name: cluster 2 (unnamed): a cluster needs a name", "DNS-1123 name"),
    ("  - name:\n    nodes: 5\n", 2, "clusters.1.name: cluster 2 (unnamed): a cluster needs a name", "DNS-1123 name"),
    ("  - name: a\n    nodes: 5\n  - name: a\n    nodes: 6\n", 4,
     "clusters.2.name: cluster 'a': 'a' is also the name of clusters.1", "rename one of them"),
])
def test_a_bad_cluster_is_named_with_its_line_and_what_to_do(tmp_path, body, line, expected, todo):
    path = tmp_path / "fleet.yaml"
    path.write_text("clusters:\n" + GOOD + body)
    with pytest.raises(InputError) as caught:
        load_fleet(path)
    err = caught.value
    # the good cluster comes first (file lines 2-3): the line and the cluster are the bad one's
    assert (err.source, err.line) == (str(path), line + 2), str(err)
    assert err.message == expected and todo in err.hint, str(err)


def test_the_command_prints_it_on_one_line_exit_2_and_writes_nothing(runner, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("clusters:\n  - name: prod\n    nodes: 0\n")
    out = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", INCIDENT, "--fleet", str(fleet), "--output-file", str(out)])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists()
    assert result.stderr == (f"error: {fleet}:3: clusters.0.nodes: cluster 'prod': a cluster has at least one node, got 0 "
                             "(give its node count: kubectl get nodes --no-headers | wc -l)\n")


def test_a_fleet_model_refuses_what_the_file_would():
    with pytest.raises(ValueError, match="at least one node"):
        Fleet(clusters=[Cluster(name="a", nodes=0)])
    with pytest.raises(ValueError, match="'a' is also the name of clusters.0"):
        Fleet(clusters=[Cluster(name="a", nodes=1), Cluster(name="a", nodes=2)])
    with pytest.raises(ValueError, match="a cluster needs a name"):
        Cluster(name=" ", nodes=1)
    assert Cluster(name="e", nodes=0).nodes == 0  # alone (the cost model's edge cases), not in a fleet


@pytest.mark.parametrize(("version", "expected"), [
    ('"1.99"', "waveguard models Kubernetes 1.18–1.35"),
    ('"1.9"', "waveguard models Kubernetes 1.18–1.35"),
    ("1.30", 'quote the version ("1.30"): YAML reads 1.3 as a number'),
])
def test_a_version_the_model_has_no_rules_for_is_one_line(tmp_path, version, expected):
    """model.versions.OLDEST_MODELLED … NEWEST_MODELLED: outside it the rules would be those of
    the nearest end, silently (the new-user trial: 1.99 and 2.0 were accepted)."""
    path = tmp_path / "fleet.yaml"
    path.write_text(f"clusters:\n  - name: a\n    nodes: 10\n    kubernetes_version: {version}\n")
    with pytest.raises(InputError) as err:
        load_fleet(path)
    assert expected in str(err.value) and "fleet.yaml:4" in str(err.value)
