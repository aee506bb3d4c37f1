"""A real Prometheus (Debian package ``prometheus``) for tests: started on 127.0.0.1 with a
temporary configuration and TSDB directory, stopped afterwards.

In CI (``CI=true``) a missing binary fails the test instead of skipping it: the Prometheus path
must be exercised there (``.ci/run`` installs the package).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

BINARY_CANDIDATES = ("/usr/bin/prometheus", "/usr/local/bin/prometheus")


def prometheus_binary() -> str:
    """Path of the prometheus binary; skip (or, in CI, fail) when there is none."""
    found = shutil.which("prometheus") or next((p for p in BINARY_CANDIDATES if os.access(p, os.X_OK)), None)
    if found is None:
        msg = "prometheus binary not found (apt-get install prometheus)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + ": required in CI")
        pytest.skip(msg)
    return found


def free_port() -> int:
    """A TCP and UDP port free on 127.0.0.1 (the exporter serves HTTP and DNS on one number)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class PrometheusServer:
    """One Prometheus process; ``url`` once :meth:`start` returned."""

    def __init__(self, workdir: Path, config: dict) -> None:
        self.workdir = workdir
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> "PrometheusServer":
        binary = prometheus_binary()
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.log = self.workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             "--storage.tsdb.retention.time=1h"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("prometheus did not become ready")

    def query(self, expr: str) -> list:
        doc = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5).json()
        return doc["data"]["result"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
