"""Where and how Part C trains: threads, device, numeric precision and memory layout.

One policy, used by the CLI, the benchmarks and the test suite:

- Threads: a process gets the cores it may run on, divided among the pytest-xdist workers that
  share them (so `pytest -n 2` on 2 cores runs one torch thread per worker); a search worker
  gets one thread (`nets.search`).
- Device: ``auto`` is CUDA when torch sees a GPU, else the CPU; ``cuda`` without one is an error.
- Precision and layout: measured, not assumed. bfloat16 autocast is 1.5x faster per training
  step on a CPU with bf16 units (avx512_bf16, amx_bf16) and 13.5x *slower* where it is emulated
  (measured on an AVX2-only EPYC: 2.76 s vs 0.205 s per step of the reference CNN). So `measure`
  times a few real training steps per candidate (fp32 or bf16, channels-last or not) and `pick`
  takes the fastest; bf16 must win by a margin, because fp32 is the exact recipe and a tie is
  not worth the rounding.

- Compiling: torch.compile where it pays within the run. On a GPU, CUDA graphs for runs long
  enough to pay their compile time back twice (`worth_compiling`); on a CPU, inductor's C++
  backend is timed in runs long enough to pay for trying (`compile_choice`), and kept only
  where its steps are faster (`compiled_wins`).
- Time: `epochs_that_fit` a budget at the measured speed.

`measure`, `pick` and the compile choices are pure decision logic over timings, so tests drive
them with a fake clock; `nets.steps` supplies the real one (steps of a copy of the actual model).
Nothing here imports torch at module level: conftest and the CLI set the thread environment
before torch is loaded.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from core.errors import DlhwError

PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
# Instruction-set flags (lscpu / /proc/cpuinfo) under which bf16 matmuls run in hardware:
# x86 AVX-512 BF16 and AMX, and ARMv8.6's BF16 extension.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# bf16 must be this much faster than the best fp32 candidate to be chosen (see module doc).
BF16_MARGIN = 0.10
# A candidate whose first timed step is this many times the best one's is not timed further:
# emulated bf16 costs seconds per step, and the probe must stay a fraction of the run.
DROP_RATIO = 2.0
# Probe only runs at least this many times longer than the probe (see `worth_probing`).
PROBE_PAYBACK = 4
# torch.compile with CUDA graphs (mode "reduce-overhead"), measured by bench/cuda_step.py on an
# H200 (torch 2.11): the reference CNN's fp32 step went from 5.2 to 2.5 ms (2.07x; the default
# mode, without graphs, gained 1.02x), after 16 s of compilation. Rounded against the run:
# a GPU run is compiled only where even these costs are paid back twice (`worth_compiling`).
COMPILE_MODE = "reduce-overhead"
COMPILE_SECONDS = 20.0
COMPILE_SPEEDUP = 2.0
# On a CPU, inductor's C++ backend is not assumed to pay: a run whose eager steps take this
# long times it (nets.steps.Stepper). Compiling the reference CNN's training step took 25-64 s
# on 2 EPYC cores with a cold cache (load 1 to 8), 2-3 s with inductor's cache warm; even a 20%
# faster step pays back twice the cold compile only in a run of 300 s or more.
CPU_COMPILE_PROBE_SECONDS = 300.0
# Compiled steps must be this much faster than eager ones to be kept (timing noise).
COMPILE_MARGIN = 0.05
# A training epoch's step costs about what the probe times (bench/partc.py's "loop/probe step":
# 0.96-1.04 on the AVX-512 EPYC) plus batch gathering and the scheduler; 1.1 leaves a margin so
# that a --time-budget run ends inside its budget.
STEP_OVERHEAD = 1.1
# After the first epoch the budget is re-planned from that epoch's own time, which includes
# everything but the load changing later: a smaller margin.
REPLAN_MARGIN = 1.03


class DeviceError(DlhwError, RuntimeError):
    """A device was asked for that this machine does not have."""


# ------------------------------------------------------------------ threads


def cores() -> int:
    """The cores this process may run on (not the host's count: containers pin fewer)."""
    return len(os.sched_getaffinity(0))


def thread_count(workers: int | None = None) -> int:
    """Torch threads for one process: the cores divided among `workers` processes sharing them.

    `workers` defaults to the pytest-xdist worker count (1 outside pytest -n): two workers on two
    cores then get one thread each instead of four threads fighting over two cores. Without
    `workers`, an OMP_NUM_THREADS already in the environment wins (the user's, or the test
    suite's one thread per worker, set through `prepare_env`).
    """
    if workers is None:
        if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]):
            return int(os.environ["OMP_NUM_THREADS"])
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    return max(1, cores() // max(1, workers))


def prepare_env(threads: int | None = None) -> int:
    """Thread settings that must be in the environment before torch (libgomp) is loaded.

    OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning; on a shared 2-core
    machine spinning threads made a training step 3x slower whenever another process held a
    core (measured: 993 ms vs 307 ms per batch). Values already set by the user win.
    """
    n = threads or thread_count()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    return n


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to `n` (default: `thread_count()`); returns the number."""
    import torch

    n = n or thread_count()
    torch.set_num_threads(n)
    return n


# ------------------------------------------------------------------ device


def resolve_device(name: str = "auto") -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; "cuda" without one is an error."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    have_cuda = torch.cuda.is_available()
    if name == "cuda" and not have_cuda:
        raise DeviceError("--device cuda: torch sees no CUDA device here; use --device auto "
                          "or cpu")
    return "cuda" if name == "cuda" or (name == "auto" and have_cuda) else "cpu"


def device_info(device: str) -> dict:
    """The device a run used, for config.json (with the GPU's name; the CPU's is `cpu_info`)."""
    out: dict = {"device": device}
    if device == "cuda":
        import torch

        out["gpu"] = torch.cuda.get_device_name()
    return out


def bf16_native(flags: Sequence[str] | None = None) -> bool:
    """Whether the CPU computes bf16 in hardware (flags: lscpu's; default this machine's)."""
    if flags is None:
        from nets.runinfo import cpu_info

        flags = cpu_info()["flags"]
    return bool(BF16_FLAGS.intersection(flags))


# ------------------------------------------------------------------ session settings


@dataclass(frozen=True)
class Settings:
    """What `dlhw run --device/--precision` asked for; a TrainConfig's own value wins."""

    device: str = "auto"
    precision: str = "auto"  # fp32 | bf16 | auto


_settings = Settings()


def current() -> Settings:
    return _settings


@contextlib.contextmanager
def session(device: str | None = None, precision: str | None = None) -> Iterator[Settings]:
    """Within the block, training runs default to this device and precision."""
    global _settings
    if precision not in (None, "auto", *PRECISIONS):
        raise ValueError(f"unknown precision {precision!r}; expected fp32, bf16 or auto")
    old = _settings
    _settings = replace(old, **{k: v for k, v in (("device", device),
                                                   ("precision", precision)) if v})
    try:
        yield _settings
    finally:
        _settings = old


# ------------------------------------------------------------------ precision and layout


@dataclass(frozen=True)
class Candidate:
    """One way to run the same training step: numeric precision and activation layout."""

    precision: str = "fp32"
    channels_last: bool = False

    @property
    def name(self) -> str:
        return self.precision + ("+channels_last" if self.channels_last else "")


def candidates(precision: str = "auto", channels_last: bool | None = None, image: bool = True,
               bf16_ok: bool = True) -> list[Candidate]:
    """The candidates worth timing.

    precision "fp32"/"bf16" fixes it, "auto" tries both (bf16 only where `bf16_ok`: the CPU has
    bf16 units or the device is a GPU; timing emulated bf16 costs seconds per step for nothing);
    channels_last None tries both layouts for image inputs, a bool fixes it.
    """
    if precision == "auto":
        precs = ["fp32", "bf16"] if bf16_ok else ["fp32"]
    elif precision in PRECISIONS:
        precs = [precision]
    else:
        raise ValueError(f"unknown precision {precision!r}; expected fp32, bf16 or auto")
    layouts = [False, True] if channels_last is None and image else [bool(channels_last)]
    return [Candidate(p, cl) for p in precs for cl in layouts]


def measure(cands: Sequence[Candidate], time_step: Callable[[Candidate], float],
            rounds: int = 3, drop: float = DROP_RATIO) -> dict[Candidate, list[float]]:
    """Seconds per step for each candidate, timed round-robin so that drift hits all alike.

    One warm-up step each first (oneDNN builds its kernels on the first call; that time is not
    the step's). Then `rounds` rounds of one step each; after the first, a candidate slower than
    `drop` x the best is dropped (emulated bf16 costs seconds per step). A candidate whose step
    raises is dropped as well. Returns the timed steps (empty list: dropped before timing).
    """
    times: dict[Candidate, list[float]] = {c: [] for c in cands}
    alive = list(cands)
    for c in list(alive):  # warm-up
        try:
            time_step(c)
        except (RuntimeError, NotImplementedError):
            alive.remove(c)
    for r in range(rounds):
        for c in list(alive):
            try:
                times[c].append(time_step(c))
            except (RuntimeError, NotImplementedError):
                alive.remove(c)
                times[c] = []
        if r == 0 and alive:
            best = min(times[c][0] for c in alive)
            alive = [c for c in alive if times[c][0] <= drop * best]
    return times


def pick(times: Mapping[Candidate, Sequence[float]], margin: float = BF16_MARGIN) -> Candidate:
    """The fastest candidate by median step time; bf16 only if it beats fp32 by `margin`."""
    med = {c: statistics.median(t) for c, t in times.items() if t}
    if not med:
        raise ValueError("no candidate could be timed")
    fp32 = [c for c in med if c.precision == "fp32"]
    best = min(med, key=med.__getitem__)
    if best.precision != "fp32" and fp32:
        best_fp32 = min(fp32, key=med.__getitem__)
        if med[best] > (1 - margin) * med[best_fp32]:
            return best_fp32
    return best


def worth_probing(run_steps: int, n_candidates: int, rounds: int = 3) -> bool:
    """Time candidates only when the probe is a small share of the run (`PROBE_PAYBACK`).

    A 10-step run (a quick study's variant) would spend more time choosing than training.
    """
    return run_steps >= PROBE_PAYBACK * (rounds + 1) * n_candidates


def worth_compiling(device: str, eager_seconds: float, compile_seconds: float = COMPILE_SECONDS,
                    speedup: float = COMPILE_SPEEDUP) -> bool:
    """On a GPU: torch.compile (CUDA graphs) where its one-off cost is paid back twice.

    A small CNN's GPU step is bound by kernel launches, which CUDA graphs remove; the reference
    run (35 s eager on an H200) is too short for that to pay back, longer ones are compiled.
    A CPU's compiling is measured instead (`compile_choice`).
    """
    return device == "cuda" and eager_seconds * (1 - 1 / speedup) > 2 * compile_seconds


def cpu_compiler() -> str | None:
    """The C++ compiler inductor's CPU backend would call ($CXX, else g++ or clang++), if any."""
    import shutil

    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def compile_mode(device: str) -> str | None:
    """torch.compile's mode: CUDA graphs on a GPU (launch-bound steps), inductor's default on
    a CPU (CUDA graphs do not exist there)."""
    return COMPILE_MODE if device == "cuda" else None


def compile_choice(device: str, eager_seconds: float | None,
                   asked: bool | None = None) -> tuple[str, str]:
    """("compile" | "measure" | "eager", why) for a run of `eager_seconds` of eager steps.

    `asked` (TrainConfig.compile) False never compiles, True compiles wherever it can; None
    decides: on a GPU by `worth_compiling`, on a CPU by timing it (nets.steps.Stepper) in runs
    of `CPU_COMPILE_PROBE_SECONDS` or more where a C++ compiler is installed.
    """
    if asked is False:
        return "eager", "compile off"
    if device == "cpu" and not cpu_compiler():
        return "eager", "no C++ compiler for inductor"
    if asked:
        return "compile", "compile asked for"
    if not eager_seconds:
        return "eager", "run not timed"
    if device == "cuda":
        pays = worth_compiling(device, eager_seconds)
        return ("compile" if pays else "eager",
                f"CUDA graphs {'pay' if pays else 'do not pay'} back twice in "
                f"{eager_seconds:.0f} s")
    if eager_seconds < CPU_COMPILE_PROBE_SECONDS:
        return "eager", f"{eager_seconds:.0f} s of steps: too short to time compiling"
    return "measure", "timing compiled steps"


def compiled_wins(eager_seconds: float, compiled_seconds: float,
                  margin: float = COMPILE_MARGIN) -> bool:
    """Keep a compiled step (its compilation already paid) only where it is clearly faster."""
    return compiled_seconds < (1 - margin) * eager_seconds


@dataclass
class Plan:
    """How one training run executes; saved to config.json beside the recipe."""

    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_how: str = ""    # why compiled or not (`compile_choice`, or the measured steps)
    compile_probe: dict = field(default_factory=dict)  # s/step compiled and eager, compiling
    compile_error: str = ""  # why torch.compile was given up for eager steps (nets.steps)
    how: str = "fixed"  # measured | measured (cached) | fixed: why nothing was timed
    timings: dict[str, list[float]] = field(default_factory=dict)  # s/step per candidate
    step_seconds: float | None = None  # the chosen candidate's median
    threads: int = 1
    epochs: dict = field(default_factory=dict)  # recipe, planned, run, budget, estimates

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.precision, self.channels_last)

    def to_dict(self) -> dict:
        return asdict(self)


def decide(cands: Sequence[Candidate], time_step: Callable[[Candidate], float] | None,
           device: str, threads: int, rounds: int = 3) -> Plan:
    """Time `cands` with `time_step` and return the plan it implies (no clock: the first)."""
    if time_step is None:
        return Plan(device, cands[0].precision, cands[0].channels_last, threads=threads,
                    how="fixed: not timed")
    times = measure(cands, time_step, rounds)
    best = pick(times)
    return Plan(device, best.precision, best.channels_last, how="measured",
                timings={c.name: list(t) for c, t in times.items()},
                step_seconds=statistics.median(times[best]), threads=threads)


def epochs_that_fit(budget_seconds: float, epochs: int, steps_per_epoch: int,
                    step_seconds: float, overhead: float = STEP_OVERHEAD) -> int:
    """How many of `epochs` fit in the budget at `step_seconds` per step (at least one)."""
    per_epoch = steps_per_epoch * step_seconds * overhead
    return max(1, min(epochs, int(budget_seconds // per_epoch)))
