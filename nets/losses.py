"""Losses: each returns (loss, gradient of the loss with respect to its first argument).

Both average over the samples, so the gradient carries the 1/N and a learning rate means the
same thing for any batch size.
"""

from __future__ import annotations

import numpy as np


def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error L = mean((pred - target)^2) over every element.

    pred, target: same shape (e.g. (N,) or (N, 1)) -> (L, dL/dpred with pred's shape).
    For one sample this is L = (y - a)^2, the convention of Part A's q2.
    """
    diff = pred - target
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z) row-wise, z: (N, K), as z - logsumexp(z), never taking log of 0."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy_loss(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy L = -mean_n log softmax(logits_n)[y_n].

    logits: (N, K) raw scores, y: (N,) integer labels in [0, K) -> (L, dL/dlogits of (N, K)).
    The gradient is (softmax(logits) - onehot(y)) / N: the softmax and log cancel, which is
    why the two are fused here rather than chained as separate layers.
    """
    n = logits.shape[0]
    logp = log_softmax(logits)
    loss = -float(np.mean(logp[np.arange(n), y]))
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    return loss, dlogits / n
