"""What every Part C study shares: its declaration (`Study`), the train-and-record loop,
config.json, and the small figures and data splits more than one study draws.

A study module defines `run(out, *, seed, epochs, quick, progress, data_dir)` and exports
`STUDY = Study(...)` naming it, its help line and its figures; `nets.studies` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nets import data as D
from nets import hardware as H
from nets.plots import pyplot, save_figure
from nets.runinfo import cpu_info, versions, write_json
from nets.train import History, TrainConfig, fit, weight_tensors


@dataclass(frozen=True)
class Figure:
    """One PNG a study writes into its run folder, with the caption the handout prints."""

    file: str
    caption: str  # LaTeX; <<key>>, <<key|noun>> filled from the run (handout.prose.caption)
    handout: bool = False  # shown in the handout (the others are in the run folder only)
    wide: bool = False     # across both columns of the handout


@dataclass(frozen=True)
class Study:
    """A Part C study: `dlhw run NAME` runs `run` into one folder with these figures."""

    name: str
    help: str  # one line: the homework part and what is compared
    run: Callable[..., dict[str, Any]]
    figures: tuple[Figure, ...]
    time_budget: bool = False  # `run` takes time_budget (the reference CNN's seconds)
    # `run` takes storage, study, workers, heartbeat and prune (a search on Optuna's storage)
    distributed: bool = False

    @property
    def command(self) -> str:
        return f"dlhw run {self.name}"


# ------------------------------------------------------------------ training runs


@dataclass(frozen=True)
class Arm:
    """One arm of a comparison: how to build the model, the recipe, extra config.json keys."""

    build: Callable[[], nn.Module]
    cfg: TrainConfig
    note: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Trained:
    """An arm after training: the model (on the CPU), its recipe and its history."""

    model: nn.Module
    cfg: TrainConfig
    hist: History
    note: Mapping[str, Any]

    def config(self) -> dict:
        """config.json's entry: the recipe, how it ran, and the arm's own notes."""
        return {**run_config(self.cfg, self.hist), **self.note}


def train_arms(arms: Mapping[str, Arm], x: torch.Tensor, y: torch.Tensor,
               x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None, *,
               seed: int, prefix: str, record: Callable[[Trained], Mapping[str, Any]],
               metrics: dict[str, Any], progress: bool, desc: str) -> dict[str, Trained]:
    """Train each arm from the same seed on the same data; its metrics go to `prefix.arm.*`.

    The global RNG is reseeded before each model is built, so arms differ only in what the
    arm changes (initialization, optimizer, regularizer, architecture).
    """
    done: dict[str, Trained] = {}
    for name, arm in arms.items():
        torch.manual_seed(seed)
        model = arm.build()
        hist = fit(model, x, y, arm.cfg, x_val, y_val, progress=progress, desc=f"{desc} {name}")
        done[name] = t = Trained(model, arm.cfg, hist, arm.note)
        metrics.update({f"{prefix}.{name}.{k}": v for k, v in record(t).items()})
    return done


def run_config(cfg: TrainConfig, hist: History) -> dict:
    """A training run's recipe plus how it ran: device, precision, layout, timings, epochs."""
    return {**cfg.to_dict(), "resolved": hist.plan}


def save_run(run_dir: Path, study: str, metrics: dict, config: dict) -> dict:
    """Write metrics.json and config.json (with versions and hardware); returns the metrics."""
    settings = H.current()
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "config.json", {
        "study": study, **config,
        "versions": versions("torch", "torchvision", "numpy", "scikit-learn"),
        "threads": torch.get_num_threads(),
        # Each training run's own choice is under its "resolved" key (see run_config).
        "hardware": {"cpu": cpu_info(), "bf16_native": H.bf16_native(),
                     "asked": {"device": settings.device, "precision": settings.precision},
                     **H.device_info(H.resolve_device(settings.device))}})
    return metrics


# ------------------------------------------------------------------ measurements


def weight_stats(model: nn.Module) -> dict[str, float]:
    w = all_weights(model)
    return {"weight_l1": w.abs().sum().item(), "weight_l2": w.norm().item(),
            "sparsity": (w.abs() < 1e-3).float().mean().item()}


def all_weights(model: nn.Module) -> torch.Tensor:
    """Every weight matrix and kernel entry (no biases), flattened into one vector."""
    return torch.cat([t.detach().flatten() for t in weight_tensors(model)])


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# ------------------------------------------------------------------ data


def fashion_split(fd: D.FashionData, n_train: int, n_val: int, seed: int):
    """Disjoint class-balanced train/validation subsets of the training split."""
    x, y = D.subset(fd.x_train, fd.y_train, n_train + n_val, seed)
    # subset() shuffles, so the first n_train and the rest are both close to balanced.
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def fashion_test(fd: D.FashionData, quick: bool, seed: int):
    """The test split, or 2,000 class-balanced test images of it when `quick`."""
    return D.subset(fd.x_test, fd.y_test, 2000, seed) if quick else (fd.x_test, fd.y_test)


# ------------------------------------------------------------------ figures


def hist_figure(path: Path, groups: dict[str, np.ndarray], title: str, bins: int = 60) -> Path:
    """Overlaid weight histograms, one per named group (methods or epochs)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    values = np.concatenate(list(groups.values()))
    lim = float(np.quantile(np.abs(values), 0.995)) or 1.0
    for name, v in groups.items():
        ax.hist(v, bins=bins, range=(-lim, lim), histtype="step", label=name, density=True)
    ax.set_xlabel("weight")
    ax.set_ylabel("density")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def bar(path: Path, values: dict[str, float], xlabel: str, title: str,
        fmt: Callable[[float], str] | None = None) -> Path:
    """Horizontal bars, one per named value, first on top: the names sit on the y axis, one per
    line, so long ones never collide. `fmt` writes each value at the end of its bar."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(values) + 1.3), layout="constrained")
    bars = ax.barh(range(len(values)), list(values.values()))
    ax.set_yticks(range(len(values)), labels=list(values))
    ax.invert_yaxis()
    if min(values.values(), default=0) < 0:
        ax.axvline(0, color="k", lw=0.8)
    if fmt:
        ax.bar_label(bars, labels=[fmt(v) for v in values.values()], padding=3, fontsize=8)
        ax.margins(x=0.15)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return save_figure(fig, path)
