"""Part C training: one loop for regression and classification, with the homework's knobs.

Optimizers (SGD, momentum, Nesterov, Adam, AdamW, RMSprop), L1 (added to the loss) and L2 (the
optimizer's weight decay), dropout (in the model), early stopping (on validation loss, restoring
the best weights), initialization schemes, one-cycle or cosine schedules, label smoothing,
batch augmentation and channels-last. Evaluation is its own function, always in eval mode
without autograd, so dropout and batch norm never leak training behaviour into reported figures.
How the steps run on this machine (precision, layout, compiling, the epochs a time budget holds)
is `nets.steps`'s job; the settings, optimizers and initializations are `nets.recipe`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from nets import steps as S
from nets.augment import augment_batch, erase_batch
from nets.recipe import (
    INITS,
    OPTIMIZERS,
    TrainConfig,
    init_weights,
    l1_penalty,
    make_optimizer,
    weight_tensors,
)

if TYPE_CHECKING:
    from nets.hardware import Plan

# Imported from here since Part C began; nets.augment and nets.recipe define them.
__all__ = ["augment_batch", "erase_batch", "INITS", "OPTIMIZERS", "TrainConfig", "init_weights",
           "l1_penalty", "make_optimizer", "weight_tensors"]


@dataclass
class History:
    """Per-epoch curves plus the wall time of the whole fit."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_epoch: int = 0
    train_seconds: float = 0.0  # probes and steps: the per-epoch evaluations are timed apart
    eval_seconds: float = 0.0
    plan: dict = field(default_factory=dict)  # device, precision, layout, timings, epochs

    def to_dict(self) -> dict:
        return asdict(self)


