"""Part B targets: the NumPy MLP against scikit-learn's MLPClassifier((64,)) on the same split,
training times (medians of several runs) and softmax regression's accuracy.

    python bench/partb.py [--repeats 5] [--seed 0]

Times are wall-clock seconds of the training call alone (no data loading, no evaluation) and
depend on what else the machine runs, so the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from nets.digits import accuracy, load_digits_split, shift_augment  # noqa: E402
from nets.mlp import MLP, train_sgd  # noqa: E402
from nets.partb import PartBConfig  # noqa: E402


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_ours(cfg: PartBConfig, seed: int, split, hidden: bool) -> tuple[float, float]:
    """(training seconds, test accuracy) of the reference softmax regression or MLP."""
    rng = np.random.default_rng(seed)
    if hidden:
        model = MLP((64, cfg.mlp_hidden, 10), rng, hidden=cfg.mlp_activation)
        X, y = (shift_augment(split.X_train, split.y_train) if cfg.mlp_augment
                else (split.X_train, split.y_train))
        args = (cfg.mlp_epochs, cfg.mlp_batch_size, cfg.mlp_lr, cfg.mlp_momentum,
                cfg.mlp_weight_decay, cfg.cosine_schedule)
    else:
        model = MLP((64, 10), rng)
        X, y = split.X_train, split.y_train
        args = (cfg.softmax_epochs, cfg.softmax_batch_size, cfg.softmax_lr, cfg.softmax_momentum,
                cfg.softmax_weight_decay, cfg.cosine_schedule)
    seconds, _ = _timed(lambda: train_sgd(model, X, y, rng, *args))
    return seconds, accuracy(split.y_test, model.predict(split.X_test))


def bench_sklearn(seed: int, X, y, split) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier((64,), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seconds, _ = _timed(lambda: clf.fit(X, y))
    return seconds, clf.score(split.X_test, split.y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reported accuracies")
    args = parser.parse_args()
    cfg = PartBConfig()
    split = load_digits_split(cfg.test_size, cfg.split_random_state)
    X_aug, y_aug = shift_augment(split.X_train, split.y_train)

    print(f"python {platform.python_version()}, numpy {np.__version__}, cpus {os.cpu_count()}")
    print(f"load average before: {_load()}")
    rows = {
        "NumPy MLP (64-128-10, shifts)": lambda s: bench_ours(cfg, s, split, hidden=True),
        "NumPy softmax regression": lambda s: bench_ours(cfg, s, split, hidden=False),
        "sklearn MLPClassifier((64,))": lambda s: bench_sklearn(s, split.X_train,
                                                                split.y_train, split),
        "sklearn MLPClassifier((64,)), shifts": lambda s: bench_sklearn(s, X_aug, y_aug, split),
    }
    results = {}
    for name, fn in rows.items():
        # seeds seed, seed+1, ...: the times' median, and every accuracy (seed's first)
        runs = [fn(args.seed + k) for k in range(args.repeats)]
        results[name] = runs
        times = [t for t, _ in runs]
        accs = [a for _, a in runs]
        print(f"{name:<38} test acc (seed {args.seed}) {accs[0]:.4f}   "
              f"over {args.repeats} seeds: min {min(accs):.4f} mean {statistics.mean(accs):.4f}   "
              f"train s: median {statistics.median(times):.3f} "
              f"(min {min(times):.3f}, max {max(times):.3f})")
    print(f"load average after:  {_load()}")

    ours = results["NumPy MLP (64-128-10, shifts)"][0]
    sk = results["sklearn MLPClassifier((64,))"][0]
    soft = results["NumPy softmax regression"][0]
    mlp_median = statistics.median(t for t, _ in results["NumPy MLP (64-128-10, shifts)"])
    checks = {
        "MLP test accuracy >= 0.98": ours[1] >= 0.98,
        "MLP beats sklearn MLPClassifier((64,)) (same split, same seed)": ours[1] > sk[1],
        "MLP training under 2 s (median)": mlp_median < 2.0,
        "softmax regression >= 0.95": soft[1] >= 0.95,
    }
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
