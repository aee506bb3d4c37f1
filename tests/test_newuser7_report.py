"""The rollout report as a person sees it, in a real headless Chromium (new-user trial 7): the
projection table of a halted rollout broke cluster names at their hyphens ("prod-24-" over
"7500"), so a reader could not scan the column for a cluster."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from waveguard.cli.main import app

CHROMIUM = Path("/usr/bin/chromium")
CHANGE = Path("examples/incident-telemetry")


def test_cluster_names_in_the_rollout_report_are_never_broken(runner, tmp_path):
    import os

    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed in CI", pytrace=False)
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    plan, state, page = tmp_path / "plan.yaml", tmp_path / "s.db", tmp_path / "r.html"
    assert runner.invoke(app, ["plan", str(CHANGE), "--output-file", str(plan)]).exit_code == 0
    assert runner.invoke(app, ["rollout", "start", str(plan), "--state", str(state)]).exit_code == 1  # halted
    assert runner.invoke(app, ["rollout", "report", "--state", str(state), "--output-file", str(page)]).exit_code == 0
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        browser = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                       args=["--no-sandbox", "--disable-gpu"],
                                                       viewport={"width": 1280, "height": 900})
        tab = browser.new_page()
        tab.goto(page.resolve().as_uri())
        lines = tab.evaluate("""() => [...document.querySelectorAll('td')]
            .filter(td => /^(staging|prod-\\d+-\\d+)$/.test(td.textContent.trim()))
            .map(td => { const r = document.createRange(); r.selectNodeContents(td);
                         const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                         return [td.textContent.trim(), tops.size]; })""")
        browser.close()
    assert len(lines) >= 24  # the projection table's clusters (and the halt's)
    assert [name for name, n in lines if n != 1] == []


def test_event_details_in_the_rollout_report_are_not_python_reprs():
    """The events table showed ``before_apply: True``, ``backend: {'dns_mode': 'probe', ...}``
    and ``value: 0.8429889652103619``; it reads as the state file and -o json spell them."""
    from waveguard.report.rollout_report import _detail

    line = _detail({"before_apply": True, "backend": {"dns_mode": "probe", "seed": 0}, "value": 0.8429889652103619,
                    "gate": "projection", "pause": None})
    assert line == "before_apply: true; backend: dns_mode=probe, seed=0; value: 0.843; gate: projection; pause: null"
