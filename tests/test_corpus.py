"""The corpus figures: every real agent of ../shared/inputs/realworld against its truth.yaml
verdict, on the default fleet (rules: waveguard.report.corpus.matches)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import INPUTS, require_shared
from waveguard.report.corpus import corpus_row, corpus_rows, figures, render

CORPUS = INPUTS / "realworld"

def _truth() -> dict:
    path = CORPUS / "truth.yaml"
    return yaml.safe_load(path.read_text())["agents"] if path.exists() else {}


def _params():
    for name, truth in _truth().items():
        yield pytest.param(name, truth, id=name)


@pytest.mark.parametrize("name, truth", list(_params()) or [pytest.param("-", {}, id="no-corpus")])
def test_agent_verdict_matches_truth(name, truth):
    require_shared(CORPUS / "truth.yaml")
    row, result = corpus_row(CORPUS / name, truth)
    assert row.matches, f"{name}: truth {truth['verdict']} ({truth['why']}), waveguard {row.verdict} {row.rule}: {row.why}"
    if result is None:
        return
    if truth["verdict"] == "o_nodes2" and row.verdict == "unverified":
        wg107 = [f for f in result.findings if f.rule == "WG107" and f.severity == "warning"]
        assert any(r in f.message for f in wg107 for r in ("pods", "nodes", "endpoints", "services"))
        assert all("waveguard measure --audit-log" in f.fix for f in wg107)


def test_corpus_table_fits_80_columns_and_gives_the_figures():
    require_shared(CORPUS / "truth.yaml")
    rows = corpus_rows(CORPUS)
    text = render(rows)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "precision" in text and "RBAC upper bound" in text
    f = figures(rows)
    assert f["precision"] >= 0.95  # no confident O(nodes²) verdict on a node-local agent
    assert f["recall_with_unverified"] == 1.0  # every O(nodes²) agent flagged or asked about
