"""Known-good activations (textbook formulas), sent to the Part B runner only AFTER the
activation checks are answered, and put in place of the student's while every other check runs:
a check tests its own target, so one wrong derivative costs one check, not every check
downstream of it (the layers, the networks). Executed in the runner's namespace (numpy as np
is there); never imported by the grader."""

import numpy as np


def _sig(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


GOOD = {
    "sigmoid": _sig,
    "sigmoid_grad": lambda z: _sig(z) * (1.0 - _sig(z)),
    "tanh": np.tanh,
    "tanh_grad": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: np.maximum(0.0, z),
    "relu_grad": lambda z: (np.asarray(z) > 0).astype(float),
    "leaky_relu": lambda z, slope=0.01: np.where(np.asarray(z) > 0, z, slope * np.asarray(z)),
    "leaky_relu_grad": lambda z, slope=0.01: np.where(np.asarray(z) > 0, 1.0, slope),
    "elu": lambda z, alpha=1.0: np.where(np.asarray(z) > 0, z,
                                         alpha * np.expm1(np.minimum(z, 0.0))),
    "elu_grad": lambda z, alpha=1.0: np.where(np.asarray(z) > 0, 1.0,
                                              alpha * np.exp(np.minimum(z, 0.0))),
    "swish": lambda z: np.asarray(z) * _sig(z),
    "swish_grad": lambda z: _sig(z) + np.asarray(z) * _sig(z) * (1.0 - _sig(z)),
    "softmax": _softmax,
}


def install_good_activations(ns):
    ns.update(GOOD)
    table = ns.get("ACTIVATIONS")
    if not isinstance(table, dict):  # its given cell failed on a name a broken region lacks
        table = ns["ACTIVATIONS"] = dict.fromkeys(n for n in GOOD if n + "_grad" in GOOD)
    for name in list(table):
        if name in GOOD and name + "_grad" in GOOD:
            table[name] = (GOOD[name], GOOD[name + "_grad"])
