"""Fuzzing the readers of user input (issue 14, item 8) with hypothesis.

Each reader gets seed inputs from ``tests/fuzz_corpus/`` mutated byte-wise (flips, YAML / JSON /
exposition tokens inserted, spans deleted or duplicated, the file cut short) and, less often,
bytes from nothing. A reader may succeed or raise a :class:`WaveguardError` (``InputError``,
``SourceUnavailableError``: a one-line message); anything else is a traceback, and fails the
test. An example running longer than ``HANG_S`` seconds is a hang, and fails too.

Readers: the strict YAML loader and the fleet, plan, scenario and profile files on it; the
manifest analysis (``analysis.analyse``: the loader and the recognisers); the /metrics parser (text, and saved files plain or
gzip); the audit-log reader (``measure_audit_logs``, plain and gzip); the state-file reader
(``EventLog`` and the fold of its events).

Examples per reader (``HYPOTHESIS_PROFILE``): ``short`` (default, a few seconds in all, part of
the suite) or ``long``, the documented longer run (~10 minutes on one core)::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz.py -q

A failing input is printed by hypothesis (and kept in its example database, ``.hypothesis/``):
add it to ``tests/fuzz_corpus/`` once fixed.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waveguard.model.errors import WaveguardError

CORPUS = Path(__file__).parent / "fuzz_corpus"
#: Examples per reader: (short, long). The short run keeps the whole file to a few seconds;
#: the long one is 100× that. The audit reader starts DuckDB per example (~30 ms), hence fewer.
EXAMPLES = {"yaml": (120, 12_000), "manifests": (40, 4_000), "metrics": (150, 15_000), "audit": (12, 1_200),
            "state": (60, 6_000)}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "short")
#: Seconds one example may take before it counts as a hang: far above the slowest reader's
#: normal time (DuckDB's start, ~0.1 s), so machine load cannot trip it.
HANG_S = 30

#: Tokens inserted by the mutator: what makes YAML, JSON, exposition text and SQLite pages mean
#: something (anchors, aliases, merge keys, tags, flow brackets, tabs, NUL, invalid UTF-8).
TOKENS = [b": ", b"\n- ", b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system ", b"!!binary ", b"{", b"}",
          b"[", b"]", b"'", b'"', b"\t", b"\x00", b"\xff\xfe", b"true", b"-1", b"1e309", b".nan", b"---\n",
          b"...\n", b"%YAML 1.1\n", b"# TYPE x histogram\n", b'{le="+Inf"}', b" NaN", b"\n", b"\\", b"\\u0000",
          b'"kind":"Event"', b'"verb":"list"', b"null", b"\x1f\x8b", b"SQLite format 3\x00", b"\r\n"]


def _seeds(folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / folder).iterdir()) if p.is_file()]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with 0-8 byte-level mutations; one time in eight, bytes from nothing."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "token", "delete", "duplicate", "cut"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            end = pos + draw(st.integers(1, 256))
            data[end:end] = data[pos:end]
        elif op == "cut":
            del data[pos:]
    return bytes(data)


def fuzz_settings(reader: str) -> Callable:
    short, long = EXAMPLES[reader]
    return settings(max_examples=long if PROFILE == "long" else short, deadline=None, derandomize=PROFILE != "long",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextlib.contextmanager
def no_hang(seconds: int = HANG_S) -> Iterator[None]:
    """Fail (TimeoutError, not a WaveguardError) when the block runs past ``seconds``."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"hang: one input took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def only_waveguard_errors(read: Callable[[], object]) -> None:
    """Run ``read``: success and WaveguardError are fine; any other exception propagates."""
    with no_hang():
        try:
            read()
        except WaveguardError as exc:
            assert str(exc).strip(), "an error with no message"
            assert "\n" not in str(exc), f"a multi-line message: {exc!s}"


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="waveguard-fuzz-") as folder:
        yield Path(folder)


# --- YAML files: strict loader, fleet, plan, scenario, profiles -------------------------------------------

@fuzz_settings("yaml")
@given(data=mutated(_seeds("yaml")), reader=st.sampled_from(["strict", "fleet", "plan", "scenario", "profiles"]))
def test_yaml_readers_raise_only_input_errors(scratch, data, reader):
    from waveguard.model.fleet import default_fleet, load_fleet
    from waveguard.model.profiles_io import load_profiles
    from waveguard.model.yamlio import strict_load
    from waveguard.rollout.plan import load_plan
    from waveguard.sim.scenario import load_scenario

    path = scratch / f"{reader}.yaml"
    path.write_bytes(data)
    read = {"strict": lambda: strict_load(data.decode("utf-8", errors="replace"), str(path)),
            "fleet": lambda: load_fleet(path), "plan": lambda: load_plan(path, default_fleet()),
            "scenario": lambda: load_scenario(path), "profiles": lambda: load_profiles(path)}[reader]
    only_waveguard_errors(read)


# --- Manifests --------------------------------------------------------------------------------------------

@fuzz_settings("manifests")
@given(data=mutated(_seeds("manifests") + _seeds("yaml")))
def test_the_manifest_analysis_raises_only_input_errors(scratch, data):
    """The loader and the recognisers behind it (files → findings). The long run once found a
    traceback in the OpenTelemetry recogniser (``fuzz_corpus/manifests/otel-k8sattributes-list.yaml``,
    a ``k8sattributes`` processor given as a list): now a seed."""
    from waveguard.analysis import analyse

    path = scratch / "change.yaml"
    path.write_bytes(data)
    only_waveguard_errors(lambda: analyse([str(path)]))


# --- /metrics -----------------------------------------------------------------------------------------------

@fuzz_settings("metrics")
@given(data=mutated(_seeds("metrics")), compress=st.booleans())
def test_the_metrics_parser_raises_only_input_errors(scratch, data, compress):
    from waveguard.signals.exposition import parse_exposition, read_exposition

    only_waveguard_errors(lambda: parse_exposition(data.decode("utf-8", errors="replace"), source="fuzz"))
    path = scratch / "metrics.prom"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    only_waveguard_errors(lambda: read_exposition(path))


@fuzz_settings("metrics")
@given(data=mutated([gzip.compress(s, mtime=0) for s in _seeds("metrics")]))
def test_a_mutated_gzip_metrics_file_raises_only_input_errors(scratch, data):
    from waveguard.signals.exposition import read_exposition

    path = scratch / "metrics.prom.gz"
    path.write_bytes(data)
    only_waveguard_errors(lambda: read_exposition(path))


# --- Audit logs -----------------------------------------------------------------------------------------------

@fuzz_settings("audit")
@given(data=mutated(_seeds("audit")))
def test_the_audit_log_reader_raises_only_input_errors(scratch, data):
    from waveguard.signals.audit import measure_audit_logs

    path = scratch / "audit.log"
    path.write_bytes(data)
    only_waveguard_errors(lambda: measure_audit_logs([path], memory_limit="256MB", threads=1))


# --- State files ----------------------------------------------------------------------------------------------

@fuzz_settings("state")
@given(data=mutated(_seeds("state")))
def test_the_state_file_reader_raises_only_input_errors(scratch, data):
    from waveguard.rollout.eventlog import EventLog, fold

    path = scratch / "state.db"
    for leftover in (path, path.with_name("state.db-wal"), path.with_name("state.db-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(data)

    def read() -> None:
        log = EventLog(path)
        try:
            fold(log.events())
        finally:
            log.close()

    only_waveguard_errors(read)
