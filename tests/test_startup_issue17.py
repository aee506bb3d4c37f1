"""Issue 17 item 1, start-up of ``analyse`` on one file: what it imports and how the cyclic GC
runs around start-up, with answers unchanged. Nothing here times anything (the figure is printed
by benchmarks/bench_startup.py).

WG109's schema check asks jsonschema-rs whether a document is valid and imports jsonschema only
to quote the error of one that is not (analysis/schema.py); the two must agree on validity. They
are compared on every Kubernetes document of the examples and the team's real Helm renders, and
on documents mutated from them (values of every JSON type, YAML dates, NaN, big integers, keys
removed)."""

from __future__ import annotations

import copy
import datetime
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, INPUTS, require_shared
from waveguard.analysis import schema

ROOT = Path(__file__).resolve().parents[1]
SMALL_FILE = EXAMPLES / "incident-telemetry" / "telemetry-agent.yaml"


def _imported_modules(argv: list[str]) -> tuple[set[str], int]:
    """The modules a ``waveguard`` command line imports, and its exit code."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "waveguard.cli.main", *argv],
                         capture_output=True, text=True, cwd=ROOT)
    return {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()
            if line.startswith("import time:")}, out.returncode


def test_analyse_of_valid_manifests_imports_neither_jsonschema_nor_kubernetes_validate():
    modules, code = _imported_modules(["analyse", str(SMALL_FILE), "-o", "json"])
    assert code == 1 and "waveguard.analysis.schema" in modules and "jsonschema_rs" in modules  # validated
    for heavy in ("jsonschema", "referencing", "kubernetes_validate", "attrs"):
        assert heavy not in modules, heavy


def test_an_invalid_document_is_quoted_by_jsonschema(tmp_path):
    bad = yaml.safe_load(SMALL_FILE.read_text().split("---")[-1])  # the DaemonSet
    bad["spec"]["template"]["spec"]["containers"][0]["ports"] = "9100"
    (tmp_path / "ds.yaml").write_text(yaml.safe_dump(bad))
    modules, code = _imported_modules(["analyse", str(tmp_path / "ds.yaml"), "-o", "json"])
    assert "jsonschema" in modules
    schema._KINDS_SEEN.discard(("DaemonSet", "apps/v1"))
    assert schema.schema_problem(bad) == ("spec.template.spec.containers.0.ports: '9100' is not of type 'array', 'null'")


def test_the_schema_files_are_those_kubernetes_validate_picks_for_the_version():
    from kubernetes_validate import utils as kv

    version = [v for v in kv.all_versions() if kv.major_minor(v) <= schema.SCHEMA_VERSION][-1]
    assert schema._schema_folder().name == f"v{version}-local"
    for kind, api_version, file in [("DaemonSet", "apps/v1", "daemonset-apps-v1.json"),
                                    ("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterrole-rbac-v1.json"),
                                    ("ConfigMap", "v1", "configmap-v1.json")]:
        expected = kv.schema_contents(f"kubernetes-json-schema/v{version}-local/{file}", version)
        assert schema._kind_schema(kind, api_version) == expected
    assert schema._kind_schema("NoSuchKind", "v1") is None
    assert schema._definitions() == kv.schema_contents(f"kubernetes-json-schema/v{version}-local/_definitions.json",
                                                       version)


def _kubernetes_documents(folder: Path) -> list[dict]:
    """The documents under ``folder`` that have a bundled schema."""
    found = []
    for file in sorted(folder.rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        found += [d for d in docs if isinstance(d, dict) and isinstance(d.get("kind"), str)
                  and isinstance(d.get("apiVersion"), str) and schema._kind_schema(d["kind"], d["apiVersion"])]
    return found


def _validity(doc: dict) -> tuple[bool, bool] | None:
    """(jsonschema's answer, jsonschema-rs's answer) for ``doc``; None when it has no schema."""
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not schema._kind_schema(kind, api_version):
        return None
    return schema._validator(kind, api_version).is_valid(doc), schema._valid_by_rust(kind, api_version, doc)


def test_both_validators_agree_on_every_real_document():
    docs = _kubernetes_documents(EXAMPLES) + _kubernetes_documents(require_shared(INPUTS))
    kinds = {d["kind"] for d in docs}
    assert len(docs) > 200 and {"DaemonSet", "Deployment", "ClusterRole", "ConfigMap", "Service"} <= kinds
    answers = [_validity(d) for d in docs]
    assert all(a is not None and a[0] == a[1] for a in answers)


_CORPUS = _kubernetes_documents(EXAMPLES)
#: Values a mutation puts in place of one in a document: every JSON type, a YAML date (not JSON:
#: jsonschema-rs cannot read it), NaN, an integer beyond 64 bits.
_VALUES = [None, True, False, 0, 1, -1, 1.0, 1.5, "", "x", [], {}, ["x"], {"a": 1}, 2 ** 70,
           datetime.date(2024, 1, 1), float("nan")]


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``value`` (mapping keys, list indexes)."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_both_validators_agree_on_mutated_documents(data):
    doc = copy.deepcopy(data.draw(st.sampled_from(_CORPUS)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(_VALUES)))
        if _validity(doc) is None:  # kind or apiVersion changed: no schema to compare
            return
    python, rust = _validity(doc)
    assert python == rust


def test_a_value_jsonschema_rs_cannot_read_is_judged_by_jsonschema():
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"day": datetime.date(2024, 1, 1)}}
    assert schema._valid_by_rust("ConfigMap", "v1", doc) is False
    schema._KINDS_SEEN.discard(("ConfigMap", "v1"))
    assert schema.schema_problem(doc) == "data.day: datetime.date(2024, 1, 1) is not of type 'string', 'null'"


def _gc_state_in_command() -> str:
    """What ``waveguard schema fleet`` sees of the cyclic GC when its own code runs."""
    code = """
