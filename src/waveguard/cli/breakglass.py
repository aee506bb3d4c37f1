"""``waveguard breakglass``: keep the way back open (generate, check, kubeconfig)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import (
    EXIT_FINDINGS, EXIT_OK, KUBECONFIG_ENV, command_group, input_errors, legacy_format_option, output_file_option,
    output_option,
    resolve_output, wrapped_lines,
)
from waveguard.cli.paths import manifests_path, path_option
from waveguard.model.errors import InputError

from waveguard.breakglass import policy as P

DEFAULT_GROUP = P.DEFAULT_GROUP
DEFAULT_CONTROLLER = "/".join(P.DEFAULT_CONTROLLER)

breakglass_app = command_group(
    name="breakglass", no_args_is_help=True, add_completion=False,
    help="Keep the way back open: APF isolation for a break-glass group, its check, an emergency kubeconfig.",
)


#: Output formats: generate and kubeconfig print Kubernetes YAML; check a table or a document.
YAML_FORMATS = ("yaml",)
CHECK_FORMATS = ("table", "json", "yaml")


def register(app: typer.Typer) -> None:
    app.add_typer(breakglass_app, name="breakglass")


def _controller(text: str) -> tuple[str, str]:
    return P.parse_service_account(text, "--controller")


@breakglass_app.command("generate")
def generate_command(
    paths: list[str] = typer.Argument(..., parser=manifests_path, help="The change: rendered manifests, files or folders."),
    group: str = typer.Option(DEFAULT_GROUP, "--group", help="Break-glass group (the O= of emergency certificates)."),
    controller: str = typer.Option(DEFAULT_CONTROLLER, "--controller",
                                   help="The waveguard controller's ServiceAccount, namespace/name."),
    existing: Optional[list[str]] = typer.Option(None, "--existing", metavar="FILE",
                                                 help="The cluster's FlowSchemas/levels (kubectl get -o yaml; "
                                                      "repeatable)."),
    output: str = output_option(YAML_FORMATS),
    output_file: Optional[Path] = output_file_option("the objects"),
) -> None:
    """FlowSchemas + PriorityLevelConfigurations (flowcontrol v1) that give the break-glass group and
    the controller guaranteed seats, and cap every API-talking ServiceAccount of the change.

    Exit 0; 2 on bad input (nothing is written then).
    """
    from waveguard.analysis.loader import load_change
    from waveguard.breakglass.apf_objects import read_existing_objects
    from waveguard.breakglass.generate import generate_isolation

    with input_errors():
        out = resolve_output(output, YAML_FORMATS, output_file=output_file)
        ctl = _controller(controller)
        change = load_change(paths, validate=False)
        current = read_existing_objects(existing) if existing else []
        isolation = generate_isolation(change, group=group, controller=ctl, existing=current, source=", ".join(paths))
        out.emit(isolation.to_yaml())


@breakglass_app.command("check")
def check_command(
    manifests: Optional[list[str]] = typer.Option(None, "--manifests", metavar="PATH", parser=manifests_path,
                                                  help="FlowSchemas/levels to check (files or folders; repeatable), "
                                                       "merged with the Kubernetes defaults."),
    live: bool = typer.Option(False, "--live", help="Read them from the cluster of the kubeconfig context."),
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", envvar=KUBECONFIG_ENV,
                                             help="With --live: kubeconfig file(s), ':'-separated as kubectl takes "
                                                  "them."),
    context: Optional[str] = typer.Option(None, "--context", help="With --live: kubeconfig context."),
    change: Optional[list[str]] = typer.Option(None, "--change", metavar="PATH", parser=manifests_path,
                                               help="Also check that this change's ServiceAccounts are capped "
                                                    "(its manifests; repeatable)."),
    group: str = typer.Option(DEFAULT_GROUP, "--group", help="Break-glass group."),
    controller: str = typer.Option(DEFAULT_CONTROLLER, "--controller", help="Controller ServiceAccount, ns/name."),
    output: str = output_option(CHECK_FORMATS),
    output_file: Optional[Path] = output_file_option("the report"),
    legacy_format: Optional[str] = legacy_format_option(),
) -> None:
    """Is the break-glass path protected (and, with --change, is the change capped)?

    Exit 0: yes; 1: no; 2: bad input or the cluster cannot be read.
    """
    from waveguard.breakglass.apf_objects import read_flowcontrol_documents
    from waveguard.breakglass.check import check_manifests
    with input_errors():
        out = resolve_output(output, CHECK_FORMATS, output_file=output_file, legacy_format=legacy_format,
                             aliases={"text": "table"})
        if bool(manifests) == live:
            raise InputError("breakglass check", "give exactly one of --manifests PATH or --live")
        if (kubeconfig or context) and not live:
            raise InputError("--kubeconfig/--context", "only apply with --live", hint="add --live")
        P.validate_group(group)
        ctl = _controller(controller)
        sas: list[tuple[str, str]] = []
        if change:
            from waveguard.analysis.loader import load_change
            from waveguard.breakglass.generate import change_service_accounts

            sas = change_service_accounts(load_change(change, validate=False), ", ".join(change))
        if live:
            from waveguard.breakglass.live import read_live_objects

            docs: list = read_live_objects(kubeconfig=kubeconfig, context=context)
            source = f"live cluster ({context or 'current context'})"
        else:
            docs = read_flowcontrol_documents(manifests or [])
            source = ", ".join(manifests or [])
        report = check_manifests(docs, group=group, controller=ctl, service_accounts=sas, merge_defaults=not live,
                                 source=source)
        if out.structured:
            out.emit_document("BreakGlassCheck", report.model_dump(mode="json") | {"ok": report.ok})
        else:
            out.emit("\n".join(_check_lines(report, out.width)) + "\n")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FINDINGS)


def _check_lines(report, width: int) -> list[str]:
    """The check's verdict as text lines, wrapped to ``width`` cells with a hanging indent."""
    verdict = "protected" if report.protected else "NOT protected"
    lines = wrapped_lines(f"break-glass path: {verdict} ({report.source})", width)
    if report.capped is not None:
        lines.append(f"change ServiceAccounts: {'capped' if report.capped else 'NOT capped'}")
    for item in report.items:
        lines += wrapped_lines(f"{item.identity}: {item.detail}", width, first=f"  {'ok  ' if item.ok else 'FAIL'}  ",
                               hang=" " * 8)
    for note in report.notes:
        lines += wrapped_lines(f"note: {note}", width, first="  ", hang=" " * 4)
    if not report.ok:
        lines.append("fix: waveguard breakglass generate CHANGE_PATH | kubectl apply -f -")
    return lines


