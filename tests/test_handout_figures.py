"""The handout's figures: no two tick labels or titles overlap (from matplotlib's own text
extents), epoch axes tick at whole numbers, and every figure of the quick runs passed the check
when it was drawn (the verdict save_figure writes into each PNG)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from handout.runs import FIGURES
from nets import data as D
from nets.plots import (
    LAYOUT_KEY,
    curve_figure,
    layout_problems,
    pyplot,
    save_confusion,
    save_image_grid,
)


def _old_weight_histograms():
    """The figure the viz study drew before: three 4-inch panels, 0.025-step ticks, a suptitle
    on top of the panel titles."""
    plt = pyplot()
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, (name, std) in zip(axes, (("conv1", 0.19), ("conv_last", 0.024), ("fc", 0.017)),
                               strict=True):
        ax.hist(rng.normal(0, std, 5000), bins=50, range=(-2.8 * std, 2.8 * std))
        ax.set_title(name)
    fig.suptitle("Weight histograms across epochs (epoch 0 = initialization)")
    return fig


def test_layout_check_finds_overlapping_ticks_and_a_colliding_suptitle():
    problems = layout_problems(_old_weight_histograms())
    assert any("x tick labels" in p for p in problems), problems
    assert any(p.startswith("suptitle overlaps") for p in problems), problems
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 7))  # the old confusion matrix's class names
    ax.imshow(np.eye(10))
    ax.set_xticks(range(10), labels=[c.split("/")[0] for c in D.CLASSES])
    assert any("'Trouser' and 'Pullover'" in p for p in layout_problems(fig))
    plt.close("all")


def test_layout_check_passes_a_clean_figure():
    fig = curve_figure({"train": [3, 2, 1], "test": [3, 2.5, 2]}, "epoch", "loss", "Loss")
    assert layout_problems(fig) == []
    pyplot().close(fig)


def test_epoch_axes_tick_at_whole_numbers():
    fig = curve_figure({"test": [0.5, 0.6, 0.7]}, "epoch", "accuracy", "Accuracy")
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    pyplot().close(fig)


def test_saved_figures_carry_the_verdict(tmp_path):
    rng = np.random.default_rng(0)
    save_confusion(tmp_path / "c.png", rng.integers(0, 200, (10, 10)), list(D.CLASSES),
                   "Reference CNN: test accuracy 77.45% (2,000 images)")
    assert Image.open(tmp_path / "c.png").text[LAYOUT_KEY] == "passed"
    with pytest.warns(UserWarning, match="titles"):  # long panel titles collide
        save_image_grid(tmp_path / "g.png", rng.random((2, 8, 8)),
                        ["a very long panel title indeed"] * 2, "grid", cols=2)
    assert "overlap" in Image.open(tmp_path / "g.png").text[LAYOUT_KEY]


@pytest.mark.slow
def test_every_handout_figure_passed_the_layout_check(quick_runs):
    verdicts = {f"{run}/{f.file}": Image.open(quick_runs / run / f.file).text.get(LAYOUT_KEY)
                for run, f in FIGURES}
    assert all(v == "passed" for v in verdicts.values()), \
        {k: v for k, v in verdicts.items() if v != "passed"}
