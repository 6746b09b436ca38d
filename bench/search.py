"""Benchmark Part 4's search on Optuna: the quick search (`dlhw run search --quick`'s four
studies) with 1 and 2 local workers, one torch thread each, on a fresh SQLite storage per run.

    python bench/search.py [--runs 5] [--epochs N]

Times the search itself (`nets.search.run_searches`: making the studies, the workers, every
trial), not the refits or figures, which do not change with the workers. Arms, interleaved in
each round after one untimed warm-up round: one worker (in this process, as `--workers 1`
runs) and two (forked processes, as `--workers 2` runs). Prints the medians, the speed-up, the
summed trial seconds (how much the two workers slow each other down), the CPU and the load
average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nets.hardware import prepare_env  # noqa: E402

prepare_env(threads=1)  # every worker trains on one thread, this process's own worker too

ARMS = {"1 worker": 1, "2 workers": 2}


def cpu_line() -> str:
    from nets.runinfo import cpu_info

    info = cpu_info()
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in info["flags"]]
    cores = len(os.sched_getaffinity(0))
    return f"{info['model_name']} ({', '.join(flags) or 'no AVX2'}), {cores} cores"


def one_search(specs: list, data: dict, workers: int) -> tuple[float, float]:
    """Wall seconds of one search on a fresh storage, and the seconds its trials ran."""
    from nets import search as S
    from nets import search_storage as ST

    with tempfile.TemporaryDirectory(prefix="dlhw-bench-search-") as tmp:
        start = time.perf_counter()
        results = S.run_searches(ST.default_url(tmp), "bench", specs, workers=workers,
                                 preloaded=data, progress=False)
        wall = time.perf_counter() - start
    return wall, sum(r.wall_seconds for r in results.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs of every fit (default: the quick search's own)")
    args = ap.parse_args()
    from nets import data as D
    from nets.studies.search import make_specs, search_tasks

    load0 = os.getloadavg()
    tasks = search_tasks(D.load_fashion(), seed=0, epochs=args.epochs, quick=True)
    specs, data = make_specs(tasks, seed=0)
    n_trials = sum(len(s["plan"]) for s in specs)
    for workers in ARMS.values():  # warm-up: imports, oneDNN's kernels
        one_search(specs, data, workers)
    walls: dict[str, list[float]] = {a: [] for a in ARMS}
    trials: dict[str, list[float]] = {a: [] for a in ARMS}
    for _ in range(args.runs):
        for arm, workers in ARMS.items():
            w, t = one_search(specs, data, workers)
            walls[arm].append(w)
            trials[arm].append(t)
    load1 = os.getloadavg()
    print(f"quick search: {len(specs)} studies, {n_trials} trials; median of {args.runs} runs")
    print(f"CPU: {cpu_line()}; load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    one = statistics.median(walls["1 worker"])
    for arm in ARMS:
        med = statistics.median(walls[arm])
        print(f"  {arm:<10} {med:6.2f} s wall  {statistics.median(trials[arm]):6.2f} s of trials"
              f"  speed-up {one / med:4.2f}x")


if __name__ == "__main__":
    main()
