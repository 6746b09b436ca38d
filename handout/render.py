"""`dlhw handout`: the full solution handout, in the format the homework asks of its report.

One IEEEtran document (two columns, 10pt, Times): the ten Part A worked solutions, rendered by
the same template as `dlhw solve --latex`; the Part B and Part C results; and a written answer to
every question of Parts 1-7 whose numbers come from the runs in `runs/`. The prose lives in
templates/handout.tex.j2; this module derives the comparisons the prose quotes (the best
optimizer, the widest generalization gap, ...) from the runs `handout.runs` loads, and builds
the PDF.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.latex import build_pdf
from handout.runs import FIGURES, RUNS, HandoutError, Metrics, Run, load_runs
from nets.models import ARCHITECTURES
from nets.studies.common import slug
from nets.studies.init import SCHEMES
from nets.studies.optimizers import OPTIMIZER_NAMES
from nets.studies.regularization import METHODS
from solver.engine import solve
from solver.present import view
from solver.render import render_template
from solver.spec import load_all


def _by(runs: Metrics, prefix: str, keys: list[str], suffix: str) -> dict[str, float]:
    return {k: float(runs(f"{prefix}.{k}.{suffix}")) for k in keys}


OPTIMIZERS = list(OPTIMIZER_NAMES)
REGULARIZERS = list(METHODS)
INITS = list(SCHEMES)
ARCHS = list(ARCHITECTURES)
NAMES = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam", "rmsprop": "RMSprop",
         "none": "no regularization", "l1": "L1", "l2": "L2 (weight decay)",
         "dropout": "dropout", "early_stopping": "early stopping", "zero": "zero",
         "normal": "normal", "xavier": "Xavier", "he": "He"}


def names(runs: dict[str, Run]) -> dict[str, str]:
    """NAMES, with the normal initialization's standard deviation as the init run used it."""
    std = runs["init"].config.get("normal_std")
    return {**NAMES, "normal": f"normal $\\mathcal{{N}}(0, {std}^2)$" if std else "normal"}


def facts(m: Metrics) -> dict[str, Any]:
    """The comparisons the written answers quote, derived once from the metrics."""
    f_acc = _by(m, "optimizers.fashion", OPTIMIZERS, "test_accuracy")
    r_mse = _by(m, "optimizers.regression", OPTIMIZERS, "val_mse")
    gaps = _by(m, "regularization.fashion", REGULARIZERS, "gap")
    r_gaps = _by(m, "regularization.regression", REGULARIZERS, "gap")
    distinct = {k: m(f"init.regression.{k}.distinct_units") for k in INITS}
    variants = _by(m, "fashion.variants", ARCHS, "test_accuracy")
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
    slugs = [slug(c) for c in classes]  # as the fashion study names its per-class metrics
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
    missing = [f"{runs[r].dir / f.file}" for r, f in FIGURES
               if not (runs[r].dir / f.file).is_file()]
    if missing:
        raise HandoutError(f"missing figure(s): {', '.join(missing)}: rerun those studies")
    figs = []
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for run, f in FIGURES:
        target = out / "figures" / f"{run}-{f.file}"
        shutil.copyfile(runs[run].dir / f.file, target)
        figs.append({"path": f"figures/{run}-{f.file}", "caption": f.caption, "wide": f.wide,
                     "label": f"fig:{run}-{f.file[:-4]}", "key": f"{run}/{f.file}"})
    return figs


def render_handout(runs: dict[str, Run], out: Path, commands: list[str]) -> Path:
    """Write out/handout.tex (and out/figures/); returns the .tex path."""
    out.mkdir(parents=True, exist_ok=True)
    m = Metrics(runs)
    parta = [render_template("latex", "solution.tex.j2", q=view(solve(s), latex=True, sigfigs=4),
                             heading="subsection") for s in load_all()]
    figures = _figures(runs, out)
    fig: Callable[[str], dict[str, Any]] = {f["key"]: f for f in figures}.__getitem__
    tex = render_template(
        "latex", "handout.tex.j2", parta=parta, m=m, f=facts(m), fig=fig, figures=figures,
        names=names(runs), optimizers=OPTIMIZERS, regularizers=REGULARIZERS, inits=INITS,
        variant_names=ARCHS, runs=runs, commands=commands,
        quick=any(r.config.get("quick") for r in runs.values()))
    path = out / "handout.tex"
    path.write_text(tex, encoding="utf-8")
    return path


def build_handout(runs_dir: Path, out: Path, quick: bool = False, pdf: bool = False) -> Path:
    """The handout from the runs in `runs_dir`; returns the .tex or the .pdf.

    `quick`: the runs were made by `dlhw handout --quick` (the appendix names that command).
    """
    commands = ["dlhw handout" + (" --quick" if quick else "") + (" --pdf" if pdf else "")]
    if not quick:
        commands = [f"{RUNS[n]} --out {runs_dir / n}" for n in RUNS] + commands
    tex = render_handout(load_runs(runs_dir), out, commands)
    return build_pdf(tex, clean=False) if pdf else tex
