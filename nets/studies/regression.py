"""Part 1: a two-hidden-layer MLP on sin(x) + 0.1 eps, its architecture chosen by k-fold CV.

Metric ids: regression.cv_mse, regression.cv_mse_std, regression.train_mse,
regression.test_mse, regression.test_rmse, regression.test_r2, regression.clean_mse,
regression.noise_floor, regression.train_seconds, regression.epochs. MSEs are always given next
to the noise floor sigma^2 = 0.01.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from nets import data as D
from nets.labels import label
from nets.models import MLP
from nets.plots import pyplot, save_curve, save_figure
from nets.runinfo import make_run_dir
from nets.studies.common import Figure, Study, run_config, save_run
from nets.train import TrainConfig, evaluate, fit, predict
from solver.numbers import show


def run(out: str | Path, *, seed: int = 0, epochs: int | None = None, quick: bool = False,
        progress: bool = True, data_dir: str | None = None) -> dict:
    """Two-hidden-layer MLP on sin(x) + 0.1 eps; architecture chosen by 5-fold CV on train only.

    `data_dir` is not read: the regression data are generated from the seed.
    """
    from nets.search import search

    run_dir = make_run_dir(out)
    epochs = epochs or (300 if quick else 1500)
    k = 3 if quick else 5
    d = D.regression_data(seed)
    space = {"hidden": [32, 64], "activation": ["tanh", "relu"], "lr": [1e-2],
             "weight_decay": [1e-4]}
    cv = search("grid", "regression", d.x_train, d.y_train, space, k=k, seed=seed, epochs=epochs,
                progress=progress)
    params = cv.best["params"]
    torch.manual_seed(seed)
    model = MLP((params["hidden"],) * 2, params["activation"])
    cfg = TrainConfig(epochs=epochs, batch_size=len(d.x_train), optimizer="adam", lr=params["lr"],
                      weight_decay=params["weight_decay"], schedule="cosine", seed=seed,
                      task="regression")
    # The held-out curve is only plotted; selection above never saw the test split.
    hist = fit(model, d.x_train, d.y_train, cfg, d.x_test, d.y_test, progress=progress,
               desc="regression")
    test = evaluate(model, d.x_test, d.y_test, "regression")["loss"]
    var = d.y_test.var(unbiased=False).item()
    m = {
        "regression.cv_mse": cv.best["mean"], "regression.cv_mse_std": cv.best["std"],
        "regression.train_mse": evaluate(model, d.x_train, d.y_train, "regression")["loss"],
        "regression.test_mse": test, "regression.test_rmse": math.sqrt(test),
        "regression.test_r2": 1 - test / var,
        "regression.clean_mse": evaluate(model, d.x_dense, d.y_clean, "regression")["loss"],
        "regression.noise_floor": D.NOISE_FLOOR,
        "regression.train_seconds": hist.train_seconds, "regression.epochs": epochs,
    }
    save_curve(run_dir / "loss_curves.png", {"train MSE": hist.train_loss,
                                             "held-out MSE": hist.val_loss,
                                             f"noise floor {D.NOISE_FLOOR:g}":
                                                 [D.NOISE_FLOOR] * epochs},
               "epoch", "MSE", "Regression: loss curves", logy=True)
    _fit_figure(run_dir / "fit.png", d, model, params, m["regression.clean_mse"])
    from nets.export import export_regression  # the model the grader measures: model.pt2
    export_regression(model, run_dir / "model.pt2")
    return save_run(run_dir, "regression", m, {
        "seed": seed, "quick": quick, "data": {"n": 200, "test_fraction": 0.2, "noise_std": 0.1},
        "selection": {"space": space, "k": k, "rows": cv.rows, "best": params},
        "model": {"hidden": [params["hidden"]] * 2, "activation": params["activation"]},
        "train": run_config(cfg, hist)})


def _fit_figure(path: Path, d: D.RegressionData, model: torch.nn.Module, params: dict,
                clean_mse: float) -> None:
    """The data, the clean sin(x) and the learned function on a dense grid."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(d.x_train.flatten(), d.y_train.flatten(), s=10, label="train", alpha=0.6)
    ax.scatter(d.x_test.flatten(), d.y_test.flatten(), s=14, marker="x", label="test")
    ax.plot(d.x_dense.flatten(), d.y_clean.flatten(), "k--", lw=1, label="sin(x)")
    ax.plot(d.x_dense.flatten(), predict(model, d.x_dense).flatten(), "r", lw=2,
            label=f"MLP {params['hidden']}-{params['hidden']}, {label(params['activation'])}")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    # :g, not the float's repr: 0.1**2 is 0.010000000000000002.
    ax.set_title(f"Learned function: MSE {show(clean_mse, 3)} against the clean sin x "
                 f"(noise floor {D.NOISE_FLOOR:g})")
    ax.legend(fontsize=8)
    save_figure(fig, path)


STUDY = Study(
    "regression", "Part 1: two-hidden-layer MLP on sin(x) + noise, chosen by k-fold CV.", run,
    figures=(
        Figure("fit.png", "Part 1: the learned function over the noisy data and the clean "
               "$\\sin x$.", handout=True),
        Figure("loss_curves.png", "Part 1: training and held-out MSE.", handout=True),
    ))
