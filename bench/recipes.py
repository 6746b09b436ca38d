"""Choosing the reference FashionMNIST recipe on a validation split: python bench/recipes.py.

The reference recipe (nets.studies.fashion.REFERENCE) must reach its accuracy goal within 10
minutes of training on 2 CPU cores. Each candidate below is a recipe sized to that work: its
epochs are those its architecture's measured CPU step time allows (`--cost` measures them on
the machine at hand). A candidate trains on 50,000 training images and is scored on the other
10,000 (class-balanced, seed 0), one run per seed; the test split is read only by `--final`,
which trains the candidate with the best mean validation accuracy on all 60,000 images and
reports its test accuracy once. So the choice is never made on the test set.

The search is run where it is cheap (a GPU: `--device cuda --workers 6` shares the card among
processes), the chosen recipe is then trained on the CPU by `dlhw run fashion`.

  python bench/recipes.py --cost                     # ms/step of each architecture, this CPU
  python bench/recipes.py --device cuda --workers 6 --deadline 270 --final --out DIR
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nets import hardware as H  # noqa: E402
from nets.runinfo import cpu_info  # noqa: E402

# Architectures (nets.models.CNNSpec fields) and their bf16+channels_last step time at batch
# 256 on 2 cores of the AMD EPYC (family 26, avx512_bf16) where they were sized: ms/step.
# "c121" was the reference before this search; "c122" won it and is the reference now.
ARCHS = {
    "c121": ({"convs": (1, 2, 1)}, 51.4),
    "c122": ({"convs": (1, 2, 2)}, 67.9),
    "w80": ({"widths": (32, 80, 160), "convs": (1, 2, 1)}, 68.3),
    "w48": ({"widths": (48, 96, 192), "convs": (1, 2, 1)}, 94.0),
    "w96": ({"widths": (32, 96, 192), "convs": (1, 2, 1)}, 85.2),
    "hidden": ({"hidden": 256, "convs": (1, 2, 1)}, 50.7),
}
TRAIN_SECONDS = 540.0  # the 10-minute goal less a margin for the first-step probe and noise
STEPS_PER_EPOCH = 235  # 60,000 images in batches of 256
MAX_EPOCHS = 100       # no cap in practice: the time decides


def epochs_for(arch: str) -> int:
    """The epochs of `arch` that fit TRAIN_SECONDS on the CPU the step times were measured on."""
    return H.epochs_that_fit(TRAIN_SECONDS, MAX_EPOCHS, STEPS_PER_EPOCH, ARCHS[arch][1] / 1000)


def candidates() -> list[dict]:
    """Recipes in priority order (a search cut short by its deadline keeps the first ones)."""
    c = [
        {"arch": "c121", "erase": 0.0},
        {"arch": "c121", "erase": 0.5},
        {"arch": "c122", "erase": 0.5},
        {"arch": "w80", "erase": 0.5},
        {"arch": "c121", "erase": 0.25},
        {"arch": "c122", "erase": 0.0},
        {"arch": "c122", "erase": 0.25},
        {"arch": "w48", "erase": 0.5},
        {"arch": "w96", "erase": 0.5},
        {"arch": "c121", "erase": 0.5, "lr": 0.2},
        {"arch": "c121", "erase": 0.5, "weight_decay": 1e-3},
        {"arch": "c121", "erase": 0.5, "label_smoothing": 0.0},
        {"arch": "c122", "erase": 0.5, "dropout": 0.1},
        {"arch": "hidden", "erase": 0.5},
        {"arch": "c121", "erase": 0.0, "epochs": 22},  # the recipe before this search
    ]
    for r in c:
        r.setdefault("epochs", epochs_for(r["arch"]))
    return c


def name(r: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in r.items())


def train(recipe: dict, seed: int, device: str, final: bool = False) -> dict:
    """Train one recipe; score it on the validation split (or, `final`, on the test split)."""
    import torch

    from nets import data as D
    from nets.models import CNNSpec, Normalized, build_cnn
    from nets.studies.common import fashion_split
    from nets.studies.fashion import REFERENCE
    from nets.train import TrainConfig, evaluate, fit, predict

    r = dict(recipe)
    arch, dropout = r.pop("arch"), r.pop("dropout", None)
    spec = CNNSpec(**{**ARCHS[arch][0], **({"dropout": dropout} if dropout is not None else {})})
    fd = D.load_fashion()
    if final:
        x, y, xv, yv = fd.x_train, fd.y_train, fd.x_test, fd.y_test
    else:
        x, y, xv, yv = fashion_split(fd, 50000, 10000, 0)
    cfg = TrainConfig(**{**REFERENCE, **r}, seed=seed, device=device)
    torch.manual_seed(seed)
    model = build_cnn(spec)
    h = fit(model, x, y, cfg, progress=False)
    single = evaluate(model, xv, yv)["accuracy"]
    tta = (predict(Normalized(model, True), xv * D.STD + D.MEAN).argmax(1) == yv)
    return {"recipe": recipe, "seed": seed, "final": final, "accuracy": single,
            "accuracy_tta": tta.float().mean().item(), "train_seconds": h.train_seconds,
            "precision": h.plan["precision"] + ("+cl" if h.plan["channels_last"] else ""),
            "device": h.plan["device"], "epochs": h.plan["epochs"]["run"]}


def _worker(args: tuple) -> dict | None:
    recipe, seed, device, deadline, threads = args
    if time.time() > deadline:
        return None
    H.set_threads(threads)
    return train(recipe, seed, device)


def cost() -> None:
    """Measured ms/step (bf16+channels_last and fp32+channels_last) of each architecture here."""
    import torch

    from nets import data as D
    from nets.hardware import Candidate
    from nets.models import CNNSpec, build_cnn
    from nets.studies.fashion import REFERENCE
    from nets.train import TrainConfig, step_timer

    H.set_threads()
    fd = D.load_fashion()
    print(f"{cpu_info()['model_name']}, {torch.get_num_threads()} threads")
    cfg = TrainConfig(**{**REFERENCE, "erase": 0.5})
    for arch, (spec, _) in ARCHS.items():
        torch.manual_seed(0)
        clock = step_timer(build_cnn(CNNSpec(**spec)), fd.x_train[:256], fd.y_train[:256],
                           cfg, "cpu")
        # Interleaved, every candidate timed (drop=inf), as bench/partc.py times them.
        times = H.measure([Candidate("bf16", True), Candidate("fp32", True)], clock,
                          rounds=10, drop=float("inf"))
        for cand, t in times.items():
            med = statistics.median(t)
            print(f"{arch:8} {cand.name:18} {med * 1000:6.1f} ms/step  "
                  f"{med * STEPS_PER_EPOCH * H.STEP_OVERHEAD:5.1f} s/epoch", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cost", action="store_true", help="time each architecture's step here")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=float("inf"),
                    help="seconds after which no new run starts")
    ap.add_argument("--final", action="store_true",
                    help="train the best recipe on all 60,000 images; report test accuracy")
    ap.add_argument("--out", type=Path, default=Path("build/recipes"))
    ap.add_argument("--first", type=int, help="only the first N candidates")
    ap.add_argument("--epochs", type=int, help="override every candidate's epochs (smoke test)")
    a = ap.parse_args()
    if a.cost:
        cost()
        return
    a.out.mkdir(parents=True, exist_ok=True)
    device = H.resolve_device(a.device)
    threads = max(1, H.cores() // a.workers)
    deadline = time.time() + a.deadline
    recipes = [{**r, **({"epochs": a.epochs} if a.epochs else {})}
               for r in candidates()[:a.first]]
    jobs = [(r, s, device, deadline, threads) for r in recipes for s in range(a.seeds)]
    results = []
    with (a.out / "search.jsonl").open("w") as log, \
            mp.get_context("spawn").Pool(a.workers) as pool:
        for res in pool.imap_unordered(_worker, jobs):
            if res is not None:
                results.append(res)
                log.write(json.dumps(res) + "\n")
                log.flush()
                print(f"{res['accuracy']:.4f} tta {res['accuracy_tta']:.4f} "
                      f"{res['train_seconds']:6.1f}s  {name(res['recipe'])} seed {res['seed']}",
                      flush=True)
    by: dict[str, list[dict]] = {}
    for res in results:
        by.setdefault(name(res["recipe"]), []).append(res)
    # Only recipes with every seed done compete: a lucky single seed must not win.
    table = sorted(((statistics.mean(x["accuracy"] for x in v),
                     statistics.mean(x["accuracy_tta"] for x in v), k, v[0]["recipe"])
                    for k, v in by.items() if len(v) == a.seeds), reverse=True)
    print(f"\nvalidation accuracy (10,000 held-out training images), mean of {a.seeds} seeds:")
    for acc, tta, k, _ in table:
        print(f"  {acc:.4f}  (flip TTA {tta:.4f})  {k}")
    summary = {"table": [{"recipe": r, "val": acc, "val_tta": tta}
                         for acc, tta, _, r in table]}
    if a.final and table:
        H.set_threads()
        best = table[0][3]
        t = time.perf_counter()
        summary["final"] = train(best, 0, device, final=True)
        summary["final"]["wall_seconds"] = time.perf_counter() - t
        f = summary["final"]
        print(f"\nchosen {name(best)}: test accuracy {f['accuracy']:.4f} "
              f"(flip TTA {f['accuracy_tta']:.4f}), trained in {f['train_seconds']:.1f} s "
              f"on {f['device']} ({f['precision']})")
    summary["hardware"] = {"cpu": cpu_info()["model_name"],
                           **H.device_info(device)}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
