"""Whether two expressions are equal for all values: the proof behind every stated form and
line (the engine) and every rewrite of a derivation (solver.derive), which both import it from
here. A spec's assumptions (a one-hot label: y1 + y2 = 1) may be used: each is solved for one of
its names, which is then replaced on both sides."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sympy

from core.errors import DlhwError
from solver.functions import to_elementary

# One assumption, solved: a name and what it equals (y2 = 1 - y1).
Solved = tuple[tuple[sympy.Symbol, sympy.Expr], ...]


class AssumptionError(DlhwError, ValueError):
    """An assumption that cannot be solved for any of its names."""


def solve_assumptions(equations: Sequence[sympy.Expr]) -> Solved:
    """Each `lhs - rhs` (= 0) solved for its last name (sorted), one after the other."""
    out: list[tuple[sympy.Symbol, sympy.Expr]] = []
    for eq in equations:
        eq = eq.xreplace(dict(out))
        for sym in sorted(eq.free_symbols, key=lambda s: s.name, reverse=True):
            roots = sympy.solve(eq, sym)
            if len(roots) == 1:
                out.append((sym, roots[0]))
                break
        else:
            raise AssumptionError(f"cannot solve {eq} = 0 for one of its names")
    return tuple(out)


@cache
def identical(left: sympy.Expr, right: sympy.Expr, assume: Solved = ()) -> bool:
    """True when left - right simplifies to 0 (course functions rewritten as exponentials),
    with each assumed name replaced by what it equals."""
    # The identity holds for all values, so a class of 500 variants proves it once.
    diff = to_elementary(left - right)
    for sym, value in assume:
        diff = diff.xreplace({sym: value})
    if diff == 0 or sympy.expand(diff) == 0:
        return True
    # Hyperbolic functions in exponentials: then a rational function of e^z, which cancel
    # settles far faster than simplify's trigonometric search.
    in_exp = diff.rewrite(sympy.exp)
    if sympy.cancel(sympy.expand(in_exp)) == 0:
        return True
    # Logarithms of products and quotients (ln p1 = z1 - ln(e^z1 + e^z2)) are split where
    # SymPy knows their arguments positive.
    return bool(sympy.simplify(sympy.expand_log(diff)) == 0)
