"""Part C studies other than the reference CNN, through the CLI with --quick.

Each asserts a conclusion that holds even on small subsets, never a wall-clock time.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import require
from tests.test_partc_runs import _have_data, _run

pytest.importorskip("torch")


def test_regression_quick(tmp_path):
    m = _run("regression", tmp_path / "r")
    assert m["regression.noise_floor"] == 0.01
    assert m["regression.clean_mse"] < 0.05  # quick: few epochs; the full run's target is 0.001
    assert m["regression.test_r2"] > 0.8
    for f in ("fit.png", "loss_curves.png"):
        assert (tmp_path / "r" / f).stat().st_size > 1000


def test_init_quick_zero_init_symmetry(tmp_path):
    require(_have_data(), "FashionMNIST not installed (apt-get install dataset-fashion-mnist)")
    m = _run("init", tmp_path / "i")
    for task in ("regression", "fashion"):
        assert m[f"init.{task}.zero.distinct_units"] == 1
        assert m[f"init.{task}.he.distinct_units"] > 1
    assert m["init.fashion.zero.test_accuracy"] == pytest.approx(0.1)  # every output equal
    assert m["init.fashion.he.test_accuracy"] > 0.4
    assert m["init.regression.he.final_mse"] < m["init.regression.zero.final_mse"]


def test_search_quick_reports_mean_std_and_wall_time(tmp_path):
    require(_have_data(), "FashionMNIST not installed (apt-get install dataset-fashion-mnist)")
    m = _run("search", tmp_path / "s")
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    for task in ("regression", "fashion"):
        for strategy in ("grid", "random"):
            p = f"search.{task}.{strategy}"
            assert m[f"{p}.wall_seconds"] > 0 and m[f"{p}.best_cv_std"] >= 0
            rows = config["searches"][f"{task}.{strategy}"]["rows"]
            assert all({"mean", "std", "scores", "params"} <= set(r) for r in rows)
    assert m["search.fashion.grid.test_score"] > 0.3


def test_optimizers_regularization_viz_quick(tmp_path):
    require(_have_data(), "FashionMNIST not installed (apt-get install dataset-fashion-mnist)")
    m = _run("optimizers", tmp_path / "o", "--epochs", "2")
    assert all(m[f"optimizers.fashion.{o}.test_accuracy"] > 0.15
               for o in ("sgd", "momentum", "adam", "rmsprop"))
    m = _run("regularization", tmp_path / "g")
    p = "regularization.regression"
    assert m[f"{p}.l1.weight_l1"] < 0.6 * m[f"{p}.none.weight_l1"]  # L1: smaller, sparser
    assert m[f"{p}.l1.sparsity"] > m[f"{p}.none.sparsity"]
    assert m[f"{p}.l2.weight_l2"] < 0.8 * m[f"{p}.none.weight_l2"]  # L2: smaller norm
    assert m["regularization.fashion.dropout.train_accuracy"] > 0.2
    m = _run("viz", tmp_path / "v")
    assert m["viz.activations.early.shape"] == [32, 28, 28]
    assert m["viz.activations.deep.shape"] == [128, 7, 7]
    assert m["viz.actmax.class_gain"] > 0  # gradient ascent raised the class logits
    # One snapshot per epoch plus the initialization, each a copy (not the live weights).
    stds = m["viz.weights.fc.std_by_epoch"]
    assert len(stds) == 3 and len(set(stds)) == 3
    for f in ("filters_conv1.png", "saliency.png", "weight_histograms.png", "actmax_units.png"):
        assert (tmp_path / "v" / f).stat().st_size > 1000
