"""Start-up time of ``waveguard analyse`` on one small file, side by side with ``kubectl version
--client``, ``python -c pass`` and the floor of any typer command, ``python -c "import typer,
pydantic"`` (issues 15 and 17, "Figures"; target ≤ 0.2 s).

    python benchmarks/bench_startup.py [--runs 20]

The commands run interleaved (one of each per round, so a busy machine slows them alike);
prints the median and the fastest wall time of each, in milliseconds, then the median of
``analyse`` against its target and what is left of it over the floor. ``analyse`` runs the
incident's DaemonSet file (6 documents) with ``-o json`` into /dev/null, and again with its
default table (rich's import and rendering on top); its exit 1 (an error finding) is
expected. kubectl is skipped, and said so, when it is not installed. waveguard's modules
are byte-compiled first (``compileall``, as pip does when it installs a wheel), so an
environment with ``PYTHONDONTWRITEBYTECODE`` set does not time the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_FILE = ROOT / "examples" / "incident-telemetry" / "telemetry-agent.yaml"
#: Target of issue 17: the whole process, in milliseconds.
TARGET_MS = 200
FLOOR = "python -c 'import typer, pydantic'"
ANALYSE = "waveguard analyse FILE"
TABLE = "waveguard analyse FILE (table)"


def commands() -> dict[str, list[str]]:
    """Name → argv of each command timed."""
    waveguard = Path(sys.executable).with_name("waveguard")
    found = {"python -c pass": [sys.executable, "-c", "pass"],
             FLOOR: [sys.executable, "-c", "import typer, pydantic"],
             ANALYSE: [str(waveguard), "analyse", str(SMALL_FILE), "-o", "json"],
             TABLE: [str(waveguard), "analyse", str(SMALL_FILE)],
             "waveguard --version": [str(waveguard), "--version"]}
    kubectl = shutil.which("kubectl")
    if kubectl:
        found["kubectl version --client"] = [kubectl, "version", "--client"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    import waveguard

    compileall.compile_dir(Path(waveguard.__file__).parent, quiet=1)
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
        print(f"{name:34} median {statistics.median(values):7.1f} ms   fastest {min(values):7.1f} ms   ({runs} runs)")
    analyse, floor = statistics.median(times[ANALYSE]), statistics.median(times[FLOOR])
    print(f"start-up of analyse: {analyse:.0f} ms (target ≤ {TARGET_MS} ms: {'ok' if analyse <= TARGET_MS else 'OVER'}); "
          f"the floor of typer + pydantic in the same run {floor:.0f} ms, waveguard's own {analyse - floor:.0f} ms")


if __name__ == "__main__":
    main()
