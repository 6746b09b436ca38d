"""Cold-process time of `dlhw solve`, beside a bare `import sympy` measured in the same run.

Targets: `dlhw solve q1 --latex` within 1.5x of the sympy import, `dlhw solve --all --json`
within 3x. Run: python bench/solve.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import sympy": [sys.executable, "-c", "import sympy"],
    "dlhw solve q1 --latex": [sys.executable, "-m", "cli", "solve", "q1", "--latex"],
    "dlhw solve --all --json": [sys.executable, "-m", "cli", "solve", "--all", "--json"],
}
TARGETS = {"dlhw solve q1 --latex": 1.5, "dlhw solve --all --json": 3.0}


def cold(cmd: list[str]) -> float:
    start = time.perf_counter()
    root = os.path.join(os.path.dirname(__file__), "..")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=root)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    # Warm the OS file cache once; every measured run is still a new process.
    for cmd in COMMANDS.values():
        cold(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved, so load changes hit every command alike
        for name, cmd in COMMANDS.items():
            times[name].append(cold(cmd))
    base = statistics.median(times["import sympy"])
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.runs} runs each; medians")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = med / base
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"  target <= {target}x: {'met' if ratio <= target else 'MISSED'}"
        print(f"{name:<26} {med * 1000:7.0f} ms  {ratio:4.2f}x{verdict}")


if __name__ == "__main__":
    main()
