"""Start-up time of ``waveguard analyse`` on one small file, in each output (the default table,
``-o json``, ``-o sarif``), side by side with ``kubectl version --client``, ``python -c pass`` and
the floor of any typer command, ``python -c "import typer, pydantic"`` (issues 15 and 17,
"Figures"; target ≤ 0.2 s for every output: a pre-commit hook runs the default table).

    python benchmarks/bench_startup.py [--runs 20] [--before OLD/src]

The commands run interleaved (one of each per round, so a busy machine slows them alike);
prints the median and the fastest wall time of each and its median CPU time (user + system of
the process, which other work on the machine disturbs less), in milliseconds, then each output
of ``analyse`` against its target beside the floor, and the load average before and after.
``analyse`` runs the incident's DaemonSet file (6 documents) into /dev/null at 80 columns
(``COLUMNS=80``, as piped); its exit 1 (an error finding) is expected. ``--before OLD/src`` also
runs each output with another tree of waveguard's sources first on ``PYTHONPATH`` (a checkout of
an earlier commit), in the same rounds, and prints before → after. kubectl is skipped, and said
so, when it is not installed. The sources are byte-compiled first (``compileall``, as pip does
when it installs a wheel), so an environment with ``PYTHONDONTWRITEBYTECODE`` set does not time
the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
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
#: The outputs of ``analyse`` timed: name → its options (the table is the default).
OUTPUTS = {"table": [], "-o json": ["-o", "json"], "-o sarif": ["-o", "sarif"]}


def analyse_name(output: str, tree: str = "") -> str:
    return f"waveguard analyse FILE {output}" + (f" ({tree})" if tree else "")


def commands(before: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name → (argv, environment) of each command timed."""
    waveguard = str(Path(sys.executable).with_name("waveguard"))
    env = {**os.environ, "COLUMNS": "80"}
    found = {"python -c pass": ([sys.executable, "-c", "pass"], env),
             FLOOR: ([sys.executable, "-c", "import typer, pydantic"], env)}
    for output, options in OUTPUTS.items():
        argv = [waveguard, "analyse", str(SMALL_FILE), *options]
        if before is not None:
            found[analyse_name(output, "before")] = (argv, {**env, "PYTHONPATH": str(before)})
        found[analyse_name(output)] = (argv, env)
    found["waveguard --version"] = ([waveguard, "--version"], env)
    kubectl = shutil.which("kubectl")
    if kubectl:
        found["kubectl version --client"] = ([kubectl, "version", "--client"], env)
    return found


def timed_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one run of ``argv``, output discarded."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", type=Path, help="another tree of waveguard's sources (its src folder), "
                        "timed in the same rounds")
    args = parser.parse_args()
    import waveguard

    for tree in [Path(waveguard.__file__).parent, *([args.before] if args.before else [])]:
        compileall.compile_dir(tree, quiet=1)
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    timed = commands(args.before)
    walls: dict[str, list[float]] = {name: [] for name in timed}
    cpus: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.runs):
        for name, (argv, env) in timed.items():
            wall, cpu = timed_run(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    if "kubectl version --client" not in timed:
        print("kubectl: not installed (not timed)")
    for name in timed:
        print(f"{name:41} median {statistics.median(walls[name]):6.1f} ms   fastest {min(walls[name]):6.1f} ms   "
              f"CPU median {statistics.median(cpus[name]):6.1f} ms   ({args.runs} runs)")
    _summary(walls, cpus, args.before is not None)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")


def _summary(walls: dict[str, list[float]], cpus: dict[str, list[float]], before: bool) -> None:
    """Each output of analyse against the target, beside the floor (medians of the same run)."""
    floor = statistics.median(walls[FLOOR])
    print(f"start-up of analyse, medians (target ≤ {TARGET_MS} ms each; the floor of typer + pydantic in the "
          f"same run {floor:.0f} ms):")
    for output in OUTPUTS:
        wall, cpu = statistics.median(walls[analyse_name(output)]), statistics.median(cpus[analyse_name(output)])
        line = (f"  {output:9} {wall:4.0f} ms ({'ok' if wall <= TARGET_MS else 'OVER'}; CPU {cpu:.0f} ms), "
                f"waveguard's own {wall - floor:.0f} ms")
        if before:
            old, old_cpu = (statistics.median(walls[analyse_name(output, "before")]),
                            statistics.median(cpus[analyse_name(output, "before")]))
            line += f"; before {old:.0f} → {wall:.0f} ms (CPU {old_cpu:.0f} → {cpu:.0f})"
        print(line)


if __name__ == "__main__":
    main()
