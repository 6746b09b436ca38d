"""Model tasks: what a submitted model is run on and how its outputs are scored, declared in the
rubric (`task:` of a model item) and built from these task types:

- `classification`: a data set's test images (uint8 (N, 1, 28, 28), scaled to [0, 1] by the
  runner), logits (N, classes) back, scored by accuracy; with `perturbation`, each test image is
  shown once, a `share` of them (drawn from the run's secret seed) moved by a sub-pixel shift and
  a small rotation, never beside their clean twin (grader/memorisation.py): a model that looks
  the public test set up loses far more on them than the reference CNN does, goes to review and
  is marked from the perturbed images;
- `function`: evenly spaced x over `interval` (float32 (N, 1)), f(x) (N, 1) back, scored by the
  MSE against the clean function; with `network`, the model must be a trained network: at least
  `min_parameters` learned parameters (counted in the validated archive) that its output depends
  on (a copy of the archive with its weights perturbed, run beside it, must move the outputs by
  `min_change`), else it earns nothing and goes to review with the evidence.

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
from grader.memorisation import Split, draw_split, jitter_images, judge
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
    void: str = ""  # non-empty: why the value earns nothing (not a trained network), for review
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
    probe: tuple[float, int] | None = None  # (scale, seed): run a weight-perturbed copy too
    split: Split | None = None  # which inputs are perturbed (the grader's secret)


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


@functools.lru_cache(maxsize=2)
def _shown(data: str, data_dir: Path | None, seed: int, p: Perturbation
           ) -> tuple[np.ndarray, Split]:
    """The test images as the run shows them, in the secret order, some perturbed, and which:
    the same for every submission of a run (one seed), so drawn once per grading process
    (0.1 s of a worker's CPU a submission before). Read-only, as the test set is."""
    x, _ = DATASETS[data](data_dir)
    rng = np.random.default_rng(seed)
    split = draw_split(len(x), p.share, rng)
    shown = x[split.index]  # a copy, in the secret order
    shown[split.perturbed] = jitter_images(shown[split.perturbed], rng, p.shift_px,
                                           p.rotate_deg)
    for a in (shown, split.index, split.perturbed):
        a.flags.writeable = False
    return shown, split


@dataclass(frozen=True)
class Perturbation:
    share: float  # of the test images shown perturbed (their clean twins are not shown)
    shift_px: tuple[float, float]  # the shift's length, uniform in this range, any direction
    rotate_deg: float  # rotation, uniform in ±this
    reference_drop: float  # the reference CNN's median drop (shown in feedback)
    max_drop: float  # clean minus perturbed accuracy beyond this: review, marked from perturbed


@dataclass(frozen=True)
class Network:
    """What makes a model a trained network (a `function` task's `network:`)."""

    min_parameters: int
    perturb: float  # each weight tensor gets Gaussian noise of this times its RMS
    min_change: float  # the outputs' RMS change under that noise must reach this


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
        if p is None:
            def plain(outputs: np.ndarray, seconds: float) -> Measured:
                acc = float((outputs.argmax(1) == y).mean())
                return Measured(True, acc, len(x), detail={"seconds": seconds})
            return Prepared(x, len(x), plain)
        shown, split = _shown(self.data, data_dir, seed, p)

        def score(outputs: np.ndarray, seconds: float) -> Measured:
            v = judge(outputs.argmax(1), y, split, p.max_drop)
            review = v.evidence(f"shifted by {p.shift_px[0]:g}-{p.shift_px[1]:g} pixels and "
                                f"rotated by up to {p.rotate_deg:g} degrees",
                                f"the reference CNN loses {p.reference_drop * 100:.1f}")
            log.info("accuracy %.4f; clean %.4f on %d, perturbed %.4f on %d, sandbox %.2f s",
                     v.overall, v.clean, v.n_clean, v.perturbed, v.n_perturbed, seconds)
            return Measured(True, v.marked, len(x), review=review,
                            detail={**v.detail(), "seconds": seconds})

        return Prepared(shown, len(x), score, split=split)

    def describe(self, m: Measured) -> str:
        if m.detail and "perturbed_accuracy" in m.detail:
            return (f"measured test accuracy {m.value:.4f} on {m.n} images (each shown once, "
                    f"some shifted and rotated: {m.detail['clean_accuracy']:.4f} on the exact "
                    f"ones, {m.detail['perturbed_accuracy']:.4f} on the others)")
        return f"measured test accuracy {m.value:.4f} on {m.n} images"


@dataclass(frozen=True)
class Function(Task):
    function: str
    interval: tuple[float, float]
    interval_text: str  # as the rubric writes it, e.g. [-2π, 2π]
    points: int
    network: Network | None = None
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

        net = self.network
        return Prepared(x, len(x), score, None if net is None else (net.perturb, seed))

    def not_a_network(self, parameters: int, outputs: np.ndarray,
                      probed: np.ndarray | None) -> str:
        """Why the model is not a trained network (`network:`), with the evidence, or ''.
        `parameters` come from the validated archive; `probed` are the outputs of its copy with
        perturbed weights (None when that copy failed: its failure shows the dependence)."""
        net = self.network
        if net is None:
            return ""
        if parameters < net.min_parameters:
            return (f"{parameters} learned parameter{'s' * (parameters != 1)} in the archive, "
                    f"fewer than {net.min_parameters}: not a trained network (a closed form "
                    "earns nothing)")
        if probed is None or probed.shape != outputs.shape:
            return ""
        moved = float(np.sqrt(np.mean((probed.astype(np.float64) - outputs) ** 2)))
        if not np.isfinite(moved) or moved >= net.min_change:
            return ""
        return (f"output unchanged when its {parameters} parameters are perturbed (noise of "
                f"{net.perturb:g} times each weight tensor's RMS moved it by {moved:.2g} RMS, "
                f"a trained network's by at least {net.min_change:g}): the output does not "
                "depend on learned parameters")

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
                                          "interval", "points", "network"})
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
        f = r.mapping(node, where, {"type", "function", "interval", "points"}, {"network"})
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
                        int(r.number(f["points"], f"{where}.points", 10, 1_000_000)),
                        _network(r, f["network"], f"{where}.network") if "network" in f
                        else None)
    raise r.fail(m["type"], f"{where}.type", f"expected one of {', '.join(TASK_TYPES)}")


