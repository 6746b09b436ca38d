"""`dlhw handout`: the full solution handout, in the format the homework asks of its report.

One IEEEtran document (two columns, 10pt, Times): the ten Part A worked solutions, rendered by
the same template as `dlhw solve --latex`; the Part B and Part C results; and a written answer to
every question of Parts 1-7 whose numbers come from the runs in `runs/`. The prose lives in
templates/handout.tex.j2; this module loads the runs, derives the comparisons the prose quotes
(the best optimizer, the widest generalization gap, ...) and builds the PDF.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solver.engine import solve
from solver.errors import DlhwError
from solver.latex import build_pdf
from solver.present import view
from solver.render import render_template
from solver.spec import load_all

# Each run folder the handout reads, with the command that produces it.
RUNS: dict[str, str] = {
    "partb": "dlhw run partb",
    "regression": "dlhw run regression",
    "optimizers": "dlhw run optimizers",
    "regularization": "dlhw run regularization",
    "init": "dlhw run init",
    "fashion": "dlhw run fashion",
    "search": "dlhw run search",
    "viz": "dlhw run viz",
}

# The figures the handout shows: (run, file, caption). Two-column-wide ones are marked wide.
FIGURES: list[tuple[str, str, str, bool]] = [
    ("partb", "perceptron_xor.png", "The perceptron on XOR: no line separates the classes, so "
     "the learning rule never converges.", False),
    ("partb", "digits_loss.png", "Part B: training loss of softmax regression and the MLP on the "
     "digits.", False),
    ("partb", "digits_confusion_mlp.png", "Part B: confusion matrix of the NumPy MLP on the "
     "digits test split.", False),
    ("partb", "softmax_weights.png", "Part B: softmax-regression weights of each class as "
     "$8\\times 8$ images.", False),
    ("regression", "fit.png", "Part 1: the learned function over the noisy data and the clean "
     "$\\sin x$.", False),
    ("regression", "loss_curves.png", "Part 1: training and held-out MSE.", False),
    ("optimizers", "regression_val.png", "Part 3: held-out MSE of each optimizer on the "
     "regression task (same budget, same seed).", False),
    ("optimizers", "fashion_val_accuracy.png", "Parts 2--3: validation accuracy of each "
     "optimizer on FashionMNIST.", False),
    ("regularization", "regression_weights.png", "Part 3: weight histograms of the regression "
     "MLP under each regularizer.", False),
    ("regularization", "fashion_gap.png", "Parts 2--3: train minus validation accuracy of the "
     "CNN under each regularizer.", False),
    ("init", "regression_loss.png", "Part 3: training loss under zero, normal, Xavier and He "
     "initialization.", False),
    ("fashion", "accuracy.png", "Part 2: accuracy of the reference CNN by epoch.", False),
    ("fashion", "confusion.png", "Part 2: confusion matrix of the reference CNN on the 10,000 "
     "test images.", False),
    ("fashion", "variants.png", "Part 5: depth and width variants of the CNN.", False),
    ("search", "wall_time.png", "Part 4: wall time of grid and random search.", False),
    ("viz", "filters_conv1.png", "Part 6: the first convolutional layer's filters.", False),
    ("viz", "activations_early.png", "Part 6: activation maps of an early layer.", False),
    ("viz", "activations_deep.png", "Part 6: activation maps of a deep layer.", False),
    ("viz", "weight_histograms.png", "Part 6: weight histograms across epochs.", False),
    ("viz", "saliency.png", "Part 6: saliency maps (gradient of the class score with respect "
     "to the input).", False),
    ("viz", "actmax_classes.png", "Part 6: inputs optimized to maximize each class score.",
     False),
]


class HandoutError(DlhwError, RuntimeError):
    """Runs or figures the handout needs are missing or malformed; the message says which."""


@dataclass(frozen=True)
class Run:
    name: str
    dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any]


def load_runs(runs_dir: Path) -> dict[str, Run]:
    """Every run the handout needs; one HandoutError naming all missing runs and their commands."""
    missing = [n for n in RUNS if not (runs_dir / n / "metrics.json").is_file()]
    if missing:
        commands = "; ".join(f"{RUNS[n]} --out {runs_dir / n}" for n in missing)
        raise HandoutError(f"missing run(s) in {runs_dir}: {', '.join(missing)}. Produce them "
                           f"with: {commands} (or use dlhw handout --quick)")
    runs = {}
    for name in RUNS:
        folder = runs_dir / name
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
            config = json.loads((folder / "config.json").read_text()) \
                if (folder / "config.json").is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            raise HandoutError(f"{folder}: cannot read the run: {exc}") from None
        runs[name] = Run(name, folder, metrics, config)
    return runs


def make_quick_runs(runs_dir: Path, seed: int = 0, data_dir: str | None = None) -> None:
    """Produce every run in its quick form (small subsets, few epochs): for tests and previews."""
    from nets.partb import run_partb
    from nets.studies import run_study

    run_partb(seed=seed, out=runs_dir / "partb")
    for name in RUNS:
        if name != "partb":
            run_study(name, runs_dir / name, seed=seed, quick=True, progress=False,
                      data_dir=data_dir)


class Metrics:
    """Read metrics by dotted id across runs; a missing id is an error naming run and id."""

    def __init__(self, runs: dict[str, Run]):
        self.runs = runs

    def __call__(self, mid: str) -> Any:
        run = self.runs[mid.split(".")[0]] if mid.split(".")[0] in self.runs else None
        for r in [run] if run else self.runs.values():
            if mid in r.metrics:
                return r.metrics[mid]
        raise HandoutError(f"metric {mid!r} is in none of the runs ({', '.join(self.runs)}): "
                           "rerun the study that produces it")

    def pct(self, mid: str, digits: int = 1) -> str:
        return f"{100 * float(self(mid)):.{digits}f}\\%"

    def num(self, mid: str, sig: int = 3) -> str:
        value = self(mid)
        if value is None:
            return "n/a"
        if isinstance(value, (int, bool)) or float(value).is_integer() and abs(value) < 1e6:
            return str(int(value))
        return latex_number(float(value), sig)


def latex_number(value: float, sig: int = 3) -> str:
    text = f"{value:.{sig}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}\\times 10^{{{int(exp)}}}"
    return text


def _by(runs: Metrics, prefix: str, keys: list[str], suffix: str) -> dict[str, float]:
    return {k: float(runs(f"{prefix}.{k}.{suffix}")) for k in keys}


OPTIMIZERS = ["sgd", "momentum", "adam", "rmsprop"]
REGULARIZERS = ["none", "l1", "l2", "dropout", "early_stopping"]
INITS = ["zero", "normal", "xavier", "he"]
VARIANTS = ["shallow", "reference", "deep", "wide", "no_bn"]
NAMES = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam", "rmsprop": "RMSprop",
         "none": "no regularization", "l1": "L1", "l2": "L2 (weight decay)",
         "dropout": "dropout", "early_stopping": "early stopping", "zero": "zero",
         "normal": "normal $\\mathcal{N}(0, 1)$", "xavier": "Xavier", "he": "He"}


def facts(m: Metrics) -> dict[str, Any]:
    """The comparisons the written answers quote, derived once from the metrics."""
    f_acc = _by(m, "optimizers.fashion", OPTIMIZERS, "test_accuracy")
    r_mse = _by(m, "optimizers.regression", OPTIMIZERS, "val_mse")
    gaps = _by(m, "regularization.fashion", REGULARIZERS, "gap")
    r_gaps = _by(m, "regularization.regression", REGULARIZERS, "gap")
    distinct = {k: m(f"init.regression.{k}.distinct_units") for k in INITS}
    variants = _by(m, "fashion.variants", VARIANTS, "test_accuracy")
    per_class = {k.rsplit(".", 1)[1]: float(v) for k, v in m.runs["fashion"].metrics.items()
                 if k.startswith("fashion.per_class_accuracy.")}
    search: dict[str, dict[str, dict[str, Any]]] = {}
    for key, value in m.runs["search"].metrics.items():
        parts = key.split(".")
        if len(parts) == 5 and parts[3] == "best_params":
            shown = f"{value:.3g}" if isinstance(value, float) else value
            search.setdefault(parts[1], {}).setdefault(parts[2], {})[parts[4]] = shown
    # Relative growth of each layer's weight spread over training (Part 6, histograms).
    spread = {k.split(".")[2]: v[-1] / v[0] for k, v in m.runs["viz"].metrics.items()
              if k.endswith(".std_by_epoch") and v and v[0]}
    # What the worst class is mistaken for most often (its confusion-matrix row).
    classes = m.runs["fashion"].config.get("classes", [])
    worst = min(per_class, key=per_class.get)
    slugs = [c.lower().replace("/", "_").replace("-", "_").replace(" ", "_") for c in classes]
    confused: list[str] = []
    if worst in slugs:
        row = m("fashion.confusion_matrix")[slugs.index(worst)]
        order = sorted((n, j) for j, n in enumerate(row) if j != slugs.index(worst))[::-1]
        confused = [f"{classes[j]} ({n})" for n, j in order[:2]]
    r_val = _by(m, "regularization.regression", REGULARIZERS, "val_mse")
    init_acc = _by(m, "init.fashion", INITS, "test_accuracy")
    return {
        "search": search, "worst_confused": confused,
        "weight_spread": spread, "weight_spread_max": max(spread, key=spread.get),
        "weight_spread_min": min(spread, key=spread.get),
        "reg_regression_val": r_val, "reg_regression_best": min(r_val, key=r_val.get),
        "init_fashion": init_acc,
        "opt_spread": max(f_acc.values()) - min(f_acc.values()),
        "opt_fashion": f_acc, "opt_best": max(f_acc, key=f_acc.get),
        "opt_regression": r_mse, "opt_best_regression": min(r_mse, key=r_mse.get),
        "reg_gaps": gaps, "reg_smallest_gap": min(gaps, key=lambda k: abs(gaps[k])),
        "reg_regression_gaps": r_gaps,
        "init_distinct": distinct,
        "variants": variants, "variant_best": max(variants, key=variants.get),
        "per_class": per_class, "worst_class": min(per_class, key=per_class.get),
        "best_class": max(per_class, key=per_class.get),
    }


def _figures(runs: dict[str, Run], out: Path) -> list[dict[str, Any]]:
    missing = [f"{runs[r].dir / f}" for r, f, _, _ in FIGURES if not (runs[r].dir / f).is_file()]
    if missing:
        raise HandoutError(f"missing figure(s): {', '.join(missing)}: rerun those studies")
    figs = []
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for run, name, caption, wide in FIGURES:
        target = out / "figures" / f"{run}-{name}"
        shutil.copyfile(runs[run].dir / name, target)
        figs.append({"path": f"figures/{run}-{name}", "caption": caption, "wide": wide,
                     "label": f"fig:{run}-{name[:-4]}", "key": f"{run}/{name}"})
    return figs


def render_handout(runs: dict[str, Run], out: Path, commands: list[str]) -> Path:
    """Write out/handout.tex (and out/figures/); returns the .tex path."""
    out.mkdir(parents=True, exist_ok=True)
    m = Metrics(runs)
    parta = [render_template("latex", "solution.tex.j2", q=view(solve(s), latex=True, sig=4),
                             heading="subsection") for s in load_all()]
    figures = _figures(runs, out)
    fig: Callable[[str], dict[str, Any]] = {f["key"]: f for f in figures}.__getitem__
    tex = render_template(
        "latex", "handout.tex.j2", parta=parta, m=m, f=facts(m), fig=fig, figures=figures,
        names=NAMES, optimizers=OPTIMIZERS, regularizers=REGULARIZERS, inits=INITS,
        variant_names=VARIANTS, runs=runs, commands=commands,
        quick=any(r.config.get("quick") for r in runs.values()))
    path = out / "handout.tex"
    path.write_text(tex, encoding="utf-8")
    return path


def build_handout(runs_dir: Path, out: Path, quick: bool = False, pdf: bool = False,
                  data_dir: str | None = None) -> Path:
    """The handout from `runs_dir` (produced quickly first with `quick`); returns .tex or .pdf."""
    commands = ["dlhw handout" + (" --quick" if quick else "") + (" --pdf" if pdf else "")]
    if quick:
        make_quick_runs(runs_dir, data_dir=data_dir)
    else:
        commands = [f"{RUNS[n]} --out {runs_dir / n}" for n in RUNS] + commands
    tex = render_handout(load_runs(runs_dir), out, commands)
    return build_pdf(tex, clean=False) if pdf else tex
