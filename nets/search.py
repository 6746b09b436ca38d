"""Part 4: grid search and random search, each scored by k-fold cross-validation, on Optuna.

A search is one Optuna study per (task, strategy) in a storage that its workers share: an
SQLite file by default, PostgreSQL for several machines (`nets.search_storage`). A trial is one
configuration scored by k-fold CV (`nets.search_trial`); the configurations are planned once
by Optuna's GridSampler or RandomSampler (`nets.search_space`) and run by local or remote
workers (`nets.search_worker`). Everything the study reports (rows, best configuration, fits,
seconds) is read back from the storage (`read_result`), so a search that was interrupted and
resumed, or spread over machines, reports what an uninterrupted one does. Only the training
split is ever searched; the best configuration is then refit on the whole training split and
evaluated once on the test split (`nets.studies.search`).
"""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nets import search_space as SP
from nets import search_storage as ST
from nets.search_space import (  # noqa: F401  (the spaces, re-exported for the studies)
    FASHION_GRID,
    REGRESSION_GRID,
    fashion_distributions,
    grid_size,
    regression_distributions,
)
from nets.search_trial import fingerprint, fit_config  # noqa: F401


@dataclass
class SearchResult:
    """One strategy's outcome: mean +- std of the CV score per configuration, best, seconds."""

    strategy: str
    task: str
    metric: str  # "mse" (lower is better) or "accuracy" (higher is better)
    rows: list[dict] = field(default_factory=list)  # {params, mean, std, scores, state, trial}
    best: dict = field(default_factory=dict)
    wall_seconds: float = 0.0  # seconds its trials ran, summed over workers
    n_fits: int = 0
    k: int = 0
    study: str = ""
    trials: dict[str, int] = field(default_factory=dict)  # trials by state, FAIL included

    def to_dict(self) -> dict:
        return asdict(self)


def default_jobs() -> int:
    """Local workers by default: one per core this process may use (each on one thread), or
    one per GPU when training on CUDA."""
    from nets import hardware as H

    if H.resolve_device(H.current().device) == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    return H.thread_count()


def start_workers(workers: int | None) -> int:
    """The local workers a search will run (default: `default_jobs`); when several, their fork
    server starts now, importing torch in the background while the caller loads its data."""
    from nets import search_worker as W

    n = workers or default_jobs()
    if n > 1:
        W.prestart()
    return n


def make_spec(task: str, strategy: str, space: Mapping[str, Any], x, y, *,
              source: Mapping[str, Any], k: int, epochs: int, seed: int, n_iter: int,
              heartbeat: int = ST.HEARTBEAT, prune: str = "hopeless") -> dict[str, Any]:
    """Everything a worker needs to run a study's trials (stored with the study)."""
    regression = task == "regression"
    hopeless = (float(np.var(np.asarray(y))) if regression else 1 / len(np.unique(np.asarray(y))))
    return {"task": task, "strategy": strategy, "source": dict(source),
            "fingerprint": fingerprint(x, y), "k": k, "epochs": epochs, "seed": seed,
            "n_iter": n_iter if strategy == "random" else None,
            "space": SP.to_json(space),
            "plan": SP.plan(strategy, space, n_iter, seed),
            "direction": "minimize" if regression else "maximize",
            "heartbeat": heartbeat, "pruner": prune, "hopeless": hopeless}


def run_searches(url: str, name: str, specs: Sequence[Mapping[str, Any]], *,
                 workers: int | None = None, fresh: bool = False, data_dir: str | None = None,
                 preloaded: Mapping[tuple[str, str], Any] | None = None,
                 progress: bool = True) -> dict[str, SearchResult]:
    """Make (or resume) one study per spec, run `workers` local workers until every
    configuration is done, and read the results back: study name -> SearchResult.

    `preloaded`: (task, strategy) -> (x, y) for this process's own worker.
    """
    from nets import hardware as H
    from nets import search_worker as W

    storage = ST.open_storage(url)
    with ST.exclusive(storage, name):
        names = [ST.create(storage, name, spec, fresh) for spec in specs]
    mem = {n: preloaded[(s["task"], s["strategy"])] for n, s in zip(names, specs)
           if preloaded and (s["task"], s["strategy"]) in preloaded}
    settings = H.current()
    W.run_workers(url, name, workers or default_jobs(), data_dir=data_dir,
                  device=settings.device, precision=settings.precision, preloaded=mem,
                  progress=progress)
    return {n: read_result(storage, n) for n in names}


def search(strategy: str, task: str, x, y, space: Mapping[str, Any], k: int = 5,
           n_iter: int = 8, seed: int = 0, epochs: int = 1000, n_jobs: int | None = None,
           progress: bool = True) -> SearchResult:
    """Grid (`strategy="grid"`) or random search over `space` with k-fold CV on (x, y), on a
    temporary SQLite storage (the Part 1 architecture choice; the tests)."""
    import torch

    x, y = torch.as_tensor(x), torch.as_tensor(y)
    with tempfile.TemporaryDirectory(prefix="dlhw-search-") as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, x=x.numpy(), y=y.numpy())  # for spawned workers (n_jobs > 1)
        spec = make_spec(task, strategy, space, x, y, source={"kind": "npz", "path": str(path)},
                         k=k, epochs=epochs, seed=seed, n_iter=n_iter)
        url = ST.default_url(tmp)
        try:
            out = run_searches(url, "search", [spec], workers=n_jobs,
                               preloaded={(task, strategy): (x, y)}, progress=progress)
        finally:
            ST.close(url)
    return next(iter(out.values()))


