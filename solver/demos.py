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
from decimal import Decimal
from fractions import Fraction

import sympy

from core.numfmt import SIGFIGS
from solver.functions import float_sigmoid
from solver.numbers import show
from solver.spec import Spec, located

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
    rows: tuple[tuple[str, tuple[float | str | Figures, ...]], ...]  # (quantity, cells)
    conclusions: tuple[str, ...]
    runs: dict[str, Run]


def xavier_uniform(fan_in: int, fan_out: int, rng: random.Random) -> float:
    """One Glorot-uniform draw, U(-r, r) with r = sqrt(6 / (fan_in + fan_out)), not rounded."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound)


def _relu(v: float) -> float:
    return v if v > 0 else 0.0


# Hidden units: the activation and its derivative in terms of the unit's output h (σ' = h(1−h);
# ReLU's is 1 where h > 0, and 0 at the kink, as PyTorch takes it).
HIDDEN: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "sigmoid": (float_sigmoid, lambda h: h * (1.0 - h)),
    "relu": (_relu, lambda h: 1.0 if h > 0 else 0.0),
}


def forward(w: Mapping[str, float], x: tuple[float, float], hidden: str = "sigmoid"
            ) -> tuple[float, float, float]:
    """The q1 network: w11 joins input 1 to hidden unit 1, w12 input 1 to unit 2, and so on."""
    act = HIDDEN[hidden][0]
    h1 = act(w["w11"] * x[0] + w["w21"] * x[1] + w["b1"])
    h2 = act(w["w12"] * x[0] + w["w22"] * x[1] + w["b2"])
    return h1, h2, float_sigmoid(w["wh1"] * h1 + w["wh2"] * h2 + w["bo"])


def gradients(w: Mapping[str, float], hidden: str = "sigmoid") -> tuple[float, dict[str, float]]:
    """The mean squared error over XOR's four points and its gradient, by backpropagation."""
    grads = dict.fromkeys(w, 0.0)
    loss = 0.0
    slope = HIDDEN[hidden][1]
    for x, y in XOR:
        h1, h2, out = forward(w, x, hidden)
        loss += (y - out) ** 2 / len(XOR)
        d_out = -2.0 * (y - out) * out * (1.0 - out) / len(XOR)  # ∂L/∂z_out
        d1 = d_out * w["wh1"] * slope(h1)  # ∂L/∂z1
        d2 = d_out * w["wh2"] * slope(h2)
        for k, g in (("wh1", d_out * h1), ("wh2", d_out * h2), ("bo", d_out),
                     ("w11", d1 * x[0]), ("w21", d1 * x[1]), ("b1", d1),
                     ("w12", d2 * x[0]), ("w22", d2 * x[1]), ("b2", d2)):
            grads[k] += g
    return loss, grads


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
        loss, grads = gradients(w)
        stuck = all(g == 0.0 for g in grads.values())
        if loss < tol or stuck or epoch == max_epochs:
            correct = sum((forward(w, x)[2] > 0.5) == (y > 0.5) for x, y in XOR)
            return Run(dict(start), w, epoch, loss, correct / len(XOR), gap, stuck)
        w = {k: w[k] - eta * grads[k] for k in w}
        gap = max(gap, _unit_gap(w))
        epoch += 1


@dataclass(frozen=True)
class Figures:
    """A table cell shown to more figures than the others (to show it is below a bound)."""

    value: float
    sigfigs: int


def below(value: float, bound: float, sigfigs: int) -> int:
    """The fewest figures, at least `sigfigs`, at which `value` is seen to be below `bound`
    (0.0099997 < 0.01, where 4 figures would show 0.01000)."""
    for k in range(sigfigs, FLOAT_SIGFIGS + 1):
        if Fraction(Decimal(show(value, k, "ascii"))) < Fraction(Decimal(repr(bound))):
            return k
    return FLOAT_SIGFIGS


def _settings(spec: Spec) -> tuple[float, int, int, float]:
    """η, epochs, seed and tolerance of the demonstration, each within what can run."""
    p = spec.demo
    bounds = {"eta": (0, 100), "epochs": (0, 20000), "seed": (0, 2**32), "tol": (0, 1)}
    out: dict[str, float] = {}
    for name, (lo, hi) in bounds.items():
        if name not in p:
            raise located(spec, f"demo.{name}", "missing required field")
        value = p[name]
        whole = name in ("epochs", "seed")
        if isinstance(value, str) or not lo <= value <= hi or (whole and not value.is_integer) \
                or (name in ("eta", "tol") and value == 0):
            kind = "an integer" if whole else "a number"
            raise located(spec, f"demo.{name}", f"expected {kind} in {'[' if whole else '('}{lo}, "
                            f"{hi}]")
        out[name] = float(value)
    return out["eta"], int(out["epochs"]), int(out["seed"]), out["tol"]


