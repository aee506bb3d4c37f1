"""``waveguard plan --emit-patches``: the files a GitOps repository commits so Argo CD or Flux
applies each wave and waveguard only gates.

Checked strictly: the DaemonSet patches against the DaemonSet schema kubernetes-validate ships
(Kubernetes 1.37, strict: no unknown field; a patch may leave any field out), the Node patches
as Nodes; the patch applied to the change's DaemonSet by the strategic-merge rules of that schema
(``x-kubernetes-patch-strategy`` / ``-merge-key``; lists without them are replaced) gives the very
object waveguard's Kubernetes target applies, and the nodes labelled are the ones it labels —
both read from the requests it sends to a stub kube-apiserver (no real kube-apiserver runs here).
"""

from __future__ import annotations

import copy
import functools

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from tests.k8s_stub import CHANGE, DS_PATH, apiservers_fixture, labelled  # noqa: F401  (fixture)
from tests.test_k8s_target_contract import target_for
from waveguard.analysis import load_change
from waveguard.export.patches import NODE_ANNOTATIONS
from waveguard.rollout.node_waves import NODE_LABEL, with_wave_affinity

K8S = "1.37.0"


@functools.lru_cache(maxsize=None)
def _definitions() -> dict:
    return kv.schema_contents(f"kubernetes-json-schema/v{K8S}-local-strict/_definitions.json", K8S)


def k8s_schema(kind: str, group_version: str) -> dict:
    return kv.schema_contents(f"kubernetes-json-schema/v{K8S}-local-strict/{kind}-{group_version}.json", K8S)


def validator(schema: dict) -> jsonschema.protocols.Validator:
    registry = Resource.from_contents(_definitions()) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def without_required(node):
    """A schema a patch must meet: the object's, every ``required`` dropped (and so is every
    definition it refers to)."""
    if isinstance(node, dict):
        return {k: without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [without_required(v) for v in node]
    return node


def check(obj: dict, schema: dict, *, patch: bool = False) -> None:
    if patch:
        schema = without_required(schema)
        defs = without_required(_definitions())
        registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        v = jsonschema.Draft202012Validator(schema, registry=registry)
    else:
        v = validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in v.iter_errors(obj)]
    assert not errors, errors


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = _definitions()["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def strategic_merge(original, patch, schema: dict):
    """``patch`` applied to ``original`` as a strategic-merge patch (k8s.io/apimachinery
    strategicpatch, without ``$patch`` directives): maps merge key by key, null deletes, a list
    merges by its ``x-kubernetes-patch-merge-key`` when its strategy is ``merge``, else is replaced."""
    schema = _resolve(schema)
    if isinstance(patch, dict) and isinstance(original, dict):
        out = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
                continue
            sub = (schema.get("properties") or {}).get(key) or (
                schema["additionalProperties"] if isinstance(schema.get("additionalProperties"), dict) else {})
            out[key] = strategic_merge(original.get(key), value, sub)
        return out
    if isinstance(patch, list) and isinstance(original, list) and \
            "merge" in schema.get("x-kubernetes-patch-strategy", "").split(","):
        key, out = schema["x-kubernetes-patch-merge-key"], copy.deepcopy(original)
        for item in patch:
            at = next((i for i, o in enumerate(out) if o.get(key) == item.get(key)), None)
            if at is None:
                out.append(copy.deepcopy(item))
            else:
                out[at] = strategic_merge(out[at], item, schema["items"])
        return out
    return copy.deepcopy(patch)


def _write(tmp_path, nodes: int = 10):
    """A one-cluster fleet, a plan taking ``prod-a`` to 10 %, 50 % and 100 % of its nodes, and
    the cluster's node names (the stub apiserver's)."""
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(
        {"clusters": [{"name": "prod-a", "labels": {"env": "prod"}, "nodes": nodes}]}))
    waves = [{"name": n, "clusters": {"names": ["prod-a"]}, "node_share": s, "bake_s": 1260}
             for n, s in (("canary 10%", 0.1), ("half", 0.5), ("all", 1.0))]
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({"change": str(CHANGE), "waves": waves,
                                                        "gates": [{"kind": "apiserver_p99_latency"}]}))
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump({"prod-a": [f"node-{i:03d}" for i in range(nodes)]}))


