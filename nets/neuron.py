"""A single sigmoid neuron a = σ(w·x + b) trained by gradient descent on the MSE loss.

`neuron_step` spells out one forward pass and one backpropagation update with every
intermediate quantity named, in the notation of Part A's q2 (L = (y - a)^2 for one sample);
`neuron_gradients` computes the same gradients for a batch through the layer API, and
`train_neuron` loops it and records the loss curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nets.activations import sigmoid, sigmoid_grad
from nets.layers import activation_backward, activation_forward, affine_backward, affine_forward
from nets.losses import mse_loss


@dataclass(frozen=True)
class NeuronStep:
    """Every quantity of one forward and backward pass for one sample."""

    z: float  # pre-activation w·x + b
    a: float  # prediction σ(z)
    loss: float  # (y - a)^2
    dL_da: float  # -2 (y - a)
    da_dz: float  # σ(z)(1 - σ(z))
    dL_dz: float  # dL/da · da/dz
    dL_dw: np.ndarray  # dL/dz · x, shape of w
    dL_db: float  # dL/dz · 1
    w_new: np.ndarray  # w - lr · dL/dw
    b_new: float  # b - lr · dL/db


def neuron_step(x: np.ndarray | float, y: float, w: np.ndarray | float, b: float,
                lr: float) -> NeuronStep:
    """One gradient-descent step for one sample; x and w: (D,) (or scalars), y a number."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    z = float(np.sum(w * x) + b)
    a = float(sigmoid(np.asarray(z)))
    loss = (y - a) ** 2
    dL_da = -2.0 * (y - a)
    da_dz = float(sigmoid_grad(np.asarray(z)))
    dL_dz = dL_da * da_dz  # chain rule through the activation
    dL_dw = dL_dz * x  # ∂z/∂w = x
    dL_db = dL_dz  # ∂z/∂b = 1
    return NeuronStep(z, a, loss, dL_da, da_dz, dL_dz, dL_dw, dL_db,
                      w - lr * dL_dw, b - lr * dL_db)


def neuron_gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray,
                     b: float) -> tuple[float, np.ndarray, float]:
    """Batch MSE loss and its gradients through the layers.

    X: (N, D), y: (N,), w: (D,) -> (loss, dL/dw (D,), dL/db), loss averaged over the N samples.
    """
    z, affine_cache = affine_forward(X, w.reshape(-1, 1), np.array([b]))
    a, act_cache = activation_forward(z, "sigmoid")
    loss, da = mse_loss(a, y.reshape(-1, 1))
    dz = activation_backward(da, act_cache)["x"]
    grads = affine_backward(dz, affine_cache)
    return loss, grads["w"].reshape(-1), float(grads["b"][0])


def train_neuron(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lr: float,
                 epochs: int) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent; returns (w, b, loss before each update)."""
    w = np.asarray(w, dtype=float).copy()
    losses = []
    for _ in range(epochs):
        loss, dw, db = neuron_gradients(X, y, w, b)
        losses.append(loss)
        w -= lr * dw
        b -= lr * db
    return w, b, losses
