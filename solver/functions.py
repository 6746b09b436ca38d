"""The one table of functions a formula may call: each with its SymPy form, its float and
mpmath forms, its derivative rule, how it prints and how students spell it.

Everything else reads its own view of this table: the spec language and the exact numbers
(solver.expr, solver.numbers), the derivations (solver.derive), the printer, and the grader's
formula reader and float evaluation (grader.parta). A new function is one `Function` here; it
needs a derivative rule only if its SymPy form is a class of its own (a composition of the
others, softplus = log(1 + exp(z)), is differentiated through them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import sympy
from sympy import S

from core.errors import DlhwError


class DomainError(DlhwError, ValueError):
    """A number outside a function's domain (the square root of a negative number)."""


class sigmoid(sympy.Function):  # noqa: N801 - SymPy function classes are lower-case by convention
    """The logistic function σ(z) = 1 / (1 + e^(-z))."""

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return S.Half
        return None

    def fdiff(self, argindex=1):
        # σ'(z) = σ(z)(1 − σ(z)): the form students are taught, kept unexpanded.
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return 1 / (1 + sympy.exp(-arg))

    def _eval_evalf(self, prec):
        return self.rewrite(sympy.exp)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else f"{body}^{{{exp}}}"


def float_sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)  # the same value, without overflow for very negative v
    return e / (1.0 + e)


def to_mpf(v: Fraction | mpmath.mpf) -> mpmath.mpf:
    """An exact Fraction or an mpmath number as an mpmath number (at the working precision)."""
    return mpmath.mpf(v.numerator) / v.denominator if isinstance(v, Fraction) else v


# ---------------------------------------------------------------- derivative rules


@dataclass(frozen=True)
class Outer:
    """Differentiated directly: d/dz f(g) = derivative(g)·g' (the chain rule when g ≠ z)."""

    rule: str  # its name in a derivation, e.g. "exponential rule"
    derivative: Callable[[sympy.Expr], sympy.Expr]


@dataclass(frozen=True)
class Definition:
    """First replaced by its definition, the step a student is taught to write."""

    rule: str  # LaTeX-flavoured text with inline math
    body: Callable[[sympy.Expr], sympy.Expr]


# ---------------------------------------------------------------- exact values at rationals


def _at_zero(value: int) -> Callable[[Fraction], Fraction | None]:
    return lambda v: Fraction(value) if v == 0 else None


def _sqrt_exact(v: Fraction) -> Fraction | None:
    if v < 0:
        raise DomainError(f"sqrt of the negative number {v}")
    rn, rd = math.isqrt(v.numerator), math.isqrt(v.denominator)
    return Fraction(rn, rd) if rn * rn == v.numerator and rd * rd == v.denominator else None


def _log_exact(v: Fraction) -> Fraction | None:
    if v <= 0:
        raise DomainError(f"log of the non-positive number {v}")
    return Fraction(0) if v == 1 else None


def _largest(*args: Fraction | mpmath.mpf) -> Fraction | mpmath.mpf:
    # The argument itself, exact or not: max(0, -0.3) is an exact 0, not a rounded one.
    return max(args, key=to_mpf)


def _smallest(*args: Fraction | mpmath.mpf) -> Fraction | mpmath.mpf:
    return min(args, key=to_mpf)


def _relu(v: Fraction | mpmath.mpf) -> Fraction | mpmath.mpf:
    return v if to_mpf(v) > 0 else Fraction(0)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Function:
    """One function formulas may call. `exact` gives the value where it is known exactly: at
    rational arguments, or for a piecewise function (`piecewise`) at any, since it only picks
    or signs its arguments; elsewhere `mp` computes it at mpmath's working precision."""

    name: str  # as a formula calls it
    sympy: Callable[..., Any]  # the SymPy form: a class, or a composition of other functions
    float: Callable[..., float]  # with floats: values reported, answers judged at points
    mp: Callable[..., Any] | None = None  # at mpmath precision (None: not callable in specs)
    exact: Callable[..., Any] | None = None
    rule: Outer | Definition | None = None  # None: piecewise, or a composition
    aliases: tuple[str, ...] = ()  # further names a formula may call it by
    spellings: tuple[str, ...] = ()  # words (any case) and LaTeX commands students write for it
    latex: str | None = None  # None: \operatorname{name}
    plain: str | None = None  # terminal text; None: the name called
    powered: bool = False  # an integer power goes on the name: tanh²(z)
    piecewise: bool = False  # derived on a branch (solver.derive), picks its arguments
    elementary: bool = True  # False: rewritten in exponentials before a proof (σ, sech)
    specs: bool = True  # False: read in students' answers only (the indicator 1[z > 0])

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


