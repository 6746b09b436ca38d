"""Part 4: grid search and random search, each scored by k-fold cross-validation.

The splitters and samplers are scikit-learn's (KFold / StratifiedKFold, ParameterGrid /
ParameterSampler), so the folds are the textbook ones and not a hand-written loop over indices.
Every (configuration, fold) pair is one job; jobs run in parallel processes, one per core this
process is entitled to (`nets.hardware.thread_count`), each with one torch thread (two-thread
torch per job would oversubscribe the two cores). On a GPU the jobs run one after another in this
process: one device, and a CUDA context per worker would cost more than the small models. Every
configuration sees the same folds and the same per-fold seed, so differences between
configurations are not differences between splits. Only the training split is ever searched;
the best configuration is then refit on the whole training split and evaluated once on the test
split.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# The spaces searched. Grid: every combination; random: n_iter draws from distributions that
# cover the same ranges continuously (scipy's loguniform for scale parameters).
REGRESSION_GRID = {
    "hidden": [32, 64],
    "activation": ["tanh", "relu"],
    "lr": [3e-3, 1e-2],
    "weight_decay": [0.0, 1e-4],
}
FASHION_GRID = {
    "lr": [1e-3, 3e-3],
    "dropout": [0.25, 0.5],
    "weight_decay": [0.0, 5e-4],
}


def regression_distributions() -> dict[str, Any]:
    from scipy.stats import loguniform

    return {"hidden": [16, 32, 64, 128], "activation": ["tanh", "relu"],
            "lr": loguniform(1e-3, 3e-2), "weight_decay": loguniform(1e-6, 1e-3)}


def fashion_distributions() -> dict[str, Any]:
    from scipy.stats import loguniform, uniform

    return {"lr": loguniform(5e-4, 5e-3), "dropout": uniform(0.1, 0.5),
            "weight_decay": loguniform(1e-5, 1e-3)}


@dataclass
class SearchResult:
    """One strategy's outcome: mean +- std of the CV score per configuration, best, wall time."""

    strategy: str
    task: str
    metric: str  # "mse" (lower is better) or "accuracy" (higher is better)
    rows: list[dict] = field(default_factory=list)  # {params, mean, std, scores}
    best: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    n_fits: int = 0
    k: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars from the samplers -> plain Python (for JSON and for torch)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def default_jobs() -> int:
    """One worker per core this process may use (shared fairly with pytest-xdist workers)."""
    from nets import hardware as H

    return 1 if H.resolve_device(H.current().device) == "cuda" else H.thread_count()


def fit_config(task: str, params: Mapping[str, Any], x_tr, y_tr, seed: int, epochs: int):
    """Build and train the model a configuration describes; returns (model, config, history)."""
    import torch

    from nets.models import MLP, CNNSpec, build_cnn
    from nets.train import TrainConfig, fit

    torch.manual_seed(seed)
    if task == "regression":
        model = MLP((params["hidden"],) * 2, params["activation"])
        # Full batch: 160 points fit in one step, and the gradient is then exact.
        cfg = TrainConfig(epochs=epochs, batch_size=len(x_tr), optimizer="adam", lr=params["lr"],
                          weight_decay=params["weight_decay"], schedule="cosine", seed=seed,
                          task="regression")
    else:
        model = build_cnn(CNNSpec(widths=(32, 64), convs=(1, 1), hidden=128,
                                  dropout=params["dropout"]))
        cfg = TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", lr=params["lr"],
                          weight_decay=params["weight_decay"], schedule="onecycle", seed=seed)
    hist = fit(model, x_tr, y_tr, cfg, progress=False)
    return model, cfg, hist


def _job(task: str, params: dict, x_tr, y_tr, x_va, y_va, seed: int, epochs: int,
         settings, threads: int | None) -> float:
    """One (configuration, fold): train on the fold's train part, score its validation part.

    `settings` (nets.hardware.Settings) carries --device/--precision into worker processes;
    `threads` is set in a worker (None: in-process, keep the caller's).
    """
    import torch

    from nets import hardware as H
    from nets.train import evaluate

    if threads:
        H.set_threads(threads)
    # Copies: joblib hands large arrays over as read-only memory maps.
    x_tr, y_tr, x_va, y_va = (torch.tensor(np.asarray(a)) for a in (x_tr, y_tr, x_va, y_va))
    with H.session(settings.device, settings.precision):
        model, _, _ = fit_config(task, params, x_tr, y_tr, seed, epochs)
    ev = evaluate(model, x_va, y_va, task)
    return ev["loss"] if task == "regression" else ev["accuracy"]


def search(strategy: str, task: str, x, y, space: Mapping[str, Any], k: int = 5,
           n_iter: int = 8, seed: int = 0, epochs: int = 1000, n_jobs: int | None = None,
           progress: bool = True) -> SearchResult:
    """Grid (`strategy="grid"`) or random search over `space` with k-fold CV on (x, y).

    Classification uses StratifiedKFold so each fold keeps the class proportions.
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import KFold, ParameterGrid, ParameterSampler, StratifiedKFold
    from tqdm.auto import tqdm

    from nets import hardware as H

    if strategy == "grid":
        configs = [_clean(p) for p in ParameterGrid(dict(space))]
    elif strategy == "random":
        configs = [_clean(p) for p in ParameterSampler(dict(space), n_iter, random_state=seed)]
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected grid or random")
    x_np, y_np = np.asarray(x), np.asarray(y)
    if task == "regression":
        splitter = KFold(k, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    folds = list(splitter.split(x_np, y_np))
    jobs = [(c, f) for c in range(len(configs)) for f in range(k)]
    n_jobs = n_jobs or default_jobs()
    settings = H.current()
    t0 = time.perf_counter()
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    gen = runner(delayed(_job)(task, configs[c], x_np[folds[f][0]], y_np[folds[f][0]],
                               x_np[folds[f][1]], y_np[folds[f][1]], seed + f, epochs,
                               settings, 1 if n_jobs > 1 else None)
                 for c, f in jobs)
    scores = list(tqdm(gen, total=len(jobs), desc=f"{strategy} search ({task})",
                       disable=not progress, leave=False))
    wall = time.perf_counter() - t0
    result = SearchResult(strategy, task, "mse" if task == "regression" else "accuracy",
                          wall_seconds=wall, n_fits=len(jobs), k=k)
    for c, params in enumerate(configs):
        s = [scores[i] for i, (cc, _) in enumerate(jobs) if cc == c]
        result.rows.append({"params": params, "mean": float(np.mean(s)),
                            "std": float(np.std(s, ddof=1)) if len(s) > 1 else 0.0,
                            "scores": [float(v) for v in s]})
    key = (lambda r: r["mean"]) if task == "regression" else (lambda r: -r["mean"])
    result.best = min(result.rows, key=key)
    return result


def format_rows(result: SearchResult, top: int | None = None) -> str:
    """A text table of mean +- std per configuration, best first."""
    rows = sorted(result.rows, key=lambda r: r["mean"], reverse=result.metric == "accuracy")
    lines = [f"{result.strategy} search, {result.k}-fold CV, {result.n_fits} fits, "
             f"{result.wall_seconds:.1f} s wall; {result.metric} mean +- std"]
    for r in rows[:top]:
        p = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r["params"].items()))
        lines.append(f"  {r['mean']:.5f} +- {r['std']:.5f}   {p}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def grid_size(space: Mapping[str, Sequence]) -> int:
    return int(np.prod([len(v) for v in space.values()]))
