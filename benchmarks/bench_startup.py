"""Start-up time of ``waveguard analyse`` on one small file, side by side with ``kubectl version
--client`` and ``python -c pass`` (issue 15, "Figures").

    python benchmarks/bench_startup.py [--runs 20]

The three commands run interleaved (one of each per round, so a busy machine slows them alike);
prints the median and the fastest wall time of each, in milliseconds. ``analyse`` runs the
incident's DaemonSet file (6 documents) with ``-o json`` into /dev/null; its exit 1 (an error
finding) is expected. kubectl is skipped, and said so, when it is not installed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_FILE = ROOT / "examples" / "incident-telemetry" / "telemetry-agent.yaml"


def commands() -> dict[str, list[str]]:
    """Name → argv of each command timed."""
    waveguard = Path(sys.executable).with_name("waveguard")
    found = {"python -c pass": [sys.executable, "-c", "pass"],
             "waveguard analyse FILE": [str(waveguard), "analyse", str(SMALL_FILE), "-o", "json"],
             "waveguard --version": [str(waveguard), "--version"]}
    kubectl = shutil.which("kubectl")
    if kubectl:
        found["kubectl version --client"] = [kubectl, "version", "--client"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    timed = commands()
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(runs):
        for name, argv in timed.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[name].append((time.perf_counter() - start) * 1000)
    if "kubectl version --client" not in timed:
        print("kubectl: not installed (not timed)")
    for name, values in times.items():
        print(f"{name:28} median {statistics.median(values):7.1f} ms   fastest {min(values):7.1f} ms   ({runs} runs)")


if __name__ == "__main__":
    main()
