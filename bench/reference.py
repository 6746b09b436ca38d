"""The reference FashionMNIST run, timed, on this CPU and held to AVX2: python bench/reference.py.

Each run is `dlhw run fashion`'s reference training with its defaults (the 600 s training
budget, measured precision, layout and compiling), in a fresh process, for every seed; Part 5's
depth/width variants are skipped (they run after the reference and change none of its figures).
"--isa avx2" holds torch to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2), which runs
what a CPU without AVX-512 and bf16 units runs. Prints, per run and as the mean over seeds: the
plan (precision, layout, compiled or not), epochs, ms per step, training seconds against the
budget, test accuracy and the re-evaluated export's, with the CPU and the load around the run.
Needs a quiet machine: each run takes both cores for about 11 minutes.

  python bench/reference.py                              # seeds 0 1, native then avx2
  python bench/reference.py --isa native --seeds 0       # one run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ISAS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def child(out: Path, seed: int, budget: float | None) -> None:
    """One reference run in this process (the parent set the ISA in its environment)."""
    from nets import hardware as H
    from nets.studies import fashion

    H.set_threads()
    with H.session():
        fashion.run(out, seed=seed, progress=False, variants=False, time_budget=budget)


def row(isa: str, seed: int, out: Path, wall: float) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    c = json.loads((out / "config.json").read_text())
    return {"isa": isa, "seed": seed, "wall_seconds": wall,
            "cpu": c["hardware"]["cpu"]["model_name"], "steps": m["fashion.steps"],
            "compile_how": m["fashion.compile_how"], "epochs": m["fashion.epochs"],
            "step_ms_run": m["fashion.step_ms_run"], "train_seconds": m["fashion.train_seconds"],
            "eval_seconds": m["fashion.eval_seconds"],
            "test_accuracy": m["fashion.test_accuracy"],
            "export_accuracy": m["fashion.export.test_accuracy"],
            "export_seconds": m["fashion.export.eval_seconds"],
            "load_start": c["measured"]["load_avg_start"][0],
            "load_end": c["measured"]["load_avg_end"][0]}


def show(r: dict) -> None:
    print(f"{r['isa']:6} seed {r['seed']}: {r['test_accuracy']:.4f} test (export "
          f"{r['export_accuracy']:.4f}, re-evaluated in {r['export_seconds']:.2f} s); "
          f"{r['epochs']} epochs in {r['train_seconds']:.0f} s of training "
          f"({r['step_ms_run']:.0f} ms/step; {r['steps']}; {r['compile_how']}); per-epoch "
          f"evaluation {r['eval_seconds']:.1f} s; load {r['load_start']:.2f} -> "
          f"{r['load_end']:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isa", nargs="+", choices=list(ISAS), default=list(ISAS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--time-budget", type=float, default=None,
                    help="the run's budget (default: the study's)")
    ap.add_argument("--out", type=Path, default=Path("build/reference"))
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.seed, a.time_budget)
        return
    from nets.runinfo import cpu_info

    print(f"bench reference: {cpu_info()['model_name']}, {len(os.sched_getaffinity(0))} "
          f"cores; load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for isa in a.isa:
        for seed in a.seeds:
            out = (a.out / f"{isa}-seed{seed}").resolve()
            cmd = [sys.executable, __file__, "--child", str(out), "--seed", str(seed)]
            if a.time_budget is not None:
                cmd += ["--time-budget", str(a.time_budget)]
            env = {**os.environ, "PYTHONPATH": str(ROOT), **ISAS[isa]}
            t = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=ROOT, check=True)
            rows.append(row(isa, seed, out, time.perf_counter() - t))
            show(rows[-1])
    print("\nmean over seeds:")
    for isa in a.isa:
        mine = [r for r in rows if r["isa"] == isa]
        mean = {k: statistics.mean(r[k] for r in mine) for k in
                ("test_accuracy", "train_seconds", "epochs", "step_ms_run", "eval_seconds")}
        print(f"  {isa:6} {mean['test_accuracy']:.4f} test accuracy (min "
              f"{min(r['test_accuracy'] for r in mine):.4f}), {mean['train_seconds']:.0f} s of "
              f"training (max {max(r['train_seconds'] for r in mine):.0f}), "
              f"{mean['epochs']:.1f} epochs at {mean['step_ms_run']:.0f} ms/step; "
              f"{len(mine)} seeds")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
