"""Where Prometheus finds the exporter: the listen address and the scrape configuration.

The exporter listens on loopback only (:func:`parse_listen`); :func:`scrape_config` writes the
Prometheus jobs that scrape it, one per component, one target per cluster with its ``cluster``
label — so the same PromQL reads the exporter and a real fleet.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from waveguard.model.errors import InputError
from waveguard.sim.exporter.families import COMPONENTS


def parse_listen(address: str, *, what: str = "--serve-metrics") -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); the host must be a loopback address (the exporter never
    listens elsewhere). Port 0 picks a free one. Raises InputError, naming ``what``."""
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text) if sep else -1
    except ValueError:
        port = -1
    if not 0 <= port < 65536:
        raise InputError(what, f"{address!r} is not HOST:PORT", hint="e.g. 127.0.0.1:9464")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InputError(what, f"{host} is not a loopback address: the exporter listens on 127.0.0.1 only",
                         hint="use 127.0.0.1:PORT")
    return ("127.0.0.1" if host == "localhost" else host), port


def scrape_config(clusters: Iterable[str], address: str, *, scrape_interval_s: float = 1.0,
                  components: Iterable[str] = COMPONENTS) -> dict:
    """A Prometheus configuration (a dict to dump as YAML) scraping the exporter at
    ``address`` (HOST:PORT): one job per component, one target per cluster, each with its
    ``cluster`` label and ``__metrics_path__``. ``scrape_timeout`` = the interval (seconds)."""
    interval = _duration(scrape_interval_s)
    clusters = list(clusters)
    jobs = [{
        "job_name": component, "scrape_interval": interval, "scrape_timeout": interval,
        "static_configs": [{"targets": [address],
                            "labels": {"cluster": c, "__metrics_path__": f"/metrics/{c}/{component}"}}
                           for c in clusters],
    } for component in components]
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": jobs}


def _duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: whole seconds ``2s``, else milliseconds ``500ms``."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
