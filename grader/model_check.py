"""A submitted model (models/<name>.pt2): validated, run in the sandbox on the grader's inputs,
scored here from the outputs it returns.

Nothing the student controls computes the mark. `grader.pt2.validate` reads the archive's zip
bytes and writes a fresh archive of what it validated; `run_models` hands those archives (every
model of a submission, in one sandboxed run: torch is imported once), the inputs (images or grid
points, never labels or targets) and `nets/run_exported.py` to `grader.sandbox`, under the
rubric's time and memory limits; the harness returns raw outputs
through /out (size-capped, read back with `np.load(allow_pickle=False)`), and the grader
computes the accuracy or the MSE. Two tasks:

- fashion: the 10,000 FashionMNIST test images, plus copies of some of them (which ones, and the
  direction of each, drawn from a secret seed: `perturbation_seed`) shifted by `shift_px`
  pixels: a model that memorised the public test set loses far more on the shifted copies than
  on the same images unshifted, much more than the reference CNN does, and is flagged for
  review;
- regression: sin(x) on a dense grid over [-2π, 2π]; the MSE is against the clean sin(x).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import sandbox
from grader.pt2 import UnsafeModel, validate
from grader.rubric import Item
from nets import run_exported
from nets.fashion_files import read_split

__all__ = ["UnsafeModel", "Job", "Measured", "Ran", "run_models", "run_model",
           "measure_all", "measure", "inspect_pt2", "perturbation_seed"]

HARNESS = Path(run_exported.__file__)  # copied into the sandbox and run there as a script
SEED_ENV = "DLHW_PERTURB_SEED"
BATCH = 256  # cache-sized batches: the fastest on CPU (nets/export.py)
MAX_OUTPUTS = 1000  # columns a model may return per input
log = logging.getLogger("dlhw.grader")
inspect_pt2 = validate  # the name the Part C tests and studies use for the grader's check


@dataclass(frozen=True)
class Ran:
    """A model run in the sandbox: its outputs (float32, one row per input) or why not."""

    outputs: np.ndarray | None
    status: str  # ok | refused | failed | timeout | killed | unavailable | not-ready | bad-output
    reason: str = ""
    seconds: float = 0.0  # the whole sandboxed run (every model in it), start-up included
    timing: dict = field(default_factory=dict)  # import_s, load_s, eval_s inside the sandbox

    @property
    def ok(self) -> bool:
        return self.outputs is not None


@dataclass(frozen=True)
class Measured:
    ok: bool
    value: float | None = None  # fashion: test accuracy; regression: MSE against sin(x)
    n: int = 0
    error: str = ""
    review: str = ""  # non-empty: why the model needs an instructor's look
    detail: dict = field(default_factory=dict)
    refused: bool = False  # the archive failed validation (`error` says why): never loaded
    fault: bool = False  # not measured for the grader's reason (no sandbox, no data): no mark


@dataclass(frozen=True)
class Job:
    """One model to run: `name` (a plain word, the rubric's task) names its files inside."""

    name: str
    path: Path
    inputs: np.ndarray


def run_models(jobs: Sequence[Job], *, time_limit_s: float, memory_limit_mb: int,
               threads: int = 1, batch: int = BATCH) -> dict[str, Ran]:
    """Validate every archive (a refused one gets status `refused` and is never loaded), then
    run the rest in ONE sandbox, cheapest inputs first: torch is imported once per submission,
    and a model that hangs or dies keeps the outputs of those that ran before it. The sandbox
    gets `threads` cores for `time_limit_s` of wall clock."""
    ran: dict[str, Ran] = {}
    with tempfile.TemporaryDirectory(prefix="dlhw-model-") as tmp:
        inputs: dict[str, bytes | Path] = {"run_exported.py": HARNESS}
        todo = []
        for job in sorted(jobs, key=lambda j: j.inputs.nbytes):
            clean = Path(tmp) / f"{job.name}.pt2"
            try:
                validate(job.path, clean)
            except UnsafeModel as exc:
                ran[job.name] = Ran(None, "refused", str(exc))
                continue
            arr = io.BytesIO()
            np.save(arr, np.ascontiguousarray(job.inputs), allow_pickle=False)
            inputs |= {f"{job.name}.pt2": clean, f"{job.name}.npy": arr.getvalue()}
            todo.append(job)
        if todo:
            limits = sandbox.Limits(wall_s=time_limit_s,
                                    cpu_s=max(1, math.ceil(time_limit_s * threads)),
                                    memory_mb=memory_limit_mb, file_mb=64, threads=threads)
            out = sandbox.run(sandbox.python_argv("/in/run_exported.py", str(batch),
                                                  str(threads), *(j.name for j in todo)),
                              limits=limits, inputs=inputs)
            if "ready" not in out.files and out.status != "unavailable":
                why = out.reason or " ".join(out.stderr.split())[-200:] or out.status
                out = sandbox.Outcome("not-ready", reason=f"the sandbox did not start the "
                                      f"model runner ({why})")
            ran |= {j.name: _outputs(out, j.name, len(j.inputs)) for j in todo}
    return {j.name: ran[j.name] for j in jobs}


def run_model(path: Path, inputs: np.ndarray, *, time_limit_s: float, memory_limit_mb: int,
              batch: int = BATCH, threads: int = 1) -> Ran:
    """Validate the archive at `path` (UnsafeModel if refused), then run it on `inputs` (uint8
    images, scaled to [0, 1] inside, or float32 values) in the sandbox."""
    ran = run_models([Job("model", path, inputs)], time_limit_s=time_limit_s,
                     memory_limit_mb=memory_limit_mb, threads=threads, batch=batch)["model"]
    if ran.status == "refused":
        raise UnsafeModel(ran.reason)
    return ran


def _outputs(out: sandbox.Outcome, name: str, n: int) -> Ran:
    """The outputs of model `name` from the sandbox's run, read as untrusted data."""
    if f"{name}.npy" not in out.files:
        said = out.files.get(f"{name}.err", b"").decode("utf-8", "replace")
        said = " ".join(said.split())[:300]
        if said:
            return Ran(None, "failed", said, out.seconds)
        if not out.ok:
            return Ran(None, out.status, out.reason, out.seconds)
        return Ran(None, "bad-output", "no outputs came back", out.seconds)
    try:  # plain arrays only, no pickle
        timing = json.loads(out.files.get(f"{name}.json", b"{}"))
        y = np.load(io.BytesIO(out.files[f"{name}.npy"]), allow_pickle=False)
    except (ValueError, OSError, EOFError, RecursionError) as exc:
        return Ran(None, "bad-output", f"no readable outputs ({type(exc).__name__})",
                   out.seconds)
    if y.dtype != np.float32 or y.ndim != 2 or len(y) != n or \
            not 0 < y.shape[1] <= MAX_OUTPUTS:
        return Ran(None, "bad-output", f"outputs {y.dtype} {tuple(y.shape)}, expected float32 "
                   f"({n}, k)", out.seconds)
    return Ran(y, "ok", "", out.seconds, timing if isinstance(timing, dict) else {})


Scorer = Callable[[Ran], Measured]


def measure_all(tasks: Sequence[tuple[Item, Path]], data_dir: Path | None = None,
                threads: int = 1) -> dict[str, Measured]:
    """Every model of a submission (rubric items with `model: fashion|regression`, each with
    its archive), run together in one sandbox and scored here; keyed by item id. The run's
    limits: the sum of the items' wall-clock limits, the largest memory limit."""
    measured: dict[str, Measured] = {}
    jobs: list[Job] = []
    scorers: dict[str, tuple[Item, Scorer]] = {}
    for item, path in tasks:
        prepared = _prepare(item, data_dir)
        if isinstance(prepared, Measured):  # nothing to run it on here
            try:
                validate(path)  # an unsafe archive is refused even where it is not measured
                measured[item.id] = prepared
            except UnsafeModel as exc:
                measured[item.id] = Measured(False, error=str(exc), refused=True)
            continue
        inputs, scorer = prepared
        jobs.append(Job(item.id, path, inputs))
        scorers[item.id] = (item, scorer)
    if jobs:
        chosen = [scorers[j.name][0] for j in jobs]
        ran = run_models(jobs, time_limit_s=sum(i.time_limit_s for i in chosen),
                         memory_limit_mb=max(i.memory_limit_mb for i in chosen),
                         threads=threads)
        for name, (item, scorer) in scorers.items():
            r = ran[name]
            measured[item.id] = Measured(False, error=r.reason, refused=True) \
                if r.status == "refused" else Measured(False, error=_why(r), fault=True) \
                if r.status in FAULTS else scorer(r)
    return {item.id: measured[item.id] for item, _ in tasks}


def measure(item: Item, path: Path, data_dir: Path | None = None, threads: int = 1) -> Measured:
    """Run the model of `item` alone and score its outputs (UnsafeModel if refused)."""
    m = measure_all([(item, path)], data_dir, threads)[item.id]
    if m.refused:
        raise UnsafeModel(m.error)
    return m


def _prepare(item: Item, data_dir: Path | None) -> tuple[np.ndarray, Scorer] | Measured:
    """The grader's inputs for `item`'s task and how to score the outputs, or why not."""
    if item.model == "fashion":
        return _fashion(item, data_dir)
    if item.model == "regression":
        return _regression(item)
    raise ValueError(f"rubric item {item.id}: unknown model task {item.model!r}")


# ---------------------------------------------------------------- fashion


def _fashion(item: Item, data_dir: Path | None) -> tuple[np.ndarray, Scorer] | Measured:
    try:
        x, y = load_test_images(data_dir)
    except (OSError, ValueError) as exc:
        return Measured(False, error=f"not run: FashionMNIST test set unavailable here: {exc}",
                        fault=True)
    seed = perturbation_seed()
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(x), min(item.shifted_images, len(x)), replace=False))
    shifted = shift_images(x[pick], item.shift_px, rng)

    def score(ran: Ran) -> Measured:
        if (error := _unusable(ran, len(x), 10, "logits (N, 10)", "logits")) is not None:
            return Measured(False, error=error)
        assert ran.outputs is not None
        pred = ran.outputs.argmax(1)
        acc = float((pred[:len(x)] == y).mean())
        acc_pick = float((pred[pick] == y[pick]).mean())  # the same images, unshifted
        acc_shift = float((pred[len(x):] == y[pick]).mean())
        drop = acc_pick - acc_shift
        review = ""
        if drop > item.reference_drop + item.max_extra_drop:
            review = (f"accuracy falls from {acc_pick:.4f} to {acc_shift:.4f} on copies of "
                      f"{len(pick)} test images shifted by {item.shift_px} pixel(s), a drop of "
                      f"{drop * 100:.1f} points (reference CNN: {item.reference_drop * 100:.1f})"
                      ": a model that memorised the public test set behaves like this")
        log.info("accuracy %.4f; on %d images %.4f, shifted %.4f (seed %d), sandbox %.2f s",
                 acc, len(pick), acc_pick, acc_shift, seed, ran.seconds)
        return Measured(True, acc, len(x), review=review,
                        detail={"shifted_accuracy": acc_shift, "unshifted_accuracy": acc_pick,
                                "seconds": ran.seconds})

    return np.concatenate([x, shifted]), score


