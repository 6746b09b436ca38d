"""Whether two expressions are equal for all values: the proof behind every stated form (the
engine) and every rewrite of a derivation (solver.derive), which both import it from here."""

from __future__ import annotations

from functools import cache

import sympy

from solver.functions import to_elementary


@cache
def identical(left: sympy.Expr, right: sympy.Expr) -> bool:
    """True when left - right simplifies to 0 (course functions rewritten as exponentials)."""
    # The identity holds for all values, so a class of 500 variants proves it once.
    diff = to_elementary(left - right)
    if diff == 0 or sympy.expand(diff) == 0:
        return True
    # Hyperbolic functions in exponentials: then a rational function of e^z, which cancel
    # settles far faster than simplify's trigonometric search.
    in_exp = diff.rewrite(sympy.exp)
    return bool(sympy.cancel(sympy.expand(in_exp)) == 0 or sympy.simplify(diff) == 0)
