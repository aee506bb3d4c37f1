"""``waveguard plan`` says when analyse's projection overloads clusters of the fleet at full
rollout: the plan is written all the same (its waves and projection gate are how the change gets
stopped), and the note names the count, the largest clusters and the gate that will halt it — on
stderr, so stdout stays the plan."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES, INPUTS, require_shared
from waveguard.cli.main import app


def test_a_change_projected_to_overload_is_planned_with_a_note_naming_the_halt(runner):
    r = runner.invoke(app, ["plan", str(EXAMPLES / "incident-telemetry"), "-o", "json"], terminal_width=80)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)  # the note is not in the plan
    assert any(g["kind"] == "projection" for g in plan["gates"])
    note = " ".join(line.strip() for line in r.stderr.split("WG2")[0].splitlines())
    assert note.startswith("note: analyse projects this change to overload 18 of 25 clusters at full rollout")
    assert "(prod-23-7000, prod-24-7500 and 16 more)" in note
    assert "projection gate checks every wave before it starts: expect a halt" in note
    assert all(len(line) <= 80 for line in r.stderr.splitlines())


def test_a_change_that_sends_nothing_to_the_api_gets_no_note(runner):
    change = require_shared(INPUTS / "realworld" / "node-exporter")
    r = runner.invoke(app, ["plan", str(change), "-o", "json"], terminal_width=80)
    assert r.exit_code == 0, r.output
    assert "overload" not in r.stderr
