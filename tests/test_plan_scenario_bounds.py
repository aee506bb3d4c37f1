"""Durations a person mistyped in a plan or scenario file are one line naming the file, the line
and the bound, never a run that does not end (the new-user trial: ``duration_s: 1y`` ran for
hours, ``100000h`` raised MemoryError, ``bake_s: 1y`` held the rollout in its first wave, and a
``gate_interval_s`` over ``no_data_timeout_s`` passed ``plan --check``)."""

from __future__ import annotations

import pytest
import yaml

from tests.test_rollout_cli import FLEET_YAML, _plan
from waveguard.model.errors import InputError
from waveguard.model.fleet import load_fleet
from waveguard.rollout.plan.schema import load_plan
from waveguard.sim.scenario import load_scenario


@pytest.fixture
def fleet(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML)
    return path


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["waves"][0].update(bake_s="1y"), "bake time 3.1536e+07 s is over a week"),
    (lambda d: d.update(gate_interval_s="15m"), "gate_interval_s 900 is over no_data_timeout_s 600"),
    (lambda d: d.update(gate_interval_s="1ms"), "gate_interval_s: Input should be greater than or equal to 0.1"),
])
def test_a_plan_with_an_absurd_duration_is_refused(runner, tmp_path, fleet, edit, expected):
    path = _plan(runner, tmp_path, fleet)
    data = yaml.safe_load(open(path))
    edit(data)
    open(path, "w").write(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_plan(path, load_fleet(fleet))
    assert expected in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("duration", ["1y", "100000h"])
def test_a_scenario_longer_than_a_week_is_refused(tmp_path, duration):
    path = tmp_path / "sc.yaml"
    path.write_text(f"name: x\nduration_s: {duration}\nfleet: default\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert "sc.yaml:2: duration_s: Input should be less than or equal to 604800" in str(err.value)
