"""``waveguard export``: the gates as the rollout tools' own objects (``waveguard.export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from waveguard.cli.common import SCRAPE_INTERVAL, duration_option, err_console, input_errors
from waveguard.cli.paths import path_option

#: What ``export`` writes besides one target: every target, into ``--output-dir``.
ALL = "all"


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def export_command(
    target: str = typer.Argument(..., help="argo | flagger | prometheus-rule | grafana | all (all needs --output-dir)."),
    plan: Optional[Path] = path_option(None, "--plan", help="Take gates, thresholds and interval from this plan."),
    fleet: Optional[Path] = path_option(None, "--fleet", help="Fleet YAML the plan is checked against (default: built-in)."),
    output_file: Optional[Path] = path_option(None, "--output-file", help="Write the target here (default: stdout)."),
    output_dir: Optional[Path] = path_option(None, "--output-dir", folder=True, help="Write each target's file into this folder."),
    prometheus_url: Optional[str] = typer.Option(
        None, "--prometheus-url", envvar="WAVEGUARD_PROMETHEUS_URL",
        help="Prometheus the exported objects query (default: kube-prometheus' prometheus-k8s.monitoring.svc)."),
    namespace: str = typer.Option("default", "--namespace", help="Namespace of the exported objects."),
    scrape_interval: float = duration_option(30.0, "--scrape-interval", SCRAPE_INTERVAL,
                                             "Prometheus' scrape interval, seconds (sizes rate windows and "
                                             "freshness)."),
    cluster_label: str = typer.Option("cluster", "--cluster-label", help="The label that names a cluster in Prometheus."),
) -> None:
    """Write the gates as Argo Rollouts, Flagger, PrometheusRule or Grafana objects.

    An AnalysisTemplate, MetricTemplates, a PrometheusRule or a dashboard: the same gates,
    thresholds and PromQL waveguard uses (docs/integrations.md)."""
    from waveguard.export import EXPORTERS
    from waveguard.model.errors import InputError
    from waveguard.model.yamlio import check_output_path, write_text_atomically

    with input_errors():
        if target != ALL and target not in EXPORTERS:
            raise InputError("waveguard export", f"unknown target {target!r}",
                             hint=f"one of: {', '.join([*EXPORTERS, ALL])}")
        if output_file is not None and output_dir is not None:
            raise InputError("waveguard export", "give --output-file or --output-dir, not both")
        if target == ALL and output_dir is None:
            raise InputError("waveguard export all", "writes one file per target", hint="add --output-dir DIR")
        check_output_path(output_file, "--output-file")
        _check_namespace(namespace)
        if output_dir is not None and not output_dir.is_dir():
            raise InputError(str(output_dir), "--output-dir is not an existing folder", hint="create it first")
        gates = _gate_set(plan, fleet, prometheus_url, scrape_interval, cluster_label)
        targets = list(EXPORTERS.values()) if target == ALL else [EXPORTERS[target]]
        texts = {t.filename: t.text(gates, namespace) for t in targets}  # all rendered before any is written
        if gates.not_exported:  # said, so that no one takes the exported objects for the whole plan
            err_console.print(f"not exported (no PromQL reads them): {', '.join(gates.not_exported)}\n"
                              "  waveguard rollout runs them; gate check --change the projection", markup=False)
        if output_dir is None and output_file is None:
            typer.echo(texts[targets[0].filename], nl=False)
            return
        for filename, text in texts.items():
            path = output_file if output_file is not None else output_dir / filename  # type: ignore[operator]
            write_text_atomically(path, text)
            err_console.print(f"wrote {path}", markup=False)


def _check_namespace(namespace: str) -> None:
    """Raises InputError for a namespace kube-apiserver refuses (not a DNS-1123 label): kubectl
    apply would refuse every exported object."""
    from waveguard.model.errors import InputError
    from waveguard.model.strict_types import dns_label

    try:
        dns_label(namespace)
    except ValueError as exc:
        raise InputError("--namespace", str(exc)) from None


def _gate_set(plan: Path | None, fleet: Path | None, url: str | None, scrape_interval_s: float, cluster_label: str):
    """The gate set of ``plan`` (None: the registry's defaults) with these Prometheus settings.
    Raises InputError for a bad plan, fleet or setting."""
    from pydantic import ValidationError

    from waveguard.export.gateset import DEFAULT_PROMETHEUS_URL, gate_set
    from waveguard.model.errors import InputError, first_error
    from waveguard.signals.prometheus import PrometheusConfig

    try:
        config = PrometheusConfig(url=url or DEFAULT_PROMETHEUS_URL, scrape_interval_s=scrape_interval_s,
                                  cluster_label=cluster_label)
    except ValidationError as exc:
        err = first_error(exc)
        option = {"url": "--prometheus-url", "scrape_interval_s": "--scrape-interval"}.get(
            str(err["loc"][0]), "--" + str(err["loc"][0]).replace("_", "-"))
        raise InputError(option, err["msg"].removeprefix("Value error, ")) from None
    return gate_set(load_plan_option(plan, fleet), config=config, source=str(plan))


def load_plan_option(plan: Path | None, fleet: Path | None):
    """The plan of ``--plan`` checked against ``--fleet`` (default: the built-in fleet), or None."""
    if plan is None:
        return None
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.rollout.plan import load_plan

    return load_plan(plan, load_fleet(fleet) if fleet else default_fleet())
