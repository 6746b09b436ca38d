"""Run submitted models (models/<item>.pt2) in the sandbox on the grader's inputs; bring back
their raw outputs, never a score.

Nothing the student controls computes the mark. `core.pt2.validate` reads the archive's zip
bytes and writes a fresh archive of what it validated; `run_models` hands those archives (every
model of a submission, in one sandboxed run: torch is imported once), the inputs (images or grid
points, never labels or targets) and `nets/run_exported.py` to `grader.sandbox`, under the
rubric's time and memory limits; the runner returns raw outputs through /out (size-capped, read
back with `np.load(allow_pickle=False)`). The tasks (grader/kinds/tasks.py) score them, outside.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.pt2 import UnsafeModel, validate
from grader import sandbox
from nets import run_exported

__all__ = ["UnsafeModel", "Job", "Ran", "run_models", "run_model", "inspect_pt2", "unusable"]

HARNESS = Path(run_exported.__file__)  # copied into the sandbox and run there as a script
BATCH = 256  # cache-sized batches: the fastest on CPU (nets/export.py)
MAX_OUTPUTS = 1000  # columns a model may return per input
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


def unusable(ran: Ran, n: int, columns: int, expected: str, noun: str) -> str | None:
    """Why a model's outputs cannot be scored (failed run, wrong width, non-finite), or None;
    `n` is the number of distinct inputs, as the message names it."""
    if not ran.ok:
        return why(ran)
    assert ran.outputs is not None
    if ran.outputs.shape[1] != columns:
        return f"outputs ({n}, {ran.outputs.shape[1]}), expected {expected}"
    if not np.isfinite(ran.outputs).all():
        return f"some {noun} are not finite numbers"
    return None


# A run that never reached the student's models, or that the machine starved of CPU.
FAULTS = ("unavailable", "not-ready", "starved")


def why(ran: Ran) -> str:
    """One line: why a run brought no outputs ("not run: ..." for the grader's faults)."""
    if ran.status in FAULTS:
        return f"not run: {ran.reason}"
    return ran.reason or ran.status
