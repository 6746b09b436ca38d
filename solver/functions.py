"""SymPy functions the course uses that SymPy lacks, each with its derivative beside it."""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy
from sympy import S


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


def to_elementary(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite course functions (σ, sech) in exponentials, for comparison and evaluation."""
    return expr.rewrite(sigmoid, sympy.exp).rewrite(sympy.sech, sympy.exp)


# The functions a formula may call, by the name it uses. `diff` is for specs only: the grader
# passes its own, smaller table.
FUNCTIONS: dict[str, object] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "ln": sympy.log,
    "sqrt": sympy.sqrt,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "sech": sympy.sech,
    "sigmoid": sigmoid,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "max": sympy.Max,
    "Max": sympy.Max,
}
SPEC_FUNCTIONS: dict[str, object] = {**FUNCTIONS, "diff": sympy.diff}


def float_sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)  # the same value, without overflow for very negative v
    return e / (1.0 + e)


# The same functions for floats: reporting values, and judging students' answers at points.
FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exp": math.exp, "log": math.log, "ln": math.log, "sqrt": math.sqrt, "sinh": math.sinh,
    "cosh": math.cosh, "tanh": math.tanh, "sech": lambda v: 1.0 / math.cosh(v),
    "sigmoid": float_sigmoid, "abs": abs, "Abs": abs, "max": max, "Max": max,
}
assert FLOAT_FUNCTIONS.keys() == FUNCTIONS.keys()
