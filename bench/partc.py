"""Part C figures on this machine: python bench/partc.py [--runs N] [--train] [--fashion-run DIR].

Prints, for the CPU at hand (lscpu model name and the flags that decide the speed):
- the training step of the reference CNN (batch 256) in every precision and layout: median
  seconds over --steps interleaved steps, and the ratio to fp32 in the same process; then the
  choice `fit` makes on this machine (its own short probe);
- the chosen step eager against torch.compile (inductor's CPU backend; where a C++ compiler is
  installed): seconds to compile (the first step; --cold-compile empties inductor's cache
  first), then median ms per step of each, interleaved; and the chosen step per image at
  batches 128 to 1024 (what a larger batch saves per image);
- seconds per epoch of the reference recipe for each precision: one real epoch on a
  --epoch-images subset, scaled to 60,000 images (where bf16 is emulated, estimated from the
  step timing instead: a real emulated epoch takes ~11 minutes), and what the recipe's epochs
  then take in total against the 10-minute goal;
- the reference run (runs/fashion, made by `dlhw run fashion`; --train retrains it first):
  test accuracy, training time, epochs, the precision it ran in, the load around it;
- the regression study's clean MSE (against sin(x)) for N seeds, and the time to re-evaluate
  the exported model runs/fashion/model.pt2 on the 10,000 test images.

The machine may be shared with other jobs, so os.getloadavg() is printed beside every
measurement; timings under a load above the core count are not the machine's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Importing the studies sets the thread policy (nets.hardware) before torch loads; run_study
# sets torch's threads as every `dlhw run` does.
if "--cold-compile" in sys.argv:  # inductor reads its cache folder once torch loads
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cold-")
from nets.studies import run_study  # noqa: E402
from nets.studies.fashion import REFERENCE  # noqa: E402
from nets.studies.fashion import TIME_BUDGET as REFERENCE_SECONDS  # noqa: E402

SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


def load() -> str:
    return "load avg " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + \
        f" on {len(os.sched_getaffinity(0))} cores"


def bench_steps(fd, steps: int) -> dict[str, float]:
    """Median s/step of the reference CNN per candidate, interleaved; returns name -> median."""
    import torch

    from nets import hardware as H
    from nets.models import build_cnn
    from nets.steps import step_timer
    from nets.train import TrainConfig

    cfg = TrainConfig(**REFERENCE)
    torch.manual_seed(0)
    model = build_cnn("reference")
    cands = H.candidates("auto", None, image=True, bf16_ok=True)
    clock = step_timer(model, fd.x_train[:cfg.batch_size], fd.y_train[:cfg.batch_size], cfg,
                       "cpu")
    # drop=inf: every candidate gets all its steps, emulated bf16 included (that is the point).
    times = H.measure(cands, clock, rounds=steps, drop=float("inf"))
    med = {c.name: statistics.median(t) for c, t in times.items() if t}
    base = med["fp32"]
    print(f"\nreference CNN training step, batch {cfg.batch_size}, median of {steps} "
          f"interleaved steps ({load()}):")
    for name, s in med.items():
        print(f"  {name:<20} {s * 1000:8.1f} ms/step   {base / s:5.2f}x fp32")
    return med


def bench_epochs(fd, n_images: int, step_median: dict[str, float]) -> dict[str, float]:
    """Seconds per full epoch of the reference recipe for each precision (layout measured)."""
    import torch

    from nets import data as D
    from nets import hardware as H
    from nets.models import build_cnn
    from nets.steps import plan_run
    from nets.train import TrainConfig, fit

    x, y = D.subset(fd.x_train, fd.y_train, n_images, 0)
    scale = len(fd.x_train) / len(x)
    steps_per_epoch = -(-len(fd.x_train) // REFERENCE["batch_size"])
    per_epoch = {}
    print(f"\nseconds per epoch of the reference recipe (60,000 images, {steps_per_epoch} steps):")
    for precision in H.PRECISIONS:
        if precision == "bf16" and not H.bf16_native():
            best = min(v for k, v in step_median.items() if k.startswith("bf16"))
            per_epoch[precision] = best * steps_per_epoch * H.STEP_OVERHEAD
            print(f"  {precision:<5} {per_epoch[precision]:7.1f} s/epoch  (estimated from the "
                  f"step timing: bf16 is emulated on this CPU)")
            continue
        cfg = TrainConfig(**REFERENCE, precision=precision, seed=0)
        torch.manual_seed(0)
        model = build_cnn("reference")
        plan = plan_run(model, fd.x_train, fd.y_train, cfg)  # as the full run decides
        cfg.epochs = 1
        cpu0 = time.process_time()
        h = fit(model, x, y, cfg, progress=False, plan=plan)
        # CPU seconds per thread: what the epoch would take alone, if the threads scale;
        # a load-robust second figure where the machine is shared.
        alone = (time.process_time() - cpu0) * scale / torch.get_num_threads()
        per_epoch[precision] = h.train_seconds * scale
        step = h.train_seconds / -(-len(x) // cfg.batch_size)
        print(f"  {precision:<5} {per_epoch[precision]:7.1f} s/epoch  (one epoch on {len(x)} "
              f"images x {scale:.0f}; {h.plan['precision']}"
              f"{'+channels_last' if h.plan['channels_last'] else ''}; loop/probe step "
              f"{step / h.plan['step_seconds']:.2f}; cpu/thread {alone:.1f} s; {load()})")
    return per_epoch


def bench_compile(fd, cand, steps: int) -> None:
    """The chosen step eager and compiled (inductor), interleaved on two copies of one model."""
    import torch

    from nets import hardware as H
    from nets.models import build_cnn
    from nets.steps import train_step
    from nets.train import TrainConfig, make_optimizer

    if not H.cpu_compiler():
        print("\ntorch.compile: no C++ compiler here (g++ or clang++): eager only")
        return
    cfg = TrainConfig(**REFERENCE)
    x, y = fd.x_train[:cfg.batch_size], fd.y_train[:cfg.batch_size]
    runs = {}
    for kind in ("eager", "compiled"):
        torch.manual_seed(0)
        m = build_cnn("reference").to(memory_format=torch.channels_last)
        opt = make_optimizer(cfg.optimizer, m.parameters(), cfg.lr, cfg.momentum,
                             cfg.weight_decay)
        runs[kind] = (torch.compile(m) if kind == "compiled" else m, opt)
    times: dict[str, list[float]] = {k: [] for k in runs}
    first = {}
    for r in range(steps + 1):
        for kind, (m, opt) in runs.items():
            t = time.perf_counter()
            train_step(m, opt, x, y, cfg, cand, "cpu")
            if r:
                times[kind].append(time.perf_counter() - t)
            else:  # the first step: oneDNN's kernels built, and the compiling
                first[kind] = time.perf_counter() - t
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{cand.name} step eager vs torch.compile (inductor, {H.cpu_compiler()}), median of "
          f"{steps} interleaved steps ({load()}):")
    print(f"  first compiled step (compiling) {first['compiled']:.1f} s; eager "
          f"{med['eager'] * 1000:.1f} ms/step, compiled {med['compiled'] * 1000:.1f} ms/step: "
          f"{med['eager'] / med['compiled']:.2f}x")


def bench_batches(fd, cand, steps: int) -> None:
    """The chosen step per image at several batch sizes, interleaved."""
    import torch

    from nets.models import build_cnn
    from nets.steps import train_step
    from nets.train import TrainConfig, make_optimizer

    runs = {}
    for bs in (128, 256, 512, 1024):
        cfg = TrainConfig(**{**REFERENCE, "batch_size": bs})
        torch.manual_seed(0)
        m = build_cnn("reference").to(memory_format=torch.channels_last)
        runs[bs] = (m, make_optimizer(cfg.optimizer, m.parameters(), cfg.lr, cfg.momentum,
                                      cfg.weight_decay), cfg)
    times: dict[int, list[float]] = {bs: [] for bs in runs}
    for r in range(steps + 1):
        for bs, (m, opt, cfg) in runs.items():
            t = time.perf_counter()
            train_step(m, opt, fd.x_train[:bs], fd.y_train[:bs], cfg, cand, "cpu")
            if r:
                times[bs].append(time.perf_counter() - t)
    print(f"\n{cand.name} step by batch size, median of {steps} interleaved steps ({load()}):")
    base = statistics.median(times[256]) / 256
    for bs, t in times.items():
        per = statistics.median(t) / bs
        print(f"  batch {bs:<5} {statistics.median(t) * 1000:7.1f} ms/step "
              f"{per * 1e6:7.1f} us/image  {base / per:5.2f}x batch 256 per image")


def report_reference(run: Path) -> None:
    """The reference run's accuracy, seconds and plan, as its metrics and config recorded them."""
    if not (run / "metrics.json").is_file():
        print(f"\nno reference run in {run}: run `dlhw run fashion` or pass --train")
        return
    m = json.loads((run / "metrics.json").read_text())
    c = json.loads((run / "config.json").read_text())
    meas, res = c.get("measured", {}), c["train"].get("resolved", {})
    hw = c.get("hardware", {}).get("cpu", {})
    print(f"\nreference run {run}: {hw.get('model_name', 'CPU not recorded')}")
    print(f"fashion.test_accuracy   {m['fashion.test_accuracy']:.4f}  (target >= 0.940; "
          f"{m['fashion.epochs']} epochs, {m['fashion.params']} parameters)")
    print(f"fashion.train_seconds   {m['fashion.train_seconds']:.1f} s  (target <= "
          f"{REFERENCE_SECONDS:.0f}; {res.get('precision', 'bf16 (before issue 15)')}"
          f"{'+channels_last' if res.get('channels_last') else ''}; "
          f"cpu {meas.get('cpu_seconds', float('nan')):.0f} s, load avg at start "
          f"{meas.get('load_avg_start')}, at end {meas.get('load_avg_end')})")
    if res.get("epochs", {}).get("cut_by_budget"):
        print(f"  epochs cut by the time budget: {res['epochs']}")