def _device_and_layout(model: nn.Module) -> tuple[torch.device, bool]:
    """Where the model's weights live and whether its conv kernels are channels-last."""
    p = next(model.parameters(), None)
    if p is None:
        return torch.device("cpu"), False
    kernels = [q for q in model.parameters() if q.dim() == 4]
    cl = bool(kernels) and kernels[0].is_contiguous(memory_format=torch.channels_last) \
        and not kernels[0].is_contiguous()
    return p.device, cl


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str = "classification",
             batch_size: int = 1000, channels_last: bool | None = None) -> dict[str, float]:
    """Loss (and accuracy for classification) in eval mode, without autograd, in float32.

    Batches go to the model's device; the layout follows the model's (channels_last None).
    """
    was_training = model.training
    model.eval()
    dev, model_cl = _device_and_layout(model)
    cl = model_cl if channels_last is None else channels_last
    total = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    n = len(x)
    for i in range(0, n, batch_size):
        xb, yb = x[i:i + batch_size].to(dev), y[i:i + batch_size].to(dev)
        if cl and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out = model(xb)
        if task == "regression":
            total += F.mse_loss(out, yb, reduction="sum")
        else:
            total += F.cross_entropy(out, yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    res = {"loss": total.item() / n}
    if task != "regression":
        res["accuracy"] = correct.item() / n
    return res


@torch.no_grad()  # not inference mode: callers may go on computing with the outputs
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Model outputs for all of x, in eval mode, on the CPU."""
    was_training = model.training
    model.eval()
    dev, _ = _device_and_layout(model)
    out = torch.cat([model(x[i:i + batch_size].to(dev)).cpu()
                     for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def fit(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, cfg: TrainConfig,
        x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        on_epoch: Callable[[int, nn.Module, History], None] | None = None,
        progress: bool = True, desc: str = "train",
        target_seconds: float | None = None, plan: Plan | None = None) -> History:
    """Train `model` in place with `cfg`; evaluate on the validation set after every epoch.

    With early stopping, the best-validation-loss weights are restored at the end. Training
    runs where `nets.steps.plan_run` says (data moved to the device once); the model comes back
    on the CPU. With cfg.time_budget the epochs are those that fit at the measured speed
    (re-planned after the first epoch); `target_seconds` (or the budget): the run says what it
    expects before the first epoch. `plan`: how to run, decided elsewhere (default: measured).
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    hist = History()
    plan = dataclasses.replace(plan) if plan else S.plan_run(model, x_train, y_train, cfg)
    torch.manual_seed(cfg.seed)  # dropout masks
    g = torch.Generator().manual_seed(cfg.seed)  # shuffling and augmentation
    _to_device(model, plan)
    x_train, y_train = x_train.to(plan.device), y_train.to(plan.device)
    x_val, y_val = _validation_subset(x_val, y_val, cfg.val_images, plan.device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum,
                         cfg.weight_decay)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    stepper, epochs = _prepare(model, plan, cfg, x_train, y_train, steps, desc,
                               time.perf_counter() - t_start, target_seconds)
    sched = make_scheduler(opt, cfg, epochs, steps)
    best, epoch, paces = _Best(), 0, []
    bar = tqdm(total=epochs * steps, desc=desc, unit="step", disable=not progress, leave=False)
    while epoch < epochs:
        te0 = time.perf_counter()
        _train_epoch(model, stepper, opt, sched, x_train, y_train, cfg, plan, g, hist, bar)
        paces += [time.perf_counter() - te0] if epoch >= stepper.steady_epoch else []
        if S.replans_after(epoch, stepper.steady_epoch, epochs):  # at the median pace so far
            new = S.replan(plan, cfg, epochs, epoch + 1, statistics.median(paces),
                           time.perf_counter() - t_start - hist.eval_seconds)
            if new != epochs:
                epochs, bar.total = new, new * steps
                sched = make_scheduler(opt, cfg, epochs, steps, done=(epoch + 1) * steps)
        stop = False
        if x_val is not None and y_val is not None:
            te = time.perf_counter()
            loss = _validate(model, x_val, y_val, cfg.task, epoch, hist, bar)
            stop = best.update(loss, epoch, model, hist, cfg.early_stopping)
            hist.eval_seconds += time.perf_counter() - te
        hist.stopped_epoch = epoch
        if on_epoch is not None:
            on_epoch(epoch, model, hist)
        if stop:
            break
        epoch += 1
    bar.close()
    if best.state is not None:
        model.load_state_dict(best.state)
    hist.train_seconds = time.perf_counter() - t_start - hist.eval_seconds
    _record(plan, cfg, hist, steps)
    model.to("cpu")  # the studies, the export and the grader work on the CPU
    return hist


@dataclass
class _Best:
    """Early stopping's state: the best validation loss so far, its weights, epochs since."""

    loss: float = math.inf
    state: dict | None = None
    bad: int = 0

    def update(self, loss: float, epoch: int, model: nn.Module, hist: History,
               patience: int) -> bool:
        """Record an epoch's validation loss; True when `patience` (0: none) has run out."""
        if loss < self.loss:
            self.loss, self.bad, hist.best_epoch = loss, 0, epoch
            if patience:
                self.state = copy.deepcopy(model.state_dict())
        else:
            self.bad += 1
        return bool(patience) and self.bad >= patience


def _to_device(model: nn.Module, plan: Plan) -> None:
    """The model on the plan's device, in its layout."""
    if plan.device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotuned kernels pay back
    model.to(plan.device)
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)