def init_symmetry(spec: Spec, given: Mapping[str, sympy.Rational], sigfigs: int) -> DemoTable:
    """Zero vs Xavier initialisation on XOR with q1's 2-2-1 network, each trained to a stop."""
    eta, epochs, seed, tol = _settings(spec)
    rng = random.Random(seed)
    # The network's own fans (2 inputs, 2 hidden units, 1 output), whatever the formulas use.
    xavier = {k: xavier_uniform(2, 2, rng) for k in ("w11", "w12", "w21", "w22")}
    xavier |= {k: xavier_uniform(2, 1, rng) for k in ("wh1", "wh2")}
    xavier |= {"b1": 0.0, "b2": 0.0, "bo": 0.0}
    runs = {"zero": train_xor(dict.fromkeys(PARAMS, 0.0), eta, epochs, tol),
            "Xavier": train_xor({k: xavier[k] for k in PARAMS}, eta, epochs, tol)}
    rows: list[tuple[str, tuple[float | str | Figures, ...]]] = [
        (k, tuple(v for r in runs.values() for v in (r.start[k], r.end[k]))) for k in PARAMS]
    # A run stopped for reaching the tolerance shows enough figures to be seen below it.
    rows.append(("loss", tuple(v for r in runs.values() for v in (
        gradients(r.start)[0],
        Figures(r.loss, below(r.loss, tol, sigfigs)) if r.loss < tol else r.loss))))
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
              rf"${sigfigs}$ significant figures (a loss below ${tol:g}$ to as many as show it "
              r"below); training uses the unrounded draws."),
        columns=("zero, start", "zero, end", "Xavier, start", "Xavier, end"),
        rows=tuple(rows),
        conclusions=tuple(_conclusions(runs, sigfigs, show, tol)),
        runs=runs,
    )


def _loss(run: Run, sigfigs: int, tol: float) -> str:
    return show(run.loss, below(run.loss, tol, sigfigs) if run.loss < tol else sigfigs, "latex")


def _relu_sentence(sigmoid_stuck: bool) -> str:
    """What zero initialisation does with ReLU hidden units, from their gradients at zero."""
    _, grads = gradients(dict.fromkeys(PARAMS, 0.0), "relu")
    moving = sorted(k for k, g in grads.items() if g != 0.0)
    head = ("ReLU hidden units would fare no better" if sigmoid_stuck else
            "With ReLU hidden units zero initialisation is worse still") + \
        (r": every hidden unit outputs $\mathrm{ReLU}(0) = 0$, so the gradients of all hidden "
         r"and output weights are exactly $0$")
    if moving == ["bo"]:
        return head + "; only the output bias learns, and the network can only output a constant."
    if not moving:
        return head + (r", and on XOR even the output bias's gradient is $0$ (the targets "
                       r"average to $\sigma(0) = 0.5$): nothing learns at all.")
    return head.replace("all hidden and output weights are exactly $0$",
                        "the hidden weights are exactly $0$") + "."


def _conclusions(runs: Mapping[str, Run], sigfigs: int, show: Callable[..., str],
                 tol: float = 0.0) -> list[str]:
    """Sentences that the runs' numbers support, and only those."""
    zero, xav = runs["zero"], runs["Xavier"]
    out = []
    if zero.max_unit_gap == 0.0:
        out.append("Zero initialisation: the two hidden units have identical weights at every "
                   "epoch (largest difference $0$), so they compute the same function and the "
                   "network can do no more than a network with one hidden unit.")
    if zero.stuck:
        out.append(rf"Here every gradient is exactly $0$ from the start, so training never "
                   rf"moves: the loss stays at ${_loss(zero, sigfigs, tol)}$ and the "
                   rf"accuracy at ${zero.accuracy:.0%}$.".replace("%", r"\%"))
    elif zero.accuracy < 1:
        out.append(rf"After ${zero.epochs}$ epochs its loss is ${_loss(zero, sigfigs, tol)}$ "
                   rf"and its accuracy ${zero.accuracy:.0%}$: it does not solve XOR."
                   .replace("%", r"\%"))
    if zero.max_unit_gap == 0.0:
        out.append(_relu_sentence(zero.stuck))
    if xav.max_unit_gap > 0 and xav.accuracy == 1 and xav.loss < zero.loss:
        out.append(rf"Xavier initialisation: the random draws make the two units differ, and "
                   rf"gradient descent solves XOR (accuracy $100\%$, loss "
                   rf"${_loss(xav, sigfigs, tol)}$ after ${xav.epochs}$ epochs).")
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
        raise located(spec, "demo.rule", f"unknown rule {rule!r} "
                        f"(expected one of {', '.join(RULES)})")
    return RULES[str(rule)](spec, given, min(sigfigs, FLOAT_SIGFIGS))