def bench_regression(runs: int) -> None:
    """The regression study's clean MSE over `runs` seeds."""
    clean = []
    for seed in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = run_study("regression", tmp, seed=seed, progress=False)
        clean.append(r["regression.clean_mse"])
        print(f"regression seed {seed}: clean_mse {r['regression.clean_mse']:.6f}, "
              f"test_mse {r['regression.test_mse']:.5f} (noise floor 0.01), "
              f"cv_mse {r['regression.cv_mse']:.5f}; {load()}")
    print(f"regression.clean_mse    median {statistics.median(clean):.6f} over {len(clean)} "
          f"seeds (target <= 0.001)")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="repeats for medians (default 3)")
    ap.add_argument("--steps", type=int, default=7, help="timed steps per candidate (default 7)")
    ap.add_argument("--epoch-images", type=int, default=12000,
                    help="images of the timed epoch, scaled to 60,000 (default 12000)")
    ap.add_argument("--train", action="store_true", help="retrain the reference CNN first")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="with --train: the reference's budget (default the study's; 0: none)")
    ap.add_argument("--fashion-run", default="runs/fashion", help="the reference run folder")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--cold-compile", action="store_true",
                    help="time torch.compile with an empty inductor cache")
    return ap.parse_args()


def main() -> None:
    args = parse_args()

    import torch

    from nets import data as D
    from nets import hardware as H
    from nets.export import evaluate_exported
    from nets.models import build_cnn
    from nets.runinfo import cpu_info
    from nets.steps import plan_run
    from nets.train import TrainConfig

    threads = torch.get_num_threads()
    cpu = cpu_info()
    flags = [f for f in SPEED_FLAGS if f in cpu["flags"]]
    print(f"bench partc: {cpu['model_name']} ({cpu['architecture']}; {' '.join(flags)}; "
          f"bf16 {'native' if H.bf16_native() else 'emulated'}); torch {torch.__version__}, "
          f"{threads} threads; {load()}")
    fd = D.load_fashion(args.data_dir)

    med = bench_steps(fd, args.steps)
    cfg = TrainConfig(**REFERENCE)
    torch.manual_seed(0)
    plan = plan_run(build_cnn("reference"), fd.x_train, fd.y_train, cfg)
    print(f"fit's own probe picks {plan.precision}"
          f"{'+channels_last' if plan.channels_last else ''} on {plan.device} "
          f"({plan.step_seconds * 1000:.1f} ms/step)")
    bench_compile(fd, plan.candidate, args.steps)
    bench_batches(fd, plan.candidate, args.steps)
    per_epoch = bench_epochs(fd, args.epoch_images, med)
    chosen = per_epoch[plan.precision]
    total = chosen * cfg.epochs
    fit_in = min(cfg.epochs, max(1, int(REFERENCE_SECONDS // chosen)))
    print(f"reference recipe: at most {cfg.epochs} epochs x {chosen:.1f} s = {total:.0f} s of "
          f"training in {plan.precision}; its {REFERENCE_SECONDS:.0f} s budget runs about "
          f"{fit_in} epochs here")

    run = Path(args.fashion_run)
    if args.train:
        print(f"\ntraining the reference CNN into {run} ...; {load()}")
        run_study("fashion", run, progress=False, data_dir=args.data_dir,
                  time_budget=args.time_budget)
    report_reference(run)
    bench_regression(args.runs)

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
