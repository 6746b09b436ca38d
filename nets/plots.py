"""Figure helpers shared by Parts B and C: each takes plain arrays and writes one PNG.

matplotlib is imported inside each function, with the Agg backend, so importing `nets` (and
running `dlhw solve`) never pays for it and no display is ever needed. Figures are closed after
saving so long runs do not accumulate them.

Every figure is checked as it is saved (`layout_problems`: tick labels that overlap, titles
that collide) from the extents matplotlib gives its drawn text; the verdict is written into the
PNG (text chunk `LAYOUT_KEY`), where the handout's tests read it, and a problem is also warned.
Names in legends and ticks come from nets.labels, never raw ids.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110
LAYOUT_KEY = "Layout check"  # PNG text chunk: "passed", or the overlaps found


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported on first use (for custom figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save `fig` as a PNG with fixed metadata (same figure, same bytes) and close it.

    Its layout is checked first (`layout_problems`); the verdict goes into the PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    problems = layout_problems(fig)
    if problems:
        warnings.warn(f"{path}: {'; '.join(problems)}", stacklevel=2)
    # Fixed metadata: without it every PNG differs by its creation software/date line.
    fig.savefig(path, dpi=DPI, bbox_inches="tight",
                metadata={"Software": None, LAYOUT_KEY: "; ".join(problems) or "passed"})
    pyplot().close(fig)
    return path


def _drawn_ticklabels(axis: Any) -> list[Any]:
    """The tick labels an axis draws: non-empty, visible, at a tick inside the view limits."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
    out = []
    for locs, texts in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                        (axis.get_minorticklocs(), axis.get_minorticklabels())):
        out += [t for loc, t in zip(locs, texts, strict=False)
                if t.get_visible() and t.get_text() and lo - slack <= loc <= hi + slack]
    return out


def _overlap(a: Any, b: Any, gap: float = 3.0) -> bool:
    """Two window extents closer than `gap` pixels both ways (3 px at DPI: about a thin space),
    so labels that touch ("TrouserPullover") count as overlapping."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > -gap) and \
        (min(a.y1, b.y1) - max(a.y0, b.y0) > -gap)


def layout_problems(fig: Any) -> list[str]:
    """What is wrong with `fig` as drawn at the saved resolution, one line each: tick labels of
    one axis that overlap, axes titles that overlap each other, the suptitle over any title or
    tick label, and any text a program would print and a person would not
    (nets.labels.wording_problems: 0.010000000000000002, early_stopping, "1 epochs")."""
    fig.set_dpi(DPI)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()

    def box(t: Any) -> Any:
        return t.get_window_extent(renderer)

    problems = []
    ticks_all = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            ticks = _drawn_ticklabels(axis)
            ticks_all += ticks
            problems += [f"{ax.get_title() or 'panel'}: {name} tick labels {a.get_text()!r} and "
                         f"{b.get_text()!r} overlap" for a, b in combinations(ticks, 2)
                         if _overlap(box(a), box(b))]
    titles = [ax.title for ax in fig.axes if ax.get_visible() and ax.title.get_text()]
    problems += [f"titles {a.get_text()!r} and {b.get_text()!r} overlap"
                 for a, b in combinations(titles, 2) if _overlap(box(a), box(b))]
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_visible() and sup.get_text():
        problems += [f"suptitle overlaps {t.get_text()!r}" for t in titles + ticks_all
                     if _overlap(box(sup), box(t))]
    from matplotlib.text import Text

    from nets.labels import wording_problems

    for t in fig.findobj(Text):  # titles, labels, legends, ticks: words a person would write
        if t.get_visible() and t.get_text():
            problems += wording_problems(t.get_text())
    return problems


def integer_ticks(axis: Any) -> None:
    """Ticks at whole numbers only (epochs, counts): never 1.25 epochs."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def save_curve(path: str | Path, series: Mapping[str, Sequence[float]], xlabel: str,
               ylabel: str, title: str, logy: bool = False,
               x: Sequence[float] | None = None) -> Path:
    """Line plot of one or more named series against their index (or `x`), with a legend."""
    return save_figure(curve_figure(series, xlabel, ylabel, title, logy, x), path)


def curve_figure(series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, title: str,
                 logy: bool = False, x: Sequence[float] | None = None) -> Any:
    """The figure `save_curve` saves; against the index (epochs), ticks at whole numbers."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        xs = x if x is not None else range(1, len(values) + 1)
        ax.plot(list(xs), list(values), label=name)
    if x is None:  # the index: epochs or steps, whole numbers
        integer_ticks(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def save_confusion(path: str | Path, matrix: np.ndarray, labels: Sequence[str],
                   title: str) -> Path:
    """Confusion matrix (rows: true class, columns: predicted) with counts in the cells.

    Column labels longer than a cell is wide are turned upright, so neighbours never overlap."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.5 * n + 2, 0.5 * n + 1.5))
    ax.imshow(matrix, cmap="Blues")
    upright = max((len(str(s)) for s in labels), default=0) > 3
    ax.set_xticks(range(n), labels=list(labels), rotation=90 if upright else 0)
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    return save_figure(fig, path)


def save_image_grid(path: str | Path, images: np.ndarray, titles: Sequence[str], title: str,
                    cols: int = 8, cmap: str = "gray_r", symmetric: bool = False,
                    panel: float = 1.3) -> Path:
    """Grid of 2-D images (N, H, W), each with a small caption ("" for none).

    `symmetric` centres the colour scale on zero (for weights, where the sign matters).
    `panel` is each image's width in inches: smaller panels keep the text legible when the
    handout shrinks a many-column grid to its column.
    """
    plt = pyplot()
    images = np.asarray(images)
    n = max(len(images), 1)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols, (panel + 0.2) * rows + 0.4),
                             squeeze=False,
                             layout="constrained")  # room for the suptitle above the panels
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        img = images[k]
        if symmetric:
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(img, cmap=cmap)
        ax.set_title(titles[k], fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def save_decision_boundary(path: str | Path, predict: Callable[[np.ndarray], np.ndarray],
                           X: np.ndarray, y: np.ndarray, title: str,
                           margin: float = 0.5, steps: int = 200) -> Path:
    """Regions a 2-D classifier `predict((N, 2)) -> (N,)` assigns, with the points on top."""
    plt = pyplot()
    X = np.asarray(X, dtype=float)
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    zz = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.contourf(gx, gy, zz, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"], alpha=0.8)
    for cls, marker, colour in ((0, "o", "#b2182b"), (1, "s", "#2166ac")):
        pts = X[np.asarray(y) == cls]
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, c=colour, s=60, label=f"y={cls}",
                   edgecolors="k")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)
