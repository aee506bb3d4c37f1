"""Moved to :mod:`waveguard.report.sim` (rendering lives in ``report``). This re-export keeps the
old path working for ``cli/simulate.py`` until it imports the new one; then delete this file."""

from waveguard.report.sim import MAX_POINTS, clock, figure_png, render_report, write_report

__all__ = ["MAX_POINTS", "clock", "figure_png", "render_report", "write_report"]
