"""Part 6: filters, activation maps early vs deep, weight histograms over epochs, saliency and
activation maximization, on one CNN trained with the reference recipe.

Metric ids ({layer} in conv1, conv_last, fc): viz.test_accuracy, viz.activations.early.shape,
viz.activations.early.sparsity, viz.activations.deep.shape, viz.activations.deep.sparsity,
viz.weights.{layer}.std_by_epoch, viz.saliency.object_fraction,
viz.saliency.smoothgrad_object_fraction, viz.saliency.object_area, viz.actmax.class_gain,
viz.actmax.unit_gain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from nets import data as D
from nets.labels import label as display_name
from nets.models import CNN, build_cnn
from nets.plots import pyplot, save_figure, save_image_grid
from nets.runinfo import make_run_dir
from nets.studies.common import Figure, Study, fashion_test, run_config, save_run
from nets.studies.fashion import REFERENCE
from nets.train import TrainConfig, evaluate, fit

L = TypeVar("L", bound=nn.Module)


def run(out: str | Path, *, seed: int = 0, epochs: int | None = None, quick: bool = False,
        progress: bool = True, data_dir: str | None = None) -> dict:
    """Filters, activation maps early vs deep, weight histograms over epochs, saliency, act-max."""
    run_dir = make_run_dir(out)
    fd = D.load_fashion(data_dir)
    n_train = 1500 if quick else 20000
    x, y = D.subset(fd.x_train, fd.y_train, n_train, seed)
    xt, yt = fashion_test(fd, quick, seed)
    recipe: dict[str, Any] = {**REFERENCE, "epochs": epochs or (2 if quick else 6),
                              "batch_size": 64 if quick else 128, "lr": 0.05}
    cfg = TrainConfig(**recipe, seed=seed)
    torch.manual_seed(seed)
    model = build_cnn("reference")
    conv1 = _layers(model.features[0], nn.Conv2d)[0]
    layers: dict[str, nn.Conv2d | nn.Linear] = {
        "conv1": conv1, "conv_last": _layers(model.features[-1], nn.Conv2d)[0],
        "fc": _layers(model.classifier, nn.Linear)[-1]}
    snaps: dict[str, list[np.ndarray]] = {k: [] for k in layers}

    def snapshot(_epoch: int, _model: nn.Module, _h) -> None:
        for k, mod in layers.items():
            snaps[k].append(mod.weight.detach().flatten().cpu().clone().numpy())

    snapshot(-1, model, None)  # epoch 0 = the initialization
    h = fit(model, x, y, cfg, on_epoch=snapshot, progress=progress, desc="viz model")
    model = model.to(memory_format=torch.contiguous_format)
    m: dict[str, Any] = {"viz.test_accuracy": evaluate(model, xt, yt)["accuracy"]}
    _filters_figure(run_dir, conv1)
    m |= _activation_figures(run_dir, model, xt[0], D.CLASSES[int(yt[0])])
    m |= _weight_histograms_figure(run_dir, snaps)
    m |= _saliency_figure(run_dir, model, xt, yt, samples=8 if quick else 32, seed=seed)
    steps = 40 if quick else 150
    m |= _actmax_figures(run_dir, model, steps, seed)
    return save_run(run_dir, "viz", m, {"seed": seed, "quick": quick, "train_images": n_train,
                                        "train": run_config(cfg, h), "actmax_steps": steps,
                                        "saliency": "vanilla gradient, max over channels"})


def _layers(module: nn.Module, kind: type[L]) -> list[L]:
    """The layers of type `kind` inside `module`, in order."""
    return [m for m in module.modules() if isinstance(m, kind)]


# ------------------------------------------------------------------ one helper per figure


def _filters_figure(run_dir: Path, conv1: nn.Conv2d) -> None:
    w1 = conv1.weight.detach()[:, 0].numpy()
    k = "×".join(str(n) for n in w1.shape[1:])
    save_image_grid(run_dir / "filters_conv1.png", w1, [""] * len(w1),
                    f"The {len(w1)} first-layer {k} filters (red +, blue −)", cols=8,
                    cmap="RdBu_r", symmetric=True, panel=0.55)


def _activation_figures(run_dir: Path, model: CNN, img: torch.Tensor,
                        label: str) -> dict[str, Any]:
    """Feature maps of one test image after the first and the last ReLU, and the image."""
    m: dict[str, Any] = {}
    for k, a in activation_maps(model, img).items():
        m[f"viz.activations.{k}.shape"] = list(a.shape)
        m[f"viz.activations.{k}.sparsity"] = (a == 0).float().mean().item()
        where = "first" if k == "early" else "last"
        shape = "×".join(str(n) for n in a.shape)
        save_image_grid(run_dir / f"activations_{k}.png", a[:16].numpy(),
                        [""] * min(16, len(a)),
                        f"After the {where} ReLU: channels 1–{min(16, len(a))} of {shape}\n"
                        f"(a test image: {label})", cols=8, cmap="viridis", panel=0.55)
    save_image_grid(run_dir / "activation_input.png", img.numpy(), [label], "input", cols=1)
    return m


def _weight_histograms_figure(run_dir: Path, snaps: dict[str, list[np.ndarray]]
                              ) -> dict[str, Any]:
    """One panel per layer, one histogram per epoch (0 = the initialization)."""
    from matplotlib.ticker import MaxNLocator

    m: dict[str, Any] = {}
    plt = pyplot()
    fig, axes = plt.subplots(1, len(snaps), figsize=(2.6 * len(snaps), 2.8),
                             layout="constrained")  # room for the suptitle
    for ax, (k, vals) in zip(axes, snaps.items(), strict=True):
        lim = float(np.quantile(np.abs(np.concatenate(vals)), 0.995))
        cmap = plt.get_cmap("viridis")
        for e, v in enumerate(vals):
            ax.hist(v, bins=50, range=(-lim, lim), histtype="step", density=True,
                    color=cmap(e / max(len(vals) - 1, 1)), label=f"epoch {e}")
        ax.set_title(display_name(k), fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))
        ax.set_xlabel("weight")
        m[f"viz.weights.{k}.std_by_epoch"] = [float(v.std()) for v in vals]
    axes[0].set_ylabel("density")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Weight histograms across epochs (epoch 0 = initialization)", fontsize=11)
    save_figure(fig, run_dir / "weight_histograms.png")
    return m


def _saliency_figure(run_dir: Path, model: nn.Module, xt: torch.Tensor, yt: torch.Tensor,
                     samples: int, seed: int) -> dict[str, Any]:
    """Vanilla gradient and SmoothGrad for one test image per class; the share on the object."""
    m: dict[str, Any] = {}
    idx = torch.stack([torch.nonzero(yt == c)[0, 0] for c in range(10)])
    sal = saliency(model, xt[idx], yt[idx])
    smooth = saliency(model, xt[idx], yt[idx], samples=samples, seed=seed)
    foreground = xt[idx, 0] > -0.9  # pixels that are part of the garment, not background
    for key, s_map in (("object_fraction", sal), ("smoothgrad_object_fraction", smooth)):
        mass = (s_map * foreground).sum((1, 2)) / s_map.sum((1, 2))
        m[f"viz.saliency.{key}"] = mass.mean().item()
    m["viz.saliency.object_area"] = foreground.float().mean().item()
    save_image_grid(run_dir / "saliency.png",
                    np.concatenate([xt[idx, 0].numpy(), sal.numpy(), smooth.numpy()]),
                    [D.CLASSES[c].split("/")[0] for c in range(10)] + [""] * 20,
                    r"Rows: a test image of each class, its saliency $|\partial s_c/\partial x|$"
                    " and the SmoothGrad average", cols=10, cmap="hot", panel=0.8)
    return m


def _actmax_figures(run_dir: Path, model: CNN, steps: int, seed: int) -> dict[str, Any]:
    """Inputs maximizing the ten class logits, and eight channels of the last conv stage."""
    # Image i of the batch maximizes logit i (hence the diagonal).
    imgs, b, a = activation_maximization(model, lambda z: model(z).diagonal(), 10, steps=steps,
                                         seed=seed)
    m = {"viz.actmax.class_gain": (a - b).mean().item()}
    save_image_grid(run_dir / "actmax_classes.png", imgs[:, 0].numpy(),
                    [D.CLASSES[c].split("/")[0] for c in range(10)],
                    "Inputs maximizing each class logit", cols=10, cmap="gray", panel=0.8)
    # Up to the last ReLU (128 x 7 x 7), i.e. the last stage without its pooling.
    last_stage = model.features[-1]
    assert isinstance(last_stage, nn.Sequential)  # CNN: each stage is a Sequential
    deep = nn.Sequential(*model.features[:-1], *list(last_stage)[:-1])

    def channel_mean(z: torch.Tensor) -> torch.Tensor:
        return deep(z).mean((2, 3)).diagonal()

    imgs, b, a = activation_maximization(model, channel_mean, 8, steps=steps, seed=seed)
    m["viz.actmax.unit_gain"] = (a - b).mean().item()
    save_image_grid(run_dir / "actmax_units.png", imgs[:, 0].numpy(),
                    [f"unit {i}" for i in range(8)], "Inputs maximizing last-conv channels 0-7",
                    cols=8, cmap="gray")
    return m


# ------------------------------------------------------------------ the methods


def activation_maps(model: CNN, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of the first and the last ReLU (early vs deep feature maps) for one image."""
    relus = [mod for mod in model.features.modules() if isinstance(mod, nn.ReLU)]
    grabbed: dict[str, torch.Tensor] = {}
    hooks = [relus[0].register_forward_hook(lambda _m, _i, o: grabbed.__setitem__("early",
                                                                                  o.clone())),
             relus[-1].register_forward_hook(lambda _m, _i, o: grabbed.__setitem__("deep",
                                                                                   o.clone()))]
    model.eval()
    with torch.no_grad():
        model(image[None])
    for hk in hooks:
        hk.remove()
    return {k: v[0] for k, v in grabbed.items()}


