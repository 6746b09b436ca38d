"""Part C training: one loop for regression and classification, with the homework's knobs.

Optimizers (SGD, momentum, Nesterov, Adam, AdamW, RMSprop), L1 (added to the loss) and L2 (the
optimizer's weight decay), dropout (in the model), early stopping (on validation loss, restoring
the best weights), initialization schemes, one-cycle or cosine schedules, label smoothing,
batch augmentation and channels-last. Evaluation is its own function, always in eval mode under
no_grad, so dropout and batch norm never leak training behaviour into reported figures.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nets import hardware as H
from nets.hardware import Candidate, Plan

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
INITS = ("default", "zero", "normal", "xavier", "he")


@dataclass
class TrainConfig:
    """Everything one training run depends on; saved verbatim to config.json."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0  # L2 (coupled, as torch's SGD/Adam/RMSprop do it)
    l1: float = 0.0            # coefficient of sum |w| over weight matrices/kernels
    schedule: str = "none"     # none | onecycle | cosine
    label_smoothing: float = 0.0
    augment: bool = False      # random +-2 px shift and horizontal flip, per sample, on batches
    erase: float = 0.0         # probability of random erasing (a grey rectangle), per sample
    early_stopping: int = 0    # patience in epochs on validation loss (0: off)
    # How the steps run, not what they compute (only rounding differs); None: the session's
    # setting (`nets.hardware.session`, from --precision/--device), "auto" unless set.
    # precision: fp32, bf16 (forward under bfloat16 autocast; weights, gradient accumulation
    # and the optimizer stay float32) or auto (measured, see nets.hardware).
    precision: str | None = None
    channels_last: bool | None = None  # None: measured with the precision
    device: str | None = None          # auto | cpu | cuda
    # Seconds of training the run may take: measured steps decide how many epochs fit, and
    # the schedule is planned for those (None: the recipe's epochs, however long they take).
    time_budget: float | None = None
    seed: int = 0
    task: str = "classification"  # or "regression"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Per-epoch curves plus the wall time of the whole fit."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_epoch: int = 0
    train_seconds: float = 0.0  # optimization only: the per-epoch evaluations are timed apart
    eval_seconds: float = 0.0
    plan: dict = field(default_factory=dict)  # device, precision, layout, timings, epochs

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The homework's optimizers by name; "momentum" is SGD with heavy-ball momentum."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def init_weights(model: nn.Module, scheme: str, seed: int = 0, std: float = 0.01) -> nn.Module:
    """Re-initialize Linear/Conv weights: zero, normal(0, std), Xavier (Glorot) or He (Kaiming).

    Biases go to zero for every scheme, so only the weights' scheme differs between runs.
    "zero" shows the symmetry problem: all hidden units of a layer get identical gradients
    and stay identical forever.
    """
    if scheme == "default":
        return model
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; expected one of {', '.join(INITS)}")
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if not isinstance(m, nn.Linear | nn.Conv2d):
            continue
        w = m.weight
        with torch.no_grad():
            if scheme == "zero":
                w.zero_()
            elif scheme == "normal":
                w.normal_(0.0, std, generator=g)
            elif scheme == "xavier":
                nn.init.xavier_normal_(w, generator=g)
            else:
                nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
            if m.bias is not None:
                m.bias.zero_()
    return model


def weight_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Weight matrices and kernels (not biases, not BN affine): what L1/L2 analyses look at."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    return sum(w.abs().sum() for w in weight_tensors(model))


