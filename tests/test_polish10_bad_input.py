"""Bad input fixed in session 10 (polish10): each case is one clear line naming the file (and
line, key or option) and what to do, exit 2, nothing written — never silently accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waveguard.cli.main import app
from tests.conftest import one_line_exit_2

HERE = Path(__file__).resolve().parent
AUDIT_HEAD = HERE / "fuzz_corpus" / "audit" / "audit2rbac-demo-v1-head.jsonl"


def _audit_log_with_user(tmp_path: Path, user: object) -> Path:
    """The in-repo audit log head (less its truncated last line) and one more event, not
    impersonated, whose ``user`` is ``user`` (``...``: no ``user`` key at all)."""
    lines = AUDIT_HEAD.read_text().splitlines()[:-1]
    event = {k: v for k, v in json.loads(lines[2]).items() if k not in ("impersonatedUser", "user")}
    event["auditID"] = "stray"
    if user is not ...:
        event["user"] = user
    log = tmp_path / "audit.jsonl"
    log.write_text("\n".join([*lines, json.dumps(event)]) + "\n")
    return log


@pytest.mark.parametrize("user", ["alice", 5, ["alice"], None, ...])
def test_measure_refuses_an_event_whose_user_is_no_object(runner, tmp_path, user):
    """A string user ("user": "alice") was read as no user and the event dropped without a word.
    audit.k8s.io Event.user is a UserInfo object, always written: refused, naming the file."""
    log, out = _audit_log_with_user(tmp_path, user), tmp_path / "profile.yaml"
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(out)])
    one_line_exit_2(result, f"{log}:", "user is no object", "fix or drop that event")
    assert not out.exists()


@pytest.mark.parametrize("user", [{}, {"username": "alice", "groups": ["system:authenticated"]}])
def test_measure_reads_a_user_object(runner, tmp_path, user):
    """``{}`` (a request that failed authentication: no user) is skipped as before; a user is counted."""
    result = runner.invoke(app, ["measure", "--audit-log", str(_audit_log_with_user(tmp_path, user)), "-o", "json"])
    assert result.exit_code == 0, result.output
    users = {c["user"] for c in json.loads(result.stdout)["clients"]}
    assert ("alice" in users) == bool(user)


@pytest.mark.parametrize(("args", "source", "said"), [
    (["risk", "plan.yaml", "--samples", "100000000000"], "--samples", "over 100,000 samples"),
    (["risk", "plan.yaml", "--samples", "100001"], "--samples", "~1 CPU-second each"),
    (["risk", "plan.yaml", "--workers", "100000"], "--workers", "cores here"),
    (["plan", "examples/incident-telemetry", "--risk-budget", "0.01", "--risk-samples", "100001"], "--risk-samples",
     "over 100,000 samples"),
    (["plan", "examples/incident-telemetry", "--risk-budget", "0"], "--risk-budget", "the least budget"),
    (["plan", "examples/incident-telemetry", "--risk-budget", "1e-9"], "--risk-budget", "the least budget"),
])
def test_risk_counts_are_bounded_with_the_reason(runner, tmp_path, monkeypatch, args, source, said):
    """``--samples 100000000000`` was taken (~3,000 CPU-years of simulated rollouts);
    ``--risk-budget 0`` was a ZeroDivisionError traceback and 1e-9 asked for 3.8e9 samples;
    ``--workers 100000`` a process each. Now one line naming the option, its bound and why."""
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    out = tmp_path / "plan.yaml"
    result = runner.invoke(app, [*args, "--output-file", str(out)])
    one_line_exit_2(result, f"{source}:", said)
    assert not out.exists()


@pytest.mark.parametrize("limit", ["1PB", "1EiB"])
def test_measure_refuses_a_memory_limit_over_the_machines_memory(runner, tmp_path, limit):
    """``--memory-limit 1PB`` was taken: DuckDB's memory_limit is its buffer manager's ceiling
    before it spills; over the RAM it never spills and the process is killed instead."""
    log, out = _audit_log_with_user(tmp_path, {"username": "alice"}), tmp_path / "profile.yaml"
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--memory-limit", limit,
                                 "--output-file", str(out)])
    one_line_exit_2(result, "--memory-limit:", f"{limit} is over the", "GiB of RAM: DuckDB never spills")
    assert not out.exists()


def test_the_memory_limit_is_checked_against_physical_memory(monkeypatch):
    import os

    from waveguard.cli.measure import _duckdb_memory_limit
    from waveguard.model.errors import InputError

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**20}  # 4 GiB
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert _duckdb_memory_limit("4GiB") == "4096MiB"
    with pytest.raises(InputError, match="4.0 GiB"):
        _duckdb_memory_limit("4097MiB")


@pytest.mark.parametrize("category", ["", "/", "  ", "//"])
def test_an_empty_sarif_category_is_refused(runner, tmp_path, monkeypatch, category):
    """``--sarif-category ""`` wrote ``automationDetails.id: "/"``: a run of no category (SARIF
    2.1.0 §3.17.4), which code scanning cannot tell from another tool's uploads."""
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    out = tmp_path / "out.sarif"
    result = runner.invoke(app, ["analyse", "examples/incident-telemetry", "-o", "sarif", "--sarif-category", category,
                                 "--output-file", str(out)])
    one_line_exit_2(result, "--sarif-category:", "is no SARIF category")
    assert not out.exists()


