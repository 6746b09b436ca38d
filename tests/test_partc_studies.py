"""Part C studies other than the reference CNN, from the session's quick runs (--quick).

Each asserts a conclusion that holds even on small subsets, never a wall-clock time.
"""

from __future__ import annotations

import json

import pytest

from tests.test_partc_runs import _metrics

pytest.importorskip("torch")


def test_regression_quick(quick_runs):
    m = _metrics(quick_runs / "regression")
    assert m["regression.noise_floor"] == 0.01
    assert m["regression.clean_mse"] < 0.05  # quick: few epochs; the full run's target is 0.001
    assert m["regression.test_r2"] > 0.8
    for f in ("fit.png", "loss_curves.png"):
        assert (quick_runs / "regression" / f).stat().st_size > 1000


def test_init_quick_zero_init_symmetry(quick_runs):
    m = _metrics(quick_runs / "init")
    for task in ("regression", "fashion"):
        assert m[f"init.{task}.zero.distinct_units"] == 1
        assert m[f"init.{task}.he.distinct_units"] > 1
    assert m["init.fashion.zero.test_accuracy"] == pytest.approx(0.1)  # every output equal
    assert m["init.fashion.he.test_accuracy"] > 0.4
    assert m["init.regression.he.final_mse"] < m["init.regression.zero.final_mse"]


def test_search_quick_reports_mean_std_and_wall_time(quick_runs):
    m = _metrics(quick_runs / "search")
    config = json.loads((quick_runs / "search" / "config.json").read_text())
    for task in ("regression", "fashion"):
        for strategy in ("grid", "random"):
            p = f"search.{task}.{strategy}"
            assert m[f"{p}.wall_seconds"] > 0 and m[f"{p}.best_cv_std"] >= 0
            rows = config["searches"][f"{task}.{strategy}"]["rows"]
            assert all({"mean", "std", "scores", "params"} <= set(r) for r in rows)
    assert m["search.fashion.grid.test_score"] > 0.3
    # Distributions are recorded by name and parameters, so the run can be repeated from it.
    space = config["searches"]["regression.random"]["space"]
    assert space["lr"] == "loguniform(0.001, 0.03)" and " at 0x" not in json.dumps(config)


def test_optimizers_regularization_viz_quick(quick_runs):
    m = _metrics(quick_runs / "optimizers")
    assert all(m[f"optimizers.fashion.{o}.test_accuracy"] > 0.15
               for o in ("sgd", "momentum", "adam", "rmsprop"))
    m = _metrics(quick_runs / "regularization")
    p = "regularization.regression"
    assert m[f"{p}.l1.weight_l1"] < 0.6 * m[f"{p}.none.weight_l1"]  # L1: smaller, sparser
    assert m[f"{p}.l1.sparsity"] > m[f"{p}.none.sparsity"]
    assert m[f"{p}.l2.weight_l2"] < 0.8 * m[f"{p}.none.weight_l2"]  # L2: smaller norm
    assert m["regularization.fashion.dropout.train_accuracy"] > 0.2
    m = _metrics(quick_runs / "viz")
    assert m["viz.activations.early.shape"] == [32, 28, 28]
    assert m["viz.activations.deep.shape"] == [128, 7, 7]
    assert m["viz.actmax.class_gain"] > 0  # gradient ascent raised the class logits
    # One snapshot per epoch plus the initialization, each a copy (not the live weights).
    stds = m["viz.weights.fc.std_by_epoch"]
    assert len(stds) == 3 and len(set(stds)) == 3
    for f in ("filters_conv1.png", "saliency.png", "weight_histograms.png", "actmax_units.png"):
        assert (quick_runs / "viz" / f).stat().st_size > 1000


def test_each_study_writes_exactly_the_figures_it_declares(quick_runs):
    from nets.studies import STUDIES

    for study in STUDIES:
        written = {p.name for p in (quick_runs / study.name).glob("*.png")}
        assert written == {f.file for f in study.figures}, study.name
        assert all(f.caption.startswith("Part") for f in study.figures), study.name
