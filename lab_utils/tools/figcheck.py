"""A matplotlib backend that checks every figure a notebook draws.

    MPLBACKEND=module://lab_utils.tools.figcheck \
    LAB_FIGCHECK_LOG=problems.txt  (run the notebooks)

Where a cell ends (as the inline backend would show its figures), each
open figure is drawn with Agg and checked, then closed: titles,
suptitles, axis labels and tick labels whose text extents overlap (as the
renderer lays them out), and axes left empty (nothing drawn in them).
Each problem is appended as one line to ``$LAB_FIGCHECK_LOG`` (the
notebook, the figure's title, what overlaps what); nothing is shown. The
root ``conftest.py`` runs the test suite's notebooks with it, and a test
fails on any line. ``check_figure(fig)`` is the check itself.
"""

from __future__ import annotations

import math
import os
from itertools import combinations

import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureManagerBase as FigureManager  # noqa: F401
from matplotlib.backends.backend_agg import (  # noqa: F401 (the backend)
    FigureCanvasAgg as FigureCanvas,
)

# Overlaps smaller than this (pixels, each way) are anti-aliasing, not a
# collision a reader would see.
TOLERANCE = 1.0


def check_figure(fig) -> list[str]:
    """What is wrong with ``fig`` as drawn: overlapping texts and empty
    axes, one sentence each (an empty list when it is clean)."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    texts = []  # (description, extent)
    if fig._suptitle is not None and fig._suptitle.get_text():
        texts.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        name = f"axes {i + 1}"
        if _is_empty(ax):
            problems.append(f"{name} is empty (nothing drawn in it)")
        for title in (ax.title, ax._left_title, ax._right_title):
            if title.get_text() and title.get_visible():
                extent = title.get_window_extent(renderer)
                texts.append((f"{name} title", extent))
        if ax.name == "3d" or not ax.axison:
            continue  # 3-D tick labels sit on the panes; "off" hides all
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            label = axis.label
            if label.get_text() and label.get_visible():
                texts.append(
                    (
                        f"{name} {which} label",
                        label.get_window_extent(renderer),
                    )
                )
            low, high = sorted(axis.get_view_interval())
            margin = 1e-9 * abs(high - low)
            shown = sorted(
                (
                    (t.get_loc(), t.label1)
                    for t in axis.get_major_ticks() + axis.get_minor_ticks()
                    if t.label1.get_visible()
                    and t.label1.get_text()
                    and low - margin <= t.get_loc() <= high + margin
                ),
                key=lambda pair: pair[0],
            )
            labels = [label for _, label in shown]
            for a, b in zip(labels, labels[1:]):
                if _labels_collide(a, b, renderer):
                    problems.append(
                        f"{name}: {which} tick labels {a.get_text()!r} and "
                        f"{b.get_text()!r} collide"
                    )
            texts += [
                (
                    f"{name} {which} tick {t.get_text()!r}",
                    t.get_window_extent(renderer),
                )
                for t in labels
            ]
    for (a, ea), (b, eb) in combinations(texts, 2):
        if " tick " in a and " tick " in b:
            continue  # neighbouring ticks were checked above
        if _overlap(ea, eb):
            problems.append(f"{a} overlaps {b}")
    return problems


def _labels_collide(a, b, renderer) -> bool:
    """Two neighbouring tick labels collide: their boxes overlap or, when
    slanted (parallel strips), their anchors are closer across the slant
    than a line of text is high."""
    angle = math.radians(a.get_rotation() % 180)
    if angle in (0.0, math.pi / 2):
        return _overlap(
            a.get_window_extent(renderer), b.get_window_extent(renderer)
        )
    (xa, ya), (xb, yb) = (
        a.get_transform().transform(a.get_position()),
        b.get_transform().transform(b.get_position()),
    )
    across = abs((xb - xa) * math.sin(angle) - (yb - ya) * math.cos(angle))
    height = a.get_fontsize() * a.figure.dpi / 72
    return across + TOLERANCE < height


def _overlap(a, b) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE and height > TOLERANCE


def _is_empty(ax) -> bool:
    """No data drawn: no lines, collections, images, patches (besides the
    background) or texts of its own."""
    return not (
        ax.lines
        or ax.collections
        or ax.images
        or ax.patches
        or ax.texts
        or ax.tables
        or ax.artists
    )


def _figure_name(fig) -> str:
    if fig._suptitle is not None and fig._suptitle.get_text():
        return fig._suptitle.get_text()
    for ax in fig.axes:
        if ax.get_title():
            return ax.get_title()
    return f"figure {fig.number}"


def check_open_figures() -> None:
    """Check and close every open figure, logging its problems."""
    log = os.environ.get("LAB_FIGCHECK_LOG")
    notebook = os.environ.get("LAB_FIGCHECK_NOTEBOOK", "")
    for number in plt.get_fignums():
        fig = plt.figure(number)
        problems = check_figure(fig)
        if problems and log:
            with open(log, "a") as f:
                for problem in problems:
                    where = f"{notebook}: " if notebook else ""
                    f.write(f"{where}{_figure_name(fig)!r}: {problem}\n")
        plt.close(fig)


def show(*args, **kwargs) -> None:
    check_open_figures()


def _register() -> None:
    """Check figures where each cell ends, as the inline backend shows
    them (IPython's post_execute); outside IPython, only ``show``."""
    try:
        ip = get_ipython()  # noqa: F821 (defined inside IPython)
    except NameError:
        return
    ip.events.register("post_execute", check_open_figures)


_register()
