"""``waveguard dashboard --state FILE [--state FILE2] [--listen 127.0.0.1:PORT]``: the live state
of one or several rollouts as a local web page, read-only.

Loopback only unless ``--allow-remote``: the page shows plans, cluster names and reasons, and
has no authentication. Needs the ``dashboard`` extra (``pip install 'waveguard[dashboard]'``).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import List

import typer

from waveguard.cli.common import REFRESH_INTERVAL, duration_option, err_console, input_errors
from waveguard.cli.paths import path_option
from waveguard.model.errors import InputError

DEFAULT_LISTEN = "127.0.0.1:8765"


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_command)


def parse_listen(listen: str, allow_remote: bool) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` (``[::1]:PORT`` for IPv6). Raises InputError for a
    malformed address, or a non-loopback one without ``allow_remote``."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("--listen", f"{listen!r} is not HOST:PORT", hint=f"e.g. {DEFAULT_LISTEN}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise InputError("--listen", f"{host!r} is not an IP address or localhost",
                         hint=f"e.g. {DEFAULT_LISTEN}") from None
    if not loopback and not allow_remote:
        raise InputError("--listen", f"{host} is not loopback",
                         hint="use 127.0.0.1, or --allow-remote")
    return host, int(port)


def dashboard_command(
    states: List[Path] = path_option(..., "--state", help="A rollout's state database (repeat for several)."),
    listen: str = typer.Option(DEFAULT_LISTEN, "--listen", help="HOST:PORT to serve on (loopback by default)."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback --listen address."),
    interval: float = duration_option(0.5, "--interval", REFRESH_INTERVAL, "Seconds between polls of the state files."),
) -> None:
    """Serve a live, read-only web page of one or several rollouts."""
    with input_errors():
        host, port = parse_listen(listen, allow_remote)
        try:
            import uvicorn

            from waveguard.dashboard.app import DashboardConfig, create_app
        except ImportError as exc:
            raise InputError("dashboard", f"{exc.name} is not installed",
                             hint="pip install 'waveguard[dashboard]'") from None
        app = create_app(DashboardConfig(tuple(states), interval))
        listener = _bind(host, port, listen)
    err_console.print(f"dashboard: http://{host}:{port}/ (Ctrl-C stops it)", markup=False)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


def _bind(host: str, port: int, listen: str) -> socket.socket:
    """A listening socket on ``host:port``, bound before anything is printed, so an address in
    use is one line and exit 2. Raises InputError naming ``--listen``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise InputError(f"--listen {listen}", f"cannot listen there: {exc.strerror or exc}",
                         hint="pick a free port") from None
    listener.listen(128)
    return listener


__all__ = ["register", "parse_listen"]
