"""The speed-driven choices of the audit-log measurement (issue 17, "measure near its engine")
keep what the profile needs: groups read as JSON text and parsed per client, the usable events
as a view, one DuckDB thread for the small statements around the pass over the logs, and no
per-line expression on the RequestReceived lines that are counted as lines only."""

from __future__ import annotations

from tests.test_measure_audit import AGENT, _agent_log, ev, write
from waveguard.signals.audit import measure_audit_logs, sql


def test_groups_are_parsed_from_their_json_text():
    assert sql.groups_of('["system:serviceaccounts", "system:authenticated"]') == [
        "system:serviceaccounts", "system:authenticated"]
    assert sql.groups_of(None) == [] and sql.groups_of("") == []
    assert sql.groups_of('"system:authenticated"') == []  # not a list
    assert sql.groups_of("[1, null]") == ["1"]


def test_a_client_keeps_its_groups_and_impersonation_wins(tmp_path):
    events = _agent_log()
    impersonated = ev(10_000, t=5, user="admin", verb="get", uri="/api/v1/nodes/n1", resource="nodes",
                      name="n1", groups=("system:masters",))
    impersonated["impersonatedUser"] = {"username": "jane", "groups": ["team-a", "system:authenticated"]}
    m = measure_audit_logs([write(tmp_path / "a.log", [*events, impersonated])])
    by_user = {c.user: c for c in m.clients}
    assert by_user[AGENT].groups == ["system:serviceaccounts", "system:authenticated"]
    assert by_user["jane"].groups == ["team-a", "system:authenticated"]


def test_malformed_groups_do_not_stop_the_measurement(tmp_path):
    bad = ev(1, t=1, user="bob", verb="get", uri="/api/v1/nodes/n1", resource="nodes", name="n1")
    bad["user"]["groups"] = "not-a-list"
    m = measure_audit_logs([write(tmp_path / "b.log", [bad])])
    assert [(c.user, c.groups, c.requests) for c in m.clients] == [("bob", [], 1)]


def test_the_small_statements_run_on_one_thread_and_the_pass_on_all(tmp_path, monkeypatch):
    seen: dict[str, int] = {}

    def spy(name):
        real = getattr(sql, name)

        def wrapper(con, *a, **kw):
            seen[name] = con.execute("SELECT current_setting('threads')").fetchone()[0]
            return real(con, *a, **kw)
        monkeypatch.setattr(sql, name, wrapper)

    for name in ("later_stages_seen", "aggregate", "count_requests"):
        spy(name)
    measure_audit_logs([write(tmp_path / "c.log", _agent_log())], threads=2)
    assert seen == {"later_stages_seen": 1, "aggregate": 2, "count_requests": 1}


def _two_stage_log() -> list[dict]:
    """Each request of the agent's log also logged at RequestReceived first, as the log
    backend writes it (no status code yet)."""
    events = []
    for e in _agent_log():
        received = {k: v for k, v in e.items() if k != "responseStatus"}
        events += [{**received, "stage": "RequestReceived"}, e]
    return events


def test_request_received_rows_are_counted_as_lines_only(tmp_path):
    """In a log with later stages, RequestReceived lines are one group per file and verb with
    their line count, and none of the per-line values (client, pod, times, groups) computed."""
    from pathlib import Path

    log = write(tmp_path / "two.log", _two_stage_log())
    con = sql.connect("256MB", 1, str(tmp_path))
    try:
        sql.aggregate(con, [(Path(log), "none")], collapse_rr=True)
        rows = con.execute("""
            SELECT verb, sum(n)::BIGINT, count(*), bool_and(user_key IS NULL AND ua IS NULL AND pod IS NULL
                   AND first_ts IS NULL AND last_ts IS NULL AND groups IS NULL AND node_name IS NULL
                   AND ip_lo IS NULL AND rv_num IS NULL)
            FROM agg WHERE stage = 'RequestReceived' GROUP BY verb ORDER BY verb""").fetchall()
    finally:
        con.close()
    lines: dict[str, int] = {}
    for e in _two_stage_log():
        if e["stage"] == "RequestReceived":
            lines[e["verb"]] = lines.get(e["verb"], 0) + 1
    assert rows == [(verb, n, 1, True) for verb, n in sorted(lines.items())]


def test_collapsing_request_received_rows_changes_no_figure(tmp_path, monkeypatch):
    """The same log measured with RequestReceived rows collapsed (the default when later stages
    are seen) and aggregated in full (as a log without later stages is): the same measurement."""
    log = write(tmp_path / "two.log", _two_stage_log())
    collapsed = measure_audit_logs([log]).to_json()
    monkeypatch.setattr(sql, "later_stages_seen", lambda con, files: False)
    full = measure_audit_logs([log]).to_json()
    assert collapsed == full
    assert collapsed["requests"] == measure_audit_logs([write(tmp_path / "one.log", _agent_log())]).requests