def _path_params():
    """(command words, option or None for an argument, its click param) of every path option
    and argument of every command."""
    import typer.main

    def walk(command, words):
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*words, name])
        for param in getattr(command, "params", []):
            if param.type_descriptor.annotation is Path:
                yield words, next((o for o in param.opts if o.startswith("--")), None), param

    return list(walk(typer.main.get_command(app), []))


_PATH_PARAMS = _path_params()


def test_every_path_option_goes_through_the_shared_parser():
    """A path option declared without cli/paths.py (typer's own Path) would read "" as "."."""
    from waveguard.cli import paths

    assert len(_PATH_PARAMS) >= 40
    raw = [(" ".join(w), p.name) for w, _, p in _PATH_PARAMS
           if p.type_descriptor.parameter_info.parser not in (paths._file_path, paths._folder_path)]
    assert not raw, raw


@pytest.mark.parametrize(("words", "option"), [(w, o) for w, o, _ in _PATH_PARAMS],
                         ids=[f"{' '.join(w)} {o or p.name}" for w, o, p in _PATH_PARAMS])
def test_an_empty_path_is_refused_naming_the_option(runner, tmp_path, monkeypatch, words, option):
    """``--fleet ""`` (an unset shell variable) was read as ".", the current folder: "is a
    directory", or a folder option wrote there. Every path option and argument refuses it."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*words, option, ""] if option else [*words, ""])
    line = one_line_exit_2(result, "", "an empty path: give a")
    assert option is None or line.startswith(f"error: {option}: "), line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("args", "source"), [
    (["analyse", ""], "PATHS"),
    (["plan", ""], "CHANGE"),
    (["breakglass", "generate", ""], "PATHS"),
    (["breakglass", "check", "--manifests", ""], "--manifests"),
    (["breakglass", "check", "--live", "--change", ""], "--change"),
    (["gate", "check", "--change", ""], "--change"),
])
def test_empty_manifests_paths_are_refused_not_read_as_the_current_folder(runner, tmp_path, monkeypatch, args,
                                                                          source):
    """``analyse ""`` analysed every manifest of the current folder (typer's "" is "."), and ``plan
    ""`` planned them: the manifests arguments and options refuse an empty path too."""
    (tmp_path / "stray.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    monkeypatch.chdir(tmp_path)
    one_line_exit_2(runner.invoke(app, args), f"{source}: an empty path: give a file or folder")


def test_measure_metrics_errors_carry_no_pydantic_prefix(runner, tmp_path):
    """``measure --metrics`` said "objects: Value error, objects.configmaps must be ..." (pydantic's
    prefix), where every other command's error has it stripped."""
    metrics, fleet = tmp_path / "metrics.txt", tmp_path / "fleet.yaml"
    metrics.write_text('apiserver_storage_objects{resource="nodes"} 5\napiserver_storage_objects{resource="pods"} 20\n'
                       'apiserver_storage_objects{resource="configmaps"} 200000000\n')
    result = runner.invoke(app, ["measure", "--metrics", str(metrics), "--fleet-output", str(fleet), "--cluster", "c"])
    line = next(x for x in result.output.splitlines() if x.startswith("error:"))
    assert result.exit_code == 2 and "Value error" not in line, result.output
    assert line.startswith(f"error: {metrics}: not a valid fleet entry: objects: objects.configmaps must be"), line
    assert not fleet.exists()


@pytest.mark.parametrize(("option", "backend", "hint"), [
    ("--kubeconfig", None, "--kubeconfig"),
    (None, "kubernetes:\n  kubeconfig: {missing}\n", "kubernetes.kubeconfig"),
    (None, "kubernetes:\n  rollback_kubeconfig: {missing}\n", "kubernetes.rollback_kubeconfig"),
])
def test_a_missing_kubeconfig_is_named_before_prometheus_is_asked(runner, tmp_path, incident_plan, option, backend,
                                                                 hint):
    """``--kubeconfig nonexistent`` was reported as "Prometheus ... unreachable" (the network
    pre-flight ran first): the local file is checked before any round trip."""
    missing, state = tmp_path / "nonexistent", tmp_path / "s.db"
    extra = [option, str(missing)] if option else []
    if backend is not None:
        (tmp_path / "backend.yaml").write_text(backend.format(missing=missing))
        extra = ["--backend-config", str(tmp_path / "backend.yaml")]
    result = runner.invoke(app, ["rollout", "start", str(incident_plan), "--target", "kubernetes", "--signals",
                                 "prometheus", "--prometheus-url", "http://127.0.0.1:9", "--state", str(state),
                                 *extra])
    line = one_line_exit_2(result, f"{missing}: cannot load kubeconfig: no such file", hint, "nothing was written")
    assert "Prometheus" not in line
    assert not state.exists()


@pytest.mark.parametrize("text", ["", "# nothing here\n---\n"])
def test_breakglass_check_of_a_file_with_no_objects_is_bad_input(runner, tmp_path, text):
    """``breakglass check --manifests empty.yaml`` said "NOT protected", exit 1 (findings), as if
    the file had been read: a file with no object to check is bad input, exit 2."""
    empty, out = tmp_path / "empty.yaml", tmp_path / "report.txt"
    empty.write_text(text)
    result = runner.invoke(app, ["breakglass", "check", "--manifests", str(empty), "--output-file", str(out)])
    one_line_exit_2(result, f"{empty}: no objects to check")
    assert not out.exists()


@pytest.mark.parametrize(("kind", "text", "said"), [
    ("fleet", "clustres:\n  - name: a\n    nodes: 5\n", "1: clustres: unknown key, did you mean 'clusters'?"),
    ("fleet", "clusters:\n  - name: a\n    nodse: 5\n", "3: clusters.0.nodse: cluster 'a': unknown key, did you mean 'nodes'?"),
    ("fleet", "zzz: 1\n", "1: zzz: unknown key"),
    ("plan", None, "wavse: unknown key, did you mean 'waves'?"),
    ("scenario", "duraton_s", "duraton_s: unknown key, did you mean 'duration_s'?"),
])
def test_a_misspelt_key_is_named_with_the_nearest_valid_one(runner, tmp_path, incident_plan, kind, text, said):
    """A fleet file's misspelt 'clusters:' said "not a mapping with a 'clusters' list" (the key
    unnamed); a scenario's misspelt duration_s said "duration_s: Field required". Now the key
    given, its line, and the valid key it is nearest (difflib)."""
    from tests.conftest import EXAMPLES, ROOT

    path = tmp_path / f"{kind}.yaml"
    if kind == "fleet":
        path.write_text(text)
        args = ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(path)]
    elif kind == "plan":
        path.write_text(incident_plan.read_text().replace("\nwaves:", "\nwavse:"))
        args = ["plan", "--check", str(path)]
    else:
        shipped = ROOT / "src" / "waveguard" / "data" / "scenarios" / "cluster-flags-etcd.yaml"
        path.write_text(shipped.read_text().replace("\nduration_s:", f"\n{text}:"))
        args = ["simulate", str(path)]
    line = one_line_exit_2(runner.invoke(app, args), f"{path}:", said)
    assert "Field required" not in line and "not a mapping" not in line


