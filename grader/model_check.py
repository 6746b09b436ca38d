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
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.pt2 import ROOT, WEIGHTS_CONFIG, UnsafeModel, validate
from grader import sandbox
from nets import run_exported

__all__ = ["UnsafeModel", "Job", "Ran", "run_models", "run_model", "inspect_pt2", "unusable"]

HARNESS = Path(run_exported.__file__)  # copied into the sandbox and run there as a script
# Copied beside it (not imported here: it imports torch): runs plain programs node by node.
INTERPRETER = HARNESS.with_name("pt2_interpret.py")
PRELOAD = ("numpy", "torch")  # what HARNESS imports: once per warm sandbox (grader.warm)
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
    parameters: int = 0  # weight elements in the validated archive (never the student's word)
    probed: np.ndarray | None = None  # outputs of the copy with perturbed weights (Job.probe)

    @property
    def ok(self) -> bool:
        return self.outputs is not None


@dataclass(frozen=True)
class Job:
    """One model to run: `name` (a plain word, the rubric's task) names its files inside."""

    name: str
    path: Path
    inputs: np.ndarray
    probe: tuple[float, int] | None = None  # (scale, seed): also run a weight-perturbed copy


def run_models(jobs: Sequence[Job], *, time_limit_s: float, memory_limit_mb: int,
               threads: int = 1, batch: int = BATCH) -> dict[str, Ran]:
    """Validate every archive (a refused one gets status `refused` and is never loaded), then
    run the rest in ONE sandbox, cheapest inputs first: torch is imported once per submission,
    and a model that hangs or dies keeps the outputs of those that ran before it. The sandbox
    gets `threads` cores for `time_limit_s` of wall clock."""
    ran: dict[str, Ran] = {}
    with tempfile.TemporaryDirectory(prefix="dlhw-model-") as tmp:
        inputs: dict[str, bytes | Path] = {"run_exported.py": HARNESS,
                                           "pt2_interpret.py": INTERPRETER}
        todo, names, params = [], [], {}
        for job in sorted(jobs, key=lambda j: j.inputs.nbytes):
            clean = Path(tmp) / f"{job.name}.pt2"
            try:
                params[job.name] = validate(job.path, clean).parameters
            except UnsafeModel as exc:
                ran[job.name] = Ran(None, "refused", str(exc))
                continue
            arr = io.BytesIO()
            np.save(arr, np.ascontiguousarray(job.inputs), allow_pickle=False)
            inputs |= {f"{job.name}.pt2": clean, f"{job.name}.npy": arr.getvalue()}
            todo.append(job)
            names.append(job.name)
            if job.probe is not None:  # after its model: a probe that hangs costs it nothing
                probe = Path(tmp) / f"{job.name}_probe.pt2"
                perturb_weights(clean, probe, *job.probe)
                inputs |= {probe.name: probe, f"{job.name}_probe.npy": arr.getvalue()}
                names.append(f"{job.name}_probe")
        if todo:
            out = _sandboxed(names, inputs, time_limit_s, memory_limit_mb, threads, batch)
            for j in todo:
                r = _outputs(out, j.name, len(j.inputs))
                probed = _outputs(out, f"{j.name}_probe", len(j.inputs)) if j.probe else None
                ran[j.name] = replace(r, parameters=params[j.name],
                                      probed=probed.outputs if probed else None)
    return {j.name: ran[j.name] for j in jobs}


def _sandboxed(names: list[str], inputs: dict[str, bytes | Path], time_limit_s: float,
               memory_limit_mb: int, threads: int, batch: int) -> sandbox.Outcome:
    limits = sandbox.Limits(wall_s=time_limit_s, cpu_s=max(1, math.ceil(time_limit_s * threads)),
                            memory_mb=memory_limit_mb, file_mb=64, threads=threads)
    out = sandbox.run(sandbox.python_argv("/in/run_exported.py", str(batch), str(threads),
                                          *names), limits=limits, inputs=inputs, warm=PRELOAD)
    if "ready" not in out.files and out.status != "unavailable":
        why = out.reason or " ".join(out.stderr.split())[-200:] or out.status
        out = sandbox.Outcome("not-ready", reason=f"the sandbox did not start the model runner "
                              f"({why})")
    return out


# schema.ScalarType codes of the floating-point dtypes (13: bfloat16, kept as its top 16 bits)
_FLOATS = {6: np.float16, 7: np.float32, 8: np.float64, 13: np.uint16}


def perturb_weights(src: Path, dst: Path, scale: float, seed: int) -> None:
    """A copy of the archive `validate` wrote at `src` whose floating-point weight files each
    get Gaussian noise of `scale` times their RMS (the grader's own archive: read plainly).
    A trained network's outputs move; a closed form's, with parameters it ignores, do not."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        config = json.loads(zin.read(f"{ROOT}/{WEIGHTS_CONFIG}"))["config"]
        dtypes = {f"{ROOT}/data/weights/{e['path_name']}": e["tensor_meta"]["dtype"]
                  for e in config.values()}
        for info in zin.infolist():
            data = zin.read(info)
            code = dtypes.get(info.filename)
            if code in _FLOATS and data:
                data = _noisy(data, code, scale, rng)
            zout.writestr(info.filename, data)


def _noisy(data: bytes, code: int, scale: float, rng: np.random.Generator) -> bytes:
    raw = np.frombuffer(data, dtype=_FLOATS[code])
    w = (raw.astype(np.uint32) << 16).view(np.float32) if code == 13 else raw.astype(np.float64)
    w = w.astype(np.float64)
    finite = np.isfinite(w)
    rms = float(np.sqrt(np.mean(w[finite] ** 2))) if finite.any() else 0.0
    w = w + scale * rms * rng.standard_normal(w.shape)
    if code == 13:
        return (w.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return w.astype(_FLOATS[code]).tobytes()


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