def _perturbation(r: NodeReader, node: yaml.Node, where: str) -> Perturbation:
    p = r.mapping(node, where, {"share", "shift_px", "rotate_deg", "reference_drop",
                                "max_drop"}, set())
    shift = r.seq(p["shift_px"], f"{where}.shift_px")
    if len(shift) != 2:
        raise r.fail(p["shift_px"], f"{where}.shift_px", "expected [shortest, longest]")
    lo, hi = (float(r.number(n, f"{where}.shift_px", 0, 4)) for n in shift)
    if not 0 < lo <= hi:
        raise r.fail(p["shift_px"], f"{where}.shift_px", "expected 0 < shortest <= longest")
    return Perturbation(
        share=float(r.number(p["share"], f"{where}.share", 0, 1)),
        shift_px=(lo, hi),
        rotate_deg=float(r.number(p["rotate_deg"], f"{where}.rotate_deg", 0, 30)),
        reference_drop=float(r.number(p["reference_drop"], f"{where}.reference_drop", 0, 1)),
        max_drop=float(r.number(p["max_drop"], f"{where}.max_drop", 0, 1)))


def _network(r: NodeReader, node: yaml.Node, where: str) -> Network:
    n = r.mapping(node, where, {"min_parameters", "perturb", "min_change"}, set())
    return Network(
        min_parameters=int(r.number(n["min_parameters"], f"{where}.min_parameters", 1, 10**9)),
        perturb=float(r.number(n["perturb"], f"{where}.perturb", 0, 10)),
        min_change=float(r.number(n["min_change"], f"{where}.min_change", 0, 100)))


TASK_TYPES = {"classification": Classification, "function": Function}
