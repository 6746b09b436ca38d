"""One trial of a Part 4 search: a configuration trained and scored on each of k folds.

The folds are scikit-learn's (KFold, or StratifiedKFold for classes), the same for every
configuration, so differences between configurations are not differences between splits. Each
fold's score is reported to Optuna as the trial's intermediate value at step = fold, so the
study's pruner may stop a hopeless configuration between folds; the fold scores are stored on
the trial (`user_attrs["fold_scores"]`) and its value is their mean.

A study's data are named, not shipped (`source` in the study's spec: the regression data's
seed, or the FashionMNIST subset's size and seed, or a .npz file on a shared disk), so a worker
on another machine rebuilds them, and checks them against the study's fingerprint.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch

from core.errors import DlhwError
from nets import search_space as SP


class DataMismatch(DlhwError):
    """A worker's data are not the data the study was made from."""


@dataclass
class TaskData:
    """What a worker needs to run a study's trials: its spec, data, folds and space."""

    study_name: str
    spec: Mapping[str, Any]
    x: torch.Tensor
    y: torch.Tensor
    folds: list[tuple[np.ndarray, np.ndarray]]
    space: dict[str, optuna.distributions.BaseDistribution]


def fit_config(task: str, params: Mapping[str, Any], x_tr, y_tr, seed: int, epochs: int):
    """Build and train the model a configuration describes; returns (model, config, history).

    The way the steps run is fixed, not timed (fp32 unless --precision says otherwise;
    convolutions channels-last): a probe's timing must never change a fold's numbers.
    """
    from nets import hardware as H
    from nets.models import MLP, CNNSpec, build_cnn
    from nets.train import TrainConfig, fit

    asked = H.current().precision
    precision = "fp32" if asked == "auto" or task == "regression" else asked
    torch.manual_seed(seed)
    model: torch.nn.Module
    if task == "regression":
        model = MLP((params["hidden"],) * 2, params["activation"])
        # Full batch: 160 points fit in one step, and the gradient is then exact.
        cfg = TrainConfig(epochs=epochs, batch_size=len(x_tr), optimizer="adam", lr=params["lr"],
                          weight_decay=params["weight_decay"], schedule="cosine", seed=seed,
                          task="regression", precision=precision)
    else:
        model = build_cnn(CNNSpec(widths=(32, 64), convs=(1, 1), hidden=128,
                                  dropout=params["dropout"]))
        cfg = TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", lr=params["lr"],
                          weight_decay=params["weight_decay"], schedule="onecycle", seed=seed,
                          precision=precision, channels_last=True)
    hist = fit(model, x_tr, y_tr, cfg, progress=False)
    return model, cfg, hist


def make_folds(task: str, x: torch.Tensor, y: torch.Tensor, k: int, seed: int,
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """k shuffled folds; classification keeps the class proportions in each (stratified)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (KFold if task == "regression" else StratifiedKFold)(k, shuffle=True,
                                                                     random_state=seed)
    return list(splitter.split(np.asarray(x), np.asarray(y)))


def fold_score(task: str, params: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor,
               fold: tuple[np.ndarray, np.ndarray], seed: int, epochs: int) -> float:
    """Train on the fold's training part, score its validation part (MSE or accuracy)."""
    from nets.train import evaluate

    tr, va = (torch.as_tensor(i) for i in fold)
    model, _, _ = fit_config(task, params, x[tr], y[tr], seed, epochs)
    ev = evaluate(model, x[va], y[va], task)
    return float(ev["loss"] if task == "regression" else ev["accuracy"])


# ------------------------------------------------------------------ data


def load_data(source: Mapping[str, Any], data_dir: str | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The data a study's spec names (see the module's doc)."""
    from nets import data as D

    kind = source["kind"]
    if kind == "regression":
        d = D.regression_data(source["seed"])
        return d.x_train, d.y_train
    if kind == "fashion":
        fd = D.load_fashion(data_dir)
        return D.subset(fd.x_train, fd.y_train, source["n"], source["seed"])
    if kind == "npz":
        with np.load(source["path"]) as z:
            return torch.from_numpy(z["x"]), torch.from_numpy(z["y"])
    raise DataMismatch(f"unknown data source {kind!r}; expected regression, fashion or npz")


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in (x, y):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def task_data(study_name: str, spec: Mapping[str, Any], data_dir: str | None = None,
              preloaded: tuple[Any, Any] | None = None) -> TaskData:
    """Rebuild a study's data, check them against its fingerprint, and cut its folds."""
    x, y = (tuple(torch.as_tensor(a) for a in preloaded) if preloaded is not None
            else load_data(spec["source"], data_dir))
    if fingerprint(x, y) != spec["fingerprint"]:
        raise DataMismatch(f"study {study_name}: this worker's data ({spec['source']['kind']}, "
                           f"fingerprint {fingerprint(x, y)}) differ from the study's "
                           f"({spec['fingerprint']}); check --data-dir and the dataset version")
    return TaskData(study_name, spec, x, y,
                    make_folds(spec["task"], x, y, spec["k"], spec["seed"]),
                    SP.from_json(spec["space"]))


# ------------------------------------------------------------------ one trial


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_trial(study: optuna.Study, trial_id: int, data: TaskData) -> optuna.trial.TrialState:
    """Run one taken (RUNNING) trial to COMPLETE or PRUNED; returns the state it ended in.

    An exception fails the trial (FAIL, with the error as `user_attrs["error"]`) and is
    raised: the next run of the search enqueues the configuration again.
    """
    spec = data.spec
    trial = optuna.trial.Trial(study, trial_id)
    try:
        trial.set_user_attr("worker", worker_id())
        params = SP.suggest(trial, data.space)
        seed = SP.config_seed(params, spec["seed"])
        trial.set_user_attr("seed", seed)
        scores: list[float] = []
        for f, fold in enumerate(data.folds):
            scores.append(fold_score(spec["task"], params, data.x, data.y, fold, seed,
                                     spec["epochs"]))
            trial.report(scores[-1], f)
            if f < len(data.folds) - 1 and trial.should_prune():
                trial.set_user_attr("fold_scores", scores)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return optuna.trial.TrialState.PRUNED
        trial.set_user_attr("fold_scores", scores)
        mean = float(np.mean(scores))
        # A diverged fit (NaN MSE) is the worst value, not a failure to retry forever.
        study.tell(trial, mean if not math.isnan(mean) else math.inf)
        return optuna.trial.TrialState.COMPLETE
    except optuna.exceptions.UpdateFinishedTrialError:
        # Another worker failed this trial as stale (this one stalled past the grace period)
        # and its retry runs elsewhere: drop this result, so no configuration counts twice.
        return optuna.trial.TrialState.FAIL
    except BaseException as exc:
        try:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
        raise
