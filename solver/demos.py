"""Numeric demonstrations a spec can ask for by rule name (`demo: {rule: ...}`).

A demonstration is the one kind of derivation that is a computation, not a formula: a few steps
of training shown as a table. Plain Python floats keep `dlhw solve` free of numpy and torch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy

from solver.spec import Spec, SpecError


@dataclass(frozen=True)
class DemoTable:
    title: str
    text: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | int | float, ...], ...]
    conclusion: str


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def xavier_uniform(fan_in: int, fan_out: int, rng: random.Random, decimals: int = 4) -> float:
    """One Glorot-uniform draw, U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), rounded."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return round(rng.uniform(-bound, bound), decimals)


def train_2_2_1(weights: dict[str, float], x: tuple[float, float], y: float, eta: float,
                steps: int) -> list[dict[str, float]]:
    """Gradient descent on the q1 network (2 inputs, 2 sigmoid hidden, 1 sigmoid output), MSE loss.

    `weights` uses q1's names: w11 joins input 1 to hidden 1, w12 input 1 to hidden 2, and so on;
    wh1, wh2 and bo are the output layer. Returns the state before each step and after the last.
    """
    w = dict(weights)
    history = []
    for t in range(steps + 1):
        z1 = w["w11"] * x[0] + w["w21"] * x[1] + w["b1"]
        z2 = w["w12"] * x[0] + w["w22"] * x[1] + w["b2"]
        h1, h2 = _sigmoid(z1), _sigmoid(z2)
        out = _sigmoid(w["wh1"] * h1 + w["wh2"] * h2 + w["bo"])
        history.append({**w, "t": t, "h1": h1, "h2": h2, "output": out, "loss": (y - out) ** 2})
        if t == steps:
            break
        d_out = -2.0 * (y - out) * out * (1.0 - out)  # ∂L/∂z_out
        d1 = d_out * w["wh1"] * h1 * (1.0 - h1)  # ∂L/∂z1
        d2 = d_out * w["wh2"] * h2 * (1.0 - h2)
        grads = {"wh1": d_out * h1, "wh2": d_out * h2, "bo": d_out,
                 "w11": d1 * x[0], "w21": d1 * x[1], "b1": d1,
                 "w12": d2 * x[0], "w22": d2 * x[1], "b2": d2}
        w = {k: w[k] - eta * grads[k] for k in w}
    return history


def init_symmetry(spec: Spec, given: Mapping[str, sympy.Rational]) -> DemoTable:
    """Zero vs Xavier initialisation on the q1 network: does gradient descent separate h1, h2?"""
    p = spec.demo
    try:
        x = (float(p["x1"]), float(p["x2"]))
        y, eta, steps, seed = float(p["y"]), float(p["eta"]), int(p["steps"]), int(p["seed"])
    except KeyError as exc:
        raise SpecError(f"{spec.path}: demo.{exc.args[0]}: missing required field") from None
    rng = random.Random(seed)
    fan_h = (int(given["fan_in_hidden"]), int(given["fan_out_hidden"]))
    fan_o = (int(given["fan_in_output"]), int(given["fan_out_output"]))
    xavier = {k: xavier_uniform(*fan_h, rng) for k in ("w11", "w12", "w21", "w22")}
    xavier |= {k: xavier_uniform(*fan_o, rng) for k in ("wh1", "wh2")}
    xavier |= {"b1": 0.0, "b2": 0.0, "bo": 0.0}
    zero = dict.fromkeys(xavier, 0.0)
    rows = []
    for name, init in (("zero", zero), ("Xavier", xavier)):
        for s in train_2_2_1(init, x, y, eta, steps):
            rows.append((name, s["t"], s["w11"], s["w12"], s["w21"], s["w22"], s["h1"], s["h2"],
                         s["loss"]))
    return DemoTable(
        title="Zero vs Xavier initialisation, trained by gradient descent",
        text=(f"The q1 network on x = ({x[0]:g}, {x[1]:g}) with target y = {y:g}, MSE loss, "
              f"learning rate {eta:g}, {steps} steps; biases start at 0 in both schemes, Xavier "
              f"weights are drawn from U(-b, b) with Python's random.Random({seed}). Columns "
              "w11, w21 feed hidden unit 1 and w12, w22 feed hidden unit 2."),
        columns=("init", "step", "w11", "w12", "w21", "w22", "h1", "h2", "loss"),
        rows=tuple(rows),
        conclusion=("With zero initialisation every hidden unit computes the same function and "
                    "receives the same gradient, so w11 = w12, w21 = w22 and h1 = h2 at every "
                    "step: the layer behaves like a single neuron. Xavier's random, variance-"
                    "scaled weights break this symmetry and keep the activations' variance "
                    "roughly constant from layer to layer, so the loss falls faster."),
    )


RULES: dict[str, Callable[[Spec, Mapping[str, sympy.Rational]], DemoTable]] = {
    "init_symmetry": init_symmetry,
}


def run(spec: Spec, given: Mapping[str, sympy.Rational], sig: int = 4) -> DemoTable:
    rule = spec.demo["rule"]
    if rule not in RULES:
        raise SpecError(f"{spec.path}: demo.rule: unknown rule {rule!r} "
                        f"(expected one of {', '.join(RULES)})")
    return RULES[str(rule)](spec, given)
