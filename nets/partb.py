"""`dlhw run partb`: every Part B experiment, its metrics under stable dotted ids, and figures.

Each experiment is a function of the configuration (and the seed, where anything is random)
that returns `(metrics, artifacts)`: metrics is a flat {"dotted.id": value} dict, artifacts
holds what the figures need. Each random experiment draws from its own
`np.random.default_rng(seed)`, so the experiments do not depend on one another's order, and the
Part B notebook (nets/notebook.py), which runs these same functions, reaches the same metrics.

Files written to the run folder:
    metrics.json  every figure, sorted keys, floats to 12 significant digits: the same seed gives
                  the same bytes
    config.json   seed, hyperparameters, library versions
    *.png         loss curves, confusion matrices, misclassified digits, softmax weights,
                  the perceptron's decision boundaries
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nets.digits import (
    DigitsSplit,
    accuracy,
    confusion_matrix,
    load_digits_split,
    per_class_accuracy,
    shift_augment,
)
from nets.mlp import MLP, train_sgd
from nets.neuron import neuron_step, train_neuron
from nets.perceptron import LOGIC_GATES, perceptron_predict, perceptron_train


@dataclass(frozen=True)
class PartBConfig:
    """Every Part B hyperparameter, with its default (the reference run's value)."""

    # Perceptron: learning rule with η, fixed sample order, stop after this many epochs.
    perceptron_lr: float = 1.0
    perceptron_max_epochs: int = 100
    # Sigmoid neuron: Part A q2's values for the step-by-step update, then GD on AND.
    q2_x: float = 0.7
    q2_w: float = -0.5
    q2_b: float = 0.2
    q2_y: float = 1.0
    neuron_step_lr: float = 0.1
    neuron_lr: float = 2.0
    neuron_epochs: int = 1000
    # 3 -> 4 -> 1 network on NOT((x0 XOR x1) AND x2), all 8 inputs as one batch.
    xor_hidden: int = 4
    xor_activation: str = "tanh"
    xor_lr: float = 0.5
    xor_momentum: float = 0.9
    xor_epochs: int = 1000
    # Digits: stratified split of load_digits, pixels / 16.
    test_size: float = 0.2
    split_random_state: int = 0
    # Softmax regression (no hidden layer).
    softmax_epochs: int = 50
    softmax_batch_size: int = 32
    softmax_lr: float = 0.5
    softmax_momentum: float = 0.9
    softmax_weight_decay: float = 0.0
    # One-hidden-layer MLP; trained on the training images plus their one-pixel shifts.
    mlp_hidden: int = 128
    mlp_activation: str = "relu"
    mlp_epochs: int = 15
    mlp_batch_size: int = 32
    mlp_lr: float = 0.1
    mlp_momentum: float = 0.9
    mlp_weight_decay: float = 1e-4
    mlp_augment: bool = True
    cosine_schedule: bool = True


def perceptron_experiment(cfg: PartBConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The perceptron learning rule on AND, OR and XOR (deterministic: no seed)."""
    metrics: dict[str, Any] = {}
    results = {}
    for gate, (X, y) in LOGIC_GATES.items():
        r = perceptron_train(X, y, cfg.perceptron_lr, cfg.perceptron_max_epochs)
        results[gate] = r
        p = f"perceptron.{gate}."
        metrics[p + "converged"] = r.converged
        metrics[p + "epochs"] = r.epochs
        metrics[p + "accuracy"] = float(np.mean(perceptron_predict(X, r.w, r.b) == y))
        metrics[p + "mistakes_last_epoch"] = r.mistakes[-1]
        metrics[p + "cycle_detected"] = r.cycle_epoch is not None
        metrics[p + "w1"], metrics[p + "w2"] = (float(v) for v in r.w)
        metrics[p + "b"] = float(r.b)
    return metrics, {"results": results}


def neuron_experiment(cfg: PartBConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """One explicit update with q2's values, then gradient descent on AND from w = 0, b = 0."""
    step = neuron_step(cfg.q2_x, cfg.q2_y, cfg.q2_w, cfg.q2_b, cfg.neuron_step_lr)
    metrics: dict[str, Any] = {
        f"neuron.q2.{name}": float(getattr(step, name))
        for name in ("z", "a", "loss", "dL_da", "da_dz", "dL_dz", "dL_dw", "dL_db", "w_new",
                     "b_new")
    }
    X, y = LOGIC_GATES["and"]
    w, b, losses = train_neuron(X, y.astype(float), np.zeros(2), 0.0, cfg.neuron_lr,
                                cfg.neuron_epochs)
    metrics["neuron.and.initial_loss"] = losses[0]
    metrics["neuron.and.final_loss"] = losses[-1]
    metrics["neuron.and.accuracy"] = float(np.mean((X @ w + b > 0).astype(int) == y))
    return metrics, {"losses": losses}


def xor_net_data() -> tuple[np.ndarray, np.ndarray]:
    """All 8 binary inputs (x0, x1, x2) and the target NOT((x0 XOR x1) AND x2)."""
    X = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
    y = 1 - (np.logical_xor(X[:, 0], X[:, 1]) & (X[:, 2] == 1)).astype(int)
    return X, y


def xor_net_experiment(cfg: PartBConfig, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A 3 -> 4 -> 1 network (sigmoid output, MSE) trained full-batch with momentum."""
    rng = np.random.default_rng(seed)
    X, y = xor_net_data()
    net = MLP((3, cfg.xor_hidden, 1), rng, hidden=cfg.xor_activation, output="sigmoid")
    history = train_sgd(net, X, y, rng, cfg.xor_epochs, len(X), cfg.xor_lr, cfg.xor_momentum)
    metrics = {
        "xor_net.accuracy": float(np.mean(net.predict(X) == y)),
        "xor_net.final_loss": history.train_loss[-1],
        "xor_net.epochs": cfg.xor_epochs,
    }
    return metrics, {"losses": history.train_loss}


def _digits_metrics(prefix: str, model: MLP, split: DigitsSplit, history: Any,
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test accuracy, confusion matrix, per-class accuracy and the misclassified test images."""
    pred = model.predict(split.X_test)
    cm = confusion_matrix(split.y_test, pred)
    metrics: dict[str, Any] = {
        f"{prefix}.test_accuracy": accuracy(split.y_test, pred),
        f"{prefix}.train_accuracy": accuracy(split.y_train, model.predict(split.X_train)),
        f"{prefix}.final_loss": history.train_loss[-1],
        f"{prefix}.misclassified": int(np.sum(pred != split.y_test)),
        f"{prefix}.confusion_matrix": cm.tolist(),
    }
    for digit, acc in enumerate(per_class_accuracy(cm)):
        metrics[f"{prefix}.per_class_accuracy.{digit}"] = float(acc)
    wrong = np.flatnonzero(pred != split.y_test)
    artifacts = {"history": history, "confusion": cm, "model": model,
                 "wrong": wrong, "wrong_pred": pred[wrong]}
    return metrics, artifacts


def softmax_experiment(cfg: PartBConfig, seed: int,
                       split: DigitsSplit) -> tuple[dict[str, Any], dict[str, Any]]:
    """Softmax (multinomial logistic) regression: a network with no hidden layer."""
    rng = np.random.default_rng(seed)
    model = MLP((64, 10), rng)
    history = train_sgd(model, split.X_train, split.y_train, rng, cfg.softmax_epochs,
                        cfg.softmax_batch_size, cfg.softmax_lr, cfg.softmax_momentum,
                        cfg.softmax_weight_decay, cfg.cosine_schedule, split.X_test, split.y_test)
    return _digits_metrics("digits.softmax", model, split, history)


def mlp_experiment(cfg: PartBConfig, seed: int,
                   split: DigitsSplit) -> tuple[dict[str, Any], dict[str, Any]]:
    """One-hidden-layer MLP, optionally on the training set plus its one-pixel shifts."""
    rng = np.random.default_rng(seed)
    model = MLP((64, cfg.mlp_hidden, 10), rng, hidden=cfg.mlp_activation)
    X, y = split.X_train, split.y_train
    if cfg.mlp_augment:
        X, y = shift_augment(X, y)
    history = train_sgd(model, X, y, rng, cfg.mlp_epochs, cfg.mlp_batch_size, cfg.mlp_lr,
                        cfg.mlp_momentum, cfg.mlp_weight_decay, cfg.cosine_schedule,
                        split.X_test, split.y_test)
    return _digits_metrics("digits.mlp", model, split, history)


def load_split(cfg: PartBConfig) -> DigitsSplit:
    """The configured digits split."""
    return load_digits_split(cfg.test_size, cfg.split_random_state)


def merge_metrics(seed: int, split: DigitsSplit, *parts: dict[str, Any]) -> dict[str, Any]:
    """One flat metrics dict from the experiments' own, plus the seed and the split's sizes."""
    metrics: dict[str, Any] = {}
    for part in parts:
        metrics.update(part)
    metrics["digits.n_train"] = int(len(split.y_train))
    metrics["digits.n_test"] = int(len(split.y_test))
    metrics["seed"] = seed
    return metrics


# --------------------------------------------------------------- orchestration (not in notebook)

REQUIRED_IDS = (
    "perceptron.and.converged",
    "perceptron.or.converged",
    "perceptron.xor.converged",
    "xor_net.accuracy",
    "digits.softmax.test_accuracy",
    "digits.mlp.test_accuracy",
)


@dataclass
class PartBRun:
    out: Path
    metrics: dict[str, Any]
    figures: list[Path]


def make_config(**overrides: Any) -> PartBConfig:
    """PartBConfig with `overrides`, each checked against the default's type."""
    known = {f.name: f for f in fields(PartBConfig)}
    defaults = PartBConfig()
    for name, value in overrides.items():
        if name not in known:
            raise ValueError(f"unknown Part B hyperparameter {name!r}")
        expected = type(getattr(defaults, name))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected):
            raise ValueError(f"{name} must be {expected.__name__}, not {value!r}")
        overrides[name] = value
    return PartBConfig(**overrides)


def run_partb(seed: int = 0, out: str | Path = "runs/partb", cfg: PartBConfig | None = None,
              progress: bool | None = None, figures: bool = True) -> PartBRun:
    """Run every Part B experiment and write metrics.json, config.json and the figures.

    `progress`: None shows a tqdm bar only on a terminal. `figures=False` skips the PNGs
    (metrics.json and config.json are always written).
    """
    from tqdm import tqdm

    from nets.runinfo import make_run_dir, versions, write_json

    cfg = cfg or PartBConfig()
    out = make_run_dir(out)
    stages = ["perceptron", "neuron", "xor_net", "softmax", "mlp"]
    if figures:
        stages.append("figures")
    parts: list[dict[str, Any]] = []
    art: dict[str, dict[str, Any]] = {}
    split = load_split(cfg)
    paths: list[Path] = []
    bar = tqdm(stages, desc="part B", unit="stage",
               disable=None if progress is None else not progress)
    for stage in bar:
        bar.set_postfix_str(stage)
        if stage == "perceptron":
            m, art[stage] = perceptron_experiment(cfg)
        elif stage == "neuron":
            m, art[stage] = neuron_experiment(cfg)
        elif stage == "xor_net":
            m, art[stage] = xor_net_experiment(cfg, seed)
        elif stage == "softmax":
            m, art[stage] = softmax_experiment(cfg, seed, split)
        elif stage == "mlp":
            m, art[stage] = mlp_experiment(cfg, seed, split)
        else:
            paths = write_figures(out, art, split)
            continue
        parts.append(m)
    bar.close()
    metrics = merge_metrics(seed, split, *parts)
    write_json(out / "metrics.json", metrics)
    write_json(out / "config.json", {
        "seed": seed,
        "hyperparameters": asdict(cfg),
        "versions": versions("numpy", "scikit-learn", "matplotlib"),
    })
    return PartBRun(out, metrics, paths)


def write_figures(out: Path, art: dict[str, dict[str, Any]], split: DigitsSplit) -> list[Path]:
    """All Part B PNGs into `out`; returns their paths."""
    from nets import plots

    paths = []
    results = art["perceptron"]["results"]
    for gate, r in results.items():
        X, y = LOGIC_GATES[gate]
        verdict = "converged" if r.converged else f"no convergence in {r.epochs} epochs"
        paths.append(plots.save_decision_boundary(
            out / f"perceptron_{gate}.png", partial(perceptron_predict, w=r.w, b=r.b), X, y,
            f"Perceptron on {gate.upper()}: {verdict}"))
    paths.append(plots.save_curve(
        out / "perceptron_mistakes.png",
        {gate.upper(): r.mistakes for gate, r in results.items()},
        "epoch", "mistakes in the epoch", "Perceptron learning rule"))
    paths.append(plots.save_curve(
        out / "neuron_loss.png", {"AND": art["neuron"]["losses"]}, "epoch", "MSE",
        "Sigmoid neuron, gradient descent", logy=True))
    paths.append(plots.save_curve(
        out / "xor_net_loss.png", {"3-4-1 net": art["xor_net"]["losses"]}, "epoch", "MSE",
        "NOT((x0 XOR x1) AND x2)", logy=True))
    soft, mlp = art["softmax"], art["mlp"]
    paths.append(plots.save_curve(
        out / "digits_loss.png", {"softmax regression": soft["history"].train_loss,
                                  "MLP": mlp["history"].train_loss},
        "epoch", "training cross-entropy", "Digits: training loss", logy=True))
    paths.append(plots.save_curve(
        out / "digits_test_accuracy.png", {"softmax regression": soft["history"].test_accuracy,
                                           "MLP": mlp["history"].test_accuracy},
        "epoch", "test accuracy", "Digits: test accuracy after each epoch"))
    labels = [str(d) for d in range(10)]
    for name, a in (("softmax", soft), ("mlp", mlp)):
        acc = np.trace(a["confusion"]) / a["confusion"].sum()
        paths.append(plots.save_confusion(
            out / f"digits_confusion_{name}.png", a["confusion"], labels,
            f"{'Softmax regression' if name == 'softmax' else 'MLP'}: test accuracy "
            f"{100 * acc:.1f}%"))
    wrong = mlp["wrong"][:32]
    paths.append(plots.save_image_grid(
        out / "digits_misclassified.png", split.X_test[wrong].reshape(-1, 8, 8),
        [f"{t}→{p}" for t, p in zip(split.y_test[wrong], mlp["wrong_pred"][:32], strict=True)],
        f"MLP: misclassified test digits (true→predicted), {len(mlp['wrong'])} in all"))
    W = soft["model"].params["W1"]  # (64, 10): column k scores class k
    paths.append(plots.save_image_grid(
        out / "softmax_weights.png", W.T.reshape(10, 8, 8), labels,
        "Softmax regression weights per class (red +, blue −)", cols=5, cmap="RdBu_r",
        symmetric=True))
    return paths