import gc, sys
import waveguard.report.schemas as schemas
real = schemas.json_schema
def spy(name):
    print("enabled", gc.isenabled(), "frozen", gc.get_freeze_count() > 0, file=sys.stderr)
    return real(name)
schemas.json_schema = spy
sys.argv = ["waveguard", "schema", "fleet"]
from waveguard.cli.main import run
run()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stderr.strip()


def test_a_command_runs_with_the_cyclic_gc_enabled_and_start_up_frozen():
    assert _gc_state_in_command() == "enabled True frozen True"


def test_importing_the_cli_leaves_the_cyclic_gc_as_it_was():
    code = ("import gc; gc.disable(); import waveguard.cli.main; a = gc.isenabled(); gc.enable(); "
            "import importlib; importlib.reload(waveguard.cli.main); print(a, gc.isenabled(), gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "True", "0"]


@pytest.mark.parametrize("argv", [["--version"], ["analyse", "--no-such-option"]])
def test_start_up_that_ends_before_a_command_leaves_the_gc_enabled(argv):
    code = f"""
import gc, sys
sys.argv = ["waveguard", *{argv!r}]
from waveguard.cli.main import run
try:
    run()
except SystemExit:
    pass
print(gc.isenabled())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split()[-1] == "True"


# --- what each output of `analyse` loads (issue 17: the table meets 0.2 s too) -----------------
#: Modules no output of ``analyse`` on a valid file needs: other commands and outputs, the
#: optional extras, and rich's features a table does not use (typer's rich help and tracebacks,
#: markdown, syntax, pretty-printing, progress, emoji codes).
NEVER_FOR_ANALYSE = ("waveguard.cli.breakglass", "waveguard.cli.rollout", "waveguard.cli.simulate",
                     "waveguard.sim", "waveguard.rollout", "numpy", "duckdb", "matplotlib", "jinja2",
                     "jsonschema", "referencing", "kubernetes_validate", "typer.rich_utils", "rich.markdown",
                     "rich.syntax", "rich.pretty", "rich.traceback", "rich.progress", "rich.live",
                     "rich._emoji_codes")


@pytest.mark.parametrize("output", ["table", "json", "sarif"])
def test_each_output_of_analyse_imports_only_what_it_renders_with(output):
    """``-X importtime`` of ``analyse FILE -o OUTPUT`` (piped, 80 columns): the table loads rich's
    console and table, no SARIF code and nothing of :data:`NEVER_FOR_ANALYSE`; JSON and SARIF
    load no rich at all (nothing is printed through it)."""
    modules, code = _imported_modules(["analyse", str(SMALL_FILE), "-o", output])
    assert code == 1 and "waveguard.analysis.loader" in modules  # analysed: the incident is an error
    assert not [m for m in NEVER_FOR_ANALYSE if m in modules]
    rich = {m for m in modules if m == "rich" or m.startswith("rich.")}
    if output == "table":
        assert {"rich.console", "rich.table"} <= rich
        assert "waveguard.report.sarif" not in modules and "sarif_pydantic" not in modules
    else:
        assert rich == set()
    assert ("waveguard.report.sarif" in modules) == (output == "sarif")


def _analyse_table(console_of) -> str:
    """The incident DaemonSet's table as ``console_of(file)``'s console renders it at 80 columns."""
    import io

    from waveguard.analysis import analyse
    from waveguard.report.analysis import render_table

    buffer = io.StringIO()
    render_table(analyse([str(SMALL_FILE)]), console_of(buffer))
    return buffer.getvalue()


def test_a_table_console_skips_highlighting_only_where_no_colour_is_written():
    """:func:`for_tables` drops rich's highlighter when the console writes no colour (piped): the
    text is that of rich's default console, byte for byte but for the spaces that ended its
    lines (waveguard.cli.trim). With colour the highlighted styles stay (the legend's numbers
    and parentheses)."""
    from rich.console import Console
    from rich.highlighter import NullHighlighter, ReprHighlighter

    from waveguard.cli.common import for_tables
    from waveguard.cli.trim import trim_line

    def piped(file, fast=True):
        console = Console(file=file, width=80, soft_wrap=False, emoji=not fast)
        return for_tables(console) if fast else console

    def coloured(file, fast=True):
        console = Console(file=file, width=80, soft_wrap=False, force_terminal=True, color_system="256", emoji=not fast)
        return for_tables(console) if fast else console

    def trimmed(text: str) -> str:  # for_tables' lines end without spaces (waveguard.cli.trim)
        return "".join(trim_line(line) + "\n" for line in text.splitlines())

    assert isinstance(piped(None).highlighter, NullHighlighter)
    assert isinstance(coloured(None).highlighter, ReprHighlighter)
    assert _analyse_table(piped) == trimmed(_analyse_table(lambda f: piped(f, fast=False)))
    lit = _analyse_table(coloured)
    assert lit == trimmed(_analyse_table(lambda f: coloured(f, fast=False))) and "\x1b[1;2;36m60\x1b[0m" in lit


def test_a_table_prints_emoji_codes_as_written():
    """A ``:name:`` in a cell, a title or a path stays as written (a table console renders no emoji
    codes, and loads none)."""
    from rich.console import Console

    from waveguard.report.fit import Column, cell, fitted_table

    assert cell(":smile: a:b:").plain == ":smile: a:b:"
    group, _ = fitted_table(Console(width=80), ":fire: title", (Column("name", wrap=True),), [[":rocket:"]])
    import io

    console = Console(file=io.StringIO(), width=80, emoji=False)
    console.print(group)
    assert ":fire: title" in console.file.getvalue() and ":rocket:" in console.file.getvalue()  # type: ignore[attr-defined]


def _freeze_counts(argv: list[str]) -> list[int]:
    """``gc.get_freeze_count()`` when ``waveguard ARGV``'s own code has run and at exit."""
    code = f"""
import atexit, gc, sys
import waveguard.report.schemas as schemas, waveguard.analysis as analysis
counts = []
def spy(real):
    def inner(*args, **kwargs):
        result = real(*args, **kwargs)
        counts.append(gc.get_freeze_count())
        return result
    return inner
schemas.json_schema, analysis.analyse = spy(schemas.json_schema), spy(analysis.analyse)
atexit.register(lambda: print(*counts, gc.get_freeze_count(), file=sys.stderr))
sys.argv = ["waveguard", *{argv!r}]
from waveguard.cli.main import run
run()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    return [int(n) for n in out.stderr.split()]


def test_what_analyse_made_is_frozen_before_exit_and_other_commands_are_left_alone():
    """``analyse`` run as a process freezes what it made when it ends, so the interpreter's exit
    collections do not scan it; another command (``schema fleet``) does not."""
    during, at_exit = _freeze_counts(["analyse", str(SMALL_FILE), "-o", "json"])
    assert at_exit > during > 0
    during, at_exit = _freeze_counts(["schema", "fleet"])
    assert 0 < at_exit <= during  # frozen at start-up only (some of it freed since)


_WORDS = st.text(st.sampled_from("ab-.%,0é漢"), min_size=0, max_size=12)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rows=st.lists(st.lists(st.lists(_WORDS, min_size=1, max_size=4).map(" ".join), min_size=4, max_size=4),
                     min_size=1, max_size=6),
       width=st.integers(30, 140))
def test_a_table_whose_columns_fit_at_their_natural_widths_renders_as_rich_measures_it(rows, width):
    """:func:`fitted_table` gives rich the widths of a table that fits as it is (rich need not
    measure every cell again): the text is that of the same table with the widths left to rich."""
    import io

    from rich.console import Console

    from waveguard.report.fit import Column, fitted_table

    columns = (Column("name", wrap=True), Column("n", "right"), Column("flex", flex=True), Column("opt", drop=1))

    def text(console_width: int, hints: bool) -> str:
        console = Console(file=io.StringIO(), width=console_width, color_system=None, emoji=False)
        group, _ = fitted_table(console, "title", columns, rows)
        if not hints:
            for column in group.renderables[1].columns:  # type: ignore[attr-defined]
                column.width = None
        console.print(group)
        return console.file.getvalue()  # type: ignore[attr-defined]

    assert text(width, True) == text(width, False)