def augment_batch(x: torch.Tensor, g: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Per-sample random shift by up to `pad` pixels and horizontal flip, on a whole batch.

    Gathering from a padded batch with per-sample offsets costs a few ms per batch, against
    ~1 ms per *image* for torchvision transforms behind a DataLoader on this machine.
    The draws come from the CPU generator `g` whatever x's device, so a GPU run sees the same
    shifts and flips as a CPU run.
    """
    n, c, h, w = x.shape
    dev = x.device
    # Pad with the background value (the minimum, -1 after normalization), not 0 (= grey).
    xp = F.pad(x, (pad, pad, pad, pad), value=float(x.min()))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(dev)
    rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]
    out = xp[torch.arange(n, device=dev)[:, None, None, None],
             torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    flip = (torch.rand(n, generator=g) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def erase_batch(x: torch.Tensor, g: torch.Generator, p: float, area: tuple[float, float] = (0.02,
                0.2), aspect: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with probability p per sample, one rectangle of
    `area` (fraction of the image) and `aspect` (h/w, log-uniform) is set to 0, the normalized
    mean grey. Vectorized like `augment_batch`; draws come from the CPU generator `g`.
    """
    n, _, h, w = x.shape
    dev = x.device
    u = torch.rand(5, n, generator=g)
    frac = area[0] + (area[1] - area[0]) * u[0]
    ratio = torch.exp(math.log(aspect[0]) + (math.log(aspect[1]) - math.log(aspect[0])) * u[1])
    eh = (frac * h * w * ratio).sqrt().round().clamp(1, h)
    ew = (frac * h * w / ratio).sqrt().round().clamp(1, w)
    top = ((h - eh + 1) * u[2]).floor()
    left = ((w - ew + 1) * u[3]).floor()
    on = u[4] < p
    r = torch.arange(h)[None, :]
    c = torch.arange(w)[None, :]
    rows = (r >= top[:, None]) & (r < (top + eh)[:, None])
    cols = (c >= left[:, None]) & (c < (left + ew)[:, None])
    mask = (rows[:, :, None] & cols[:, None, :] & on[:, None, None]).to(dev)
    return x.masked_fill(mask[:, None], 0.0)


def _device_and_layout(model: nn.Module) -> tuple[torch.device, bool]:
    """Where the model's weights live and whether its conv kernels are channels-last."""
    p = next(model.parameters(), None)
    if p is None:
        return torch.device("cpu"), False
    kernels = [q for q in model.parameters() if q.dim() == 4]
    cl = bool(kernels) and kernels[0].is_contiguous(memory_format=torch.channels_last) \
        and not kernels[0].is_contiguous()
    return p.device, cl


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str = "classification",
             batch_size: int = 1000, channels_last: bool | None = None) -> dict[str, float]:
    """Loss (and accuracy for classification) in eval mode, without gradients, in float32.

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


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Model outputs for all of x, in eval mode, on the CPU."""
    was_training = model.training
    model.eval()
    dev, _ = _device_and_layout(model)
    out = torch.cat([model(x[i:i + batch_size].to(dev)).cpu()
                     for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor,
                yb: torch.Tensor, cfg: TrainConfig, cand: Candidate,
                device_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step as `cand` runs it; returns (outputs, data loss), both detached.

    The precision probe times exactly this function, so what is measured is what runs.
    """
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
        _train_step(m, opt, batch, yb, cfg, c, device)
        sync()
        return time.perf_counter() - t

    return time_step


def _note(msg: str) -> None:
    """A line for the person at the terminal, also when the progress bar is off."""
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


def fit(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, cfg: TrainConfig,
        x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        on_epoch: Callable[[int, nn.Module, History], None] | None = None,
        progress: bool = True, desc: str = "train",
        target_seconds: float | None = None, plan: Plan | None = None) -> History:
    """Train `model` in place with `cfg`; evaluate on the validation set after every epoch.

    With early stopping, the best-validation-loss weights are restored at the end. Training
    runs where `plan_run` says (data moved to the device once); the model comes back on the
    CPU. `target_seconds` (or cfg.time_budget): when the measured speed says the run will take
    longer, a line says so with the estimate, before the first epoch and after it.
    `plan`: how to run, decided elsewhere (default: `plan_run` decides here).
    """
    from tqdm.auto import tqdm

    hist = History()
    plan = dataclasses.replace(plan) if plan else plan_run(model, x_train, y_train, cfg)
    dev = plan.device
    torch.manual_seed(cfg.seed)  # dropout masks
    g = torch.Generator().manual_seed(cfg.seed)  # shuffling and augmentation
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotuned kernels pay back
    model.to(dev)
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    if x_val is not None:
        x_val, y_val = x_val.to(dev), y_val.to(dev)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum,
                         cfg.weight_decay)
    steps = math.ceil(len(x_train) / cfg.batch_size)
    limit = cfg.time_budget or target_seconds
    epochs = plan_epochs(plan, cfg, steps, limit, desc)
    stepper = _Stepper(model, plan, desc, compiled=bool(plan.step_seconds) and
                       H.worth_compiling(dev, plan.step_seconds * steps * epochs))
    sched = make_scheduler(opt, cfg, epochs, steps)

    best_loss, best_state, bad = math.inf, None, 0
    t0 = time.perf_counter()
    bar = tqdm(total=epochs * steps, desc=desc, unit="step", disable=not progress, leave=False)
    for epoch in range(epochs):
        te0 = time.perf_counter()
        _train_epoch(model, stepper, opt, sched, x_train, y_train, cfg, plan, g, hist, bar)
        epoch_seconds = time.perf_counter() - te0
        if epoch == 0:
            plan.epochs["estimated_seconds_after_epoch1"] = epoch_seconds * epochs
            if limit and epoch_seconds * epochs > limit:
                _note(f"{desc}: first epoch took {epoch_seconds:.1f} s; {epochs} epochs "
                      f"~ {epoch_seconds * epochs:.0f} s, over the {limit:.0f} s budget")
        if x_val is not None:
            te = time.perf_counter()
            loss = _validate(model, x_val, y_val, cfg.task, epoch, hist, bar)
            if loss < best_loss:
                best_loss, bad, hist.best_epoch = loss, 0, epoch
                if cfg.early_stopping:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            hist.eval_seconds += time.perf_counter() - te
        hist.stopped_epoch = epoch
        if on_epoch is not None:
            on_epoch(epoch, model, hist)
        if cfg.early_stopping and bad >= cfg.early_stopping:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.train_seconds = time.perf_counter() - t0 - hist.eval_seconds
    plan.epochs["run"] = hist.stopped_epoch + 1
    if cfg.time_budget:
        plan.epochs["within_budget"] = hist.train_seconds <= cfg.time_budget
    hist.plan = plan.to_dict()
    model.to("cpu")  # the studies, the export and the grader work on the CPU
    return hist


def plan_epochs(plan: Plan, cfg: TrainConfig, steps: int, limit: float | None,
                desc: str) -> int:
    """The epochs to run: the recipe's, or those `cfg.time_budget` holds at the measured speed.

    Decided before the schedule is built, so one-cycle anneals fully within the epochs that
    run. Records the decision in `plan.epochs`; a run with a time goal (`limit`) says at once
    what it expects.
    """
    epochs = cfg.epochs
    est = plan.step_seconds and plan.step_seconds * steps * cfg.epochs * H.STEP_OVERHEAD
    if cfg.time_budget and plan.step_seconds:
        epochs = H.epochs_that_fit(cfg.time_budget, cfg.epochs, steps, plan.step_seconds)
    plan.epochs = {"recipe": cfg.epochs, "planned": epochs, "budget_seconds": cfg.time_budget,
                   "cut_by_budget": epochs < cfg.epochs, "estimated_seconds": est}
    if limit and est:
        _note(f"{desc}: {plan.candidate.name} on {plan.device} ({plan.how}; "
              + ", ".join(f"{k} {statistics.median(v) * 1000:.0f}" for k, v in
                          plan.timings.items() if v)
              + f" ms/step); {cfg.epochs} epochs of {steps} steps ~ {est:.0f} s"
              + (f", over the {limit:.0f} s budget" if est > limit else "")
              + (f"; cut to the {epochs} epochs that fit" if epochs < cfg.epochs else ""))
    return epochs


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, epochs: int, steps: int
                   ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """cfg.schedule over `epochs` of `steps` optimizer steps each, stepped once per batch."""
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=epochs,
                                                   steps_per_epoch=steps)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    if cfg.schedule != "none":
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    return None


class _Stepper:
    """Runs the training steps: through torch.compile where `fit` decided it pays, else eager.

    A compiled module fails at its first call where the toolchain is missing (no Triton, no C
    compiler), while compiling, before the step changes any weight or optimizer state; that step
    and every later one then run eager, and the plan records why.
    """

    def __init__(self, model: nn.Module, plan: Plan, desc: str, compiled: bool) -> None:
        self.model, self.plan, self.desc = model, plan, desc
        self.module = torch.compile(model, mode=H.COMPILE_MODE) if compiled else model
        plan.compile = compiled

    def __call__(self, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
                 cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
        args = (opt, xb, yb, cfg, self.plan.candidate, self.plan.device)
        if self.module is self.model:
            return _train_step(self.model, *args)
        try:
            return _train_step(self.module, *args)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager step stands
            self.module, self.plan.compile = self.model, False
            self.plan.compile_error = f"{type(exc).__name__}: {exc}"[:300]
            _note(f"{self.desc}: torch.compile failed ({self.plan.compile_error}); "
                  "training eager")
            return _train_step(self.model, *args)


def _train_epoch(model: nn.Module, stepper: _Stepper, opt: torch.optim.Optimizer,
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
