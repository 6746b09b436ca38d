"""Benchmark the per-submission isolation of `dlhw grade`: what grading each submission in a
supervised worker (grader.worker) costs against grading in the grader's own process, and
against a fresh forked process per submission (the design it replaced).

    python bench/worker.py [--n 400] [--runs 3]

Prints medians over the runs, and the ratios against the in-process baseline (same process).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grade import make_class  # noqa: E402

from grader import parta  # noqa: E402
from grader.batch import grade_folder  # noqa: E402
from grader.context import RunContext  # noqa: E402
from grader.worker import run_each  # noqa: E402

OPTIONS = RunContext.build(parts="A")


def _one(folder: Path) -> dict[str, object]:
    return grade_folder(folder, OPTIONS).to_data()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dlhw-bench-worker-"))
    make_class(root, args.n)
    folders = sorted(root.iterdir())
    parta.prepare(OPTIONS.rubric)
    ctx = multiprocessing.get_context("fork")

    def in_process() -> None:
        for f in folders:
            _one(f)

    def workers() -> None:
        run_each(_one, folders, limit=OPTIONS.rubric.time_limit_s, jobs=1)

    def fresh() -> None:
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            list(pool.imap(_one, folders, chunksize=1))

    times: dict[str, list[float]] = {"in process": [], "supervised worker (reused)": [],
                                     "fresh process per submission": []}
    for _ in range(args.runs):
        for (label, fn) in zip(times, (in_process, workers, fresh)):
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    base = statistics.median(times["in process"])
    print(f"{args.n} Part A submissions, one at a time, median of {args.runs} runs "
          f"(pid {os.getpid()}):")
    for label, ts in times.items():
        med = statistics.median(ts)
        print(f"  {label:<30} {med:6.2f} s  {med / args.n * 1000:6.1f} ms each  "
              f"{med / base:5.2f}x")


if __name__ == "__main__":
    main()
