"""Model tasks: what a submitted model is run on and how its outputs are scored, declared in the
rubric (`task:` of a model item) and built from these task types:

- `classification`: a data set's test images (uint8 (N, 1, 28, 28), scaled to [0, 1] by the
  runner), logits (N, classes) back, scored by accuracy; with `perturbation`, copies of some
  test images (which ones, and each one's direction, drawn from the run's secret seed) shifted
  by `shift_px` pixels: a model that memorised the public test set loses far more on them than
  on the same images unshifted, much more than the reference CNN does, and goes to review;
- `function`: evenly spaced x over `interval` (float32 (N, 1)), f(x) (N, 1) back, scored by the
  MSE against the clean function.

The grader computes every score here, outside the sandbox: the model only ever sees inputs.
A new task type is a class here and a line in TASK_TYPES; a new data set or function a line in
DATASETS or FUNCTIONS.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from core.yamlnodes import NodeReader
from nets.fashion_files import read_split

log = logging.getLogger("dlhw.grader")


@dataclass(frozen=True)
class Measured:
    """A model's score on its task, or why there is none. `fault`: not measured for the
    grader's reason (no sandbox, no data), which is no mark against the student."""

    ok: bool
    value: float | None = None  # accuracy, or MSE
    n: int = 0
    error: str = ""
    review: str = ""  # non-empty: why the model needs an instructor's look
    detail: dict[str, Any] | None = None
    refused: bool = False  # the archive failed validation (`error` says why): never loaded
    fault: bool = False


Scorer = Callable[[np.ndarray, float], Measured]  # (outputs, seconds) → Measured


@dataclass(frozen=True)
class Prepared:
    """A task's inputs for one model (`n` of them its own, the rest perturbed copies) and how
    its outputs are scored."""

    inputs: np.ndarray
    n: int
    score: Scorer


@functools.lru_cache(maxsize=2)
def _fashion_test(data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """FashionMNIST test split: uint8 images (N, 1, 28, 28) and int64 labels (N,), read once
    per grading process (read-only arrays)."""
    x, y = read_split(data_dir, "t10k")
    x = x.reshape(-1, 1, 28, 28)
    x.flags.writeable = y.flags.writeable = False
    return x, y


DATASETS: dict[str, Callable[[Path | None], tuple[np.ndarray, np.ndarray]]] = {
    "fashion-mnist": _fashion_test}
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sin": np.sin, "cos": np.cos,
                                                             "tanh": np.tanh}


@dataclass(frozen=True)
class Perturbation:
    shift_px: int
    images: int  # how many test images get a shifted copy (drawn with the secret seed)
    reference_drop: float  # the reference CNN's accuracy drop on them
    max_extra_drop: float  # a drop beyond reference_drop + this: review