def perturbation_seed() -> int:
    """The secret seed of the shifted test copies: $DLHW_PERTURB_SEED (the instructor's, to
    reproduce a run), else drawn once per grading process. Logged (the `dlhw.grader` logger; a
    drawn seed as a warning, which reaches stderr), never shown to students."""
    global _SEED
    if _SEED is None:
        env = os.environ.get(SEED_ENV, "").strip()
        if env.isdigit():
            _SEED = int(env)
            log.info("perturbation seed %d (from $%s)", _SEED, SEED_ENV)
        else:
            _SEED = secrets.randbits(63)
            # A warning, so that it reaches the grader's stderr even with logging unconfigured:
            # the instructor needs it to reproduce a review flag.
            log.warning("dlhw grade: perturbation seed %d drawn for this run (set %s=%d to "
                        "reproduce it)", _SEED, SEED_ENV, _SEED)
    return _SEED


_SEED: int | None = None


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


@functools.lru_cache(maxsize=2)
def load_test_images(data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FashionMNIST test split: uint8 images (N, 1, 28, 28) and int64 labels (N,), read once
    per grading process (read-only arrays)."""
    x, y = read_split(data_dir, "t10k")
    x, y = x.reshape(-1, 1, 28, 28), y
    x.flags.writeable = y.flags.writeable = False
    return x, y


# ---------------------------------------------------------------- regression


def regression_grid(points: int) -> np.ndarray:
    """The grader's inputs: `points` evenly spaced x in [-2π, 2π], float32 (N, 1)."""
    return np.linspace(-2 * np.pi, 2 * np.pi, points, dtype=np.float64).astype(
        np.float32).reshape(-1, 1)


def _regression(item: Item) -> tuple[np.ndarray, Scorer]:
    x = regression_grid(item.grid_points)

    def score(ran: Ran) -> Measured:
        if (error := _unusable(ran, len(x), 1, "(N, 1)", "outputs")) is not None:
            return Measured(False, error=error)
        assert ran.outputs is not None
        truth = np.sin(x[:, 0].astype(np.float64))
        mse = float(np.mean((ran.outputs[:, 0].astype(np.float64) - truth) ** 2))
        return Measured(True, mse, len(x), detail={"seconds": ran.seconds})

    return x, score


def _unusable(ran: Ran, n: int, columns: int, expected: str, noun: str) -> str | None:
    """Why a model's outputs cannot be scored (failed run, wrong width, non-finite), or None;
    `n` is the number of distinct inputs, as the message names it."""
    if not ran.ok:
        return _why(ran)
    assert ran.outputs is not None
    if ran.outputs.shape[1] != columns:
        return f"outputs ({n}, {ran.outputs.shape[1]}), expected {expected}"
    if not np.isfinite(ran.outputs).all():
        return f"some {noun} are not finite numbers"
    return None


FAULTS = ("unavailable", "not-ready")  # a run that never reached the student's models


def _why(ran: Ran) -> str:
    if ran.status in FAULTS:
        return f"not run: {ran.reason}"
    return ran.reason or ran.status
