"""Tables at 80 columns (new-user trial): names that identify a row (a strategy, a cluster, a
case) and prose cells are never cut with an ellipsis; they wrap, and the table still fits."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from waveguard.report.demo import BREAKGLASS_COLUMNS, STRATEGY_COLUMNS, render_table
from waveguard.report.fit import Column, fitted_table

WIDTH = 80


def _render(renderable_or_fn) -> str:
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None)
    if callable(renderable_or_fn):
        renderable_or_fn(console)
    else:
        console.print(renderable_or_fn)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _words(text: str) -> list[str]:
    return [w.strip("│┃") for w in text.split()]


def _assert_fits_uncut(text: str, *whole: str) -> None:
    assert not re.search(r"\S…", text), text  # a cut cell ends in "…" (the title begins with one)
    assert max(cell_len(line) for line in text.splitlines()) <= WIDTH, text
    words = _words(text)
    for phrase in whole:
        for word in phrase.split():
            assert word in words, (word, text)


def test_a_wrap_column_wraps_at_spaces_and_is_never_cut():
    columns = (Column("strategy", wrap=True), Column("blast radius", "right"), Column("halted at"),
               Column("saturated", "right"), Column("impact min", "right"))
    name = "waveguard (cost only under production traffic)"
    title = "…and a change whose cost only production traffic reveals (the projection cannot know)"
    group, dropped = fitted_table(Console(width=WIDTH), title, columns, [[name, "1.0 %", "0:21:30", "0", "0"]])
    text = _render(group)
    _assert_fits_uncut(text, name, title)
    assert dropped == []


def test_a_wrap_column_is_not_narrowed_below_its_longest_word():
    columns = (Column("cluster", wrap=True), Column("padding", flex=True))
    group, _ = fitted_table(Console(width=40), "t", columns, [["prod-11-1500", "x " * 40]])
    console = Console(file=io.StringIO(), width=40, color_system=None)
    console.print(group)
    assert "prod-11-1500" in console.file.getvalue()  # type: ignore[attr-defined]


def test_the_break_glass_table_keeps_its_cases_clusters_and_unfinished_rollbacks_whole():
    row = ["without isolation", "prod-24-7500", "waveguard:break-glass → workload-low", "0:30:00", "0:39:51",
           "not within the run (> 50 min 8 s)", "12", "145", "3 s", "not within the run"]
    group, _ = fitted_table(Console(width=WIDTH), "…and the way back", BREAKGLASS_COLUMNS, [row])
    _assert_fits_uncut(_render(group), "without isolation", "prod-24-7500", "not within the run (> 50 min 8 s)")


@pytest.fixture(scope="module")
def demo():
    from waveguard.demo import run_demo

    return run_demo()


def test_the_demo_tables_keep_every_strategy_name_and_title_whole(demo):
    text = _render(lambda console: render_table(demo, console))
    names = [r.name for r in demo.strategies] + [demo.production_traffic.name]
    _assert_fits_uncut(text, *names, "…and a change whose cost only production traffic reveals (the projection "
                                     "cannot know)")
    assert STRATEGY_COLUMNS[0].wrap


def test_simulate_summary_keeps_cluster_names_whole_at_80_columns():
    """The summary table of ``waveguard simulate`` with the incident fleet's names and figures
    (ClusterSummary rows as the simulator returns them; the 11 s simulation itself is not run)."""
    from types import SimpleNamespace

    from waveguard.cli.simulate import _print_summary
    from waveguard.sim.result import ClusterSummary

    rows = [ClusterSummary(name=f"prod-{i:02d}-{nodes}", nodes=nodes, change_at_s=600.0 + i, saturated_at_s=1350.0,
                           dns_failing_at_s=2883.0 if nodes > 4500 else None, peak_error_rate=0.677,
                           impact_minutes=51.0, oom_kills=0)
            for i, nodes in enumerate((200, 1500, 7500), start=1)]
    result = SimpleNamespace(scenario="incident-2024-12-11", summary=lambda: rows, rollbacks=[])
    text = _render(lambda console: _print_summary(result, None, None, console))
    _assert_fits_uncut(text, *(r.name for r in rows))
