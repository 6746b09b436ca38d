"""Time `dlhw variants` for a 500-student roster (sheets as LaTeX, key as CSV). Target: < 30 s.

Each run is a fresh process, as an instructor would run it. Run: python bench/variants.py [--runs N]
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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--students", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roster = Path(tmp) / "roster.csv"
        roster.write_text("id,name\n" + "".join(f"s{i:04d},Student {i}\n"
                                                for i in range(args.students)))
        times = []
        for run in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cli", "variants", "--roster", str(roster),
                            "--seed", "2026", "--out", f"{tmp}/out{run}"], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        sheets = len(list(Path(f"{tmp}/out0/sheets").glob("*.tex")))
    med = statistics.median(times)
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.runs} runs")
    print(f"dlhw variants, {args.students} students: median {med:.2f} s "
          f"({sheets} sheets + key.csv)  target < 30 s: {'met' if med < 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