# ------------------------------------------------------------------ reading a study back


def read_result(storage, study: str) -> SearchResult:
    """A study's outcome from its trials: one row per configuration of the plan (its COMPLETE
    or PRUNED trial), in plan order; the best among the COMPLETE ones (the earlier on ties)."""
    from optuna.trial import TrialState

    spec = ST.spec_of(storage, study)
    sid = storage.get_study_id_from_name(study)
    trials = storage.get_all_trials(sid, deepcopy=False)
    done = {SP.key(ST.params_of(t)): t for t in trials if t.state in ST.DONE}
    missing = [p for p in spec["plan"] if SP.key(p) not in done]
    if missing:
        raise ST.SearchError(f"study {study}: {len(missing)} of {len(spec['plan'])} "
                             "configurations are not done yet; run `dlhw search worker` on it "
                             "or the same command again")
    metric = "mse" if spec["task"] == "regression" else "accuracy"
    res = SearchResult(spec["strategy"], spec["task"], metric, k=spec["k"], study=study)
    for p in spec["plan"]:
        t = done[SP.key(p)]
        scores = [float(s) for s in t.user_attrs.get("fold_scores", [])]
        res.rows.append({"params": dict(p), "mean": float(np.mean(scores)),
                         "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                         "scores": scores, "state": t.state.name.lower(),
                         "trial": t.number})
        res.wall_seconds += (t.datetime_complete - t.datetime_start).total_seconds()
        res.n_fits += len(scores)
    res.trials = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState
                  if any(t.state == s for t in trials)}
    complete = [r for r in res.rows if r["state"] == "complete" and not math.isnan(r["mean"])]
    if not complete:
        raise ST.SearchError(f"study {study}: every configuration was pruned; nothing to refit")
    sign = 1 if metric == "mse" else -1
    res.best = min(complete, key=lambda r: sign * r["mean"])
    return res


def format_rows(result: SearchResult, top: int | None = None) -> str:
    """A text table of mean +- std per configuration, best first."""
    rows = sorted(result.rows, key=lambda r: r["mean"], reverse=result.metric == "accuracy")
    lines = [f"{result.strategy} search, {result.k}-fold CV, {result.n_fits} fits, "
             f"{result.wall_seconds:.1f} s of trials; {result.metric} mean +- std"]
    for r in rows[:top]:
        p = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(r["params"].items()))
        pruned = f"   (pruned after {len(r['scores'])} folds)" if r["state"] == "pruned" else ""
        lines.append(f"  {r['mean']:.5f} +- {r['std']:.5f}   {p}{pruned}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def status_text(url: str, name: str) -> str:
    """`dlhw search status`: every study of the search, its trials and best configuration so
    far; works while workers run."""
    storage = ST.open_storage(url)
    names = ST.study_names(storage, name)
    if not names:
        raise ST.SearchError(f"no search {name!r} in {ST.shown(url)}")
    out = [f"search {name} in {ST.shown(url)}: {len(names)} studies"]
    for n in names:
        out += ["", *_study_status(storage, n)]
    return "\n".join(out)


def _study_status(storage, study: str) -> list[str]:
    spec = ST.spec_of(storage, study)
    sid = storage.get_study_id_from_name(study)
    trials = storage.get_all_trials(sid, deepcopy=False)
    c = ST.counts(storage, study)
    metric = "mse" if spec["task"] == "regression" else "accuracy"
    states = ", ".join(f"{v} {k.lower()}" for k, v in sorted(c.items())
                       if k not in ("planned", "done", "errored"))
    lines = [f"{study}: {spec['direction']} {metric}, {spec['k']}-fold CV; "
             f"{c['done']} of {c['planned']} configurations done ({states or 'no trials'})",
             f"  {'trial':>5}  {'state':<8}  {'mean':>9}  {'folds':>5}  {'worker':<24}  params"]
    for t in trials:
        scores = t.user_attrs.get("fold_scores") or list(t.intermediate_values.values())
        mean = f"{np.mean(scores):9.5f}" if scores else f"{'':9}"
        p = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(ST.params_of(t).items()))
        lines.append(f"  {t.number:>5}  {t.state.name:<8}  {mean}  "
                     f"{len(scores):>2}/{spec['k']:<2}  {t.user_attrs.get('worker', ''):<24}  {p}")
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if complete:
        sign = 1 if spec["direction"] == "minimize" else -1
        b = min(complete, key=lambda t: (sign * t.value, t.number))
        p = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(ST.params_of(b).items()))
        lines.append(f"  best so far: trial {b.number}, {metric} {b.value:.5f}: {p}")
    return lines
