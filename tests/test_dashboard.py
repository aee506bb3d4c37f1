"""`waveguard dashboard` end to end (issue 16, item 2): the real command serves two rollouts'
state files while a writer appends to one of them; Debian's chromium (headless, driven by
Playwright) loads the page, shows the current wave, updates when events are appended, and
shows the halt with its reason and figure. Screenshots are kept in the test's tmp folder (the
path is printed; `pytest -s` shows it). Also: the figures (page weight, time to first render),
loopback only by default, read-only."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.live_rollout import RolloutWriter
from waveguard.cli.dashboard import parse_listen
from waveguard.cli.main import app
from waveguard.model.errors import InputError

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
REASON = "gate apiserver_p99_latency failed on c0003: p99 latency of mutating requests 2.5 s (threshold 1)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (127.0.0.1 only)
        return r.read()


@pytest.fixture
def served(tmp_path):
    """Two rollouts (one mid-bake with a no-data gap, one finished) served by `waveguard dashboard`."""
    live = RolloutWriter(tmp_path / "live.db", clusters=12)
    live.start_wave()
    live.evaluate()
    live.pass_wave()
    live.start_wave()
    for values in ({}, {"dns_probe": None}, {}):
        live.evaluate(values)
    done = RolloutWriter(tmp_path / "done.db", clusters=3)
    done.start_wave()
    done.evaluate()
    done.pass_wave()
    done.close()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "waveguard.cli.main", "dashboard", "--state",
                               str(live.log.path), "--state", str(done.log.path), "--listen", f"127.0.0.1:{port}",
                               "--interval", "0.1"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            _get(url + "api/rollouts")
            break
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.1)
    yield url, live
    server.terminate()
    server.wait(timeout=30)
    live.close()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium missing in CI (.ci/run installs it)", pytrace=False)
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                       args=FLAGS, viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        tab = browser.new_page()
        tab.on("pageerror", lambda e: errors.append(str(e)))
        yield tab
        browser.close()
        assert errors == []


def test_the_page_follows_a_running_rollout_to_its_halt(served, page, tmp_path):
    url, live = served
    page.goto(url)
    page.wait_for_selector("body[data-rendered=yes]", timeout=20_000)
    rollout = page.locator("#rollout-0")
    assert "1 canary" in rollout.locator(".wave.current").inner_text()
    # the bake clock: 1:30 at the last evaluation, run on (at most to the next one) since
    assert re.fullmatch(r"bake (1:[3-5]\d|2:00) of 21:00 · \d+:\d\d left", rollout.locator(".bake").inner_text())
    assert rollout.locator(".grid .cell.baking").count() == 2
    assert rollout.locator(".gate").count() == 3 and rollout.locator(".gate canvas").count() == 3
    assert "2 prod" in page.locator("#rollout-1 .wave.current").inner_text() or \
        page.locator("#rollout-1 .wave.done").count() == 1
    page.screenshot(path=tmp_path / "1-baking.png", full_page=True)

    live.pass_wave()
    live.start_wave()  # events appended: the page moves to the next wave by itself
    last = live.log.events()[-1].seq
    page.wait_for_selector(f"#rollout-0[data-seq='{last}']", timeout=10_000)
    assert "2 prod" in rollout.locator(".wave.current").inner_text()
    assert rollout.locator(".grid .cell").count() == 9
    page.screenshot(path=tmp_path / "2-next-wave.png", full_page=True)

    live.halt("apiserver_p99_latency", 2.5, REASON)
    page.wait_for_selector("#rollout-0[data-status='rolled_back']", timeout=10_000)
    assert rollout.locator(".halt .reason").inner_text() == f"halted: {REASON}"
    assert rollout.locator(".halt .figure").inner_text() == "apiserver_p99_latency on c0003: 2.5 s against 1 s"
    assert rollout.locator(".grid .cell.rolled_back").count() == 9 and rollout.locator(".bake").count() == 0
    assert "2 prod" in rollout.locator(".wave.halted").inner_text()
    assert "fail" in rollout.locator(".gate[data-gate='apiserver_p99_latency'] .status-fail").inner_text()
    page.screenshot(path=tmp_path / "3-halted.png", full_page=True)
    print(f"\ndashboard screenshots: {tmp_path}/1-baking.png, 2-next-wave.png, 3-halted.png")


def test_page_weight_and_time_to_first_render(served, page):
    """The figures (printed): bytes the page loads (HTML, CSS, JavaScript, uPlot; the event
    stream excluded) and the time from navigation to the first render of every rollout, in a
    fresh browser profile (cold) and loaded again (warm)."""
    url, _ = served
    figures = []
    for _ in range(2):
        page.goto(url)
        page.wait_for_selector("body[data-rendered=yes]", timeout=20_000)
        figures.append(page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource').filter(r => !r.name.includes('/events'));
            return {bytes: nav.decodedBodySize + res.reduce((s, r) => s + r.decodedBodySize, 0),
                    files: 1 + res.length,
                    first_render_ms: performance.getEntriesByName('waveguard-first-render')[0].startTime};
        }"""))
    cold, warm = figures
    print(f"\ndashboard page weight: {cold['bytes']:,} bytes in {cold['files']} files; time to first render: "
          f"{cold['first_render_ms']:.0f} ms (fresh browser profile), {warm['first_render_ms']:.0f} ms (loaded again)")
    assert 50_000 < cold["bytes"] < 200_000  # uPlot (51 kB) + the page; no other library
    assert cold["files"] == 6 and cold["first_render_ms"] > 0 and warm["first_render_ms"] > 0


def test_the_api_is_read_only_and_serves_the_view(served):
    url, live = served
    doc = json.loads(_get(url + "api/rollouts/0"))
    assert doc["wave"] == 1 and [90.0, None, 0.01] in doc["series"]["dns_probe"]  # the no-data gap
    request = urllib.request.Request(url + "api/rollouts/0", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    assert refused.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(url + "api/rollouts/7")
    assert missing.value.code == 404


def test_the_stream_sends_the_view_again_each_second_while_the_rollout_runs(served):
    """No event appended: the view is sent again (its bake clock runs on), with the same seq."""
    url, live = served
    with urllib.request.urlopen(url + "api/rollouts/0/events", timeout=10) as stream:  # noqa: S310
        messages = []
        while len(messages) < 3:
            line = stream.readline().decode()
            if line.startswith("data: "):
                messages.append(json.loads(line.removeprefix("data: ")))
    assert {m["seq"] for m in messages} == {live.log.events()[-1].seq}
    assert all(m["status"] == "running" and m["bake"]["elapsed"] >= 90.0 for m in messages)


def test_listen_is_loopback_unless_allowed(runner, tmp_path):
    assert parse_listen("127.0.0.1:8765", False) == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:9000", False) == ("::1", 9000)
    assert parse_listen("0.0.0.0:9000", True) == ("0.0.0.0", 9000)
    for bad in ("0.0.0.0:9000", "192.168.1.5:80", "example.org:80", "127.0.0.1", "127.0.0.1:99999"):
        with pytest.raises(InputError):
            parse_listen(bad, False)
    w = RolloutWriter(tmp_path / "r.db", clusters=2)
    w.close()
    result = runner.invoke(app, ["dashboard", "--state", str(tmp_path / "r.db"), "--listen", "0.0.0.0:8765"])
    assert result.exit_code == 2 and "0.0.0.0 is not loopback" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["dashboard", "--state", str(tmp_path / "none.db")])
    assert missing.exit_code == 2 and "no rollout state here" in missing.stderr
