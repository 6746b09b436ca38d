"""The figures behind the memorisation and network thresholds (problems/rubric.yaml,
problems/partb_checks.yaml), over several grading seeds, median and max:

- fashion: accuracy drop (exact test images minus perturbed ones) of an exported CNN (the
  reference: runs/fashion/model.pt2 from `dlhw run fashion`; any export with --cnn), of an
  exact-match lookup table of the test set and of a nearest-neighbour memoriser (1-NN over the
  10,000 test images), with the rubric's perturbation, through the grader's own task code;
- digits: the same drop for the reference MLP (nets/, Part B's config, trained once: the
  grader's seed makes it the same network in every run) and for an exact lookup;
- regression: the RMS change of the reference regression model's outputs when its weights get
  the rubric's noise (through the grader's own perturb_weights).

Models run in process (they are the reference's own exports), one thread at a time.
  python bench/perturb_drops.py [--seeds 5] [--cnn PATH] [--only fashion,digits,regression]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.pt2 import validate  # noqa: E402
from grader.kinds.tasks import DATASETS  # noqa: E402
from grader.memorisation import judge  # noqa: E402
from grader.model_check import perturb_weights  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402


def cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")), "unknown CPU")
    flags = next((ln for ln in out.splitlines() if ln.startswith("Flags")), "")
    simd = [f for f in ("avx2", "avx512f", "fma") if f" {f}" in flags]
    return f"{name} ({', '.join(simd) or 'no avx2'}), {len(os.sched_getaffinity(0))} cores"


def load() -> str:
    return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def summary(name: str, values: list[float], unit: str = " points", k: float = 100) -> None:
    shown = ", ".join(f"{v * k:.2f}" for v in values)
    print(f"  {name}: median {statistics.median(values) * k:.2f}, max {max(values) * k:.2f}"
          f"{unit} ({shown})")


def lookup(table: dict[bytes, int], shown: np.ndarray) -> np.ndarray:
    """An exact-match hash table of the test set; unknown images get class 0."""
    return np.array([table.get(img.tobytes(), 0) for img in shown])


def fashion(cnn: Path, seeds: list[int]) -> None:
    import torch

    from nets.run_exported import outputs

    torch.set_num_threads(1)
    item = next(i for i in load_rubric().items if i.id == "fashion")
    task, p = item.config, item.config.perturbation
    x, y = DATASETS[task.data](None)
    module = torch.export.load(str(cnn)).module()
    table = {img.tobytes(): int(label) for img, label in zip(x, y)}
    flat = x.reshape(len(x), -1).astype(np.float32) / 255
    norms = (flat * flat).sum(1)
    rows: dict[str, list[float]] = {"reference CNN": [], "exact lookup": [], "1-NN memoriser": []}
    acc = []
    for seed in seeds:
        prep = task.prepare(None, seed)
        m = prep.score(outputs(module, prep.inputs, 256), 0.0)
        rows["reference CNN"].append(m.detail["clean_accuracy"] - m.detail["perturbed_accuracy"])
        acc.append(m.value)
        split = prep.split
        rows["exact lookup"].append(judge(lookup(table, prep.inputs), y, split, 1).drop)
        q = prep.inputs.reshape(len(x), -1).astype(np.float32) / 255
        nn = np.concatenate([(norms - 2 * q[i:i + 1000] @ flat.T).argmin(1)
                             for i in range(0, len(q), 1000)])
        rows["1-NN memoriser"].append(judge(y[nn], y, split, 1).drop)
    print(f"fashion ({cnn}), {p.share:.0%} of {len(x)} shown shifted {p.shift_px[0]:g}-"
          f"{p.shift_px[1]:g} px, rotated up to {p.rotate_deg:g} deg; drop = exact - perturbed:")
    for name, drops in rows.items():
        summary(name, drops)
    summary("reference CNN accuracy marked", acc, "%")


def twin_lookup(table: dict[bytes, int], shown: np.ndarray) -> np.ndarray:
    """The issue's digits attack: exact lookup; any other image gets the label of the nearest
    exact image shown (its clean twin, when a grader shows both)."""
    out = lookup(table, shown)
    known = np.array([img.tobytes() in table for img in shown])
    if known.any() and not known.all():
        d = ((shown[~known][:, None] - shown[known][None]) ** 2).sum(-1)
        out[~known] = out[known][d.argmin(1)]
    return out


def digits(seeds: list[int]) -> None:
    from grader.notebook_checks import _digits, load_checks, plan
    from nets.digits import shift_augment
    from nets.mlp import MLP, train_sgd
    from nets.partb import PartBConfig

    cfg, pc = load_checks(), PartBConfig()
    X, y, X_test, y_test = _digits()
    args = next(c for c in plan(cfg, 0).checks if c["id"] == "digits_mlp")["args"]
    rng = np.random.default_rng(args["seed"])  # as the harness trains it
    model = MLP(tuple(args["sizes"]), rng, hidden=args["activation"])
    Xa, ya = shift_augment(X, y) if args["augment"] else (X, y)
    train_sgd(model, Xa, ya, rng, args["epochs"], args["batch_size"], args["lr"],
              args["momentum"], args["weight_decay"], args["cosine"])
    table = {img.tobytes(): int(label) for img, label in zip(X_test, y_test)}
    ref, memo, acc, twin, twin_marked = [], [], [], [], []
    for seed in seeds:
        pl = plan(cfg, seed)
        split = pl.secret["split"]
        v = judge(model.predict(pl.digits["X_eval"]), y_test, split, cfg.max_drop)
        ref.append(v.drop)
        acc.append(v.marked)
        memo.append(judge(lookup(table, pl.digits["X_eval"]), y_test, split, 1).drop)
        t = judge(twin_lookup(table, pl.digits["X_eval"]), y_test, split, cfg.max_drop)
        twin.append(t.drop)
        twin_marked.append(t.marked)
    print(f"digits (reference MLP, {pc.mlp_hidden} hidden), {cfg.perturbed:.0%} of {len(X_test)} "
          f"shown with noise {cfg.perturb_noise:g}; drop = exact - noisy:")
    summary("reference MLP", ref)
    summary("exact lookup", memo)
    summary("exact lookup, nearest exact image otherwise", twin)
    summary("that lookup's accuracy marked", twin_marked, "%")
    summary("reference MLP accuracy marked", acc, "%")


def regression(seeds: list[int]) -> None:
    import torch

    item = next(i for i in load_rubric().items if i.id == "regression")
    net = item.config.network
    src = ROOT / "examples" / "submission" / "models" / "regression.pt2"
    x = torch.from_numpy(item.config.grid())
    moved = []
    with tempfile.TemporaryDirectory() as tmp:
        clean, probe = Path(tmp) / "clean.pt2", Path(tmp) / "probe.pt2"
        params = validate(src, clean).parameters
        with torch.no_grad():
            base = torch.export.load(str(clean)).module()(x).numpy()
            for seed in seeds:
                perturb_weights(clean, probe, net.perturb, seed)
                out = torch.export.load(str(probe)).module()(x).numpy()
                moved.append(float(np.sqrt(np.mean((out - base) ** 2))))
    print(f"regression (examples' reference MLP, {params} parameters), weights + "
          f"{net.perturb:g} x RMS noise; RMS change of the outputs:")
    summary("reference MLP", moved, "", 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cnn", default=str(ROOT / "runs" / "fashion" / "model.pt2"))
    ap.add_argument("--only", default="fashion,digits,regression")
    args = ap.parse_args()
    seeds = list(range(1, args.seeds + 1))
    print(f"{cpu()}; {load()}; seeds {seeds[0]}-{seeds[-1]}")
    parts = args.only.split(",")
    if "regression" in parts:
        regression(seeds)
    if "digits" in parts:
        digits(seeds)
    if "fashion" in parts:
        fashion(Path(args.cnn), seeds)
    print(load())


if __name__ == "__main__":
    main()