def _emit(runner, tmp_path, *extra):
    from waveguard.cli.main import app

    return runner.invoke(app, ["plan", "--check", str(tmp_path / "plan.yaml"), "--fleet", str(tmp_path / "fleet.yaml"),
                               "--emit-patches", str(tmp_path / "out"), "--nodes", str(tmp_path / "nodes.yaml"), *extra])


def test_index_and_files_per_wave_and_cluster(runner, tmp_path):
    _write(tmp_path)
    r = _emit(runner, tmp_path)
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    index = yaml.safe_load((out / "waves.yaml").read_text())
    assert (index["apiVersion"], index["kind"], index["node_label"]) == ("waveguard.io/v1alpha1", "WavePatches",
                                                                          NODE_LABEL)
    assert [(w["name"], w["folder"], w["node_share"]) for w in index["waves"]] == [
        ("canary 10%", "01-canary-10pct", 0.1), ("half", "02-half", 0.5), ("all", "03-all", 1.0)]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    expect = [f"{w}/prod-a/{f}" for w in ("01-canary-10pct", "02-half")
              for f in ("daemonset.telemetry.telemetry-agent.yaml", "nodes.yaml")]
    assert files == sorted(["waves.yaml", *expect])
    assert [c["files"] for w in index["waves"] for c in w["clusters"]] == [expect[:2], expect[2:], []]
    assert index["waves"][0]["clusters"][0]["gate"] == "waveguard gate check --cluster prod-a"


@pytest.mark.parametrize("wave, share", [("01-canary-10pct", 0.1), ("02-half", 0.5)])
def test_patches_are_valid_and_give_what_the_kubernetes_target_applies(runner, tmp_path, apiservers, wave, share):
    stub = apiservers(nodes=10)
    _write(tmp_path)
    assert _emit(runner, tmp_path).exit_code == 0
    folder = tmp_path / "out" / wave / "prod-a"
    patch = yaml.safe_load((folder / "daemonset.telemetry.telemetry-agent.yaml").read_text())
    ds_schema = k8s_schema("daemonset", "apps-v1")
    check(patch, ds_schema, patch=True)
    assert set(patch) == {"apiVersion", "kind", "metadata", "spec"}
    assert patch["metadata"] == {"name": "telemetry-agent", "namespace": "telemetry"}
    original = next(d.body for d in load_change([str(CHANGE)]).documents if d.kind == "DaemonSet")
    merged = strategic_merge(original, patch, ds_schema)
    assert merged == with_wave_affinity(original)
    check(merged, ds_schema)
    nodes = list(yaml.safe_load_all((folder / "nodes.yaml").read_text()))
    node_schema = k8s_schema("node", "v1")
    for node in nodes:
        check(node, node_schema)
        assert node["metadata"]["labels"] == {NODE_LABEL: f"{share:g}"}
        assert node["metadata"]["annotations"] == NODE_ANNOTATIONS
    # The Kubernetes target at the same share: the same DaemonSet, the same nodes.
    target = target_for(tmp_path, {"prod-a": stub})
    target.prepare("prod-a", share)
    target.apply("prod-a", share)
    applied = [r.body for r in stub.requests if r.method == "PATCH" and r.path == DS_PATH][-1]
    assert {k: v for k, v in applied.items() if k != "metadata"} == {k: v for k, v in merged.items() if k != "metadata"}
    assert sorted(n["metadata"]["name"] for n in nodes) == labelled(stub)


