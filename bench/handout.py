"""Time `dlhw handout --pdf` from existing runs (target: under 60 s).

Each run is a fresh process into a fresh folder, so LaTeX starts from nothing every time.
Run: python bench/handout.py [--runs runs/] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", default="runs", help="folder of the runs (dlhw run ...)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "cli", "handout", "--runs", args.runs,
                                   "--out", f"{tmp}/h{k}", "--pdf"], cwd=ROOT,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(done.stderr.strip() or done.stdout.strip())
            times.append(time.perf_counter() - start)
    med = statistics.median(times)
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.repeats} runs")
    print(f"dlhw handout --pdf from {args.runs}: median {med:.1f} s "
          f"(min {min(times):.1f}, max {max(times):.1f})  "
          f"target < 60 s: {'met' if med < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
