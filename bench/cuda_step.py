"""The reference CNN's training step on a GPU: eager against torch.compile, with and without CUDA
graphs. python bench/cuda_step.py [--steps N]
[--precisions fp32,bf16]

Prints, for each way and precision: the seconds the first steps take (compilation, graph capture)
and the median ms/step after them, then how long a run must be for the compilation to pay back.
These are the figures behind nets.hardware.COMPILE_SECONDS and COMPILE_SPEEDUP, which decide
whether `fit` compiles (it does only where even those costs are paid back twice).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch

    from nets.augment import augment_batch
    from nets.hardware import Candidate
    from nets.models import build_cnn
    from nets.steps import train_step as _train_step
    from nets.studies.fashion import REFERENCE
    from nets.train import TrainConfig, make_optimizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--precisions", default="fp32", help="comma-separated: fp32,bf16")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/cuda_step.py: torch sees no CUDA device here")
    torch.backends.cudnn.benchmark = True
    cfg = TrainConfig(**REFERENCE)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(cfg.batch_size, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (cfg.batch_size,), device="cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, batch {cfg.batch_size}")
    eager_ms = {}
    for precision in a.precisions.split(","):
        cand = Candidate(precision, True)
        for mode in ("eager", "default", "reduce-overhead"):
            torch.manual_seed(0)
            model = build_cnn("reference").cuda().to(memory_format=torch.channels_last)
            opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum,
                                 cfg.weight_decay)
            step_model = model if mode == "eager" else torch.compile(model, mode=mode)
            times = []
            try:
                for _ in range(a.steps + 3):
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    _train_step(step_model, opt, augment_batch(x, g), y, cfg, cand, "cuda")
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t)
            except Exception as e:  # a mode this torch cannot do is a finding, not a crash
                print(f"  {cand.name:18} {mode:16} failed: {type(e).__name__}: {e}"[:300])
                continue
            first, med = sum(times[:3]), statistics.median(times[3:])
            if mode == "eager":
                eager_ms[precision] = med
            speedup = eager_ms[precision] / med
            gain = eager_ms[precision] - med
            payback = f"{(first - 3 * med) / gain:8.0f} steps to pay back" if gain > 0 else ""
            print(f"  {cand.name:18} {mode:16} first 3 steps {first:6.2f} s  "
                  f"{med * 1000:6.2f} ms/step  {speedup:4.2f}x eager  {payback}", flush=True)


if __name__ == "__main__":
    main()
