"""How a training run's steps execute on this machine: measured, planned, then run.

- `train_step` is one optimizer step as a `Candidate` (precision, layout) runs it; every probe
  times exactly this function, so what is measured is what runs.
- `plan_run` picks device, precision and layout from steps timed on copies of the model
  (`nets.hardware` decides from the timings).
- `Stepper` runs the steps eager or through torch.compile. On a GPU, compiling is decided by
  `nets.hardware.worth_compiling`; on a CPU with a C++ compiler (inductor's CPU backend) a run
  long enough to pay for trying compiles the real model, times compiled steps against eager ones,
  puts the weights back and keeps the compiled module only where it is faster. Where compiling
  fails, the steps run eager, bit-identical to a run that never tried.
- `plan_epochs` and `replan`: the epochs a time budget holds at the measured speed, decided
  before the schedule is built, and again from the first epoch's own time.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nets import hardware as H
from nets.augment import augment_batch, erase_batch
from nets.hardware import Candidate, Plan
from nets.recipe import TrainConfig, l1_penalty, make_optimizer


def train_step(model: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor,
               yb: torch.Tensor, cfg: TrainConfig, cand: Candidate,
               device_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step as `cand` runs it; returns (outputs, data loss), both detached."""
    if cand.channels_last:
        xb = xb.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=cand.precision == "bf16"):
        out = model(xb)
        if cfg.task == "regression":
            loss = F.mse_loss(out, yb)
        else:
            loss = F.cross_entropy(out, yb, label_smoothing=cfg.label_smoothing)
    data_loss = loss.detach()  # comparable across L1 settings
    if cfg.l1:
        loss = loss + cfg.l1 * l1_penalty(model)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return out.detach(), data_loss


WARMUP_SHARE = 0.3  # of one-cycle's steps (torch's OneCycleLR pct_start)

# Plans already measured in this process, by what decides them (model shapes, batch, device,
# threads, candidates): a study trains the same model many times, and one probe is enough.
_PLANS: dict[tuple, Plan] = {}


def plan_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
             rounds: int = 3) -> Plan:
    """Device, precision and layout for training `model` with `cfg` (see nets.hardware).

    Timed on a deep copy of the model with the run's first batch, under a forked RNG, so the
    run itself starts from exactly the state it would have without the probe.
    """
    settings = H.current()
    device = H.resolve_device(cfg.device or settings.device)
    asked = cfg.precision or settings.precision
    image = x.dim() == 4
    # bf16 keeps ~3 significant digits: the regression MSEs are compared at 1e-3.
    precision = "fp32" if cfg.task == "regression" and asked == "auto" else asked
    bf16_ok = device == "cuda" or H.bf16_native()
    cands = H.candidates(precision, cfg.channels_last, image, bf16_ok)
    threads = torch.get_num_threads()
    bs = min(cfg.batch_size, len(x))
    run_steps = cfg.epochs * math.ceil(len(x) / bs)
    why = ("one candidate" if len(cands) == 1 else
           f"{run_steps} steps are too few to pay for a probe"
           if not H.worth_probing(run_steps, len(cands), rounds) else "")
    if why and not cfg.time_budget:
        # Untimed: fp32 (the exact recipe) unless forced; convolutions channels-last (oneDNN's
        # own layout: 1.5x faster fp32 steps on this EPYC) unless the layout was fixed.
        c = cands[0]
        if cfg.channels_last is None and image:
            c = Candidate(c.precision, any(isinstance(m, nn.Conv2d) for m in model.modules()))
        if precision != asked:
            why = "regression runs in fp32"
        return Plan(device, c.precision, c.channels_last, how=f"fixed: {why}", threads=threads)
    key = (type(model).__name__, tuple(tuple(p.shape) for p in model.parameters()),
           tuple(x.shape[1:]), bs, device, cfg.optimizer, cfg.task, cfg.augment, bool(cfg.erase),
           bool(cfg.l1), threads, tuple(cands))
    if key in _PLANS:
        return dataclasses.replace(_PLANS[key], how="measured (cached)", epochs={})
    time_step = step_timer(model, x[:bs], y[:bs], cfg, device)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda"
                               else []):
        plan = H.decide(cands, time_step, device, threads, rounds)
    _PLANS[key] = plan
    return dataclasses.replace(plan)


