"""Numeric demonstrations a spec can ask for by rule name (`demo: {rule: ...}`).

A demonstration is the one kind of derivation that is a computation, not a formula: a network
trained and shown as a table. Its conclusions are generated from the numbers it measured, so a
claim is printed only when the table supports it. Plain Python floats keep `dlhw solve` free of
numpy and torch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy

from core.numfmt import SIGFIGS
from solver.functions import float_sigmoid
from solver.numbers import show
from solver.spec import Spec, SpecError

FLOAT_SIGFIGS = 15  # a demonstration trains in doubles: no more figures than they carry
PARAMS = ("w11", "w12", "w21", "w22", "b1", "b2", "wh1", "wh2", "bo")
XOR = (((0.0, 0.0), 0.0), ((0.0, 1.0), 1.0), ((1.0, 0.0), 1.0), ((1.0, 1.0), 0.0))


@dataclass(frozen=True)
class Run:
    """One training run: where it started, where it stopped and why."""

    start: dict[str, float]
    end: dict[str, float]
    epochs: int
    loss: float
    accuracy: float
    max_unit_gap: float  # largest |w1j − w2j|-style difference between the hidden units, ever
    stuck: bool  # every gradient exactly 0: training can never move


@dataclass(frozen=True)
class DemoTable:
    title: str
    text: str  # LaTeX-flavoured prose with inline math
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | str, ...]], ...]  # (quantity name, one cell per column)
    conclusions: tuple[str, ...]
    runs: dict[str, Run]


def xavier_uniform(fan_in: int, fan_out: int, rng: random.Random) -> float:
    """One Glorot-uniform draw, U(-r, r) with r = sqrt(6 / (fan_in + fan_out)), not rounded."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound)


def forward(w: Mapping[str, float], x: tuple[float, float]) -> tuple[float, float, float]:
    """The q1 network: w11 joins input 1 to hidden unit 1, w12 input 1 to unit 2, and so on."""
    h1 = float_sigmoid(w["w11"] * x[0] + w["w21"] * x[1] + w["b1"])
    h2 = float_sigmoid(w["w12"] * x[0] + w["w22"] * x[1] + w["b2"])
    return h1, h2, float_sigmoid(w["wh1"] * h1 + w["wh2"] * h2 + w["bo"])


def _unit_gap(w: Mapping[str, float]) -> float:
    return max(abs(w["w11"] - w["w12"]), abs(w["w21"] - w["w22"]), abs(w["b1"] - w["b2"]),
               abs(w["wh1"] - w["wh2"]))


def train_xor(start: Mapping[str, float], eta: float, max_epochs: int, tol: float) -> Run:
    """Full-batch gradient descent on XOR with the mean squared error over the four points.

    Stops when the loss is below `tol`, when every gradient is exactly 0 (a stationary point
    the run can never leave), or after `max_epochs`."""
    w = dict(start)
    gap = _unit_gap(w)
    epoch = 0
    while True:
        grads = dict.fromkeys(w, 0.0)
        loss = 0.0
        for x, y in XOR:
            h1, h2, out = forward(w, x)
            loss += (y - out) ** 2 / len(XOR)
            d_out = -2.0 * (y - out) * out * (1.0 - out) / len(XOR)  # ∂L/∂z_out
            d1 = d_out * w["wh1"] * h1 * (1.0 - h1)  # ∂L/∂z1
            d2 = d_out * w["wh2"] * h2 * (1.0 - h2)
            for k, g in (("wh1", d_out * h1), ("wh2", d_out * h2), ("bo", d_out),
                         ("w11", d1 * x[0]), ("w21", d1 * x[1]), ("b1", d1),
                         ("w12", d2 * x[0]), ("w22", d2 * x[1]), ("b2", d2)):
                grads[k] += g
        stuck = all(g == 0.0 for g in grads.values())
        if loss < tol or stuck or epoch == max_epochs:
            correct = sum((forward(w, x)[2] > 0.5) == (y > 0.5) for x, y in XOR)
            return Run(dict(start), w, epoch, loss, correct / len(XOR), gap, stuck)
        w = {k: w[k] - eta * grads[k] for k in w}
        gap = max(gap, _unit_gap(w))
        epoch += 1


