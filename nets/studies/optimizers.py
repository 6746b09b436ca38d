"""Parts 2-3: SGD, SGD with momentum, Adam and RMSprop on both tasks, same budget, same seeds.

Metric ids ({opt} in sgd, momentum, adam, rmsprop): optimizers.regression.{opt}.train_mse,
.val_mse, .clean_mse; optimizers.fashion.{opt}.train_loss, .val_accuracy, .test_accuracy,
.train_seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nets import data as D
from nets.labels import label, plural
from nets.models import MLP, build_cnn
from nets.plots import save_curve
from nets.runinfo import make_run_dir
from nets.studies.common import (
    Arm,
    Figure,
    Study,
    Trained,
    fashion_split,
    fashion_test,
    save_run,
    train_arms,
)
from nets.train import TrainConfig, evaluate

OPTIMIZER_NAMES = ("sgd", "momentum", "adam", "rmsprop")
# Learning rates per optimizer at their usual scales (a shared lr would just be wrong for some:
# SGD needs ~10x Adam's). Same epochs, batches, init seed and data order for all of them.
REG_LRS = {"sgd": 0.05, "momentum": 0.05, "adam": 0.01, "rmsprop": 0.003}
FASHION_LRS = {"sgd": 0.05, "momentum": 0.05, "adam": 1e-3, "rmsprop": 1e-3}


def run(out: str | Path, *, seed: int = 0, epochs: int | None = None, quick: bool = False,
        progress: bool = True, data_dir: str | None = None) -> dict:
    """SGD, SGD+momentum, Adam and RMSprop on both tasks, same budget, same seeds."""
    run_dir = make_run_dir(out)
    m: dict[str, Any] = {}
    d = D.regression_data(seed)
    reg_epochs = epochs or (200 if quick else 1500)

    def reg_record(t: Trained) -> dict[str, float]:
        return {"train_mse": evaluate(t.model, d.x_train, d.y_train, "regression")["loss"],
                "val_mse": t.hist.val_loss[-1],
                "clean_mse": evaluate(t.model, d.x_dense, d.y_clean, "regression")["loss"]}

    reg = train_arms(
        {opt: Arm(lambda: MLP((64, 64), "tanh"),
                  TrainConfig(epochs=reg_epochs, batch_size=32, optimizer=opt, lr=REG_LRS[opt],
                              seed=seed, task="regression"))
         for opt in OPTIMIZER_NAMES},
        d.x_train, d.y_train, d.x_test, d.y_test, seed=seed, prefix="optimizers.regression",
        record=reg_record, metrics=m, progress=progress, desc="regression")
    save_curve(run_dir / "regression_train.png",
               {label(k): t.hist.train_loss for k, t in reg.items()},
               "epoch", "train MSE", "Optimizers on regression (batch 32)", logy=True)
    save_curve(run_dir / "regression_val.png", {label(k): t.hist.val_loss for k, t in reg.items()},
               "epoch", "held-out MSE", "Optimizers on regression: held-out MSE", logy=True)

    fd = D.load_fashion(data_dir)
    n_train, n_val = (1000, 500) if quick else (10000, 2000)
    x, y, xv, yv = fashion_split(fd, n_train, n_val, seed)
    xt, yt = fashion_test(fd, quick, seed)
    f_epochs = epochs or (2 if quick else 6)
    fashion = train_arms(
        {opt: Arm(lambda: build_cnn("reference"),
                  TrainConfig(epochs=f_epochs, batch_size=128, optimizer=opt,
                              lr=FASHION_LRS[opt], seed=seed))
         for opt in OPTIMIZER_NAMES},
        x, y, xv, yv, seed=seed, prefix="optimizers.fashion", metrics=m, progress=progress,
        desc="fashion",
        record=lambda t: {"train_loss": t.hist.train_loss[-1], "val_accuracy": t.hist.val_acc[-1],
                          "test_accuracy": evaluate(t.model, xt, yt)["accuracy"],
                          "train_seconds": t.hist.train_seconds})
    save_curve(run_dir / "fashion_train_loss.png",
               {label(k): t.hist.train_loss for k, t in fashion.items()}, "epoch",
               "train cross-entropy",
               f"Optimizers on FashionMNIST ({plural(n_train, 'training image')})")
    save_curve(run_dir / "fashion_val_accuracy.png",
               {label(k): t.hist.val_acc for k, t in fashion.items()}, "epoch",
               "validation accuracy",
               f"Optimizers on FashionMNIST ({plural(n_val, 'validation image')})")
    (run_dir / "table.txt").write_text(optimizer_table(m))
    return save_run(run_dir, "optimizers", m, {
        "seed": seed, "quick": quick, "regression_lrs": REG_LRS, "fashion_lrs": FASHION_LRS,
        "fashion_subset": {"train": n_train, "val": n_val}, "model": "reference CNN / MLP 64-64",
        "runs": {**{f"regression.{k}": t.config() for k, t in reg.items()},
                 **{f"fashion.{k}": t.config() for k, t in fashion.items()}}})


def optimizer_table(m: dict) -> str:
    """The optimizers study's metrics as a text table (written to table.txt)."""
    lines = ["optimizer  lr(reg) reg.train_mse reg.clean_mse  lr(fashion) fashion.val_acc "
             "fashion.test_acc"]
    for opt in OPTIMIZER_NAMES:
        lines.append(f"{opt:<10} {REG_LRS[opt]:<7g} "
                     f"{m[f'optimizers.regression.{opt}.train_mse']:<13.5f} "
                     f"{m[f'optimizers.regression.{opt}.clean_mse']:<14.5f} "
                     f"{FASHION_LRS[opt]:<11g} "
                     f"{m[f'optimizers.fashion.{opt}.val_accuracy']:<15.4f} "
                     f"{m[f'optimizers.fashion.{opt}.test_accuracy']:.4f}")
    return "\n".join(lines) + "\n"


STUDY = Study(
    "optimizers", "Parts 2-3: SGD, momentum, Adam, RMSprop on both tasks, same budget and seeds.",
    run,
    figures=(
        Figure("regression_train.png", "Part 3: training MSE of each optimizer on the "
               "regression task."),
        Figure("regression_val.png", "Part 3: held-out MSE of each optimizer on the "
               "regression task (same budget, same seed).", handout=True),
        Figure("fashion_train_loss.png", "Parts 2--3: training cross-entropy of each optimizer "
               "on FashionMNIST."),
        Figure("fashion_val_accuracy.png", "Parts 2--3: validation accuracy of each "
               "optimizer on FashionMNIST.", handout=True),
    ))