@dataclass(frozen=True)
class Task:
    """A task type: its rubric fields, its inputs and its scorer."""

    type: ClassVar[str]
    output: ClassVar[str]  # the outputs' shape, as feedback and dlhw check name it

    def columns(self) -> int:
        raise NotImplementedError

    def needs(self) -> set[str]:
        return set()

    def check_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """A few random inputs of the right shape (dlhw check: never the grader's)."""
        raise NotImplementedError

    def prepare(self, data_dir: Path | None, seed: int) -> Prepared | Measured:
        """The grader's inputs and how to score the outputs, or why not (a fault)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Classification(Task):
    data: str
    classes: int
    perturbation: Perturbation | None = None
    type: ClassVar[str] = "classification"
    output: ClassVar[str] = "logits"

    def columns(self) -> int:
        return self.classes

    def needs(self) -> set[str]:
        return {"fashion"}

    def check_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)

    def prepare(self, data_dir: Path | None, seed: int) -> Prepared | Measured:
        try:
            x, y = DATASETS[self.data](data_dir)
        except (OSError, ValueError) as exc:
            return Measured(False, error=f"not run: FashionMNIST test set unavailable here: "
                            f"{exc}", fault=True)
        p = self.perturbation
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(x), min(p.images, len(x)), replace=False)) if p else \
            np.zeros(0, dtype=np.int64)
        shifted = shift_images(x[pick], p.shift_px, rng) if p else x[:0]

        def score(outputs: np.ndarray, seconds: float) -> Measured:
            pred = outputs.argmax(1)
            acc = float((pred[:len(x)] == y).mean())
            detail: dict[str, Any] = {"seconds": seconds}
            review = ""
            if p is not None:
                acc_pick = float((pred[pick] == y[pick]).mean())  # the same images, unshifted
                acc_shift = float((pred[len(x):] == y[pick]).mean())
                review = _memorised(p, len(pick), acc_pick, acc_shift)
                detail = {"shifted_accuracy": acc_shift, "unshifted_accuracy": acc_pick,
                          "seconds": seconds}
                log.info("accuracy %.4f; on %d images %.4f, shifted %.4f, sandbox %.2f s",
                         acc, len(pick), acc_pick, acc_shift, seconds)
            return Measured(True, acc, len(x), review=review, detail=detail)

        return Prepared(np.concatenate([x, shifted]), len(x), score)

    def describe(self, m: Measured) -> str:
        return f"measured test accuracy {m.value:.4f} on {m.n} images"


def _memorised(p: Perturbation, n: int, acc_pick: float, acc_shift: float) -> str:
    drop = acc_pick - acc_shift
    if drop <= p.reference_drop + p.max_extra_drop:
        return ""
    return (f"accuracy falls from {acc_pick:.4f} to {acc_shift:.4f} on copies of {n} test "
            f"images shifted by {p.shift_px} pixel(s), a drop of {drop * 100:.1f} points "
            f"(reference CNN: {p.reference_drop * 100:.1f}): a model that memorised the public "
            "test set behaves like this")


def shift_images(x: np.ndarray, px: int, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by `px` pixels in one of the 8 directions (drawn from `rng`), the
    uncovered border filled with background (0): labels are unchanged."""
    dirs = np.array([(dy, dx) for dy in (-px, 0, px) for dx in (-px, 0, px) if dy or dx])
    pick = dirs[rng.integers(0, len(dirs), len(x))]
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    for dy, dx in dirs:
        sel = np.flatnonzero((pick[:, 0] == dy) & (pick[:, 1] == dx))
        src = x[sel][..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        out[sel, ..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = src
    return out


@dataclass(frozen=True)
class Function(Task):
    function: str
    interval: tuple[float, float]
    interval_text: str  # as the rubric writes it, e.g. [-2π, 2π]
    points: int
    type: ClassVar[str] = "function"
    output: ClassVar[str] = "outputs"

    def columns(self) -> int:
        return 1

    def grid(self) -> np.ndarray:
        """The grader's inputs: `points` evenly spaced x over the interval, float32 (N, 1)."""
        lo, hi = self.interval
        return np.linspace(lo, hi, self.points, dtype=np.float64).astype(
            np.float32).reshape(-1, 1)

    def check_inputs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(*self.interval, (n, 1)).astype(np.float32)

    def prepare(self, data_dir: Path | None, seed: int) -> Prepared | Measured:
        x = self.grid()

        def score(outputs: np.ndarray, seconds: float) -> Measured:
            truth = FUNCTIONS[self.function](x[:, 0].astype(np.float64))
            mse = float(np.mean((outputs[:, 0].astype(np.float64) - truth) ** 2))
            return Measured(True, mse, len(x), detail={"seconds": seconds})

        return Prepared(x, len(x), score)

    def describe(self, m: Measured) -> str:
        from core.numfmt import fmt

        return (f"measured MSE against {self.function}(x) {fmt(m.value or 0.0, 3)} on {m.n} "
                f"points of {self.interval_text}")


_PI = re.compile(r"(-?\d*(?:\.\d+)?)\s*(?:π|pi)")


def _endpoint(r: NodeReader, node: yaml.Node, where: str) -> tuple[float, str]:
    """A number, or a multiple of π written `2π`, `-2pi`: its value and its text."""
    if isinstance(node, yaml.ScalarNode) and (m := _PI.fullmatch(node.value.strip())):
        k = m[1]
        return (float(k) if k not in ("", "-") else float(f"{k}1")) * math.pi, node.value.strip()
    value = float(r.number(node, where))
    return value, f"{value:g}"


def read_task(r: NodeReader, node: yaml.Node, where: str) -> Task:
    """A model item's `task:` mapping (file:line: field: expectation on error)."""
    m = r.mapping(node, where, {"type"}, {"data", "classes", "perturbation", "function",
                                          "interval", "points"})
    kind = r.string(m["type"], f"{where}.type")
    if kind == "classification":
        c = r.mapping(node, where, {"type", "data", "classes"}, {"perturbation"})
        data = r.string(c["data"], f"{where}.data")
        if data not in DATASETS:
            raise r.fail(c["data"], f"{where}.data", f"expected one of {', '.join(DATASETS)}")
        return Classification(data, int(r.number(c["classes"], f"{where}.classes", 2, 1000)),
                              _perturbation(r, c["perturbation"], f"{where}.perturbation")
                              if "perturbation" in c else None)
    if kind == "function":
        f = r.mapping(node, where, {"type", "function", "interval", "points"}, set())
        name = r.string(f["function"], f"{where}.function")
        if name not in FUNCTIONS:
            raise r.fail(f["function"], f"{where}.function",
                         f"expected one of {', '.join(FUNCTIONS)}")
        ends = r.seq(f["interval"], f"{where}.interval")
        if len(ends) != 2:
            raise r.fail(f["interval"], f"{where}.interval", "expected [low, high]")
        (lo, lo_t), (hi, hi_t) = (_endpoint(r, n, f"{where}.interval") for n in ends)
        if not lo < hi:
            raise r.fail(f["interval"], f"{where}.interval", "expected low < high")
        return Function(name, (lo, hi), f"[{lo_t}, {hi_t}]",
                        int(r.number(f["points"], f"{where}.points", 10, 1_000_000)))
    raise r.fail(m["type"], f"{where}.type", f"expected one of {', '.join(TASK_TYPES)}")


def _perturbation(r: NodeReader, node: yaml.Node, where: str) -> Perturbation:
    p = r.mapping(node, where, {"shift_px", "reference_drop", "max_extra_drop"}, {"images"})
    return Perturbation(
        shift_px=int(r.number(p["shift_px"], f"{where}.shift_px", 1, 4)),
        images=int(r.number(p["images"], f"{where}.images", 100, 1_000_000))
        if "images" in p else 10_000,
        reference_drop=float(r.number(p["reference_drop"], f"{where}.reference_drop", 0, 1)),
        max_extra_drop=float(r.number(p["max_extra_drop"], f"{where}.max_extra_drop", 0, 1)))


TASK_TYPES = {"classification": Classification, "function": Function}
