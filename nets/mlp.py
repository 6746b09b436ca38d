"""A small fully connected network in NumPy and minibatch SGD with momentum.

The network is a stack of affine layers with an elementwise activation between them, built
from `nets.layers`; backward runs the same layers in reverse, each `*_backward` consuming the
cache its `*_forward` produced. Two output heads:

- "softmax": logits -> softmax cross-entropy against integer labels (classification);
  with no hidden layer this is multinomial logistic (softmax) regression.
- "sigmoid": one unit -> σ -> MSE against 0/1 targets (the small logic networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nets.layers import (
    ActivationCache,
    AffineCache,
    activation_backward,
    activation_forward,
    affine_backward,
    affine_forward,
)
from nets.losses import cross_entropy_loss, mse_loss


class MLP:
    """Fully connected network with layer sizes `sizes` = (inputs, hidden..., outputs).

    Parameters live in `self.params` as "W1", "b1", "W2", ... with W_l: (sizes[l-1], sizes[l]).
    Weights start at N(0, gain/fan_in) (He for ReLU-like activations, gain 2; Xavier-like for
    the saturating ones, gain 1), biases at 0, drawn from `rng` so a seed fixes everything.
    """

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator, hidden: str = "relu",
                 output: str = "softmax") -> None:
        if output not in ("softmax", "sigmoid"):
            raise ValueError(f"unknown output head {output!r}")
        if output == "sigmoid" and sizes[-1] != 1:
            raise ValueError("the sigmoid head has exactly one output unit")
        self.sizes = tuple(sizes)
        self.hidden = hidden
        self.output = output
        gain = 2.0 if hidden in ("relu", "leaky_relu", "elu", "swish") else 1.0
        self.params: dict[str, np.ndarray] = {}
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
            self.params[f"W{layer}"] = rng.normal(0.0, np.sqrt(gain / fan_in), (fan_in, fan_out))
            self.params[f"b{layer}"] = np.zeros(fan_out)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, list]:
        """X: (N, sizes[0]) -> (scores (N, sizes[-1]) before the output head, caches)."""
        caches: list[AffineCache | ActivationCache] = []
        h = X
        for layer in range(1, self.n_layers + 1):
            h, affine = affine_forward(h, self.params[f"W{layer}"], self.params[f"b{layer}"])
            caches.append(affine)
            if layer < self.n_layers:
                h, activation = activation_forward(h, self.hidden)
                caches.append(activation)
        return h, caches

    def loss_and_grads(self, X: np.ndarray, y: np.ndarray,
                       weight_decay: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:
        """Mean loss on (X, y) and its gradient for every parameter.

        y: (N,) integer labels ("softmax") or 0/1 targets ("sigmoid"). `weight_decay` adds
        (λ/2) Σ‖W‖² over the weight matrices (not the biases).
        """
        scores, caches = self.forward(X)
        if self.output == "softmax":
            loss, dh = cross_entropy_loss(scores, y)
        else:
            prob, head_cache = activation_forward(scores, "sigmoid")
            loss, dprob = mse_loss(prob, y.reshape(-1, 1).astype(float))
            dh = activation_backward(dprob, head_cache)["x"]
        grads: dict[str, np.ndarray] = {}
        for layer in range(self.n_layers, 0, -1):
            if layer < self.n_layers:
                dh = activation_backward(dh, caches.pop())["x"]
            g = affine_backward(dh, caches.pop())
            dh = g["x"]
            grads[f"W{layer}"] = g["w"]
            grads[f"b{layer}"] = g["b"]
        if weight_decay:
            for layer in range(1, self.n_layers + 1):
                W = self.params[f"W{layer}"]
                loss += 0.5 * weight_decay * float(np.sum(W * W))
                grads[f"W{layer}"] = grads[f"W{layer}"] + weight_decay * W
        return loss, grads

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K) for "softmax", P(y = 1) as (N,) for "sigmoid"."""
        scores, _ = self.forward(X)
        if self.output == "sigmoid":
            return activation_forward(scores, "sigmoid")[0].reshape(-1)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) predicted labels."""
        scores = self.predict_scores(X)
        if self.output == "sigmoid":
            return (scores > 0.5).astype(int)
        return scores.argmax(axis=1)


def sgd_momentum_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                      velocity: dict[str, np.ndarray], lr: float, momentum: float) -> None:
    """In place: v ← μ v - η g, then θ ← θ + v (momentum 0 is plain SGD)."""
    for name, g in grads.items():
        v = momentum * velocity.get(name, 0.0) - lr * g
        velocity[name] = v
        params[name] += v


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # mean minibatch loss of each epoch
    test_accuracy: list[float] = field(default_factory=list)  # after each epoch, if given


def train_sgd(model: MLP, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, epochs: int,
              batch_size: int, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
              cosine: bool = False, X_eval: np.ndarray | None = None,
              y_eval: np.ndarray | None = None) -> History:
    """Minibatch SGD with momentum; the samples are reshuffled by `rng` every epoch.

    `cosine` anneals the learning rate from `lr` towards 0 along a half cosine over all the
    steps, which lets a large early rate explore and a small late one settle. (X_eval, y_eval),
    when given, is only measured (accuracy after each epoch), never trained on.
    """
    n = X.shape[0]
    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    velocity: dict[str, np.ndarray] = {}
    history = History()
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss, grads = model.loss_and_grads(X[idx], y[idx], weight_decay)
            rate = lr * 0.5 * (1.0 + np.cos(np.pi * step / total)) if cosine else lr
            sgd_momentum_step(model.params, grads, velocity, rate, momentum)
            losses.append(loss)
            step += 1
        history.train_loss.append(float(np.mean(losses)))
        if X_eval is not None and y_eval is not None:
            history.test_accuracy.append(float(np.mean(model.predict(X_eval) == y_eval)))
    return history
