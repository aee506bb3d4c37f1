"""The exporter's HTTP side: ``/metrics/<cluster>/<component>`` for Prometheus, on loopback.

``GET /metrics/<cluster>/<component>``: 200 with the text exposition, 503 while the target is
down (kube-apiserver with no replica up, so Prometheus records ``up == 0``), 404 for an unknown
cluster or component. ``GET /`` or ``/metrics``: the list of target paths. Connections are kept
alive (Prometheus reuses one per target) and cut on :meth:`MetricsServer.close`, so a scraper
never goes on reading a stopped exporter's frozen state.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from waveguard.model.errors import InputError

#: Seconds between the server loop's checks for shutdown (``serve_forever``'s poll interval).
_POLL_S = 0.1

#: ``exposition(cluster, component)``: the body, None while the target is down; KeyError when unknown.
Exposition = Callable[[str, str], "bytes | None"]


class MetricsServer:
    """Serves ``exposition`` and the list ``paths()`` over HTTP/1.1 until :meth:`close`;
    counts the scrapes per target path."""

    def __init__(self, exposition: Exposition, paths: Callable[[], list[str]]) -> None:
        self.exposition, self.paths = exposition, paths
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._scrapes: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: a free one) and serve in a daemon thread; returns the
        address bound. Raises InputError when the port is taken."""
        try:
            self._http = ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as exc:
            raise InputError(f"{host}:{port}", f"cannot listen: {exc.strerror}", hint="pick another port") from exc
        self._http.daemon_threads = True
        bound_host, bound_port = self._http.server_address[:2]
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": _POLL_S},
                                        daemon=True, name="waveguard-exporter-http")
        self._thread.start()
        return str(bound_host), int(bound_port)

    def scrapes(self, path: str) -> int:
        """Scrapes served on ``path`` since the server started."""
        with self._lock:
            return self._scrapes.get(path, 0)

    def respond(self, path: str) -> tuple[int, bytes]:
        """(HTTP status, body) for a GET of ``path``; counts a scrape of a target path."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if parts == [""] or parts == ["metrics"]:
            return 200, ("\n".join(self.paths()) + "\n").encode()
        if len(parts) != 3 or parts[0] != "metrics":
            return 404, b""
        try:
            body = self.exposition(parts[1], parts[2])
            status = 200 if body is not None else 503
        except KeyError:
            body, status = b"", 404
        with self._lock:
            target = "/" + "/".join(parts)
            self._scrapes[target] = self._scrapes.get(target, 0) + 1
        return status, body if body is not None else b"no kube-apiserver replica is up\n"

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember (``open_``) or forget an open connection, to cut it on :meth:`close`."""
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop serving and cut every open keep-alive connection (idempotent); waits up to
        ``timeout_s`` seconds for the server thread."""
        self.stopped.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None


def _handler_for(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class of ``server`` (http.server builds one handler per request)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection per target

        def setup(self) -> None:
            super().setup()
            server.track(self.connection, True)

        def finish(self) -> None:
            server.track(self.connection, False)
            try:
                super().finish()
            except OSError:
                pass

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if server.stopped.is_set():
                self.close_connection = True
                try:
                    self.send_error(503, "exporter stopped")
                except OSError:
                    pass
                return
            status, body = server.respond(self.path)
            try:
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the scraper went away (timeout): nothing to do
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler
