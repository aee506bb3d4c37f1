"""``waveguard analyse``: a change's load on the control plane, before it ships."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, input_errors, legacy_format_option, output_file_option, output_option, profiles_option,
    resolve_output,
)
from waveguard.cli.paths import manifests_path, path_option
from waveguard.model.gcpause import cyclic_gc_paused

#: Output formats of `analyse` (the first is the default).
FORMATS = ("table", "json", "yaml", "sarif")


class FailOn(str, Enum):
    warning = "warning"
    error = "error"


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse_command)


def analyse_command(
    paths: Optional[list[str]] = typer.Argument(None, parser=manifests_path, help="Rendered manifests: files or folders (helm template "
                                                "output); - (or /dev/stdin) reads them from standard input. May be "
                                                "left out with --profiles."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML (default: the built-in fleet)."),
    output: str = output_option(FORMATS),
    output_file: Optional[Path] = output_file_option(),
    legacy_format: Optional[str] = legacy_format_option(),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="Exit 1 when a finding reaches this severity."),
    profiles: Optional[Path] = profiles_option(
        None, help="Measured request profiles (waveguard measure --output-file profile.yaml): they replace the "
        "analysed or RBAC-bounded profiles of the workloads they name."),
    strict: bool = typer.Option(False, "--strict", help="An RBAC upper bound that overloads a cluster is an error "
                                "(default: an unverified warning)."),
    sarif_base: Optional[Path] = path_option(
        None, "--sarif-base", folder=True, help="SARIF locations are relative to this folder (default: the current folder; "
        "give the repository's root)."),
    sarif_category: str = typer.Option("waveguard", "--sarif-category",
                                       help="SARIF automationDetails category of this run."),
) -> None:
    """Which requests the change sends to kube-apiserver, how they grow, and where they overload.

    Exit 0: nothing reaches --fail-on; 1: something does; 2: bad input.
    """
    with cyclic_gc_paused():
        failed = _analyse(paths, fleet, output, output_file, legacy_format, fail_on, profiles, strict, sarif_base,
                          sarif_category)
    raise typer.Exit(EXIT_FINDINGS if failed else EXIT_OK)


def _analyse(paths: Optional[list[str]], fleet: Optional[Path], output: str, output_file: Optional[Path],
             legacy_format: Optional[str], fail_on: FailOn, profiles: Optional[Path], strict: bool,
             sarif_base: Optional[Path], sarif_category: str) -> bool:
    """The command's work; True when a finding reaches ``fail_on``."""
    # Imported here: every command's start-up stays light (`waveguard --help` included).
    from waveguard.analysis import analyse
    from waveguard.analysis.loader import manifest_files
    from waveguard.breakglass.lint import lint_change
    from waveguard.model.findings import SEVERITY_RANK
    from waveguard.model.fleet import load_fleet

    from waveguard.model.errors import InputError
    from waveguard.model.profiles_io import load_profiles

    with input_errors():
        out = resolve_output(output, FORMATS, output_file=output_file, legacy_format=legacy_format)
        if not paths and profiles is None:
            raise InputError("analyse", "no manifests given", hint="pass rendered manifests, or --profiles FILE")
        _check_sarif_options(out.format, sarif_base, sarif_category)
        _refuse_waveguard_documents(paths or [])
        from waveguard.model.yamlio import check_distinct_outputs

        inputs = [*(manifest_files(list(paths)) if paths else []), *(p for p in (fleet, profiles) if p is not None)]
        check_distinct_outputs({"--output-file": out.file}, inputs)
        fleet_model = load_fleet(fleet) if fleet else None
        measured = load_profiles(profiles) if profiles is not None else None
        result = analyse(list(paths or []), fleet_model, lints=[lint_change], profiles=measured,
                         profiles_source=str(profiles), strict=strict)
        # Only the chosen output's renderer is imported (a table loads no SARIF code).
        if out.structured:
            from waveguard.report.analysis import to_json

            out.emit_document("Analysis", to_json(result))
        elif out.format == "sarif":
            from waveguard.report.sarif import to_sarif

            files = [str(f) for f in manifest_files(list(paths))] if paths else []
            out.emit(json.dumps(to_sarif(result, sarif_base, files=files, category=sarif_category), indent=2))
        else:
            from waveguard.report.analysis import render_table

            with out.console() as console:
                render_table(result, console)
    worst = result.worst_severity()
    return worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on.value]


def _check_sarif_options(fmt: str, sarif_base: Optional[Path], sarif_category: str) -> None:
    """Raises InputError for a SARIF option that would do nothing (no ``-o sarif``), a
    ``--sarif-base`` that is no folder (every location would be relative to it), or an empty
    ``--sarif-category`` (only slashes or spaces): the run's ``automationDetails.id`` is
    ``CATEGORY/``, whose part before the last "/" is the run's category (SARIF 2.1.0 §3.17.4,
    runAutomationDetails.id), which GitHub code scanning tells a repository's uploads apart by;
    "" made the id "/", a run of no category."""
    from waveguard.model.errors import InputError

    given = [f for f, v in (("--sarif-base", sarif_base is not None), ("--sarif-category", sarif_category != "waveguard"))
             if v]
    if given and fmt != "sarif":
        raise InputError(given[0], f"is for -o sarif, not -o {fmt}", hint="add -o sarif or drop it")
    if not sarif_category.strip("/ "):
        raise InputError("--sarif-category", f"{sarif_category!r} is no SARIF category", hint="e.g. waveguard/prod")
    if sarif_base is not None and not sarif_base.is_dir():
        raise InputError("--sarif-base", f"{sarif_base} is not a folder", hint="give the repo's root")


#: What to run instead, for a waveguard document given to ``analyse`` (by its kind).
_INSTEAD = {"Plan": "use waveguard plan --check"}


def _refuse_waveguard_documents(paths: list[str]) -> None:
    """Raise InputError for a file named on the command line whose documents are all
    waveguard's own (``apiVersion: waveguard.io/...``, a Plan say): they are not Kubernetes
    manifests, and analysing them would report nothing. Files found in a folder are left to the
    loader (a plan beside the manifests it rolls out is skipped like any other unknown kind)."""
    import yaml

    from waveguard.model.errors import InputError

    for path in paths:
        file = Path(path)
        if path == "-" or not file.is_file():
            continue
        try:
            text = file.read_text()
            if "waveguard.io/" not in text:
                continue
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the loader reports what is wrong with it
        ours = [d for d in docs if isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("waveguard.io/")]
        if docs and len(ours) == len(docs):
            kind = str(ours[0].get("kind", "document"))
            raise InputError(path, f"is a waveguard {kind} file",
                             hint=_INSTEAD.get(kind, "give rendered manifests"))