def step_timer(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig,
               device: str) -> Callable[[Candidate], float]:
    """A clock for `nets.hardware.measure`: seconds of one training step of `cand` on (xb, yb).

    Each candidate trains its own deep copy of `model` (the original is never touched) with the
    run's optimizer; augmentation and erasing, when the recipe has them, are timed too.
    Callers that care about the global RNG (dropout) fork it around the timing.
    """
    xb, yb = xb.to(device), yb.to(device)
    state: dict[Candidate, tuple[nn.Module, torch.optim.Optimizer]] = {}
    g = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def time_step(c: Candidate) -> float:
        if c not in state:
            m = copy.deepcopy(model).to(device)
            if c.channels_last:
                m = m.to(memory_format=torch.channels_last)
            state[c] = (m, make_optimizer(cfg.optimizer, m.parameters(), cfg.lr, cfg.momentum,
                                          cfg.weight_decay))
        m, opt = state[c]
        sync()
        t = time.perf_counter()
        batch = augment_batch(xb, g) if cfg.augment else xb
        batch = erase_batch(batch, g, cfg.erase) if cfg.erase else batch
        train_step(m, opt, batch, yb, cfg, c, device)
        sync()
        return time.perf_counter() - t

    return time_step


def plan_epochs(plan: Plan, cfg: TrainConfig, steps: int, spent: float = 0.0) -> int:
    """The epochs to run: the recipe's, or those the time budget holds after `spent` seconds
    (the probes) at the measured speed. Decided before the schedule is built, so one-cycle
    anneals fully within the epochs that run; recorded in `plan.epochs`."""
    epochs = cfg.epochs
    per_epoch = plan.step_seconds and plan.step_seconds * steps * H.STEP_OVERHEAD
    if cfg.time_budget and per_epoch and plan.step_seconds:
        epochs = H.epochs_that_fit(cfg.time_budget - spent, cfg.epochs, steps,
                                   plan.step_seconds)
    plan.epochs = {"recipe": cfg.epochs, "planned": epochs, "budget_seconds": cfg.time_budget,
                   "cut_by_budget": epochs < cfg.epochs, "probe_seconds": spent,
                   "steps_per_epoch": steps,
                   "estimated_seconds": per_epoch and spent + per_epoch * epochs}
    return epochs


def replans_after(epoch: int, steady: int, epochs: int) -> bool:
    """Whether the run re-plans after `epoch` (0-based) of `epochs`: after the first epoch at
    its own pace (`steady`) and after each later one in one-cycle's warm-up (30% of the
    steps), where rebuilding the schedule only stretches the ramp. The first epochs can run
    slower than the rest (6% on the 2-core EPYC, 30.0 s against 28.3; 31.4 s against 28.2
    on a machine busy for its first minute), and planning on the first half of the warm-up
    alone left up to 90 s of the 600 s budget unused."""
    return epoch == steady or steady < epoch and (epoch + 1) <= WARMUP_SHARE * epochs


