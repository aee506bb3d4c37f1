"""Bad input never passes (issue 14, item 7): duplicate keys in every YAML waveguard reads,
unreadable files, damaged gzip/zstd streams, trickling servers, output paths, cluster names,
booleans where numbers are expected, and state-file errors that name the real cause."""

from __future__ import annotations

import gzip
import json
import os
import stat
import socket
import threading
import time

import pytest
import zstandard

from tests.test_measure_audit import _agent_log, write
from waveguard.cli.main import app
from waveguard.model.errors import InputError, SourceUnavailableError
from waveguard.model.fleet import load_fleet
from waveguard.model.profiles_io import load_profiles
from waveguard.model.yamlio import check_output_path, strict_load
from waveguard.rollout.eventlog import EventLog
from waveguard.rollout.plan import load_plan
from waveguard.signals.audit import measure_audit_logs
from waveguard.signals.exposition import fetch_exposition, read_exposition
from waveguard.sim.scenario import load_scenario

FLEET = "clusters:\n  - name: staging\n    labels: {env: staging}\n    nodes: 50\n"
PLAN = ("change: x\nwaves:\n  - name: staging\n    clusters: {labels: {env: staging}}\n    bake_s: 60\n")


# --- Duplicate keys: an error naming the file and both lines ---------------------------------------------

@pytest.mark.parametrize("reader,text,line", [
    ("fleet", "clusters:\n  - name: a\n    nodes: 5\n    nodes: 7000\n", 4),
    ("plan", PLAN + "gate_interval_s: 30\ngate_interval_s: 5\n", 7),
    ("scenario", "name: s\nduration_s: 10\nname: t\n", 3),
    ("profiles", "- client: a\n  client: b\n", 2),
])
def test_duplicate_keys_are_errors_naming_the_line(tmp_path, reader, text, line):
    path = tmp_path / f"{reader}.yaml"
    path.write_text(text)
    fleet = tmp_path / "base-fleet.yaml"
    fleet.write_text(FLEET)
    read = {"fleet": load_fleet, "plan": lambda p: load_plan(p, load_fleet(fleet)), "scenario": load_scenario,
            "profiles": load_profiles}[reader]
    with pytest.raises(InputError, match=rf"{reader}\.yaml:{line}: .*duplicate key .*\(first at line \d+\)"):
        read(path)


def test_the_strict_loader_refuses_an_alias_bomb_and_accepts_merge_keys():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7))
    with pytest.raises(InputError, match="alias bomb"):
        strict_load(bomb, "bomb.yaml")
    assert strict_load("a: &x {b: 1}\nc: {<<: *x, d: 2}\n", "m.yaml") == {"a": {"b": 1}, "c": {"b": 1, "d": 2}}


def test_a_folder_given_as_a_fleet_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="cannot read fleet file: it is a folder"):
        load_fleet(tmp_path)


# --- Cluster names and numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("clusters:\n  - {name: 'bad name/../x', nodes: 5}\n", "not a DNS-1123 label"),
    ("clusters:\n  - {name: Prod, nodes: 5}\n", "not a DNS-1123 label"),
    ("clusters:\n  - {name: a, nodes: true}\n", "clusters.0.nodes: .*expected a number, got the boolean true"),
    ("clusters:\n  - {name: a, nodes: '5'}\n", "clusters.0.nodes: .*expected a number, got the text"),
    ("clusters:\n  - {name: a, nodes: 5.5}\n", "clusters.0.nodes: cluster 'a': Input should be a valid integer"),
    ("clusters:\n  - {name: a, nodes: 5, pod_churn_per_s: true}\n", "expected a number, got the boolean true"),
])
def test_cluster_names_are_dns_labels_and_booleans_are_not_numbers(tmp_path, text, message):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_fleet(path)


def test_a_boolean_bake_time_in_a_plan_is_an_error(tmp_path):
    fleet, plan = tmp_path / "fleet.yaml", tmp_path / "plan.yaml"
    fleet.write_text(FLEET)
    plan.write_text(PLAN.replace("bake_s: 60", "bake_s: true"))
    with pytest.raises(InputError, match=r"plan\.yaml:5: waves\.0\.bake_s: .*boolean"):
        load_plan(plan, load_fleet(fleet))


# --- Compressed streams: damaged anywhere is an error naming the offset, nothing written ----------------

def _log_bytes() -> bytes:
    return "".join(json.dumps(e) + "\n" for e in _agent_log() * 50).encode()


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor(write_checksum=True).compress],
                         ids=["gzip", "zstd"])
@pytest.mark.parametrize("where", [0.5, -2], ids=["middle", "checksum"])
def test_a_damaged_compressed_audit_log_is_an_error_and_nothing_is_written(runner, tmp_path, compress, where):
    data = bytearray(compress(_log_bytes()))
    position = int(len(data) * where) if where > 0 else len(data) + where
    data[position] ^= 0x5A
    log, out = tmp_path / "audit.log.z", tmp_path / "profile.yaml"
    log.write_bytes(bytes(data))
    result = runner.invoke(app, ["measure", "--audit-log", str(log), "--output-file", str(out)])
    assert result.exit_code == 2, result.output
    assert "audit.log.z: the compressed stream is corrupt or truncated" in result.stderr
    assert "found at compressed byte" in result.stderr
    assert not out.exists()


