"""Rosenblatt's perceptron and the perceptron learning rule, on the logic gates.

The rule: for each sample in a fixed order, predict ŷ = step(w·x + b); if ŷ ≠ y, move the
boundary towards the sample, w += η (y - ŷ) x and b += η (y - ŷ). On linearly separable data
(AND, OR) the convergence theorem bounds the number of mistakes, so an epoch with no mistake
comes. On XOR no line separates the classes (the four inequalities b ≤ 0, w1 + b > 0, w2 + b > 0,
w1 + w2 + b ≤ 0 add up to 0 < 0), so training stops at the epoch limit and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_GATE_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)

# gate name -> (X (4, 2), y (4,)) with labels in {0, 1}
LOGIC_GATES: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "and": (_GATE_X, np.array([0, 0, 0, 1])),
    "or": (_GATE_X, np.array([0, 1, 1, 1])),
    "xor": (_GATE_X, np.array([0, 1, 1, 0])),
}


@dataclass
class PerceptronResult:
    w: np.ndarray  # (D,) final weights
    b: float  # final bias
    converged: bool  # True only if an epoch passed without a single mistake
    epochs: int  # epochs run: up to the first mistake-free one, or the limit
    mistakes: list[int] = field(default_factory=list)  # mistakes in each epoch
    # First epoch that ended in a (w, b) seen at the end of an earlier epoch. With the fixed
    # sample order training is deterministic, so a repeated state proves it cycles forever.
    cycle_epoch: int | None = None


def perceptron_predict(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Step activation: X (N, D) -> (N,) labels, 1 where w·x + b > 0, else 0."""
    return (X @ w + b > 0).astype(int)


def perceptron_train(X: np.ndarray, y: np.ndarray, lr: float = 1.0,
                     max_epochs: int = 100) -> PerceptronResult:
    """Train with the perceptron learning rule from w = 0, b = 0.

    X: (N, D) inputs, y: (N,) labels in {0, 1}. Samples are visited in their given order, so
    the result is deterministic. Never raises on non-separable data: it returns with
    converged=False after `max_epochs`.
    """
    w = np.zeros(X.shape[1])
    b = 0.0
    mistakes: list[int] = []
    seen: set[tuple[float, ...]] = set()
    cycle_epoch = None
    for epoch in range(1, max_epochs + 1):
        errors = 0
        for xi, yi in zip(X, y, strict=True):
            update = lr * (yi - int(xi @ w + b > 0))  # 0 when the prediction is right
            if update != 0:
                w = w + update * xi
                b += update
                errors += 1
        mistakes.append(errors)
        if errors == 0:
            return PerceptronResult(w, b, True, epoch, mistakes)
        state = (*w.tolist(), b)
        if state in seen and cycle_epoch is None:
            cycle_epoch = epoch
        seen.add(state)
    return PerceptronResult(w, b, False, max_epochs, mistakes, cycle_epoch)