def replan(plan: Plan, cfg: TrainConfig, epochs: int, done: int, epoch_seconds: float,
           spent: float) -> int:
    """The epochs that fit the budget at the pace of the epochs run (`epoch_seconds` of
    stepping, the median of the steady epochs so far), `done` epochs and `spent` seconds into
    the run; `epochs` where nothing is to be re-planned.

    The probe times single steps of a copy; an epoch's own time (shuffling, augmentation, the
    scheduler, a shared machine's load) is the better measure. Re-planned in one-cycle's
    warm-up, the schedule is rebuilt for the new length (`make_scheduler(..., done=...)`).
    """
    if not cfg.time_budget or cfg.schedule not in ("onecycle", "none") or cfg.epochs <= done:
        return epochs
    more = int(max(0.0, cfg.time_budget - spent) // (epoch_seconds * H.REPLAN_MARGIN))
    new = done + min(cfg.epochs - done, more)
    plan.epochs.update(replanned=new, replanned_after=done, epoch_seconds=epoch_seconds,
                       cut_by_budget=new < cfg.epochs)
    return new


class Stepper:
    """Runs the training steps: eager, or compiled where that was decided or measured to pay.

    A compiled module fails at its first call where the toolchain is missing (no Triton, no C
    compiler), while compiling, before the step changes any weight or optimizer state; that step
    and every later one then run eager, and the plan records why.
    """

    def __init__(self, model: nn.Module, plan: Plan, cfg: TrainConfig, desc: str,
                 eager_seconds: float | None) -> None:
        self.model, self.plan, self.desc = model, plan, desc
        self.module: nn.Module = model
        action, plan.compile_how = H.compile_choice(plan.device, eager_seconds, cfg.compile)
        plan.compile = action == "compile"
        if plan.compile:
            self.module = cast(nn.Module, torch.compile(model, mode=H.compile_mode(plan.device)))
        # The first epoch whose time is the run's pace: not one that compiled in its first step.
        self.steady_epoch = 1 if plan.compile else 0
        self.measure = action == "measure"

    def time_compiled(self, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig, tail: int,
                      rounds: int = 3) -> None:
        """Compile the real model, time its steps against eager ones, keep the faster.

        The timed steps train the model with a throwaway optimizer under a forked RNG; its
        weights and batch-norm statistics are restored afterwards, so the run starts where it
        would have without this probe. The compilation is not wasted where it wins: the run
        uses the module compiled here, compiled for the epoch's last, smaller batch (`tail`
        images) too, so that no compiling is left for the first epoch.
        """
        plan, cand, dev = self.plan, self.plan.candidate, self.plan.device
        saved = copy.deepcopy(self.model.state_dict())
        # On a module, torch.compile returns an OptimizedModule (an nn.Module); typed Callable.
        module = cast(nn.Module, torch.compile(self.model, mode=H.compile_mode(dev)))
        opt = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.momentum,
                             cfg.weight_decay)
        times: dict[str, list[float]] = {"compiled": [], "eager": []}
        try:
            with torch.random.fork_rng(devices=[]):
                t = time.perf_counter()
                train_step(module, opt, xb, yb, cfg, cand, dev)  # compiles
                first = time.perf_counter() - t
                train_step(self.model, opt, xb, yb, cfg, cand, dev)  # eager warm-up
                for _ in range(rounds):
                    for name, m in (("compiled", module), ("eager", self.model)):
                        t = time.perf_counter()
                        train_step(m, opt, xb, yb, cfg, cand, dev)
                        times[name].append(time.perf_counter() - t)
                compiled, eager = (statistics.median(times[k]) for k in ("compiled", "eager"))
                first -= compiled
                plan.compile = H.compiled_wins(eager, compiled)
                if plan.compile and tail:
                    t = time.perf_counter()
                    train_step(module, opt, xb[:tail], yb[:tail], cfg, cand, dev)
                    first += time.perf_counter() - t
        except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager step stands
            self._give_up(exc)
            return
        finally:
            self.model.load_state_dict(saved)
            for p in self.model.parameters():
                p.grad = None
        plan.compile_probe = {**times, "compile_seconds": max(0.0, first)}
        plan.compile_how = (f"measured: compiled {compiled * 1000:.0f} ms/step against eager "
                            f"{eager * 1000:.0f}, after {first:.1f} s compiling: "
                            + ("compiled" if plan.compile else "eager"))
        if plan.compile:
            self.module = module
            plan.step_seconds = compiled

    def _give_up(self, exc: Exception) -> None:
        self.module, self.plan.compile = self.model, False
        self.plan.compile_error = f"{type(exc).__name__}: {exc}"[:300]
        self.plan.compile_how += "; compiling failed: eager"
        note(f"{self.desc}: torch.compile failed ({self.plan.compile_error}); training eager")

    def __call__(self, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
                 cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        args = (opt, xb, yb, cfg, self.plan.candidate, self.plan.device)
        if self.module is self.model:
            return train_step(self.model, *args)
        try:
            return train_step(self.module, *args)
        except Exception as exc:  # noqa: BLE001 - see _give_up
            self._give_up(exc)
            return train_step(self.model, *args)


def note(msg: str) -> None:
    """A line for the person at the terminal, also when the progress bar is off."""
    import sys

    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def describe(plan: Plan, steps: int, limit: float | None) -> str:
    """One line: how the run will execute and what it expects, for the terminal."""
    ep = plan.epochs
    timed = ", ".join(f"{k} {statistics.median(v) * 1000:.0f}" for k, v in plan.timings.items()
                      if v)
    line = (f"{plan.candidate.name} on {plan.device}, {'compiled' if plan.compile else 'eager'}"
            f" ({plan.compile_how}); {plan.how}" + (f": {timed} ms/step" if timed else "")
            + f"; {ep['planned']} epoch{'s' * (ep['planned'] != 1)} of {steps} steps")
    if ep.get("estimated_seconds"):
        line += f" ~ {ep['estimated_seconds']:.0f} s"
    if ep["cut_by_budget"]:
        line += f" (of the recipe's {ep['recipe']}: what fits the {ep['budget_seconds']:.0f} s)"
    elif limit and ep.get("estimated_seconds") and ep["estimated_seconds"] > limit:
        line += f", over the {limit:.0f} s goal"
    return line