def test_a_damaged_gzip_metrics_file_is_an_error_naming_the_offset(tmp_path):
    data = bytearray(gzip.compress(b"# TYPE up gauge\nup 1\n" * 2000))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "metrics.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"metrics\.gz: .*found at compressed byte [\d,]+"):
        read_exposition(path)


def test_an_intact_multi_member_gzip_log_reads_as_the_plain_one(tmp_path):
    raw = _log_bytes()
    half = len(raw) // 2
    gz = tmp_path / "two.log.gz"
    gz.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    plain = measure_audit_logs([write(tmp_path / "a.log", _agent_log() * 50)])
    assert measure_audit_logs([gz]).requests == plain.requests


# --- Network reads have a total deadline -----------------------------------------------------------------

@pytest.mark.parametrize("head_first", [False, True], ids=["drip-headers", "drip-body"])
def test_a_server_dripping_bytes_is_cut_off_at_the_total_deadline(head_first):
    """A server sending one byte every 0.2 s never trips a 0.5 s per-read timeout; the total
    deadline (4 × 0.5 s) ends the read. Checked by what was sent, not by a wall-clock bound (a
    test must not depend on the machine's speed): without the deadline the read would take the
    whole body (minutes); with it, the server is still dripping when the read gives up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n" + b"up 1\n" * 800
    stop = threading.Event()
    sent: list[int] = []

    def drip() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        rest = body
        if head_first:
            conn.sendall(body[:40])
            rest = body[40:]
        for byte in rest:
            if stop.is_set():
                break
            try:
                conn.send(bytes([byte]))
            except OSError:
                break
            sent.append(byte)
            time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        with pytest.raises(SourceUnavailableError, match=r"2 s in all") as err:
            fetch_exposition(f"http://127.0.0.1:{server.getsockname()[1]}/metrics", timeout_s=0.5)
        assert err.value.reason == "timeout"
        assert len(sent) < len(body) - (40 if head_first else 0)  # given up before the body was whole
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


# --- Output paths are checked before any work -------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["plan", "examples/incident-telemetry", "--output-file", "{missing}/p.yaml"],
    ["simulate", "--builtin", "incident-2024-12-11", "--report", "{missing}/r.html"],
    ["simulate", "--builtin", "incident-2024-12-11", "--metrics-out", "{missing}/m.csv"],
    ["demo", "--report", "{missing}/d.html"],
    ["fidelity", "--report", "{missing}/f.html"],
    ["breakglass", "generate", "examples/incident-telemetry", "--output-file", "{missing}/b.yaml"],
    ["measure", "--audit-log", "nothing.log", "--output-file", "{missing}/p.yaml"],
])
def test_an_output_path_in_a_missing_folder_fails_before_any_work(runner, tmp_path, monkeypatch, args):
    """No simulation runs first: one would fail the command here (not a wall-clock bound, which
    depended on the machine's speed)."""
    from waveguard.sim.engine import FleetSimulator

    def no_simulation(*_: object, **__: object) -> None:
        raise AssertionError("a simulation ran before the output path was checked")

    monkeypatch.setattr(FleetSimulator, "__init__", no_simulation)
    missing = tmp_path / "missing" / "dir"
    result = runner.invoke(app, [a.format(missing=missing) for a in args])
    assert result.exit_code == 2, result.output
    assert f"the folder {missing} does not exist" in result.stderr


def test_an_unwritable_output_folder_is_named(tmp_path, monkeypatch):
    """Tests run as root here (every folder is writable), so the permission is denied through
    os.access, which the check consults."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="no write permission in"):
        check_output_path(tmp_path / "p.yaml", "-o")


# --- State-file errors name the real cause -----------------------------------------------------------------

def test_state_file_errors_name_the_real_cause(tmp_path, monkeypatch):
    import sqlite3

    with pytest.raises(InputError, match="the folder .*missing does not exist"):
        EventLog(tmp_path / "missing" / "state.db", create=True)
    with pytest.raises(InputError, match="is a folder"):
        EventLog(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 1000)
    with pytest.raises(InputError, match="not a SQLite file"):
        EventLog(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (a)")
    with pytest.raises(InputError, match="without waveguard's events table"):
        EventLog(other)
    good = tmp_path / "good.db"
    EventLog(good, create=True).close()
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere
    with pytest.raises(InputError, match="no permission to read and write"):
        EventLog(good)


def test_a_state_file_with_a_damaged_page_is_called_corrupt(tmp_path):
    state = tmp_path / "state.db"
    log = EventLog(state, create=True)
    for i in range(200):
        log.append("started" if i == 0 else "paused", float(i))
    log.close()
    data = bytearray(state.read_bytes())
    page = 4096  # PRAGMA page_size's default; every page after the first is b-tree pages of the tables
    for start in range(page, len(data), page):
        data[start:start + 8] = b"\xff" * 8  # an invalid b-tree page header (type 0xff)
    state.write_bytes(bytes(data))
    with pytest.raises(InputError, match="not a readable waveguard state database: corrupt"):
        EventLog(state).events()


def test_an_output_path_that_is_a_pipe_is_refused_before_any_work(tmp_path):
    """``--report``/``--output-file`` write through a temporary file and a rename, which would
    replace a device or a pipe with a regular file (as root, /dev/null: the new-user trial)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is not a regular file"):
        check_output_path(fifo, "--report")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
