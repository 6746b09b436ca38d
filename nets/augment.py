"""Batch augmentation on in-memory image tensors: random shift and flip, random erasing.

Everything is vectorized over the batch: one gather per batch instead of a transform per image
behind a DataLoader (~1 ms per *image* through torchvision on a 2-core machine). Random draws
come from a CPU generator whatever the tensors' device, so a GPU run sees the same shifts, flips
and rectangles as a CPU run with the same seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _shift_flip_index(n: int, h: int, w: int, pad: int, g: torch.Generator,
                      device: torch.device) -> torch.Tensor:
    """Flat indices (n, h*w) into each padded (h+2pad) x (w+2pad) image: a random crop at
    offsets up to 2*pad, mirrored for half the samples. Draws: row offsets, column offsets,
    then the flips (the order `augment_batch` has always used)."""
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(device)
    flip = (torch.rand(n, generator=g) < 0.5).to(device)
    cols = torch.arange(w, device=device)
    # A mirrored crop reads its columns right to left: column j of the output is w-1-j.
    cols = torch.where(flip[:, None], (w - 1 - cols)[None, :], cols[None, :]) + ox[:, None]
    rows = oy[:, None] + torch.arange(h, device=device)[None, :]
    return (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).reshape(n, h * w)


def augment_batch(x: torch.Tensor, g: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Per-sample random shift by up to `pad` pixels and horizontal flip, on a whole batch.

    The padding is the batch's background value (its minimum, -1 after normalization), not 0
    (= grey). One gather builds the shifted and mirrored batch.
    """
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=float(x.min())).reshape(n, c, -1)
    idx = _shift_flip_index(n, h, w, pad, g, x.device)
    return xp.gather(2, idx[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)


def erase_batch(x: torch.Tensor, g: torch.Generator, p: float, area: tuple[float, float] = (0.02,
                0.2), aspect: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with probability p per sample, one rectangle of
    `area` (fraction of the image) and `aspect` (h/w, log-uniform) is set to 0, the normalized
    mean grey.
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
