"""The runs the handout reads (Part B's and every Part C study's), and a metric reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import DlhwError
from nets.studies import STUDIES, Figure

# Each run folder the handout reads, with the command that produces it.
RUNS: dict[str, str] = {"partb": "dlhw run partb", **{s.name: s.command for s in STUDIES}}

# Part B's figures the handout shows (Part C's are declared by their studies).
PARTB_FIGURES: tuple[Figure, ...] = (
    Figure("perceptron_xor.png", "The perceptron on XOR: no line separates the classes, so "
           "the learning rule never converges.", handout=True),
    Figure("digits_loss.png", "Part B: training loss of softmax regression and the MLP on the "
           "digits.", handout=True),
    Figure("digits_confusion_mlp.png", "Part B: confusion matrix of the NumPy MLP on the "
           "digits test split.", handout=True),
    Figure("softmax_weights.png", "Part B: softmax-regression weights of each class as "
           "$8\\times 8$ images.", handout=True),
)
# (run, figure) in the order the handout shows them.
FIGURES: tuple[tuple[str, Figure], ...] = (
    *(("partb", f) for f in PARTB_FIGURES),
    *((s.name, f) for s in STUDIES for f in s.figures if f.handout),
)


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