def test_the_schema_check_and_the_merge_can_fail(tmp_path):
    """The checks above are not vacuous: a misspelt field fails the patch schema, and merging
    replaces a list without a merge key (nodeSelectorTerms) but merges containers by name."""
    ds_schema = k8s_schema("daemonset", "apps-v1")
    with pytest.raises(AssertionError):
        check({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": {"afinity": {}}}}},
              ds_schema, patch=True)
    with pytest.raises(AssertionError):
        check({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"a": 1}}}, k8s_schema("node", "v1"))
    original = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
                                               "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                                                   "nodeSelectorTerms": [{"matchFields": []}]}}}}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "z"}],
                                            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                                                "nodeSelectorTerms": [{"matchExpressions": []}]}}}}}}}
    pod = strategic_merge(original, patch, ds_schema)["spec"]["template"]["spec"]
    assert pod["containers"] == [{"name": "a", "image": "x"}, {"name": "b", "image": "z"}]
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": []}]}


def test_bad_nodes_or_a_used_folder_write_nothing(runner, tmp_path):
    _write(tmp_path)
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump({"other": ["n-1"]}))
    r = _emit(runner, tmp_path)
    assert r.exit_code == 2 and "prod-a" in r.stderr and "nodes.yaml" in r.stderr, r.output
    assert not (tmp_path / "out").exists()
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump({"prod-a": ["n-1", "n-1"]}))
    assert _emit(runner, tmp_path).exit_code == 2 and not (tmp_path / "out").exists()
    _write(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.yaml").write_text("x")
    r = _emit(runner, tmp_path)
    assert r.exit_code == 2 and "not an empty folder" in r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.yaml"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_a_plan_with_errors_gets_no_patches(runner, tmp_path):
    _write(tmp_path)
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    plan["waves"][0]["bake_s"] = 60  # WG201: shorter than the DNS caches
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    r = _emit(runner, tmp_path)
    assert r.exit_code == 1 and "WG201" in r.output and "not writing" in r.stderr
    assert not (tmp_path / "out").exists()


def test_a_proposed_plan_emits_its_waves_too(runner, tmp_path):
    from waveguard.cli.main import app

    fleet = {"clusters": [{"name": "staging", "labels": {"env": "staging"}, "nodes": 20},
                          {"name": "prod-1", "labels": {"env": "prod"}, "nodes": 300}]}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(
        {c["name"]: [f"{c['name']}-{i}" for i in range(c["nodes"])] for c in fleet["clusters"]}))
    r = runner.invoke(app, ["plan", str(CHANGE), "--fleet", str(tmp_path / "fleet.yaml"), "-o", str(tmp_path / "p.yaml"),
                            "--emit-patches", str(tmp_path / "out"), "--nodes", str(tmp_path / "nodes.yaml")])
    assert r.exit_code in (0, 1), r.output
    plan = yaml.safe_load((tmp_path / "p.yaml").read_text())
    index = yaml.safe_load((tmp_path / "out" / "waves.yaml").read_text())
    assert [w["name"] for w in index["waves"]] == [w["name"] for w in plan["waves"]]
    for wave in index["waves"]:
        for c in wave["clusters"]:
            assert bool(c["files"]) == (wave["node_share"] < 1)
            for f in c["files"]:
                assert (tmp_path / "out" / f).is_file()


def test_what_docs_integrations_says_about_argo_cd_owning_the_daemonset():
    """The basis of docs/integrations.md's GitOps section, read from the Kubernetes 1.37 schema:
    the required node affinity is an atomic map (server-side apply gives it one owner: waveguard's
    forced apply takes it, a GitOps tool's forced apply takes it back), and its terms a list a
    strategic-merge patch replaces whole (the emitted patch carries every term)."""
    defs = _definitions()["$defs"]
    selector = defs["io.k8s.api.core.v1.NodeSelector"]
    assert selector["x-kubernetes-map-type"] == "atomic"
    terms = selector["properties"]["nodeSelectorTerms"]
    assert terms["x-kubernetes-list-type"] == "atomic" and "x-kubernetes-patch-strategy" not in terms
    affinity = defs["io.k8s.api.core.v1.NodeAffinity"]["properties"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert _resolve(affinity) is selector
