"""The snippets of docs/integrations.md are what their tools accept: each YAML block that is a
whole object validates against its project's schema — AnalysisTemplate (Argo Rollouts v1.9.1
CRD), Stage (Kargo v1.11.2 CRD), Canary (Flagger v1.44.0 CRD), Job (kubernetes-validate,
Kubernetes 1.37, strict) — and the commands they run are ``waveguard gate check`` with options
it has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from tests.test_emit_patches import check, k8s_schema
from tests.test_export import check_object

DOC = Path(__file__).parents[1] / "docs" / "integrations.md"
CRDS = {"AnalysisTemplate": "argo-rollouts-analysis-template-crd.yaml", "Stage": "kargo-stages-crd.yaml",
        "Canary": "flagger-crd.yaml"}


def snippets() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    return [d for d in (yaml.safe_load(b) for b in blocks) if isinstance(d, dict)]


def test_every_whole_object_in_the_doc_validates():
    kinds = []
    for obj in snippets():
        if "kind" not in obj:
            continue  # an excerpt (a Rollout's analysis block), said so in its comment
        kinds.append(obj["kind"])
        if obj["kind"] in CRDS:
            check_object(obj, CRDS[obj["kind"]], obj["kind"], obj["metadata"].get("namespace"))
        else:
            check(obj, k8s_schema(obj["kind"].lower(), obj["apiVersion"].replace("/", "-")))
    assert sorted(kinds) == ["AnalysisTemplate", "Canary", "Job", "Stage"]


def _commands() -> list[list[str]]:
    """The ``command`` lists and ``cmd`` strings of the snippets, as argv."""
    out: list[list[str]] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "command" and isinstance(value, list):
                    out.append([str(v) for v in value])
                elif key == "cmd" and isinstance(value, str):
                    out.append(shlex.split(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for obj in snippets():
        walk(obj)
    return out


def test_the_commands_in_the_doc_are_gate_checks_the_cli_accepts(runner, monkeypatch):
    from waveguard.cli import gate

    seen = []
    monkeypatch.setattr(gate, "_evaluate", lambda *a: seen.append(a) or ([], None))  # (results, unreadable)
    from waveguard.cli.main import app

    commands = _commands()
    assert len(commands) == 3
    for argv in commands:
        assert argv[:3] == ["waveguard", "gate", "check"]
        args = [a.replace("{{args.cluster}}", "prod-eu-1") for a in argv[1:]]
        r = runner.invoke(app, args, env={"WAVEGUARD_PROMETHEUS_URL": "http://127.0.0.1:9"})
        assert r.exit_code == 0, (argv, r.output)  # no gate evaluated: nothing failed
    assert [a[0] for a in seen] == ["prod-eu-1"] * 3
