"""``waveguard exporter``: serve a simulated fleet to Prometheus as real components would.

Runs a scenario (its own schedule) paced against the wall clock and serves every cluster's
kube-apiserver, CoreDNS and kube-state-metrics at ``/metrics/<cluster>/<component>`` (and the
simulated CoreDNS on UDP at the same port). ``--scrape-config`` writes the Prometheus
configuration that scrapes it (one target per cluster, with its ``cluster`` label).
A rollout drives its own exporter instead: ``waveguard rollout start --signals prometheus
--serve-metrics 127.0.0.1:PORT``.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
import yaml

from waveguard.cli.common import SCRAPE_INTERVAL, SIMULATED_DURATION, duration_option, err_console, input_errors
from waveguard.cli.paths import path_argument, path_option
from waveguard.cli.numbers import finite_number
from waveguard.model.errors import InputError
from waveguard.model.yamlio import write_text_atomically

if TYPE_CHECKING:  # imported where used, so `waveguard --help` stays fast
    from waveguard.sim import FleetSimulator
    from waveguard.sim.exporter import FleetExporter
    from waveguard.sim.scenario import Scenario


def register(app: typer.Typer) -> None:
    """Add the ``exporter`` command to ``app``."""
    app.command("exporter")(exporter_command)


def exporter_command(
    scenario: Optional[Path] = path_argument(None, help="Scenario YAML (see docs/simulator.md).", show_default=False),
    builtin: Optional[str] = typer.Option(None, "--builtin", help="Serve a shipped scenario by name."),
    listen: str = typer.Option("127.0.0.1:9464", "--listen", help="HOST:PORT, a loopback address (HTTP; DNS on UDP)."),
    time_scale: float = typer.Option(1.0, "--time-scale", parser=finite_number(0.001), metavar="NUMBER",
                                     help="Simulated seconds per wall-clock second."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Random seed (default: the scenario's)."),
    scrape_config: Optional[Path] = path_option(None, "--scrape-config",
                                                 help="Write a Prometheus config scraping this exporter, then serve."),
    scrape_interval: float = duration_option(1.0, "--scrape-interval", SCRAPE_INTERVAL,
                                             "scrape_interval of --scrape-config, seconds (or 1s, 500ms)."),
    duration: Optional[float] = duration_option(None, "--duration", SIMULATED_DURATION,
                                                "Simulated seconds to run, then stop, or a duration (21m, "
                                                "1h30m; default: the scenario's)."),
    no_dns: bool = typer.Option(False, "--no-dns", help="Do not answer DNS."),
    config_only: bool = typer.Option(False, "--config-only",
                                     help="Only write --scrape-config (e.g. for a rollout's --serve-metrics) and exit."),
) -> None:
    """Serve a simulated fleet's /metrics (one target per cluster and component) and its CoreDNS."""
    from waveguard.sim.exporter import FleetExporter, parse_listen
    from waveguard.sim.run import build_simulator

    with input_errors():
        if (scenario is None) == (builtin is None):
            raise InputError("exporter", "give a SCENARIO.yaml or --builtin NAME",
                             hint="see simulate --list")
        host, port = parse_listen(listen, what="--listen")
        if port == 0:
            raise InputError("--listen", "give a fixed port to scrape",
                             hint="e.g. 127.0.0.1:9464")
        sc = _load_scenario(scenario, builtin)
        if config_only and scrape_config is None:
            raise InputError("--config-only", "nothing to write", hint="add --scrape-config FILE")
        if scrape_config is not None:
            _write_scrape_config(scrape_config, sc, f"{host}:{port}", scrape_interval)
        if config_only:
            return
        sim = build_simulator(sc, seed)
        exporter = FleetExporter(sim, host=host, port=port, dns=not no_dns).start()
    _serve(sim, exporter, end_s=sc.duration_s if duration is None else duration, time_scale=time_scale)


def _load_scenario(scenario: Path | None, builtin: str | None) -> Scenario:
    """The built-in scenario ``builtin``, else the one in ``scenario``. Raises InputError."""
    from waveguard.sim import load_builtin, load_scenario

    if builtin is not None:
        return load_builtin(builtin)
    assert scenario is not None, "the command checked that one of them is given"
    return load_scenario(scenario)


def _write_scrape_config(path: Path, sc: Scenario, address: str, scrape_interval_s: float) -> None:
    """Write the Prometheus configuration scraping ``address`` for ``sc``'s clusters."""
    from waveguard.sim.exporter import COMPONENTS, scrape_config

    config = scrape_config([c.name for c in sc.fleet_model.clusters], address,
                           scrape_interval_s=scrape_interval_s, components=COMPONENTS)
    # Whole or not at all: a Prometheus reloading it never sees half a config.
    write_text_atomically(path, yaml.safe_dump(config, sort_keys=False))


def _serve(sim: FleetSimulator, exporter: FleetExporter, *, end_s: float, time_scale: float) -> None:
    """Run ``sim`` paced (``time_scale`` simulated s per wall s) until ``end_s`` simulated
    seconds or Ctrl-C, publishing every slice to ``exporter``; then stop its servers."""
    from waveguard.sim.exporter import COMPONENTS
    from waveguard.sim.pacer import Pacer

    # Stopped by Ctrl-C or by SIGTERM (systemd, a container runtime, `kill`) alike, with exit 0;
    # SIGINT also when started as a background job, which inherits it ignored (Python then leaves
    # it ignored instead of raising KeyboardInterrupt).
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    dns = "" if not exporter.dns else f"; DNS on udp/{exporter.port}"
    try:
        err_console.print(f"serving {len(exporter.clusters)} clusters at {exporter.url}/metrics/<cluster>/"
                          f"<component> ({', '.join(COMPONENTS)}){dns}; {time_scale:g} simulated s per wall s, "
                          f"until t={end_s:g} s")
        # No max lag: the scenario's schedule is the simulator's own, so falling behind is caught up.
        Pacer(sim.step, lambda: sim.time_s, time_scale=time_scale, min_slice_s=sim.dt,
              on_slice=exporter.update).run_until(end_s)
        err_console.print(f"simulation ended at t={sim.time_s:g} s")
    except KeyboardInterrupt:
        pass
    finally:
        exporter.close()
