"""``measure -o json`` does not move under the speed work of issue 17 ("measure near its engine").

Every figure of the measurement — files, per-client requests, classes, pods, status codes,
resourceVersion semantics, informer evidence, notes — is compared byte for byte with a recorded
output, on the two real audit logs of the shared inputs and on a small log made by the generator
of ``benchmarks/bench_measure.py`` (the shape of the benchmark's 1 GB log: kubelets, a telemetry
DaemonSet LISTing and WATCHing all pods, controllers, CoreDNS, 429s, three stages per WATCH).
The log's path, which the output names, is replaced by ``LOG``. A change that moves a figure must
say why and re-record the files on purpose (``WAVEGUARD_RECORD_GOLDEN=1``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.conftest import INPUTS, ROOT, require_shared
from waveguard.cli.main import app

GOLDEN = Path(__file__).parent / "golden"

#: Bytes of the generated log (~2,300 lines), and its number of nodes (the benchmark's 1,500
#: nodes make pods the largest key; 20 keep the log small with every client present).
GENERATED_BYTES = 2_000_000
GENERATED_NODES = 20


def _generated_log(folder: Path) -> Path:
    """The benchmark generator's log (seeded: the same bytes on every run)."""
    spec = importlib.util.spec_from_file_location("bench_measure", ROOT / "benchmarks" / "bench_measure.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    log = folder / "audit.log"
    bench.generate(log, GENERATED_BYTES, nodes=GENERATED_NODES)
    return log


@pytest.mark.parametrize(("log_name", "golden"), [
    ("audit2rbac-demo-v1.jsonl", "measure-audit2rbac-demo-v1.json"),
    ("audit2rbac-demo-v1beta1-large.jsonl", "measure-audit2rbac-demo-v1beta1-large.json"),
    ("generated", "measure-generated.json"),
])
def test_measure_json_is_byte_identical_to_the_recorded_one(runner, tmp_path, log_name: str, golden: str) -> None:
    log = _generated_log(tmp_path) if log_name == "generated" else require_shared(INPUTS / "audit" / log_name)
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "-o", "json"])
    assert result.exit_code == 0, result.output
    got = result.stdout.replace(str(log), "LOG")
    if os.environ.get("WAVEGUARD_RECORD_GOLDEN") == "1":
        (GOLDEN / golden).write_text(got)
    assert got == (GOLDEN / golden).read_text()
