"""Benchmark: analyse a generated 2,000-document / ~10 MB bundle, and project one change onto a
1,000-cluster fleet. Targets (issue 2): ≤ 3 s, ≤ 1 s, peak RSS ≤ 300 MiB for both.

    python benchmarks/bench_analyse.py

Each case runs in its own subprocess so that its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples" / "incident-telemetry" / "telemetry-agent.yaml"
DOCUMENTS = 2000
TARGET_BYTES = 10 * 1024 * 1024


def generate_bundle(path: Path) -> tuple[int, int]:
    """Write a multi-document bundle of copies of the incident change, each object renamed and
    its ConfigMap padded so that the bundle reaches ~10 MB. Returns (documents, bytes)."""
    docs = [d for d in SOURCE.read_text().split("---\n") if "kind:" in d and "kind: Namespace" not in d]
    per_set = len(docs)
    sets = DOCUMENTS // per_set
    pad_lines = max(0, (TARGET_BYTES // sets - sum(len(d) for d in docs)) // 64)
    padding = "".join(f"    # padding line {i:05d} {'x' * 38}\n" for i in range(pad_lines))
    out = []
    for i in range(sets):
        for doc in docs:
            text = doc.replace("telemetry-agent", f"telemetry-agent-{i:04d}")
            if "kind: ConfigMap" in text:
                text = text.replace("    exporters:\n", padding + "    exporters:\n", 1)
            out.append(text)
    body = "---\n".join(out)
    path.write_text(body)
    return len(out), len(body.encode())


def _case(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON object with its figures."""
    wrapped = (
        "import json, resource, time\n" + code +
        "\nprint(json.dumps({**figures, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([sys.executable, "-c", wrapped], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle.yaml"
        n_docs, n_bytes = generate_bundle(bundle)
        analyse_figures = _case(
            "from waveguard.analysis import analyse\n"
            "t = time.perf_counter()\n"
            f"r = analyse([{str(bundle)!r}])\n"
            "figures = {'seconds': time.perf_counter() - t, 'documents': r.documents, 'findings': len(r.findings)}\n"
        )
    project_figures = _case(
        "from waveguard.analysis import build_profiles, load_change, project_fleet\n"
        "from waveguard.model.fleet import Cluster, Fleet\n"
        "profiles = build_profiles(load_change([" + repr(str(SOURCE)) + "]))\n"
        "fleet = Fleet(clusters=[Cluster(name=f'c{i:04d}', nodes=50 + (i * 7451) % 7500) for i in range(1000)])\n"
        "t = time.perf_counter()\n"
        "p = project_fleet(profiles, fleet)\n"
        "figures = {'seconds': time.perf_counter() - t, 'clusters': len(p),\n"
        "           'overloaded': sum(x.verdict == 'overload' for x in p)}\n"
    )
    print(f"analyse: {n_docs} documents, {n_bytes / 2**20:.1f} MiB bundle: {analyse_figures['seconds']:.2f} s "
          f"(target ≤ 3 s), peak RSS {analyse_figures['peak_rss_mib']:.0f} MiB (target ≤ 300 MiB), "
          f"{analyse_figures['findings']} findings")
    print(f"projection: 1 change onto {project_figures['clusters']} clusters: {project_figures['seconds']:.3f} s "
          f"(target ≤ 1 s), peak RSS {project_figures['peak_rss_mib']:.0f} MiB (target ≤ 300 MiB), "
          f"{project_figures['overloaded']} overloaded")
    ok = (analyse_figures["seconds"] <= 3 and project_figures["seconds"] <= 1
          and max(analyse_figures["peak_rss_mib"], project_figures["peak_rss_mib"]) <= 300)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
