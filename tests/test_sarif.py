"""`analyse -o sarif` as GitHub code scanning reads it, `analyse -` (stdin) and `--version`.

The log is validated against the official OASIS SARIF 2.1.0 schema (../shared/schemas/
sarif-2.1.0.json, draft-04, with the `uri` / `uri-reference` formats checked), then against what
code scanning requires on top ("SARIF support for code scanning", docs.github.com): every rule
with short and full descriptions, help text and markdown and a helpUri; one default level per
rule, the same in every run; each result's level one of error / warning / note; locations as
relative URIs with a uriBaseId; automationDetails.id.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.conftest import EXAMPLES, ROOT, SHARED
from waveguard import __version__
from waveguard.cli.main import app
from waveguard.model.findings import RULES
from waveguard.report.rule_docs import RULE_DOCS, rules_markdown

SCHEMA = SHARED / "schemas" / "sarif-2.1.0.json"
INCIDENT = EXAMPLES / "incident-telemetry"
FIXED = EXAMPLES / "incident-telemetry-node-filtered"
#: Characters RFC 3986 allows in a URI (anything else must be percent-encoded).
_URI_CHARS = set(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(lambda value: not isinstance(value, str) or (
        bool(urlsplit(value).scheme) and set(value) <= _URI_CHARS))
    checker.checks("uri-reference")(lambda value: not isinstance(value, str) or set(value) <= _URI_CHARS)
    return checker


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not SCHEMA.is_file():
        pytest.skip(f"the SARIF schema is not at {SCHEMA}")
    return jsonschema.Draft4Validator(json.loads(SCHEMA.read_text()), format_checker=_format_checker())


def _sarif(runner, *args: str, stdin: str | None = None) -> dict:
    result = runner.invoke(app, ["analyse", *args, "-o", "sarif"], input=stdin)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _code_scanning_problems(log: dict) -> list[str]:
    """What GitHub code scanning rejects or cannot place, as sentences (empty: accepted)."""
    problems = []
    run = log["runs"][0]
    if not run.get("automationDetails", {}).get("id"):
        problems.append("no automationDetails.id")
    rules = run["tool"]["driver"]["rules"]
    for rule in rules:
        for key in ("shortDescription", "fullDescription"):
            if not rule.get(key, {}).get("text"):
                problems.append(f"{rule['id']}: no {key}")
        if not (rule.get("help", {}).get("text") and rule["help"].get("markdown")):
            problems.append(f"{rule['id']}: no help text and markdown")
        if not urlsplit(rule.get("helpUri", "")).scheme.startswith("http"):
            problems.append(f"{rule['id']}: no helpUri")
        if rule.get("defaultConfiguration", {}).get("level") not in ("error", "warning", "note"):
            problems.append(f"{rule['id']}: no default level")
    for result in run["results"]:
        if result["level"] not in ("error", "warning", "note"):
            problems.append(f"{result['ruleId']}: level {result['level']}")
        if rules[result["ruleIndex"]]["id"] != result["ruleId"]:
            problems.append(f"{result['ruleId']}: ruleIndex points elsewhere")
        for loc in result["locations"] + result.get("relatedLocations", []):
            artifact = loc["physicalLocation"]["artifactLocation"]
            if artifact.get("uriBaseId") != "%SRCROOT%" or urlsplit(artifact["uri"]).scheme \
                    or artifact["uri"].startswith(("/", "..")):
                problems.append(f"{result['ruleId']}: location {artifact} is not relative to the repository")
            if loc["physicalLocation"]["region"]["startLine"] < 1:
                problems.append(f"{result['ruleId']}: no line")
    return problems


@pytest.mark.parametrize("example", [INCIDENT, FIXED], ids=["incident", "node-filtered"])
def test_sarif_validates_against_the_official_schema_and_code_scanning(runner, validator, example, monkeypatch):
    monkeypatch.chdir(ROOT)
    log = _sarif(runner, str(example.relative_to(ROOT)))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    assert _code_scanning_problems(log) == []


def test_a_shared_manifest_bundle_validates(runner, validator, manifests, monkeypatch):
    monkeypatch.chdir(manifests)
    for bundle in ("fluent-bit", "otel-collector-agent", "datadog-agent"):
        log = _sarif(runner, bundle)
        assert list(validator.iter_errors(log)) == []
        assert _code_scanning_problems(log) == [], bundle


def test_every_rule_is_described_and_its_level_is_the_same_in_every_run(runner, monkeypatch, manifests):
    monkeypatch.chdir(ROOT)
    runs = [_sarif(runner, str(path)) for path in (INCIDENT, FIXED, manifests / "fluent-bit")]
    rule_sets = [run["runs"][0]["tool"]["driver"]["rules"] for run in runs]
    assert rule_sets[0] == rule_sets[1] == rule_sets[2]  # the same descriptors, levels included
    assert [rule["id"] for rule in rule_sets[0]] == sorted(RULES)
    assert set(RULE_DOCS) == set(RULES)
    levels = {rule["id"]: rule["defaultConfiguration"]["level"] for rule in rule_sets[0]}
    assert levels["WG101"] == "error" and levels["WG110"] == "note" and levels["WG132"] == "warning"
    for rule_id in ("WG120", "WG121", "WG130", "WG131", "WG132", "WG133"):
        assert rule_id in levels
    # a result carries its own finding's level, whatever the rule's default
    results = runs[2]["runs"][0]["results"]
    wg103 = next(r for r in results if r["ruleId"] == "WG103")
    assert wg103["level"] == "warning" and levels["WG103"] == "error"


def test_related_location_is_the_configmap_key_that_decides_it(runner, monkeypatch):
    monkeypatch.chdir(ROOT)
    log = _sarif(runner, "examples/incident-telemetry")
    result = log["runs"][0]["results"][0]
    manifest = INCIDENT / "telemetry-agent.yaml"
    lines = manifest.read_text().splitlines()
    primary = result["locations"][0]["physicalLocation"]
    assert result["ruleId"] == "WG101"
    assert primary["artifactLocation"] == {"uri": "examples/incident-telemetry/telemetry-agent.yaml",
                                           "uriBaseId": "%SRCROOT%"}
    assert lines[primary["region"]["startLine"]] == "kind: DaemonSet"  # the document's first line is above it
    related = result["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"] == "examples/incident-telemetry/telemetry-agent.yaml"
    assert lines[related["region"]["startLine"] - 1].strip() == "k8sattributes:"  # in the ConfigMap's collector.yaml
    assert "processors.k8sattributes" in result["relatedLocations"][0]["message"]["text"]


def test_related_locations_in_other_files_of_a_chart(runner, manifests, monkeypatch):
    monkeypatch.chdir(manifests)
    results = _sarif(runner, "fluent-bit", "otel-collector-agent")["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    for rule, expected in (("WG103", "Name"), ("WG113", "metadata"), ("WG104", "k8s_leader_elector")):
        place = by_rule[rule]["relatedLocations"][0]["physicalLocation"]
        text = (manifests / place["artifactLocation"]["uri"]).read_text().splitlines()
        assert expected in text[place["region"]["startLine"] - 1], (rule, place)
        assert "configmap" in place["artifactLocation"]["uri"]


def test_uris_keep_symlinks_and_follow_sarif_base(runner, tmp_path, monkeypatch):
    real = tmp_path / "real-checkout"
    (real / "deploy").mkdir(parents=True)
    (real / "deploy" / "agent.yaml").write_text((INCIDENT / "telemetry-agent.yaml").read_text())
    (tmp_path / "repo").symlink_to(real)
    monkeypatch.chdir(tmp_path / "repo")  # the shell's folder is the symlink; its real path differs
    monkeypatch.setenv("PWD", str(tmp_path / "repo"))
    for given in ("deploy", str(tmp_path / "repo" / "deploy")):  # relative, and absolute through the symlink
        run = _sarif(runner, given)["runs"][0]
        uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "deploy/agent.yaml"
        assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == (tmp_path / "repo").as_uri() + "/"
    based = _sarif(runner, str(tmp_path / "repo" / "deploy" / "agent.yaml"), "--sarif-base", str(tmp_path / "repo"),
                   "--sarif-category", "manifests/prod")["runs"][0]
    assert based["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deploy/agent.yaml"
    assert based["automationDetails"]["id"] == "manifests/prod/"
    assert "real-checkout" not in json.dumps(based["results"])


def test_analyse_reads_a_bundle_from_stdin(runner, validator):
    text = (INCIDENT / "telemetry-agent.yaml").read_text()
    for name in ("-", "/dev/stdin"):
        result = runner.invoke(app, ["analyse", name, "-o", "json"], input=text)
        assert result.exit_code == 1, result.output
        finding = json.loads(result.stdout)["findings"][0]
        assert (finding["rule"], finding["file"], finding["line"]) == ("WG101", "<stdin>", 68)
    log = _sarif(runner, "-", stdin=text)
    assert list(validator.iter_errors(log)) == []
    result = log["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "%3Cstdin%3E"
    assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 55


def test_stdin_bad_input_names_stdin_and_line(runner):
    result = runner.invoke(app, ["analyse", "-"], input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n")
    assert result.exit_code == 2
    assert "<stdin>:3" in result.output


def test_stdin_from_a_terminal_is_bad_input_not_a_hang(monkeypatch):
    import io

    from waveguard.analysis.stdin import stdin_bytes
    from waveguard.model.errors import InputError

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(InputError, match="standard input is a terminal"):
        stdin_bytes()


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"waveguard {__version__}"


def test_docs_rules_md_is_current_with_one_anchor_per_rule():
    text = (ROOT / "docs" / "rules.md").read_text()
    assert text == rules_markdown(RULES), "regenerate docs/rules.md from waveguard.report.rule_docs.rules_markdown"
    anchors = re.findall(r'<a id="(wg\d+)"></a>', text)
    assert anchors == [rule_id.lower() for rule_id in sorted(RULES)]


def test_readme_lists_every_analysis_rule_and_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    for rule_id in sorted(RULES):
        if rule_id.startswith("WG1"):
            assert f"| {rule_id} |" in readme, rule_id
    assert "docs/rules.md" in readme


def test_rule_docs_name_the_files_that_implement_them():
    for path in ("src/waveguard/analysis/rules.py", "src/waveguard/breakglass/lint.py",
                 "src/waveguard/rollout/plan/findings.py", "src/waveguard/analysis/loader.py"):
        assert (ROOT / path).is_file() and path in (ROOT / "docs" / "rules.md").read_text()
    assert Path(ROOT / "docs" / "rules.md").read_text().count("## WG") == len(RULES)
