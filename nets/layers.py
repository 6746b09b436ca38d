"""Layers in the CS231n style: `*_forward` returns (out, cache), `*_backward(dout, cache)`
returns the gradients.

The cache is a small frozen dataclass holding exactly what the backward pass needs. Gradients
come back as a dict keyed by the forward function's argument names ("x", "w", "b"), so one
gradient checker (`nets.gradcheck.check_layer`) can prove every layer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nets.activations import ACTIVATIONS, softmax, softmax_backward


@dataclass(frozen=True)
class AffineCache:
    x: np.ndarray  # (N, D) input
    w: np.ndarray  # (D, M) weights


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, AffineCache]:
    """Fully connected layer out = x w + b.

    x: (N, D) inputs, w: (D, M) weights, b: (M,) biases -> out: (N, M).
    """
    return x @ w + b, AffineCache(x=x, w=w)


def affine_backward(dout: np.ndarray, cache: AffineCache) -> dict[str, np.ndarray]:
    """dout: (N, M) upstream gradient -> {"x": (N, D), "w": (D, M), "b": (M,)}."""
    return {
        "x": dout @ cache.w.T,
        "w": cache.x.T @ dout,
        "b": dout.sum(axis=0),  # b is broadcast over the N rows, so its gradients add up
    }


@dataclass(frozen=True)
class ActivationCache:
    x: np.ndarray  # the pre-activation, any shape
    name: str


def activation_forward(x: np.ndarray, name: str) -> tuple[np.ndarray, ActivationCache]:
    """Elementwise activation `name` (a key of ACTIVATIONS): x and out have the same shape."""
    f, _ = ACTIVATIONS[name]
    return f(x), ActivationCache(x=x, name=name)


def activation_backward(dout: np.ndarray, cache: ActivationCache) -> dict[str, np.ndarray]:
    """dout: same shape as x -> {"x": dout * f'(x)} (the chain rule, elementwise)."""
    _, f_grad = ACTIVATIONS[cache.name]
    return {"x": dout * f_grad(cache.x)}


@dataclass(frozen=True)
class SoftmaxCache:
    s: np.ndarray  # (N, K) output probabilities


def softmax_forward(x: np.ndarray) -> tuple[np.ndarray, SoftmaxCache]:
    """Row-wise softmax: x (N, K) logits -> out (N, K) probabilities, rows summing to 1."""
    s = softmax(x, axis=1)
    return s, SoftmaxCache(s=s)


def softmax_layer_backward(dout: np.ndarray, cache: SoftmaxCache) -> dict[str, np.ndarray]:
    """dout: (N, K) -> {"x": (N, K)}, the softmax Jacobian applied row by row."""
    return {"x": softmax_backward(dout, cache.s, axis=1)}
