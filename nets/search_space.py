"""What Part 4 searches: the spaces, the configurations Optuna's samplers draw from them, and
the seed each configuration trains with.

A search is planned before any worker starts: grid search is every point of the grid in the
order Optuna's `GridSampler` visits it, random search `n_iter` draws of `RandomSampler`, both
seeded and drawn in one process (no worker can race another for a grid point). The plan is
stored with the study, so every worker, on any machine, runs the same configurations.

A configuration's training seed is a hash of the configuration and the search seed, never the
order trials ran in: one worker or ten give the same fold scores for the same configuration.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

# The spaces searched. Grid: every combination; random: draws from distributions that cover
# the same ranges continuously (log-uniform for scale parameters).
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
STRATEGIES = ("grid", "random")

Space = Mapping[str, Any]  # a grid (name -> list of values) or name -> optuna distribution


def regression_distributions() -> dict[str, BaseDistribution]:
    return {"hidden": CategoricalDistribution([16, 32, 64, 128]),
            "activation": CategoricalDistribution(["tanh", "relu"]),
            "lr": FloatDistribution(1e-3, 3e-2, log=True),
            "weight_decay": FloatDistribution(1e-6, 1e-3, log=True)}


def fashion_distributions() -> dict[str, BaseDistribution]:
    return {"lr": FloatDistribution(5e-4, 5e-3, log=True),
            "dropout": FloatDistribution(0.1, 0.6),
            "weight_decay": FloatDistribution(1e-5, 1e-3, log=True)}


def grid_size(grid: Mapping[str, Sequence]) -> int:
    return math.prod(len(v) for v in grid.values())


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """Optuna distributions of a space: a grid's lists become categorical choices."""
    return {k: v if isinstance(v, BaseDistribution) else CategoricalDistribution(list(v))
            for k, v in space.items()}


def to_json(space: Space) -> dict[str, str]:
    """A space as Optuna's JSON per parameter (what a study stores for its workers)."""
    return {k: optuna.distributions.distribution_to_json(d)
            for k, d in distributions(space).items()}


def from_json(stored: Mapping[str, str]) -> dict[str, BaseDistribution]:
    return {k: optuna.distributions.json_to_distribution(v) for k, v in stored.items()}


def suggest(trial: optuna.Trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Ask `trial` for every parameter of `space` (an enqueued trial gets its fixed values)."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, FloatDistribution):
            out[name] = trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        else:
            raise TypeError(f"{name}: unsupported distribution {d!r}")
    return out


def plan(strategy: str, space: Space, n_iter: int, seed: int) -> list[dict[str, Any]]:
    """The configurations a search runs: the whole grid, or `n_iter` distinct random draws
    (fewer when the space has fewer).

    Drawn here, once, by Optuna's own samplers on an in-memory study of this process: the grid
    in `GridSampler`'s order, each point once; the draws in `RandomSampler`'s, a draw that
    repeats an earlier one skipped (a small categorical space would otherwise spend budget
    twice on one configuration).
    """
    dists = distributions(space)
    if strategy == "grid":
        grid = {k: list(v) for k, v in space.items()}
        sampler: optuna.samplers.BaseSampler = optuna.samplers.GridSampler(grid, seed=seed)
        n = grid_size(grid)
    elif strategy == "random":
        sampler, n = optuna.samplers.RandomSampler(seed=seed), n_iter
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    out: dict[str, dict[str, Any]] = {}

    def draw(trial: optuna.Trial) -> float:
        params = dict(sorted(suggest(trial, dists).items()))
        out.setdefault(key(params), params)
        if len(out) == n:
            trial.study.stop()
        return 0.0

    with quiet():
        optuna.create_study(sampler=sampler).optimize(draw, n_trials=100 * n)
    return list(out.values())


def key(params: Mapping[str, Any]) -> str:
    """A configuration's identity: its parameters as canonical JSON (floats round-trip)."""
    return json.dumps(dict(params), sort_keys=True)


def config_seed(params: Mapping[str, Any], seed: int) -> int:
    """The training seed of one configuration: a stable hash of it and the search seed."""
    digest = hashlib.sha256(f"{key(params)}|{seed}".encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def describe(values: Any) -> Any:
    """A space's entry for config.json: a grid's list, or a distribution by its name and
    parameters (`loguniform(0.001, 0.03)`), never an object's repr with its address."""
    if isinstance(values, CategoricalDistribution):
        return list(values.choices)
    if isinstance(values, FloatDistribution | IntDistribution):
        kind = "loguniform" if values.log else (
            "uniform" if isinstance(values, FloatDistribution) else "randint")
        return f"{kind}({values.low!r}, {values.high!r})"
    return list(values) if isinstance(values, list | tuple) else repr(values)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna's INFO lines and experimental-feature warnings off within the block."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