REGISTRY: tuple[Function, ...] = (
    Function("exp", sympy.exp, math.exp, mpmath.exp, _at_zero(1),
             Outer("exponential rule", sympy.exp), spellings=("exp",)),
    Function("log", sympy.log, math.log, mpmath.log, _log_exact,
             Outer("logarithm rule", lambda g: 1 / g), aliases=("ln",),
             spellings=("ln", "log"), latex=r"\ln", plain="ln", powered=True),
    Function("sqrt", sympy.sqrt, math.sqrt, mpmath.sqrt, _sqrt_exact,
             Outer("square-root rule", lambda g: 1 / (2 * sympy.sqrt(g))), spellings=("sqrt",)),
    Function("sinh", sympy.sinh, math.sinh, mpmath.sinh, _at_zero(0),
             Outer("sinh rule", sympy.cosh), spellings=("sinh",), latex=r"\sinh", powered=True),
    Function("cosh", sympy.cosh, math.cosh, mpmath.cosh, _at_zero(1),
             Outer("cosh rule", sympy.sinh), spellings=("cosh",), latex=r"\cosh", powered=True),
    Function("tanh", sympy.tanh, math.tanh, mpmath.tanh, _at_zero(0),
             Definition(r"definition $\tanh z = \sinh z/\cosh z$",
                        lambda g: sympy.sinh(g) / sympy.cosh(g)),
             spellings=("tanh",), latex=r"\tanh", powered=True),
    Function("sech", sympy.sech, lambda v: 1.0 / math.cosh(v), mpmath.sech, _at_zero(1),
             Definition(r"definition $\operatorname{sech} z = 1/\cosh z$",
                        lambda g: 1 / sympy.cosh(g)),
             spellings=("sech",), latex=r"\operatorname{sech}", powered=True, elementary=False),
    Function("sigmoid", sigmoid, float_sigmoid, lambda v: 1 / (1 + mpmath.exp(-v)),
             lambda v: Fraction(1, 2) if v == 0 else None,
             Definition(r"definition $\sigma(z) = 1/(1 + e^{-z})$",
                        lambda g: 1 / (1 + sympy.exp(-g))),
             spellings=("sigma", "sigmoid", "sig"), latex=r"\sigma", plain="σ", powered=True,
             elementary=False),
    Function("abs", sympy.Abs, abs, mpmath.fabs, abs, aliases=("Abs",), spellings=("abs",),
             piecewise=True),
    Function("max", sympy.Max, max, max, _largest, aliases=("Max",), spellings=("max",),
             latex=r"\max", plain="max", piecewise=True),
    Function("min", sympy.Min, min, min, _smallest, aliases=("Min",), spellings=("min",),
             latex=r"\min", plain="min", piecewise=True),
    Function("relu", lambda g: sympy.Max(0, g), lambda v: max(0.0, v), _relu, _relu,
             spellings=("relu",), latex=r"\operatorname{ReLU}", plain="ReLU", piecewise=True),
    # 1[z > 0] as q4's own notes write it; points never sit on the kink, so its value at 0
    # does not matter.
    Function("heaviside", lambda v: sympy.Heaviside(v), lambda v: 1.0 if v > 0 else 0.0,
             spellings=("heaviside",), piecewise=True, specs=False),
)


def _table(field: Callable[[Function], Any], specs_only: bool = True) -> dict[str, Any]:
    """Called name → a field of its function, in the table's order."""
    return {name: field(f) for f in REGISTRY if f.specs or not specs_only for name in f.names}


# The functions a spec may call, by the name it uses. `diff` is for specs only.
FUNCTIONS: dict[str, Any] = _table(lambda f: f.sympy)
SPEC_FUNCTIONS: dict[str, Any] = {**FUNCTIONS, "diff": sympy.diff}
# The same functions for floats: reporting values, and judging students' answers at points.
FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = _table(lambda f: f.float)
# What a student's answer may call: the spec functions and the grader's own (heaviside).
ANSWER_FUNCTIONS: dict[str, Any] = _table(lambda f: f.sympy, specs_only=False)
ANSWER_FLOATS: dict[str, Callable[..., float]] = _table(lambda f: f.float, specs_only=False)
# Words students write for a function (lower case), and LaTeX commands: the name it is read as.
SPELLINGS: dict[str, str] = {s: f.name for f in REGISTRY for s in f.spellings}
# SymPy classes of the table, by class: derivations and float evaluation of SymPy results.
BY_CLASS: dict[type, Function] = {f.sympy: f for f in REGISTRY if isinstance(f.sympy, type)}
BY_NAME: dict[str, Function] = {n: f for f in REGISTRY for n in f.names}
NOT_ELEMENTARY: tuple[type, ...] = tuple(c for c, f in BY_CLASS.items() if not f.elementary)


def to_elementary(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite course functions (σ, sech) in exponentials, for comparison and evaluation."""
    for cls in NOT_ELEMENTARY:
        expr = expr.rewrite(cls, sympy.exp)
    return expr
