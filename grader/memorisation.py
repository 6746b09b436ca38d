"""Against looking the public test set up: each grading run shows a model every test image
once, either clean or perturbed (which ones, and how, drawn from the run's secret seed), in a
shuffled order, and compares its accuracy on the two parts.

The test images are public, so a table of them (an exact-match hash, a one-hot matmul against
stored images) scores 100% on the exact images. A perturbed image is never shown beside its
clean twin (nor paired with it by position): nothing in a run lets a table map it back, so a
table falls to its fallback on the perturbed part, while a trained model loses only a little
(the rubric's thresholds hold the reference's measured drops). Used by the FashionMNIST model
task (grader/kinds/tasks.py: sub-pixel shifts and small rotations) and the digits' hidden check
(grader/notebook_checks.py: Gaussian noise).

The accuracy marked is min(all, perturbed + allowance): for a model that is not suspect it is
the accuracy over every image shown; for one that is, what its perturbed part supports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """What a model is shown, in order: `index[i]` is the test image at position i, perturbed
    where `perturbed[i]`."""

    index: np.ndarray
    perturbed: np.ndarray


def draw_split(n: int, share: float, rng: np.random.Generator) -> Split:
    """Every one of `n` test images once, a `share` of them perturbed (at least one image in
    each part), in a random order: both drawn from `rng` (the run's secret seed)."""
    k = min(max(round(n * share), 1), n - 1)
    index = rng.permutation(n)
    perturbed = np.zeros(n, dtype=bool)
    perturbed[rng.choice(n, k, replace=False)] = True
    return Split(index, perturbed)


@dataclass(frozen=True)
class Verdict:
    """Accuracies on everything shown, on the clean part and on the perturbed part."""

    overall: float
    clean: float
    perturbed: float
    n_clean: int
    n_perturbed: int
    allowance: float  # a drop (clean - perturbed) beyond this is suspect

    @property
    def drop(self) -> float:
        return self.clean - self.perturbed

    @property
    def suspect(self) -> bool:
        return self.drop > self.allowance

    @property
    def marked(self) -> float:
        """The accuracy a mark is computed from (the overall one unless suspect)."""
        return min(self.overall, self.perturbed + self.allowance)

    def evidence(self, perturbation: str, reference: str) -> str:
        """Why a suspect model goes to review, with the numbers ('' when not suspect)."""
        if not self.suspect:
            return ""
        return (f"accuracy {self.clean:.4f} on {self.n_clean} exact test images but "
                f"{self.perturbed:.4f} on {self.n_perturbed} others {perturbation}, a drop of "
                f"{self.drop * 100:.1f} points (allowed {self.allowance * 100:.1f}; {reference})"
                f": test images looked up? Marked from the perturbed images' accuracy + "
                f"{self.allowance * 100:.1f} points = {self.marked:.4f}")

    def detail(self) -> dict[str, float]:
        return {"clean_accuracy": self.clean, "perturbed_accuracy": self.perturbed,
                "accuracy_shown": self.overall}


def judge(pred: np.ndarray, labels: np.ndarray, split: Split, allowance: float) -> Verdict:
    """`pred`: the model's labels in the order shown; `labels`: the test labels by index."""
    right = np.asarray(pred) == np.asarray(labels)[split.index]
    p = split.perturbed
    return Verdict(float(right.mean()), float(right[~p].mean()) if (~p).any() else 0.0,
                   float(right[p].mean()) if p.any() else 0.0, int((~p).sum()), int(p.sum()),
                   allowance)


def jitter_images(x: np.ndarray, rng: np.random.Generator, shift_px: tuple[float, float],
                  rotate_deg: float) -> np.ndarray:
    """uint8 images (N, ..., H, W), each moved by a shift of length uniform in `shift_px` in a
    uniform direction and rotated by up to ±`rotate_deg` about its centre (bilinear, the
    uncovered border background 0, rounded back to uint8): sub-pixel moves change almost every
    edge pixel, so no exact copy of a test image survives, while the garment stays the same."""
    n, h, w = len(x), x.shape[-2], x.shape[-1]
    length = rng.uniform(*shift_px, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    dy, dx = length * np.sin(angle), length * np.cos(angle)
    theta = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg, n))
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    # Where each output pixel comes from: the inverse rotation of (output - shift).
    sy = cos * (yy - dy[:, None, None]) - sin * (xx - dx[:, None, None]) + (h - 1) / 2
    sx = sin * (yy - dy[:, None, None]) + cos * (xx - dx[:, None, None]) + (w - 1) / 2
    flat = x.reshape(n, -1, h, w).astype(np.float64)
    m = 3  # background round the edge: a source beyond it reads background on both sides
    pad = np.zeros((n, flat.shape[1], h + 2 * m, w + 2 * m))
    pad[:, :, m:-m, m:-m] = flat
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = (sy - y0)[:, None], (sx - x0)[:, None]
    iy = np.clip(y0.astype(int) + m, 0, h + 2 * m - 2)
    ix = np.clip(x0.astype(int) + m, 0, w + 2 * m - 2)
    rows = np.arange(n)[:, None, None]

    def at(oy: int, ox: int) -> np.ndarray:
        return pad[rows, :, iy + oy, ix + ox].transpose(0, 3, 1, 2)

    out = (at(0, 0) * (1 - fy) * (1 - fx) + at(0, 1) * (1 - fy) * fx
           + at(1, 0) * fy * (1 - fx) + at(1, 1) * fy * fx)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(x.shape)


def add_noise(x: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    """Float images in [0, 1] with Gaussian noise of `std`, clipped to [0, 1]."""
    return np.clip(x + rng.normal(0.0, std, x.shape), 0.0, 1.0)
