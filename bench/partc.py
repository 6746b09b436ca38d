"""Part C figures on this machine: python bench/partc.py [--runs N] [--train] [--fashion-run DIR].

Prints
- the reference FashionMNIST CNN's test accuracy and training time: read from the reference run
  (runs/fashion, made by `dlhw run fashion`; --train retrains it first, ~10 min on 2 cores),
  with the load average recorded around that training;
- the regression study's clean MSE (against sin(x)) for N seeds: each value and the median;
- the time to re-evaluate the exported model runs/fashion/model.pt2 on the 10,000 test images
  (the grader's contract: raw [0, 1] pixels in, logits out): N repeats and the median.

The machine is shared with other jobs, so os.getloadavg() is printed before and after every
measurement; timings under a load above the core count are not the machine's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

# Idle OpenMP threads sleep rather than spin (see cli.py); must precede the torch import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load() -> str:
    return "load avg " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + \
        f" on {len(os.sched_getaffinity(0))} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="repeats for medians (default 3)")
    ap.add_argument("--train", action="store_true", help="retrain the reference CNN first")
    ap.add_argument("--fashion-run", default="runs/fashion", help="the reference run folder")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()

    from nets.export import evaluate_exported
    from nets.studies import fashion, regression
    from nets.train import set_threads

    threads = set_threads()
    print(f"bench partc: torch threads {threads}; {load()}")
    run = Path(args.fashion_run)
    if args.train:
        print(f"training the reference CNN into {run} ...; {load()}")
        fashion(run, progress=False, data_dir=args.data_dir)
    if (run / "metrics.json").is_file():
        m = json.loads((run / "metrics.json").read_text())
        c = json.loads((run / "config.json").read_text())
        meas = c.get("measured", {})
        print(f"fashion.test_accuracy   {m['fashion.test_accuracy']:.4f}  (target >= 0.930; "
              f"{c['train']['epochs']} epochs, {m['fashion.params']} parameters)")
        print(f"fashion.train_seconds   {m['fashion.train_seconds']:.1f} s  (target <= 600; "
              f"cpu {meas.get('cpu_seconds', float('nan')):.0f} s, load avg at start "
              f"{meas.get('load_avg_start')}, at end {meas.get('load_avg_end')})")
    else:
        print(f"no reference run in {run}: run `dlhw run fashion` or pass --train")

    clean = []
    for seed in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = regression(tmp, seed=seed, progress=False)
        clean.append(r["regression.clean_mse"])
        print(f"regression seed {seed}: clean_mse {r['regression.clean_mse']:.6f}, "
              f"test_mse {r['regression.test_mse']:.5f} (noise floor 0.01), "
              f"cv_mse {r['regression.cv_mse']:.5f}; {load()}")
    print(f"regression.clean_mse    median {statistics.median(clean):.6f} over {len(clean)} "
          f"seeds (target <= 0.001)")

    if (run / "model.pt2").is_file():
        secs = []
        for _ in range(args.runs):
            ev = evaluate_exported(run / "model.pt2", args.data_dir)
            secs.append(ev["seconds"])
            print(f"exported model: accuracy {ev['accuracy']:.4f} on {ev['n']} images in "
                  f"{ev['seconds']:.2f} s (+{ev['load_seconds']:.2f} s loading); {load()}")
        print(f"export re-evaluation    median {statistics.median(secs):.2f} s "
              f"(target < 2 s)")
    print(f"done; {load()}")


if __name__ == "__main__":
    main()