@pytest.mark.parametrize(("version", "minor"), [("1.30.2-eks-a737599", (1, 30)), ("v1.29.3-gke.1093000", (1, 29)),
                                                ("1.28.5+k3s1", (1, 28)), ("v1.30.2-rc.1+build.5", (1, 30))])
def test_a_cloud_kubernetes_version_is_read_as_major_minor(tmp_path, version, minor):
    """``kubectl version`` of EKS, GKE and k3s prints a semantic version with pre-release or
    build metadata; the fleet's pattern refused it (a user had to strip it by hand)."""
    from waveguard.model.fleet import load_fleet

    path = tmp_path / "fleet.yaml"
    path.write_text(f'clusters:\n  - name: a\n    nodes: 5\n    kubernetes_version: "{version}"\n')
    assert load_fleet(path).clusters[0].version_tuple == minor


@pytest.mark.parametrize("version", ["banana", "1.30-eks", "1.30.2-", "1.30.2+", "1.30.2-a..b", "1.3.0.1", "1.30.2 x"])
def test_a_version_that_is_no_kubernetes_version_is_still_refused(runner, tmp_path, version):
    from tests.conftest import EXAMPLES

    path = tmp_path / "fleet.yaml"
    path.write_text(f'clusters:\n  - name: a\n    nodes: 5\n    kubernetes_version: "{version}"\n')
    result = runner.invoke(app, ["analyse", str(EXAMPLES / "incident-telemetry"), "--fleet", str(path)])
    one_line_exit_2(result, f"{path}:4:", "is not a Kubernetes version: give MAJOR.MINOR")


def test_ray_is_told_to_log_errors_only_when_connecting(monkeypatch):
    """``risk --ray-address ray://HOST:PORT`` printed Ray's INFO line ("Passing the following kwargs
    to ray.init() on the server") before waveguard's one error line: the driver's "ray" logger is
    set to ERROR through ray.init's own ``logging_level``. (A real unreachable address takes Ray's
    ~30 s client time-out: checked by hand, see the commit.)"""
    import logging
    import sys
    import types

    from waveguard.model.errors import SourceUnavailableError
    from waveguard.risk.executors import run_ray

    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("ray client connection timeout")

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False, init=init))
    with pytest.raises(SourceUnavailableError, match="cannot reach the Ray cluster"):
        run_ray(None, 1, "ray://127.0.0.1:1")  # type: ignore[arg-type]
    assert calls == [{"address": "ray://127.0.0.1:1", "log_to_driver": False, "logging_level": logging.ERROR}]