@breakglass_app.command("kubeconfig")
def kubeconfig_command(
    fleet: Path = path_option(..., "--fleet", help="Fleet YAML whose clusters list apiserver_endpoints (IPs)."),
    clusters: Optional[list[str]] = typer.Option(None, "--cluster", metavar="NAME",
                                                 help="Only these clusters (repeatable)."),
    port: int = typer.Option(6443, "--port", help="apiserver port (6443 self-managed, often 443 managed)."),
    tls_server_name: str = typer.Option("kubernetes", "--tls-server-name",
                                        help="Name the apiserver certificate carries (verified without DNS)."),
    credentials_dir: str = typer.Option("break-glass", "--credentials-dir",
                                        help="Folder of the CA bundles and client certificate, relative to the "
                                             "kubeconfig."),
    group: str = typer.Option(DEFAULT_GROUP, "--group", help="Break-glass group (for the instructions)."),
    output: str = output_option(YAML_FORMATS),
    output_file: Optional[Path] = output_file_option("the kubeconfig"),
) -> None:
    """An emergency kubeconfig that reaches every apiserver replica by IP: no DNS on the way back.

    Exit 0; 2 on bad input (a cluster without apiserver_endpoints, say; nothing is written then).
    """
    from waveguard.breakglass.kubeconfig import emergency_kubeconfig, render_kubeconfig
    from waveguard.model.fleet import load_fleet

    with input_errors():
        out = resolve_output(output, YAML_FORMATS, output_file=output_file)
        P.validate_group(group)
        config = emergency_kubeconfig(load_fleet(fleet), clusters=clusters or [], port=port,
                                      tls_server_name=tls_server_name, credentials_dir=credentials_dir,
                                      source=str(fleet))
        out.emit(render_kubeconfig(config, group=group, credentials_dir=credentials_dir))
