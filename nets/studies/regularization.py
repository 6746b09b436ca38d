"""Parts 2-3: none vs L1 vs L2 vs dropout vs early stopping: train/validation gap and weights.

Metric ids ({method} in none, l1, l2, dropout, early_stopping):
regularization.regression.{method}.train_mse, .val_mse, .gap, .clean_mse, .weight_l1,
.weight_l2, .sparsity, .epochs; regularization.fashion.{method}.train_accuracy, .val_accuracy,
.gap, .test_accuracy, .weight_l1, .weight_l2, .sparsity, .epochs.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from nets import data as D
from nets.labels import label, plural
from nets.models import CNN, MLP, CNNSpec, build_cnn
from nets.plots import save_curve
from nets.runinfo import make_run_dir
from nets.studies.common import (
    Arm,
    Figure,
    Study,
    Trained,
    all_weights,
    bar,
    fashion_split,
    fashion_test,
    hist_figure,
    save_run,
    train_arms,
    weight_stats,
)
from nets.train import TrainConfig, evaluate
from solver.numbers import show

METHODS = ("none", "l1", "l2", "dropout", "early_stopping")


def run(out: str | Path, *, seed: int = 0, epochs: int | None = None, quick: bool = False,
        progress: bool = True, data_dir: str | None = None) -> dict:
    """None vs L1 vs L2 vs dropout vs early stopping: train/validation gap and weights."""
    run_dir = make_run_dir(out)
    m: dict[str, Any] = {}
    reg, split = _regression(run_dir, m, seed, epochs, quick, progress)
    fashion, n_train, n_val = _fashion(run_dir, m, seed, epochs, quick, progress, data_dir)
    return save_run(run_dir, "regularization", m, {
        "seed": seed, "quick": quick, "regression_split": split,
        "fashion_subset": {"train": n_train, "val": n_val},
        "runs": {**{f"regression.{k}": t.config() for k, t in reg.items()},
                 **{f"fashion.{k}": t.config() for k, t in fashion.items()}}})


def _regression(run_dir: Path, m: dict[str, Any], seed: int, epochs: int | None, quick: bool,
                progress: bool) -> tuple[dict[str, Trained], dict[str, int]]:
    """A deliberately over-sized MLP on few points, so that overfitting shows."""
    d = D.regression_data(seed)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(d.x_train), generator=g)
    n_val = len(perm) // 4
    xtr, ytr = d.x_train[perm[n_val:]], d.y_train[perm[n_val:]]
    xva, yva = d.x_train[perm[:n_val]], d.y_train[perm[:n_val]]
    reg_epochs = epochs or (300 if quick else 3000)
    methods: dict[str, tuple[dict[str, Any], float]] = {  # METHODS -> (overrides, dropout)
        "none": ({}, 0.0), "l1": ({"l1": 1e-4}, 0.0), "l2": ({"weight_decay": 1e-3}, 0.0),
        "dropout": ({}, 0.1), "early_stopping": ({"early_stopping": max(reg_epochs // 20, 5)}, 0.0),
    }

    def record(t: Trained) -> dict[str, Any]:
        tr = evaluate(t.model, xtr, ytr, "regression")["loss"]
        va = evaluate(t.model, xva, yva, "regression")["loss"]
        return {"train_mse": tr, "val_mse": va, "gap": va - tr,
                "clean_mse": evaluate(t.model, d.x_dense, d.y_clean, "regression")["loss"],
                "epochs": t.hist.stopped_epoch + 1, **weight_stats(t.model)}

    reg = train_arms(
        {name: Arm(partial(MLP, (128, 128), "relu", dropout=drop),
                   TrainConfig(epochs=reg_epochs, batch_size=len(xtr), optimizer="adam",
                               lr=1e-2, seed=seed, task="regression", **over),
                   {"dropout": drop})
         for name, (over, drop) in methods.items()},
        xtr, ytr, xva, yva, seed=seed, prefix="regularization.regression", record=record,
        metrics=m, progress=progress, desc="regression")
    hist_figure(run_dir / "regression_weights.png",
                {label(k): all_weights(t.model).numpy() for k, t in reg.items()},
                "Regression MLP 128-128: weight histograms by regularizer")
    bar(run_dir / "regression_gap.png",
        {label(k): m[f"regularization.regression.{k}.gap"] for k in reg},
        "held-out MSE − training MSE", "Regression: generalization gap",
        fmt=lambda v: show(v, 2))
    return reg, {"train": len(xtr), "val": len(xva)}


def _regularized_cnn(dropout: float) -> CNN:
    return build_cnn(CNNSpec(widths=(32, 64, 128), convs=(1, 2, 1), dropout=dropout))


def _fashion(run_dir: Path, m: dict[str, Any], seed: int, epochs: int | None, quick: bool,
             progress: bool, data_dir: str | None) -> tuple[dict[str, Trained], int, int]:
    """A small training subset, so that the unregularized CNN overfits."""
    fd = D.load_fashion(data_dir)
    n_train, n_val = (1000, 500) if quick else (5000, 2000)
    x, y, xv, yv = fashion_split(fd, n_train, n_val, seed)
    xt, yt = fashion_test(fd, quick, seed)
    f_epochs = epochs or (2 if quick else 12)
    methods: dict[str, tuple[dict[str, Any], float]] = {  # METHODS -> (overrides, dropout)
        "none": ({}, 0.0), "l1": ({"l1": 1e-5}, 0.0), "l2": ({"weight_decay": 1e-3}, 0.0),
        "dropout": ({}, 0.5), "early_stopping": ({"early_stopping": 2}, 0.0),
    }

    def record(t: Trained) -> dict[str, Any]:
        tr = evaluate(t.model, x, y)["accuracy"]
        va = evaluate(t.model, xv, yv)["accuracy"]
        return {"train_accuracy": tr, "val_accuracy": va, "gap": tr - va,
                "test_accuracy": evaluate(t.model, xt, yt)["accuracy"],
                "epochs": t.hist.stopped_epoch + 1, **weight_stats(t.model)}

    fashion = train_arms(
        {name: Arm(partial(_regularized_cnn, drop),
                   TrainConfig(epochs=f_epochs, batch_size=64, optimizer="adam", lr=1e-3,
                               seed=seed, **over),
                   {"dropout": drop})
         for name, (over, drop) in methods.items()},
        x, y, xv, yv, seed=seed, prefix="regularization.fashion", record=record,
        metrics=m, progress=progress, desc="fashion")
    curves: dict[str, list[float]] = {}
    for k, t in fashion.items():
        curves[f"{label(k)}, train"] = t.hist.train_acc
        curves[f"{label(k)}, validation"] = t.hist.val_acc
    save_curve(run_dir / "fashion_accuracy.png", curves, "epoch", "accuracy",
               f"FashionMNIST ({plural(n_train, 'training image')}): train vs validation")
    hist_figure(run_dir / "fashion_weights.png",
                {label(k): all_weights(t.model).numpy() for k, t in fashion.items()},
                "FashionMNIST CNN: weights by regularizer")
    # In percentage points, as the handout quotes it.
    bar(run_dir / "fashion_gap.png",
        {label(k): 100 * m[f"regularization.fashion.{k}.gap"] for k in fashion},
        "training − validation accuracy (percentage points)", "FashionMNIST: generalization gap",
        fmt=lambda v: f"{v:.1f}")
    return fashion, n_train, n_val


STUDY = Study(
    "regularization", "Parts 2-3: none vs L1 vs L2 vs dropout vs early stopping.", run,
    figures=(
        Figure("regression_weights.png", "Part 3: weight histograms of the regression "
               "MLP under each regularizer.", handout=True),
        Figure("regression_gap.png", "Parts 2--3: validation minus training MSE of the "
               "regression MLP under each regularizer."),
        Figure("fashion_accuracy.png", "Parts 2--3: training and validation accuracy of the "
               "CNN under each regularizer."),
        Figure("fashion_weights.png", "Part 3: weight histograms of the CNN under each "
               "regularizer."),
        Figure("fashion_gap.png", "Parts 2--3: training minus validation accuracy of the "
               "CNN under each regularizer, in percentage points.", handout=True),
    ))
