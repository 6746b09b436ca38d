"""Known-good activations (textbook formulas), one top-level def each. The grader reads this file
with ast, never imports it, and sends the Part B runner only the definitions of the activations
whose own checks the student's code failed, once the activation checks are answered
(grader/notebook_run.py): every later check then tests its own target, so one wrong derivative
costs one check, not every check downstream of it (the layers, the networks), and nothing of an
activation answered right ever enters the sandbox. A helper's name starts with `_`; the runner
provides numpy as np."""

import numpy as np


def _sig(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(z):
    return _sig(z)


def sigmoid_grad(z):
    return _sig(z) * (1.0 - _sig(z))


def tanh(z):
    return np.tanh(z)


def tanh_grad(z):
    return 1.0 - np.tanh(z) ** 2


def relu(z):
    return np.maximum(0.0, z)


def relu_grad(z):
    return (np.asarray(z) > 0).astype(float)


def leaky_relu(z, slope=0.01):
    return np.where(np.asarray(z) > 0, z, slope * np.asarray(z))


def leaky_relu_grad(z, slope=0.01):
    return np.where(np.asarray(z) > 0, 1.0, slope)


def elu(z, alpha=1.0):
    return np.where(np.asarray(z) > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(z, alpha=1.0):
    return np.where(np.asarray(z) > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


def swish(z):
    return np.asarray(z) * _sig(z)


def swish_grad(z):
    return _sig(z) + np.asarray(z) * _sig(z) * (1.0 - _sig(z))


def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
