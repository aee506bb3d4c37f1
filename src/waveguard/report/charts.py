"""Charts every report draws the same way (matplotlib, PNG embedded as a data: URI).

* full width at 2× resolution: a figure is ``FIG_WIDTH_IN`` inches at ``DPI`` pixels per inch,
  i.e. ``2 × PAGE_WIDTH_PX`` pixels wide, shown ``PAGE_WIDTH_PX`` CSS pixels wide;
* a component that is down is a gap, never a zero: :func:`gap_where_down` turns an apiserver
  figure into NaN (matplotlib leaves NaN undrawn) where no replica is up, and
  :func:`shade_down` shades those spans "apiserver down";
* wave starts, halts and thresholds are labelled lines (:func:`mark_times`, :func:`threshold`);
  :func:`separate_labels` moves a wave's label off any other text (the halt's, a bar's).

Times on the x axis are minutes from the start of the run (or of the rollout).
"""

from __future__ import annotations

import base64
import io
import warnings
from typing import Callable, Sequence

import numpy as np

#: CSS pixels of the page's content column (report/page.py uses it as the body's max width).
PAGE_WIDTH_PX = 1300
#: Figure width in inches, and pixels per inch: 13 in × 200 = 2,600 px, two per CSS pixel.
FIG_WIDTH_IN = 13.0
DPI = 2 * PAGE_WIDTH_PX / FIG_WIDTH_IN
#: Colours: apiserver-down bands, thresholds and capacities, halts.
DOWN_COLOUR, THRESHOLD_COLOUR, HALT_COLOUR = "#9e9e9e", "#c62828", "#b71c1c"
DOWN_LABEL = "apiserver down (no replica up)"


