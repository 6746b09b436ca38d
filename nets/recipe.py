"""What a training run is: its settings (`TrainConfig`, saved verbatim to config.json) and the
pieces they name: the homework's optimizers, the weight initializations, the L1 penalty.

Apart from the loop (`nets.train`) so that `nets.steps`, which runs the loop's steps, reads the
settings without importing the loop that imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

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
    compile: bool | None = None        # torch.compile; None: where measured to pay (nets.steps)
    # Seconds of training the run may take, probes included: measured steps decide how many
    # epochs fit, and the schedule is planned for those (None: the recipe's epochs, however
    # long they take). `epochs` is then the most the run may take.
    time_budget: float | None = None
    # Validation after each epoch on this many of the validation images (a fixed random
    # subset; 0: all of them): the curves need no more, and the final figures are computed
    # on the whole test set apart.
    val_images: int = 0
    seed: int = 0
    task: str = "classification"  # or "regression"

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
    return torch.stack([w.abs().sum() for w in weight_tensors(model)]).sum()
