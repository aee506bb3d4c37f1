"""A report as a person sees it: rendered by a real headless Chromium (Debian's ``chromium``).

The page is the ``simulate`` report of a small scenario with an apiserver held down; the
screenshot must not be blank (text and charts drawn: many dark and coloured pixels, many
colours) and is kept as a test artefact in ``build/test-artifacts/`` (or
``$WAVEGUARD_ARTIFACTS``). Without Chromium the test is skipped on a developer's machine and
fails in CI (``CI=true``), where .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from waveguard.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("WAVEGUARD_ARTIFACTS") or ROOT / "build" / "test-artifacts")
#: Chromium's flags for a one-shot screenshot with no network, no profile, no GPU.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed in CI (APT_PACKAGES in .ci/run)", pytrace=False)
        pytest.skip("chromium is not installed")
    return found


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 3000) -> None:
    """``page`` rendered by headless Chromium into ``png`` (a fresh profile, deleted after)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{height}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=300)


def test_simulate_report_renders_in_chromium_and_is_not_blank(runner, tmp_path, down_scenario):
    from matplotlib.image import imread

    scenario = tmp_path / "down.yaml"
    scenario.write_text(down_scenario)
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["simulate", str(scenario), "--report", str(page)])
    assert result.exit_code == 0, result.output
    png = tmp_path / "report.png"
    screenshot(page, png)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, ARTIFACTS / "simulate-report.png")
    shutil.copy(page, ARTIFACTS / "simulate-report.html")
    pixels = imread(str(png))[..., :3]  # floats 0..1, shape (3000, 1400, 3)
    assert pixels.shape[:2] == (3000, 1400)
    ink = (pixels < 0.85).any(axis=2)  # anything not white or near it: text, lines, bands
    assert ink.mean() > 0.01, "the page is (almost) blank"
    head = ink[:150]  # the title and the line naming what made the page
    assert head.mean() > 0.005, "no title at the top"
    colours = np.unique((pixels[::4, ::4] * 31).round().astype(np.int16).reshape(-1, 3), axis=0)
    assert len(colours) > 60, "no charts: too few colours"
    charts_rows = np.flatnonzero((np.abs(pixels[..., 0] - pixels[..., 2]) > 0.25).any(axis=1))
    assert len(charts_rows) > 100, "no coloured lines drawn"
