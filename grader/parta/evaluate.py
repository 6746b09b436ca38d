"""Formulas evaluated with plain floats at points, and compared there.

A student's formula is evaluated by walking its syntax tree (no eval, no SymPy), a reference
(SymPy, from the spec) by walking its expression: that is what makes grading a class fast. Both
use the float forms of solver.functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import sympy

from grader.parta.tokens import EULER
from solver.expr import Formula, fold
from solver.functions import ANSWER_FLOATS, BY_CLASS


class PointError(ArithmeticError):
    """An expression has no real value at this point (log of a negative, overflow...)."""


def _finite(compute: Callable[[], float]) -> float:
    try:
        value = float(compute())
    except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise PointError(str(exc)) from None
    if not math.isfinite(value):
        raise PointError("not finite")
    return value


def eval_formula(formula: Formula, env: Mapping[str, float]) -> float:
    """Evaluate a parsed formula with floats; PointError where it has no real value."""
    if EULER not in env:  # cheaper than walking the tree for its names
        env = {**env, EULER: math.e}
    return _finite(lambda: fold(formula, float, env.__getitem__, ANSWER_FLOATS, math.pow))


# The table's classes, and what SymPy makes of them (Max's derivative, Min).
_SYMPY_FLOAT: dict[type, Callable[..., float]] = {
    **{cls: f.float for cls, f in BY_CLASS.items()}, sympy.Min: min,
    sympy.Heaviside: lambda v, *_: ANSWER_FLOATS["heaviside"](v)}


def eval_sympy(expr: sympy.Expr, env: Mapping[str, float]) -> float:
    """Evaluate a (trusted, spec-derived) SymPy expression with floats."""
    def ev(e: sympy.Basic) -> float:
        if e.is_Number or e is sympy.E or e is sympy.pi:
            return float(e)
        if e.is_Symbol:
            return env[e.name]
        if e.is_Add:
            return math.fsum(ev(a) for a in e.args)
        if e.is_Mul:
            out = 1.0
            for a in e.args:
                out *= ev(a)
            return out
        if e.is_Pow:
            return math.pow(ev(e.base), ev(e.exp))
        fn = _SYMPY_FLOAT.get(type(e))
        if fn is None:
            raise PointError(f"cannot evaluate {type(e).__name__}")
        return fn(*(ev(a) for a in e.args))

    return _finite(lambda: ev(expr))


def close(a: float, b: float, rel: float) -> bool:
    """Equal to `rel` of max(1, |a|, |b|) (the rubric's parta.symbolic.rel)."""
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def values_at(formula: Formula, points: list[dict[str, float]]) -> list[float | None]:
    """The formula's value at each point; None where it has none."""
    out: list[float | None] = []
    for env in points:
        try:
            out.append(eval_formula(formula, env))
        except PointError:
            out.append(None)
    return out


def agrees(formula: Formula, points: list[dict[str, float]], targets: list[float | None],
           rel: float) -> bool:
    """Equal at every point where the target exists (at least two such points)."""
    compared = 0
    for env, target in zip(points, targets):
        if target is None:
            continue
        try:
            if not close(eval_formula(formula, env), target, rel):
                return False
        except PointError:
            return False
        compared += 1
    return compared >= 2


def has_value(formula: Formula, points: list[dict[str, float]]) -> bool:
    """A real value at every point."""
    try:
        for env in points:
            eval_formula(formula, env)
    except PointError:
        return False
    return True
