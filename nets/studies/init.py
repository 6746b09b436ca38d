"""Part 3: zero vs normal(0, 0.01^2) vs Xavier vs He initialization: symmetry and speed.

Metric ids ({scheme} in zero, normal, xavier, he): init.regression.{scheme}.final_mse,
init.regression.{scheme}.distinct_units, init.regression.{scheme}.epochs_to_0.05 (null: never
reached), init.fashion.{scheme}.final_loss, init.fashion.{scheme}.test_accuracy,
init.fashion.{scheme}.distinct_units.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nets import data as D
from nets.labels import label
from nets.models import MLP
from nets.plots import save_curve
from nets.runinfo import make_run_dir
from nets.studies.common import Arm, Figure, Study, Trained, fashion_test, save_run, train_arms
from nets.train import TrainConfig, evaluate, init_weights

SCHEMES = ("zero", "normal", "xavier", "he")
NORMAL_STD = 0.01  # the "normal" scheme's standard deviation (init_weights' default)


def distinct_units(layer: nn.Linear, tol: float = 1e-6) -> int:
    """How many hidden units of `layer` differ (by incoming weights and bias) from each other."""
    w = torch.cat([layer.weight.detach(), layer.bias.detach()[:, None]], 1)
    kept: list[torch.Tensor] = []
    for row in w:
        if all((row - k).abs().max() > tol for k in kept):
            kept.append(row)
    return len(kept)


def first_linear(model: nn.Module) -> nn.Linear:
    """The first fully connected layer of `model` (the MLP's first hidden layer)."""
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


def _regression_mlp(scheme: str, seed: int) -> nn.Module:
    return init_weights(MLP((64, 64), "tanh"), scheme, seed, NORMAL_STD)


def run(out: str | Path, *, seed: int = 0, epochs: int | None = None, quick: bool = False,
        progress: bool = True, data_dir: str | None = None) -> dict:
    """Zero vs normal(0, 0.01^2) vs Xavier vs He: symmetry and convergence speed."""
    run_dir = make_run_dir(out)
    m: dict[str, Any] = {}
    d = D.regression_data(seed)
    reg_epochs = epochs or (200 if quick else 1000)

    def reg_record(t: Trained) -> dict[str, Any]:
        loss = t.hist.train_loss
        return {"final_mse": loss[-1],
                "epochs_to_0.05": next((i + 1 for i, v in enumerate(loss) if v < 0.05), None),
                "distinct_units": distinct_units(first_linear(t.model))}

    reg = train_arms(
        # Plain momentum SGD: an adaptive optimizer would partly hide a bad initial scale.
        {s: Arm(partial(_regression_mlp, s, seed),
                TrainConfig(epochs=reg_epochs, batch_size=32, optimizer="momentum", lr=0.01,
                            seed=seed, task="regression"))
         for s in SCHEMES},
        d.x_train, d.y_train, seed=seed, prefix="init.regression", record=reg_record, metrics=m,
        progress=progress, desc="regression")
    save_curve(run_dir / "regression_loss.png",
               {label(k, std=NORMAL_STD): t.hist.train_loss for k, t in reg.items()},
               "epoch", "train MSE", "Initialization: regression MLP 64-64 tanh, SGD with momentum",
               logy=True)

    fd = D.load_fashion(data_dir)
    n_train = 1000 if quick else 10000
    x, y = D.subset(fd.x_train, fd.y_train, n_train, seed)
    xt, yt = fashion_test(fd, quick, seed)
    f_epochs = epochs or (2 if quick else 8)

    def deep_mlp(scheme: str) -> nn.Module:
        # A 4-hidden-layer ReLU MLP: deep enough for the init scale to matter.
        model = nn.Sequential(nn.Flatten(), MLP((256, 256, 256, 256), "relu", n_in=784,
                                                n_out=10))
        return init_weights(model, scheme, seed, NORMAL_STD)

    fashion = train_arms(
        {s: Arm(partial(deep_mlp, s),
                TrainConfig(epochs=f_epochs, batch_size=64, optimizer="momentum", lr=0.01,
                            seed=seed))
         for s in SCHEMES},
        x, y, seed=seed, prefix="init.fashion", metrics=m, progress=progress, desc="fashion",
        record=lambda t: {"final_loss": t.hist.train_loss[-1],
                          "test_accuracy": evaluate(t.model, xt, yt)["accuracy"],
                          "distinct_units": distinct_units(first_linear(t.model))})
    save_curve(run_dir / "fashion_loss.png",
               {label(k, std=NORMAL_STD): t.hist.train_loss for k, t in fashion.items()},
               "epoch", "train cross-entropy",
               "Initialization: FashionMNIST MLP 4×256 ReLU, SGD with momentum")
    return save_run(run_dir, "init", m, {
        "seed": seed, "quick": quick, "normal_std": NORMAL_STD, "fashion_subset": n_train,
        "runs": {**{f"regression.{k}": t.config() for k, t in reg.items()},
                 **{f"fashion.{k}": t.config() for k, t in fashion.items()}}})


STUDY = Study(
    "init", "Part 3: zero vs normal vs Xavier vs He initialization.", run,
    figures=(
        Figure("regression_loss.png", "Part 3: training loss under zero, normal, Xavier and He "
               "initialization.", handout=True),
        Figure("fashion_loss.png", "Part 3: training loss of the 4-layer FashionMNIST MLP under "
               "each initialization."),
    ))