def init_symmetry(spec: Spec, given: Mapping[str, sympy.Rational], sigfigs: int) -> DemoTable:
    """Zero vs Xavier initialisation on XOR with q1's 2-2-1 network, each trained to a stop."""
    p = spec.demo
    try:
        eta, epochs, seed, tol = (float(p["eta"]), int(p["epochs"]), int(p["seed"]),
                                  float(p["tol"]))
    except KeyError as exc:
        raise SpecError(f"{spec.path}: demo.{exc.args[0]}: missing required field") from None
    rng = random.Random(seed)
    # The network's own fans (2 inputs, 2 hidden units, 1 output), whatever the formulas use.
    xavier = {k: xavier_uniform(2, 2, rng) for k in ("w11", "w12", "w21", "w22")}
    xavier |= {k: xavier_uniform(2, 1, rng) for k in ("wh1", "wh2")}
    xavier |= {"b1": 0.0, "b2": 0.0, "bo": 0.0}
    runs = {"zero": train_xor(dict.fromkeys(PARAMS, 0.0), eta, epochs, tol),
            "Xavier": train_xor({k: xavier[k] for k in PARAMS}, eta, epochs, tol)}
    rows: list[tuple[str, tuple[float | str, ...]]] = [
        (k, tuple(v for r in runs.values() for v in (r.start[k], r.end[k]))) for k in PARAMS]
    rows.append(("loss", tuple(v for r in runs.values()
                               for v in (train_xor(r.start, eta, 0, tol).loss, r.loss))))
    rows.append(("accuracy", tuple(v for r in runs.values() for v in (
        f"{train_xor(r.start, eta, 0, tol).accuracy:.0%}", f"{r.accuracy:.0%}"))))
    rows.append(("epochs", tuple(v for r in runs.values() for v in ("0", str(r.epochs)))))
    return DemoTable(
        title="Zero vs Xavier initialisation on XOR, trained until they stop",
        text=(r"The network of question 1 ($2$ inputs, $2$ sigmoid hidden units, $1$ sigmoid "
              r"output) learns XOR, a task no single hidden unit can solve. Mean squared error "
              rf"over the four points, full-batch gradient descent with $\eta = {eta:g}$, stopped "
              rf"when the loss falls below ${tol:g}$, when every gradient is exactly $0$, or "
              rf"after ${epochs}$ epochs. Xavier weights are drawn from $U(-r, r)$ with Python's "
              rf"random.Random({seed}); biases start at $0$. Numbers are shown to "
              rf"${sigfigs}$ significant figures; training uses the unrounded draws."),
        columns=("zero, start", "zero, end", "Xavier, start", "Xavier, end"),
        rows=tuple(rows),
        conclusions=tuple(_conclusions(runs, sigfigs, show)),
        runs=runs,
    )


def _conclusions(runs: Mapping[str, Run], sigfigs: int, show: Callable[..., str]) -> list[str]:
    """Sentences that the runs' numbers support, and only those."""
    zero, xav = runs["zero"], runs["Xavier"]
    out = []
    if zero.max_unit_gap == 0.0:
        out.append("Zero initialisation: the two hidden units have identical weights at every "
                   "epoch (largest difference $0$), so they compute the same function and the "
                   "network can do no more than a network with one hidden unit.")
    if zero.stuck:
        out.append(rf"Here every gradient is exactly $0$ from the start, so training never "
                   rf"moves: the loss stays at ${show(zero.loss, sigfigs, 'latex')}$ and the "
                   rf"accuracy at ${zero.accuracy:.0%}$.".replace("%", r"\%"))
    elif zero.accuracy < 1:
        out.append(rf"After ${zero.epochs}$ epochs its loss is "
                   rf"${show(zero.loss, sigfigs, 'latex')}$ "
                   rf"and its accuracy ${zero.accuracy:.0%}$: it does not solve XOR."
                   .replace("%", r"\%"))
    if xav.max_unit_gap > 0 and xav.accuracy == 1 and xav.loss < zero.loss:
        out.append(rf"Xavier initialisation: the random draws make the two units differ, and "
                   rf"gradient descent solves XOR (accuracy $100\%$, loss "
                   rf"${show(xav.loss, sigfigs, 'latex')}$ after ${xav.epochs}$ epochs).")
    elif xav.accuracy < 1:
        out.append(rf"With this seed Xavier initialisation did not solve XOR either (accuracy "
                   rf"${xav.accuracy:.0%}$ after ${xav.epochs}$ epochs).".replace("%", r"\%"))
    if zero.accuracy < 1 and xav.accuracy == 1:
        out.append("Breaking the symmetry is what lets the hidden layer use both of its units.")
    return out


RULES: dict[str, Callable[[Spec, Mapping[str, sympy.Rational], int], DemoTable]] = {
    "init_symmetry": init_symmetry,
}


def run(spec: Spec, given: Mapping[str, sympy.Rational], sigfigs: int = SIGFIGS) -> DemoTable:
    rule = spec.demo["rule"]
    if rule not in RULES:
        raise SpecError(f"{spec.path}: demo.rule: unknown rule {rule!r} "
                        f"(expected one of {', '.join(RULES)})")
    return RULES[str(rule)](spec, given, min(sigfigs, FLOAT_SIGFIGS))
