"""HTTP GETs with a total deadline, not only a per-read timeout.

``urllib``'s ``timeout`` bounds each socket operation: a server that sends one byte every 2 s
(headers or body) keeps a read with a 5 s timeout alive forever. Here every receive on the
connection is given the time left until one deadline, so connecting, the headers and the body
together take at most the deadline. Redirects and HTTP errors behave as ``urlopen``'s.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
import urllib.request
from typing import Any


class _DeadlineSocket:
    """A connected socket whose receives time out at ``deadline`` (``time.monotonic()``
    seconds): each receive waits at most its own timeout (the socket's, as connected) and the
    time left. Raises TimeoutError past either."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._per_read = sock.gettimeout()
        self._files = 0  # files open on this socket: closed for real after the last (as socket.socket)
        self._close_asked = False

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("total deadline passed")
        self._sock.settimeout(left if self._per_read is None else min(left, self._per_read))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> io.BufferedReader:
        # http.client reads the status line, headers and body through this file.
        self._files += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"), buffering or io.DEFAULT_BUFFER_SIZE)  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # called by SocketIO.close
        self._files -= 1
        if self._close_asked and self._files <= 0:
            self._sock.close()

    def close(self) -> None:
        # urllib closes the connection's socket once the response holds its file: keep it open
        # until that file is closed too, as socket.socket does.
        self._close_asked = True
        if self._files <= 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _connection_class(base: type[http.client.HTTPConnection], deadline: float) -> Any:
    """``base`` whose connect waits at most the time left and whose socket is a
    :class:`_DeadlineSocket`."""

    class DeadlineConnection(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("total deadline passed")
            timeout: Any = getattr(self, "timeout")  # noqa: B009 - typeshed types it loosely
            self.timeout = min(timeout, left) if isinstance(timeout, (int, float)) else left
            super().connect()
            sock: Any = getattr(self, "sock")  # noqa: B009
            self.sock = _DeadlineSocket(sock, deadline)

    return DeadlineConnection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._class = _connection_class(http.client.HTTPConnection, deadline)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._class, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._class = _connection_class(http.client.HTTPSConnection, deadline)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._class, req)


def open_with_deadline(req: urllib.request.Request, *, timeout_s: float, total_s: float) -> Any:
    """``urlopen(req)`` with ``timeout_s`` per socket operation and ``total_s`` seconds for
    everything (connect, headers, and every later read of the response's body). Raises what
    ``urlopen`` raises; TimeoutError once ``total_s`` has passed."""
    deadline = time.monotonic() + total_s
    opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
    return opener.open(req, timeout=timeout_s)