def _validation_subset(x: torch.Tensor | None, y: torch.Tensor | None, n: int, dev: str
                       ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The validation set on the device, or `n` of it (a fixed random subset, seed 0)."""
    if x is None or y is None:
        return None, None
    if 0 < n < len(x):
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
        x, y = x[keep], y[keep]
    return x.to(dev), y.to(dev)


def _prepare(model: nn.Module, plan: Plan, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
             steps: int, desc: str, spent: float, target_seconds: float | None
             ) -> tuple[S.Stepper, int]:
    """The stepper (compiled or not, measured where it may pay) and the epochs to run."""
    start = time.perf_counter()
    epochs = S.plan_epochs(plan, cfg, steps, spent)
    eager = plan.step_seconds and plan.step_seconds * steps * epochs
    stepper = S.Stepper(model, plan, cfg, desc, eager)
    if stepper.measure:
        bs = min(cfg.batch_size, len(x))
        stepper.time_compiled(x[:bs], y[:bs], cfg, tail=len(x) % bs)
        epochs = S.plan_epochs(plan, cfg, steps, spent + time.perf_counter() - start)
    limit = cfg.time_budget or target_seconds
    if limit and plan.step_seconds:
        S.note(f"{desc}: {S.describe(plan, steps, limit)}")
    return stepper, epochs


def _record(plan: Plan, cfg: TrainConfig, hist: History, steps: int) -> None:
    """What ran, beside what was planned: epochs, the pace of a step, the budget kept."""
    plan.epochs["run"] = hist.stopped_epoch + 1
    plan.epochs["seconds_per_step"] = hist.train_seconds / (plan.epochs["run"] * steps)
    if cfg.time_budget:
        plan.epochs["within_budget"] = hist.train_seconds <= cfg.time_budget
    hist.plan = plan.to_dict()


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, epochs: int, steps: int,
                   done: int = 0) -> torch.optim.lr_scheduler.LRScheduler | None:
    """cfg.schedule over `epochs` of `steps` optimizer steps each, stepped once per batch.

    `done`: steps already taken (a run re-planned after its first epoch), so the rebuilt
    schedule goes on from there.
    """
    if cfg.schedule == "onecycle":
        with warnings.catch_warnings():  # resuming: torch warns about last_epoch >= 0
            warnings.simplefilter("ignore")
            return torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=cfg.lr, epochs=epochs, steps_per_epoch=steps,
                pct_start=S.WARMUP_SHARE, last_epoch=done - 1)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    if cfg.schedule != "none":
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    return None


def _train_epoch(model: nn.Module, stepper: S.Stepper, opt: torch.optim.Optimizer,
                 sched: torch.optim.lr_scheduler.LRScheduler | None, x: torch.Tensor,
                 y: torch.Tensor, cfg: TrainConfig, plan: Plan, g: torch.Generator,
                 hist: History, bar) -> None:
    """One pass over (x, y) in a fresh random order; appends the epoch's loss (and accuracy)."""
    reg = cfg.task == "regression"
    dev, n = plan.device, len(x)
    model.train()
    perm = torch.randperm(n, generator=g).to(dev)
    # Accumulated on the device: a .item() per step would stall a GPU's queue.
    run_loss = torch.zeros((), dtype=torch.float64, device=dev)
    run_correct = torch.zeros((), dtype=torch.int64, device=dev)
    for i in range(0, n, cfg.batch_size):
        idx = perm[i:i + cfg.batch_size]
        xb, yb = x[idx], y[idx]
        if cfg.augment:
            xb = augment_batch(xb, g)
        if cfg.erase:
            xb = erase_batch(xb, g, cfg.erase)
        out, loss = stepper(opt, xb, yb, cfg)
        if not reg:
            run_correct += (out.argmax(1) == yb).sum()
        run_loss += loss * len(idx)
        if sched is not None:
            sched.step()
        bar.update()
    hist.train_loss.append(run_loss.item() / n)
    if not reg:
        hist.train_acc.append(run_correct.item() / n)


def _validate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, epoch: int,
              hist: History, bar) -> float:
    """Evaluate after an epoch, append to the curves, show it on the bar; returns the loss."""
    ev = evaluate(model, x, y, task)
    hist.val_loss.append(ev["loss"])
    if task != "regression":
        hist.val_acc.append(ev["accuracy"])
    bar.set_postfix(epoch=epoch + 1, val_loss=f"{ev['loss']:.4f}",
                    **({} if task == "regression" else {"val_acc": f"{ev['accuracy']:.4f}"}),
                    refresh=False)
    return ev["loss"]
