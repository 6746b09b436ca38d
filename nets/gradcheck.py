"""One central-difference gradient checker, used for every layer and loss in the tests.

    numeric ∂f/∂x_i ≈ (f(x + h e_i) - f(x - h e_i)) / 2h

whose error is O(h²). A layer with array output is reduced to the scalar Σ out ⊙ dout for a
random `dout`, whose gradient is exactly what `backward(dout, cache)` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def numeric_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of the scalar `f()` with respect to the array `x`.

    `x` is perturbed in place, one entry at a time, and restored, so `f` must read `x` itself
    (e.g. a closure over it). Returns an array of x's shape.
    """
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """‖a - b‖ / (‖a‖ + ‖b‖), and 0 when both are zero."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def check_layer(forward: Callable[..., tuple[np.ndarray, Any]],
                backward: Callable[[np.ndarray, Any], Mapping[str, np.ndarray]],
                inputs: Mapping[str, Any], seed: int = 0, h: float = 1e-5) -> dict[str, float]:
    """Relative error of `backward` against central differences, for each float-array input.

    `forward(**inputs) -> (out, cache)`, `backward(dout, cache) -> {input name: gradient}`.
    Non-array inputs (e.g. an activation's name) are passed through and not checked.
    """
    inputs = dict(inputs)
    out, cache = forward(**inputs)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    errors = {}
    for name, value in inputs.items():
        if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)):
            continue
        num = numeric_gradient(lambda: float(np.sum(forward(**inputs)[0] * dout)), value, h)
        errors[name] = rel_error(grads[name], num)
    return errors


def check_loss(loss: Callable[..., tuple[float, np.ndarray]], x: np.ndarray, *args: Any,
               h: float = 1e-5) -> float:
    """Relative error of the gradient `loss(x, *args)` returns against central differences."""
    _, grad = loss(x, *args)
    num = numeric_gradient(lambda: loss(x, *args)[0], x, h)
    return rel_error(grad, num)
