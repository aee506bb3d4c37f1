"""require_shared: a missing shared input skips on a developer's machine and fails in CI."""

from __future__ import annotations

import pytest

from tests.conftest import require_shared


def test_missing_shared_input_fails_in_ci_naming_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "inputs" / "nothing.prom"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_shared(missing)
    assert str(missing) in str(failed.value)


def test_missing_shared_input_skips_outside_ci(tmp_path, monkeypatch):
    missing = tmp_path / "nothing"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_shared(missing)
    assert str(missing) in str(skipped.value)


def test_present_shared_input_is_returned(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_shared(tmp_path) == tmp_path