def saliency(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, samples: int = 0,
             sigma: float = 0.2, seed: int = 0) -> torch.Tensor:
    """|d score_class / d input|, one (28, 28) map per image.

    samples=0: the vanilla gradient. samples>0: SmoothGrad, the mean |gradient| over that many
    copies with Gaussian noise (std `sigma`) added, which averages away the pixel-level noise
    that ReLU and max-pooling put into a single gradient.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(images.shape[0], *images.shape[2:])
    for _ in range(max(samples, 1)):
        noise = sigma * torch.randn(images.shape, generator=g) if samples else 0.0
        x = (images + noise).requires_grad_(True)
        scores = model(x).gather(1, labels[:, None]).sum()
        (grad,) = torch.autograd.grad(scores, x)
        total += grad.abs().amax(1)
    return total / max(samples, 1)


def activation_maximization(model: nn.Module, target: Callable[[torch.Tensor], torch.Tensor],
                            n: int, steps: int = 150, lr: float = 0.05, l2: float = 1e-3,
                            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient ascent on the input to maximize `target(model, x)` (one value per image).

    Starts from small noise around grey, keeps x in the normalized pixel range [-1, 1] and
    penalizes its L2 norm (otherwise the optimum is an adversarial-looking texture).
    Returns (images, activation before, activation after).
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    x = (0.1 * torch.randn(n, 1, 28, 28, generator=g)).requires_grad_(True)
    with torch.no_grad():
        before = target(x)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = -target(x).sum() + l2 * (x**2).sum()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(-1, 1)
    with torch.no_grad():
        after = target(x)
    return x.detach(), before, after


STUDY = Study(
    "viz", "Part 6: filters, activation maps, weight histograms, saliency, act. maximization.",
    run,
    figures=(
        Figure("filters_conv1.png", "Part 6: the first convolutional layer's filters.",
               handout=True),
        Figure("activation_input.png", "Part 6: the test image whose activation maps are "
               "shown."),
        Figure("activations_early.png", "Part 6: activation maps of an early layer.",
               handout=True),
        Figure("activations_deep.png", "Part 6: activation maps of a deep layer.", handout=True),
        Figure("weight_histograms.png", "Part 6: weight histograms of three layers after each "
               "epoch.", handout=True, wide=True),
        Figure("saliency.png", "Part 6: saliency maps (gradient of the class score with respect "
               "to the input).", handout=True, wide=True),
        Figure("actmax_classes.png", "Part 6: inputs optimized to maximize each class score.",
               handout=True, wide=True),
        Figure("actmax_units.png", "Part 6: inputs optimized to maximize channels of the last "
               "convolutional stage."),
    ))
