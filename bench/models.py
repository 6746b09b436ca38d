"""Submitted models on this machine: python bench/models.py [--cnn P] [--regression P] [--runs N].

Prints, with the CPU and the load average beside every figure:
- validating the reference CNN's archive (core/pt2.py: read, check, rewrite), median of 20;
- the sandbox's start-up: bubblewrap running /bin/true, and the interpreter importing torch
  inside it (medians of N);
- the whole fashion measurement of the reference CNN (validate, sandbox, load, 10,000 images:
  each test image once, a share of them perturbed), median of N, and the share of it that is not the
  model's own evaluation (sandbox, interpreter, torch import, program load);
- against memorisation, for seeds 1..N: the reference CNN's and an exact lookup table's
  accuracy on the exact and the perturbed test images, through the sandbox (the thresholds'
  figures come from bench/perturb_drops.py, which runs in process and adds more models);
- the regression thresholds: the reference MLP's MSE against sin(x) on the grader's grid, and
  the MSE of typical student MLPs (two hidden layers, as the homework asks; trained here in a
  few seconds each, exported, measured through the same sandboxed path).

--cnn defaults to runs/fashion/model.pt2 (`dlhw run fashion`), --regression to
runs/regression/model.pt2 (`dlhw run regression`); --only timing,drops,regression picks parts.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.pt2 import validate  # noqa: E402
from grader import model_check as mc  # noqa: E402
from grader import sandbox  # noqa: E402
from grader.context import RunContext  # noqa: E402
from grader.kinds.model import measure  # noqa: E402
from grader.kinds.tasks import DATASETS  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402


def load() -> str:
    return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")), "unknown CPU")
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def timed(fn, n: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def student_mlps() -> dict[str, dict]:
    """What students following the homework's hint typically write: two hidden layers, full
    batch, Adam or SGD, a fixed number of epochs."""
    return {"64-64 tanh, Adam 1e-2, 1000 ep": dict(h=64, act="tanh", opt="adam", lr=1e-2,
                                                     epochs=1000),
            "64-64 relu, Adam 1e-3, 2000 ep": dict(h=64, act="relu", opt="adam", lr=1e-3,
                                                     epochs=2000),
            "32-32 tanh, Adam 1e-2, 500 ep": dict(h=32, act="tanh", opt="adam", lr=1e-2,
                                                    epochs=500),
            "32-32 relu, SGD 0.05 m0.9, 2000 ep": dict(h=32, act="relu", opt="sgd", lr=0.05,
                                                         epochs=2000),
            "16-16 sigmoid, Adam 1e-2, 1000 ep": dict(h=16, act="sigmoid", opt="adam",
                                                        lr=1e-2, epochs=1000)}


def train_mlp(cfg: dict, seed: int):
    import torch

    from nets import data as D
    from nets.models import MLP

    d = D.regression_data(seed)
    torch.manual_seed(seed)
    model = MLP((cfg["h"],) * 2, cfg["act"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"]) if cfg["opt"] == "adam" else \
        torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    for _ in range(cfg["epochs"]):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(d.x_train), d.y_train)
        loss.backward()
        opt.step()
    return model.eval()


def timing(cnn: Path, item, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t, _ = timed(lambda: validate(cnn, Path(tmp) / "v.pt2"), 20)
    print(f"validate + rewrite {cnn}: {t * 1000:.1f} ms median of 20 ({load()})")
    lim = sandbox.Limits(wall_s=60, cpu_s=60)
    t_true, _ = timed(lambda: sandbox.run(["/bin/true"], limits=lim), runs)
    t_torch, _ = timed(lambda: sandbox.run(sandbox.python_argv("/in/x.py"), limits=lim,
                                           inputs={"x.py": b"import numpy, torch\n"}), runs)
    print(f"sandbox start-up: bwrap /bin/true {t_true:.3f} s, python + import torch inside "
          f"{t_torch:.2f} s (medians of {runs}; {load()})")
    x, _ = DATASETS["fashion-mnist"](None)
    totals, evals = [], []
    for _ in range(runs):
        t = time.perf_counter()
        ran = mc.run_model(cnn, np.concatenate([x, x]),
                           time_limit_s=item.limits.time_limit_s,
                           memory_limit_mb=item.limits.memory_limit_mb)
        totals.append(time.perf_counter() - t)
        evals.append(ran.timing.get("eval_s", math.nan))
    total, ev = statistics.median(totals), statistics.median(evals)
    print(f"reference CNN, validate + sandbox + 10,000 images: {total:.2f} s median of {runs} "
          f"(model evaluation {ev:.2f} s; start-up, import and load {(total - ev) / total:.0%}; "
          f"{load()})")


def drops(cnn: Path, item, runs: int) -> None:
    from tests.test_model_grading import export_lookup

    with tempfile.TemporaryDirectory() as tmp:
        memo = export_lookup(Path(tmp) / "memo.pt2", *DATASETS["fashion-mnist"](None))
        for seed in range(1, runs + 1):
            ctx = RunContext.build(parts="C", seed=seed, template=None)
            rows = []
            for name, path in (("reference CNN", cnn), ("lookup table", memo)):
                m = measure(item, path, ctx)
                if not m.ok:
                    rows.append(f"{name}: {m.error}")
                    continue
                before, after = m.detail["clean_accuracy"], m.detail["perturbed_accuracy"]
                rows.append(f"{name} {before:.4f} -> {after:.4f} (drop "
                            f"{(before - after) * 100:.2f} points"
                            f"{', REVIEW' if m.review else ''}, {m.detail['seconds']:.1f} s)")
            p = item.config.perturbation
            print(f"seed {seed}, {p.share:.0%} shifted {p.shift_px} px, rotated "
                  f"{p.rotate_deg:g} deg: " + "; ".join(rows) + f" ({load()})")


def regression(reg: Path, item, runs: int) -> None:
    from nets.export import export_regression

    ctx = RunContext.build(parts="C", seed=0, template=None)
    m = measure(item, reg, ctx)
    print(f"regression reference {reg}: MSE vs sin(x) {m.value:.6f} on {m.n} points" if m.ok
          else f"regression reference: {m.error}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in student_mlps().items():
            mses = []
            for seed in range(runs):
                m = measure(item, export_regression(train_mlp(cfg, seed), Path(tmp) / "s.pt2"),
                            ctx)
                mses.append(m.value if m.ok else math.nan)
            print(f"student MLP {name}: MSE vs sin(x) median {statistics.median(mses):.5f} "
                  f"(seeds 0..{runs - 1}: {', '.join(f'{v:.5f}' for v in mses)}; {load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnn", default="runs/fashion/model.pt2")
    ap.add_argument("--regression", default="runs/regression/model.pt2")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="timing,drops,regression",
                    help="comma-separated parts to run (default: all)")
    args = ap.parse_args()
    print(f"CPU: {cpu()}; {load()}")
    if (why := sandbox.unavailable_reason()) is not None:
        sys.exit(why)
    items = {i.id: i for i in load_rubric().items}
    parts = args.only.split(",")
    if "timing" in parts:
        timing(Path(args.cnn), items["fashion"], args.runs)
    if "drops" in parts:
        drops(Path(args.cnn), items["fashion"], args.runs)
    if "regression" in parts:
        regression(Path(args.regression), items["regression"], args.runs)
    print(f"done ({load()})")


if __name__ == "__main__":
    main()
