"""Activation functions, each with its derivative right beside it (micrograd style).

Every `f_grad(z)` is the elementwise derivative df/dz evaluated at the pre-activation `z`, so a
backward pass is `dz = dout * f_grad(z)`. Softmax is not elementwise: its backward pass is the
Jacobian-vector product `softmax_backward`. All functions accept arrays of any shape and are
written so that no input overflows (large |z| never produces inf or nan).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^{-z}), computed without overflow for large |z|."""
    z = np.asarray(z, dtype=float)
    # e^{-|z|} is always in (0, 1]; the two branches are the same function rearranged.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """σ'(z) = σ(z)(1 - σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """tanh(z)."""
    return np.tanh(z)


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """tanh'(z) = 1 - tanh(z)^2."""
    return 1.0 - np.tanh(z) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    """max(0, z)."""
    return np.maximum(0.0, z)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """1 for z > 0, else 0 (the subgradient 0 is taken at z = 0)."""
    return (np.asarray(z) > 0).astype(float)


def leaky_relu(z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """max(slope·z, z) for 0 < slope < 1."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, slope * z)


def leaky_relu_grad(z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """1 for z > 0, else `slope`."""
    return np.where(np.asarray(z) > 0, 1.0, slope)


def elu(z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """z for z > 0, α(e^z - 1) otherwise."""
    z = np.asarray(z, dtype=float)
    # expm1 keeps precision near 0; min(z, 0) keeps exp from overflowing on the unused branch.
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """1 for z > 0, α e^z (= elu(z) + α) otherwise."""
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def swish(z: np.ndarray) -> np.ndarray:
    """z σ(z) (SiLU)."""
    return z * sigmoid(z)


def swish_grad(z: np.ndarray) -> np.ndarray:
    """σ(z) + z σ(z)(1 - σ(z)), by the product rule."""
    s = sigmoid(z)
    return s + z * s * (1.0 - s)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """e^{z_i} / Σ_j e^{z_j} along `axis`.

    Subtracting the maximum first changes nothing mathematically (it cancels between numerator
    and denominator) but keeps every exponent ≤ 0, so nothing overflows.
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dout: np.ndarray, s: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dz from dL/ds for s = softmax(z): the Jacobian diag(s) - s sᵀ applied to `dout`.

    Written as s ⊙ (dout - <dout, s>) so the N×K×K Jacobian is never built.
    """
    return s * (dout - np.sum(dout * s, axis=axis, keepdims=True))


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """The K×K matrix ∂s_i/∂z_j = s_i(δ_ij - s_j) for one logit vector z of shape (K,)."""
    s = softmax(np.asarray(z, dtype=float).reshape(-1))
    return np.diag(s) - np.outer(s, s)


# name -> (f, f') for the elementwise activations, used by layers and models.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "swish": (swish, swish_grad),
}