def subplots(rows: int = 1, height_in: float = 3.6, sharex: bool = True, heights: list[float] | None = None):
    """A full-width figure of ``rows`` axes stacked, ``height_in`` each (or ``heights``, inches
    per row); (figure, list of axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 9.5})
    heights = heights or [height_in] * rows
    fig, axes = plt.subplots(rows, 1, figsize=(FIG_WIDTH_IN, sum(heights)), sharex=sharex, squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": heights})
    return fig, list(axes[:, 0])


def figure_png(fig) -> str:
    """``fig`` as base64 PNG at :data:`DPI` (its full width: no cropping, so it stays 2×); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def gap_where_down(values: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``values`` (float, shape (T,)) with NaN where ``up`` (replicas up, shape (T,)) is below
    0.5: no apiserver answered, so there is no latency, seat count or memory to show."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[np.asarray(up) < 0.5] = np.nan
    return out


def spans(times: np.ndarray, mask: np.ndarray, step_s: float) -> list[tuple[float, float]]:
    """The runs of True in ``mask`` as (start, end) in the unit of ``times`` (each step covers
    ``step_s`` before its time)."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(float(times[a] - step_s), float(times[b - 1])) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def shade_down(ax, times_s: np.ndarray, up: np.ndarray, step_s: float, label: str = DOWN_LABEL) -> int:
    """Shade, on ``ax`` (x in minutes), the spans where ``up`` < 0.5; returns how many."""
    found = spans(times_s, np.asarray(up) < 0.5, step_s)
    for i, (a, b) in enumerate(found):
        ax.axvspan(a / 60.0, b / 60.0, color=DOWN_COLOUR, alpha=0.28, linewidth=0, label=label if i == 0 else None)
    return len(found)


def thin(values: np.ndarray, block: int, how: Callable = np.nanmax) -> np.ndarray:
    """``values`` (one per step) reduced by ``how`` over blocks of ``block`` steps (the last,
    shorter block on its own). NaN-aware: a block wholly NaN (down all along) stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    if block <= 1:
        return values
    whole = len(values) // block * block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: NaN, as wanted
        head = how(values[:whole].reshape(-1, block), axis=1)
        return np.concatenate([head, [how(values[whole:])]]) if whole < len(values) else head


def any_down(up: np.ndarray, block: int) -> np.ndarray:
    """``up`` thinned so that a block with any step down counts as down (the minimum)."""
    return thin(up, block, np.nanmin)


def threshold(ax, y: float, label: str, colour: str = THRESHOLD_COLOUR, style: str = "--") -> None:
    """A labelled horizontal line (threshold, limit, capacity) across ``ax``."""
    ax.axhline(y, color=colour, linestyle=style, linewidth=1.2, label=label)


#: The gids of the labels :func:`mark_times` and :func:`mark_halt` draw (:func:`separate_labels` moves the first).
MARK_LABEL, HALT_LABEL = "mark-label", "halt-label"
#: Points between a mark's line and its label, and the step :func:`separate_labels` moves a label down by.
MARK_GAP_PT, STACK_STEP_PT = 3.0, 4.0


def mark_times(ax, marks: Sequence[tuple[float, str]], colour: str = "#37474f", style: str = ":",
               min_gap_frac: float = 0.06, weight: str = "normal") -> None:
    """Vertical lines at ``marks`` ((minute, label)) within the x range of ``ax`` (set it first),
    each labelled at the top unless that would overlap the previous label (closer than
    ``min_gap_frac`` of the x range: the line stays, unlabelled; :func:`mark_moments` names a
    few close moments in the legend instead)."""
    lo, hi = ax.get_xlim()
    last = {1.0: -np.inf}  # label height (axes fraction) → the last mark labelled there
    for minute, label in sorted(marks):
        if not lo <= minute <= hi:
            continue  # off the chart: a label there would only push the layout about
        ax.axvline(minute, color=colour, linestyle=style, linewidth=1.3 if weight == "bold" else 0.9)
        height = next((h for h, x in last.items() if minute - x >= min_gap_frac * (hi - lo)), None)
        if label and height is not None:  # too close: the line stays, unlabelled
            ax.annotate(label, (minute, height), xycoords=("data", "axes fraction"), xytext=(MARK_GAP_PT, -MARK_GAP_PT),
                        textcoords="offset points", rotation=90, va="top", ha="left", fontsize=8.5,
                        color=colour, fontweight=weight, gid=MARK_LABEL)
            last[height] = minute


#: Colours and styles of :func:`mark_moments`, in turn.
MOMENT_STYLES = (("#37474f", ":"), ("#d84315", "--"), ("#6a1b9a", "-."), ("#00695c", (0, (5, 1, 1, 1))))


def mark_moments(ax, marks: Sequence[tuple[float, str]]) -> None:
    """A few moments ((minute, label)) as vertical lines named in the legend, each in its own
    colour and style: close moments stay readable (no text on the chart to overlap)."""
    for (minute, label), (colour, style) in zip(marks, MOMENT_STYLES * (len(marks) // len(MOMENT_STYLES) + 1),
                                                strict=False):
        ax.axvline(minute, color=colour, linestyle=style, linewidth=1.6, label=label)


def mark_halt(ax, minute: float, label: str) -> None:
    """The halt: a solid red line, its label in bold at the top (nothing when off the chart)."""
    lo, hi = ax.get_xlim()
    if not lo <= minute <= hi:
        return
    ax.axvline(minute, color=HALT_COLOUR, linewidth=2.0)
    right = (minute - lo) / (hi - lo) > 0.75  # near the right edge: the label goes to the line's left
    ax.annotate(label, (minute, 0.97), xycoords=("data", "axes fraction"), xytext=(-5 if right else 5, 0), gid=HALT_LABEL,
                textcoords="offset points", va="top", ha="right" if right else "left", fontsize=9.5, color=HALT_COLOUR,
                fontweight="bold", bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": HALT_COLOUR, "lw": 0.8})


def finish(ax, ylabel: str, xlabel: str | None = "minutes from the start", legend: str = "upper left") -> None:
    """Axis labels (with units), grid, legend (``legend``: a matplotlib location, "outside":
    right of the axes, or "": none)."""
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if handles and legend == "outside":  # right of the axes, clear of the data and the labels
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), framealpha=0.9)
    elif handles and legend:
        ax.legend(loc=legend, framealpha=0.9)


def separate_labels(fig) -> None:
    """Move each label of :func:`mark_times` (a wave's start, say) that would overlap other text
    or a bar — the halt's label at the same minute, a wave's outcome beside its bar — to the first
    free place beside its line: at the top on its right, then on its left, then stacked down by
    ``STACK_STEP_PT`` on either side, within the axes. A label with no free place is left out
    (its line stays). Lays the figure out first (constrained layout, as its drawing will) to
    measure the text: a third of the time drawing it would take (a six-gate figure)."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        marks = sorted((t for t in ax.texts if t.get_gid() == MARK_LABEL), key=lambda t: t.xy[0])
        if not marks:
            continue
        taken = [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() != MARK_LABEL and t.get_visible()]
        taken += [bar.get_window_extent(renderer) for c in ax.containers for bar in c.patches if hasattr(c, "patches")]
        legend = ax.get_legend()
        if legend is not None:
            taken.append(legend.get_window_extent(renderer))
        for mark in marks:
            box = _free_place(mark, renderer, ax.bbox, taken)
            if box is None:
                mark.remove()
            else:
                taken.append(box)


def _free_place(mark, renderer, inside, taken: list):
    """Put ``mark`` (a rotated label hanging from the top of its line) at the first place whose
    box is within ``inside`` and overlaps none of ``taken``; its box, or None when none is free."""
    pt = renderer.points_to_pixels(1.0)
    depth = 0.0
    while True:
        for side, dx in (("left", MARK_GAP_PT), ("right", -MARK_GAP_PT)):
            mark.set_horizontalalignment(side)
            mark.set_position((dx, -MARK_GAP_PT - depth))
            box = mark.get_window_extent(renderer)
            if box.y0 < inside.y0:
                return None  # stacked down to the bottom of the axes: no room
            if inside.x0 <= box.x0 and box.x1 <= inside.x1 and not any(box.overlaps(b) for b in taken):
                return box
        depth += STACK_STEP_PT
        if depth * pt > inside.height:
            return None
