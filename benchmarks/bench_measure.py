"""Benchmark ``waveguard measure`` (issues 5 and 17, "Figures").

1. Generates a ~1 GB audit log (audit.k8s.io/v1 JSON lines; synthetic but shaped like a real
   cluster's: kubelets, controllers, CoreDNS, and a telemetry DaemonSet whose every pod LISTs and
   WATCHes all pods; RequestReceived + ResponseComplete stages, ResponseStarted for WATCHes,
   Metadata level with annotations, some 429s) in a temporary folder.
2. Times ``waveguard measure --json`` on it (best of ``--runs``, as a subprocess: start-up
   included) and ``jq`` computing the same per-user/verb/resource counts (the same dedupe:
   ResponseStarted for WATCHes, ResponseComplete otherwise; best of ``--jq-runs``), interleaved,
   checks the two agree with each other and with the generator, prints both times and the ratio
   (target: measure ≥ 10× faster than jq). In the same run, interleaved, the minimal DuckDB query
   computing the same counts (one read_json of the columns it needs, the same filter, one GROUP
   BY; also a whole process: interpreter, ``import duckdb``, query) — the engine's floor (target:
   measure ≤ 1.5× its time). And, also interleaved, a process reading every column ``measure``
   reads with no aggregate: how much of the gap is the input itself.
   Beside them, a second peer: ``measure``'s own aggregate (its columns, per-line expressions,
   GROUP BY and derived query parameters; ``sql.aggregate_sql``) as one DuckDB query in a bare
   process — what the command adds around its engine; the issue's figure stays the minimal query.
3. Builds a ~5 GB log by repeating the 1 GB file (after checking free disk space; scaled down with
   a printed note when short) and prints the peak RSS of ``waveguard measure`` on it (target ≤ 1 GiB).
   Everything is deleted afterwards.

Run: ``.venv/bin/python benchmarks/bench_measure.py [--size-gb 1] [--big-gb 5] [--keep DIR]``.
Needs ``jq`` (Debian: ``apt-get install jq``). Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
WAVEGUARD = [sys.executable, "-m", "waveguard.cli.main"]

# jq: per effective user (impersonated or not), verb and resource, counting each request once.
JQ_FILTER = r"""
reduce (inputs
        | select(.kind == "Event" and (.stage == "ResponseStarted"
                 or (.stage == "ResponseComplete" and .verb != "watch"))))
  as $e ({};
    .[(($e.impersonatedUser.username // $e.user.username)
        | if startswith("system:node:") then "system:node:*" else . end)
       + "\t" + $e.verb + "\t" + ($e.objectRef.resource // "nonresource")] += 1)
"""


#: The same counts as one DuckDB query: the floor of any measurement on that engine.
DUCKDB_MINIMAL = r'''
import json, sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
rows = con.execute("""
SELECT CASE WHEN starts_with(coalesce(impersonatedUser.username, "user".username), 'system:node:')
            THEN 'system:node:*' ELSE coalesce(impersonatedUser.username, "user".username) END
       || chr(9) || verb || chr(9) || coalesce(objectRef.resource, 'nonresource') AS k, count(*) AS n
FROM read_json(?, format='newline_delimited', records=true, ignore_errors=true,
     columns={'kind': 'VARCHAR', 'stage': 'VARCHAR', 'verb': 'VARCHAR', 'user': 'STRUCT(username VARCHAR)',
              'impersonatedUser': 'STRUCT(username VARCHAR)', 'objectRef': 'STRUCT(resource VARCHAR)'})
WHERE kind = 'Event' AND (stage = 'ResponseStarted' OR (stage = 'ResponseComplete' AND verb <> 'watch'))
GROUP BY ALL""", [sys.argv[1]]).fetchall()
print(json.dumps(dict(rows)))
'''


#: Reading every column ``measure`` reads, with no aggregate (one ungrouped count per column, so that
#: each is materialised): the floor of any measurement of those columns on this engine, printed
#: beside the minimal query to show how much of the gap is the input itself. A whole process
#: importing duckdb only (the SQL comes as an argument).
SCAN_FLOOR = "import sys, duckdb; duckdb.connect().execute(sys.argv[1], [sys.argv[2]]).fetchall()"


def scan_floor_sql() -> str:
    """The SELECT of :data:`SCAN_FLOOR`: read_json with ``measure``'s own columns (imported from
    the package, so the two stay the same), the leaves it reads, one ``count`` each."""
    from waveguard.signals.audit.sql import COLUMNS, NODE_NAME_KEY, POD_NAME_KEY, sql_str

    cols = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in COLUMNS.items()) + "}"
    leaves = ["kind", "apiVersion", "stage", "requestURI", "verb", '"timestamp"', "stageTimestamp", "userAgent",
              "sourceIPs[1]", '"user".username', '"user".groups', f'"user".extra."{POD_NAME_KEY}"[1]',
              f'"user".extra."{NODE_NAME_KEY}"[1]', "impersonatedUser.username", "impersonatedUser.groups",
              "objectRef.resource", "objectRef.namespace", "objectRef.name", "objectRef.apiGroup",
              "objectRef.subresource", "responseStatus.code"]
    return (f"SELECT count(*), {', '.join(f'count({x})' for x in leaves)} FROM read_json(?, "
            f"format='newline_delimited', records=true, ignore_errors=true, columns={cols})")


#: A second peer, printed beside the minimal query (the issue's figure stays against that one): the
#: aggregate ``measure`` itself computes — its 22 columns, the per-line expressions (client, pod,
#: the normalised query string, flags), the GROUP BY of client × class × pod × stage × code with
#: the time span, addresses and groups of each, and the query parameters derived from it —
#: written as one DuckDB query (``sql.aggregate_sql``, imported from the package so that the two
#: stay the same) in a bare process: interpreter, ``import duckdb``, the query. ``measure`` over
#: it is what the command adds around its engine (start-up, the statements after the pass, Python).
SAME_AGGREGATE = ("import sys, duckdb; con = duckdb.connect(); con.execute('SET enable_progress_bar = false'); "
                  "con.execute(sys.argv[1]).fetchall()")


def same_aggregate_sql(log: Path) -> str:
    """The SELECT of :data:`SAME_AGGREGATE` on ``log`` (plain JSON lines, stages after
    RequestReceived present: measure's own sample decides the same on the generated log)."""
    from waveguard.signals.audit.sql import aggregate_sql

    return aggregate_sql([(log, "none")], collapse_rr=True)


# --- Generator --------------------------------------------------------------------------------------

def _uid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ts(t: float) -> str:
    s = time.gmtime(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", s) + f".{int((t % 1) * 1e6):06d}Z"


class _Client:
    def __init__(self, user, groups, ua, pods, requests, extra_pod=False, node_user=False, ns="", sa=""):
        self.user, self.groups, self.ua, self.pods = user, groups, ua, pods
        self.requests = requests  # list of (weight, verb, resource, group, namespaced, named, query, code_mix)
        self.extra_pod, self.node_user = extra_pod, node_user


def _population(nodes: int) -> list[tuple[float, _Client, list]]:
    """Clients with their share of the traffic."""
    kubelet = _Client("system:node:{node}", ["system:nodes", "system:authenticated"],
                      "kubelet/v1.30.2 (linux/amd64) kubernetes/3968350", nodes, [
                          (4, "get", "leases", "coordination.k8s.io", True, True, "", None),
                          (4, "update", "leases", "coordination.k8s.io", True, True, "", None),
                          (2, "get", "nodes", "", False, True, "", None),
                          (2, "patch", "nodes", "", False, True, "", "status"),
                          (1, "watch", "pods", "", False, False,
                           "allowWatchBookmarks=true&fieldSelector=spec.nodeName%3D{node}&resourceVersion=91{n}&timeoutSeconds=512&watch=true", None),
                          (1, "get", "configmaps", "", True, True, "", None),
                      ], node_user=True)
    agent = _Client("system:serviceaccount:telemetry:telemetry-agent",
                    ["system:serviceaccounts", "system:serviceaccounts:telemetry", "system:authenticated"],
                    "otelcol-contrib/0.98.0 (linux/amd64)", nodes, [
                        (2, "list", "pods", "", False, False, "limit=500&resourceVersion=0", None),
                        (1, "watch", "pods", "", False, False,
                         "allowWatchBookmarks=true&resourceVersion=91{n}&timeoutSeconds=407&watch=true", None),
                        (1, "list", "replicasets", "apps", False, False, "limit=500&resourceVersion=0", None),
                        (1, "watch", "replicasets", "apps", False, False,
                         "allowWatchBookmarks=true&resourceVersion=91{n}&watch=true", None),
                        (1, "get", "nodes", "", False, True, "", None),
                    ], extra_pod=True)
    rs = _Client("system:serviceaccount:kube-system:replicaset-controller",
                 ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
                 "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller",
                 1, [
                     (3, "create", "pods", "", True, True, "", None),
                     (3, "delete", "pods", "", True, True, "", None),
                     (2, "update", "replicasets", "apps", True, True, "", "status"),
                 ])
    sched = _Client("system:kube-scheduler", ["system:authenticated"],
                    "kube-scheduler/v1.30.2 (linux/amd64) kubernetes/3968350/scheduler", 1, [
                        (3, "create", "pods", "", True, True, "", "binding"),
                        (1, "create", "events", "events.k8s.io", True, False, "", None),
                    ])
    coredns = _Client("system:serviceaccount:kube-system:coredns",
                      ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
                      "coredns/v1.11.1 (linux/amd64) kubernetes/0000000", 2, [
                          (1, "list", "endpointslices", "discovery.k8s.io", False, False, "limit=500&resourceVersion=0", None),
                          (1, "watch", "endpointslices", "discovery.k8s.io", False, False,
                           "allowWatchBookmarks=true&resourceVersion=91{n}&timeoutSeconds=300&watch=true", None),
                          (1, "list", "services", "", False, False, "limit=500&resourceVersion=0", None),
                      ])
    admin = _Client("kubernetes-admin", ["kubeadm:cluster-admins", "system:authenticated"],
                    "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350", 1, [
                        (1, "get", "nonresource", "", False, False, "", None),
                        (2, "list", "pods", "", True, False, "limit=500", None),
                    ])
    return [(0.55, kubelet, []), (0.25, agent, []), (0.08, rs, []), (0.05, sched, []), (0.04, coredns, []),
            (0.03, admin, [])]


def generate(path: Path, target_bytes: int, *, nodes: int = 1500, seed: int = 7, start: float = 1_733_958_960.0,
             span_s: float = 3600.0) -> dict[str, int]:
    """Write a synthetic audit log of about ``target_bytes`` to ``path``. Returns the expected
    per "user\\tverb\\tresource" counts (each request once), for checking."""
    rng = random.Random(seed)
    pop = _population(nodes)
    weights = [w for w, _, _ in pop]
    clients = [c for _, c, _ in pop]
    expected: dict[str, int] = {}
    written = 0
    i = 0
    est_requests = max(1, target_bytes // 1900)
    buf: list[str] = []
    with path.open("w", encoding="utf-8") as out:
        while written < target_bytes:
            c = rng.choices(clients, weights)[0]
            w_req = [r[0] for r in c.requests]
            _, verb, resource, group, namespaced, named, query, sub = rng.choices(c.requests, w_req)[0]
            pod_i = rng.randrange(c.pods)
            node = f"node-{pod_i:05d}"
            user = c.user.format(node=node)
            t0 = start + span_s * i / est_requests
            i += 1
            ns = f"team-{rng.randrange(40):02d}" if namespaced else None
            name = (node if resource in ("nodes",) else f"{resource[:-1]}-{rng.getrandbits(24):06x}") if named else None
            path_prefix = f"/apis/{group}/v1" if group else "/api/v1"
            if resource == "nonresource":
                uri = "/apis"
            else:
                uri = path_prefix + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "")
                if sub:
                    uri += f"/{sub}"
            if query:
                uri += "?" + query.format(node=node, n=rng.randrange(10**6))
            code = 200
            if verb == "create":
                code = 201
            if c is clients[1] and verb == "list" and rng.random() < 0.05:
                code = 429
            ip = f"10.{(pod_i >> 8) & 255}.{pod_i & 255}.{7 if c.node_user else 23}"
            user_obj = {"username": user, "groups": c.groups}
            if c.extra_pod:
                user_obj["extra"] = {
                    "authentication.kubernetes.io/credential-id": [f"JTI={_uid(rng)}"],
                    "authentication.kubernetes.io/node-name": [node],
                    "authentication.kubernetes.io/node-uid": [_uid(rng)],
                    "authentication.kubernetes.io/pod-name": [f"telemetry-agent-{pod_i:05x}"],
                    "authentication.kubernetes.io/pod-uid": [_uid(rng)],
                }
            ev = {
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": _uid(rng),
                "stage": "RequestReceived", "requestURI": uri, "verb": verb, "user": user_obj,
                "sourceIPs": [ip], "userAgent": c.ua,
            }
            if resource != "nonresource":
                ref = {"resource": resource, "apiGroup": group, "apiVersion": "v1"}
                if ns:
                    ref["namespace"] = ns
                if name:
                    ref["name"] = name
                if sub:
                    ref["subresource"] = sub
                ev["objectRef"] = ref
            ev["requestReceivedTimestamp"] = _ts(t0)
            ev["stageTimestamp"] = _ts(t0)
            stages = ["RequestReceived", "ResponseStarted", "ResponseComplete"] if verb == "watch" else \
                ["RequestReceived", "ResponseComplete"]
            for stage in stages:
                e = dict(ev)
                e["stage"] = stage
                if stage != "RequestReceived":
                    dt = 400.0 if (verb == "watch" and stage == "ResponseComplete") else 0.004
                    e["stageTimestamp"] = _ts(t0 + dt)
                    e["responseStatus"] = {"metadata": {}, "code": code} if code < 400 else {
                        "metadata": {}, "status": "Failure", "message": "Too many requests, please try again later.",
                        "reason": "TooManyRequests", "details": {"retryAfterSeconds": 1}, "code": code}
                    e["annotations"] = {"authorization.k8s.io/decision": "allow",
                                        "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"x\""}
                line = json.dumps(e, separators=(",", ":"))
                buf.append(line)
                written += len(line) + 1
            key_user = "system:node:*" if user.startswith("system:node:") else user
            key = f"{key_user}\t{verb}\t{resource}"
            expected[key] = expected.get(key, 0) + 1
            if len(buf) >= 20000:
                out.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
    return expected


# --- Timing -----------------------------------------------------------------------------------------------

#: CPU seconds (user + system) of the last command :func:`_run_with_peak_rss` ran, its threads included.
LAST_CPU_S = [0.0]


def _run_with_peak_rss(cmd: list[str], stdout) -> tuple[float, int, int]:
    """Run ``cmd``; return (seconds, exit code, peak RSS bytes of it and its children, sampled every
    20 ms). Its CPU seconds go to :data:`LAST_CPU_S`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    peak = 0
    ps = psutil.Process(proc.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                rss = ps.memory_info().rss + sum(ch.memory_info().rss for ch in ps.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU_S[0] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode not in (0,):
        sys.stderr.write(err.decode(errors="replace"))
    return elapsed, proc.returncode, peak


def _measure_counts(doc: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in doc["clients"]:
        for mc in c["classes"]:
            key = f"{c['user']}\t{mc['verb']}\t{mc['resource']}"
            counts[key] = counts.get(key, 0) + mc["requests"]
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of the generated log (GB, 10^9 bytes)")
    ap.add_argument("--big-gb", type=float, default=5.0, help="size of the log for the peak-RSS run")
    ap.add_argument("--keep", type=Path, default=None, help="write the logs here and keep them")
    ap.add_argument("--runs", type=int, default=3, help="runs of waveguard measure (the best counts)")
    ap.add_argument("--jq-runs", type=int, default=2, help="runs of jq (the best counts)")
    args = ap.parse_args()

    jq = shutil.which("jq")
    if not jq:
        print("jq not found: install it (Debian: apt-get install -y jq)", file=sys.stderr)
        return 2
    folder = args.keep or Path(tempfile.mkdtemp(prefix="waveguard-bench-measure-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        log = folder / "audit.log"
        size = int(args.size_gb * 1e9)
        t0 = time.perf_counter()
        expected = generate(log, size)
        real = log.stat().st_size
        print(f"generated {real / 1e9:.2f} GB audit log ({sum(expected.values())} requests) in "
              f"{time.perf_counter() - t0:.1f} s: {log}")

        # Best of N for both (the machine may be shared: the minimum is the least disturbed run),
        # interleaved so that a burst of load hits both alike.
        out_json = folder / "measure.json"
        jq_out = folder / "jq.json"
        duck_out = folder / "duckdb.json"
        t_measures: list[float] = []
        t_jqs: list[float] = []
        t_ducks: list[float] = []
        t_floors: list[float] = []
        t_sames: list[float] = []
        cpu_floor = cpu_same = float("inf")
        cpu_measure = cpu_duck = cpu_jq = float("inf")
        rss_1 = 0
        for k in range(max(args.runs, 1)):
            with out_json.open("wb") as fh:
                t, rc, rss = _run_with_peak_rss([*WAVEGUARD, "measure", "--audit-log", str(log), "--json"], fh)
            if rc != 0:
                print(f"waveguard measure failed (exit {rc})", file=sys.stderr)
                return 1
            t_measures.append(t)
            cpu_measure = min(cpu_measure, LAST_CPU_S[0])
            rss_1 = max(rss_1, rss)
            with duck_out.open("wb") as fh:
                t, rc, _ = _run_with_peak_rss([sys.executable, "-c", DUCKDB_MINIMAL, str(log)], fh)
            if rc != 0:
                print(f"the minimal DuckDB query failed (exit {rc})", file=sys.stderr)
                return 1
            t_ducks.append(t)
            cpu_duck = min(cpu_duck, LAST_CPU_S[0])
            t, rc, _ = _run_with_peak_rss([sys.executable, "-c", SCAN_FLOOR, scan_floor_sql(), str(log)],
                                          subprocess.DEVNULL)
            if rc != 0:
                print(f"the scan-floor query failed (exit {rc})", file=sys.stderr)
                return 1
            t_floors.append(t)
            cpu_floor = min(cpu_floor, LAST_CPU_S[0])
            t, rc, _ = _run_with_peak_rss([sys.executable, "-c", SAME_AGGREGATE, same_aggregate_sql(log)],
                                          subprocess.DEVNULL)
            if rc != 0:
                print("measure's aggregate as one DuckDB query failed", file=sys.stderr)
                return 1
            t_sames.append(t)
            cpu_same = min(cpu_same, LAST_CPU_S[0])
            if k < max(args.jq_runs, 1):
                with jq_out.open("wb") as fh:
                    t, rc, _ = _run_with_peak_rss([jq, "-n", "-c", JQ_FILTER, str(log)], fh)
                if rc != 0:
                    print(f"jq failed (exit {rc})", file=sys.stderr)
                    return 1
                t_jqs.append(t)
                cpu_jq = min(cpu_jq, LAST_CPU_S[0])
        t_measure, t_jq, t_duck = min(t_measures), min(t_jqs), min(t_ducks)
        got = _measure_counts(json.loads(out_json.read_text()))
        jq_counts = json.loads(jq_out.read_text())
        agree = got == jq_counts == expected == json.loads(duck_out.read_text())
        print(f"waveguard measure: {t_measure:6.2f} s  ({real / 1e6 / t_measure:,.0f} MB/s, peak RSS "
              f"{rss_1 / 2**20:,.0f} MiB; runs: {', '.join(f'{t:.2f}' for t in t_measures)} s)")
        print(f"jq (same counts):  {t_jq:6.2f} s  ({real / 1e6 / t_jq:,.0f} MB/s; runs: "
              f"{', '.join(f'{t:.2f}' for t in t_jqs)} s)")
        print(f"minimal DuckDB query: {t_duck:6.2f} s  ({real / 1e6 / t_duck:,.0f} MB/s; runs: "
              f"{', '.join(f'{t:.2f}' for t in t_ducks)} s)")
        print(f"ratio: measure is {t_jq / t_measure:.1f}x faster than jq (target >= 10x) and takes "
              f"{t_measure / t_duck:.2f}x the minimal DuckDB query (target <= 1.5x); "
              f"per-user/verb/resource counts {'agree' if agree else 'DIFFER'} ({len(got)} keys)")
        print(f"reading measure's columns, no aggregate: {min(t_floors):6.2f} s ({min(t_floors) / t_duck:.2f}x the "
              f"minimal query: the floor of its input; measure is {t_measure / min(t_floors):.2f}x that)")
        t_same = min(t_sames)
        print(f"measure's own aggregate as one DuckDB query (a second peer: what measure computes): {t_same:6.2f} s "
              f"({t_same / t_duck:.2f}x the minimal query; measure is {t_measure / t_same:.2f}x it; runs: "
              f"{', '.join(f'{t:.2f}' for t in t_sames)} s)")
        print(f"CPU seconds (best): measure {cpu_measure:.2f}, jq {cpu_jq:.2f}, minimal DuckDB {cpu_duck:.2f}, "
              f"reading measure's columns {cpu_floor:.2f}, measure's aggregate as one query {cpu_same:.2f}: "
              f"measure {cpu_jq / cpu_measure:.1f}x less than jq, {cpu_measure / cpu_duck:.2f}x the minimal query, "
              f"{cpu_measure / cpu_same:.2f}x its own aggregate")
        if not agree:
            diff = {k: (got.get(k), jq_counts.get(k), expected.get(k))
                    for k in set(got) | set(jq_counts) | set(expected)
                    if len({got.get(k), jq_counts.get(k), expected.get(k)}) > 1}
            print(f"differences (measure, jq, generated): {dict(list(diff.items())[:10])}")

        # Peak RSS on a big log: repeat the file.
        want = int(args.big_gb * 1e9)
        free = shutil.disk_usage(folder).free
        copies = max(1, round(want / real))
        if real * copies > free - 2e9:
            copies = max(1, int((free - 2e9) // real))
            print(f"NOTE: only {free / 1e9:.1f} GB free under {folder}: the big log is scaled down to "
                  f"{copies} copies ({copies * real / 1e9:.1f} GB) instead of {args.big_gb:g} GB")
        big = folder / "audit-big.log"
        with big.open("wb") as dst:
            for _ in range(copies):
                with log.open("rb") as src:
                    shutil.copyfileobj(src, dst, 16 << 20)
        big_size = big.stat().st_size
        with open(os.devnull, "wb") as devnull:
            t_big, rc, rss_big = _run_with_peak_rss([*WAVEGUARD, "measure", "--audit-log", str(big), "--json"], devnull)
        big.unlink()
        if rc != 0:
            print(f"waveguard measure on the big log failed (exit {rc})", file=sys.stderr)
            return 1
        print(f"peak RSS on a {big_size / 1e9:.1f} GB log: {rss_big / 2**20:,.0f} MiB (target <= 1024 MiB), "
              f"{t_big:.1f} s ({big_size / 1e6 / t_big:,.0f} MB/s)")
        ok = agree and t_jq / t_measure >= 10 and t_measure / t_duck <= 1.5 and rss_big <= 2**30
        print("PASS" if ok else "FAIL: a target is missed")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
