"""Derivations as data: `diff(f, z)` unfolded rule by rule, every step proven by the engine.

A derivation starts from the unevaluated derivative d/dz[f] and applies one differentiation rule
at a time (sum, constant multiple, product, quotient, power, exponential, logarithm, hyperbolic
functions, the definitions of tanh, sech and σ, a piecewise branch) until no derivative is left.
Each rule rewrites derivative nodes only, and each rewrite is proven equal to the node it
replaces (SymPy's own `diff`, then `solver.identity.identical`), so a wrong rule cannot print:
the whole line equals the previous one by substitution of equals. Nothing here knows about any
question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sympy
from sympy import Derivative

from core.errors import DlhwError
from solver.functions import BY_CLASS, Definition, Outer, to_elementary
from solver.identity import identical

MAX_STEPS = 40


class DerivationError(DlhwError, ValueError):
    """A derivative the rules cannot unfold (or a rewrite that failed its proof)."""


@dataclass(frozen=True)
class Branch:
    """The piece of a piecewise function a derivation is on: `name op 0`-style conditions."""

    var: sympy.Symbol
    positive: bool  # True: var > bound; False: var < bound
    bound: sympy.Rational = sympy.S.Zero

    def __str__(self) -> str:
        return f"{self.var} {'>' if self.positive else '<'} {self.bound}"

    def restrict(self, expr: sympy.Expr) -> sympy.Expr:
        """`expr` with max/abs/step functions resolved on this branch (var − bound signed)."""
        d = sympy.Dummy("t", positive=True)
        shifted = self.bound + d if self.positive else self.bound - d
        return expr.subs(self.var, shifted).subs(d, (self.var - self.bound) * (1 if self.positive
                                                                              else -1))


@dataclass(frozen=True)
class DStep:
    rule: str  # the rule(s) applied to reach `expr`, e.g. "chain rule (power)"
    expr: sympy.Expr  # the whole expression after the rule, derivatives left unevaluated


# The table's piecewise classes, and those SymPy makes of them (Max's derivative, Min).
_PIECEWISE = (*(c for c, f in BY_CLASS.items() if f.piecewise), sympy.Min, sympy.Heaviside,
              sympy.sign)


def _d(f: sympy.Expr, v: sympy.Symbol) -> sympy.Expr:
    return Derivative(f, v, evaluate=False)


def _rule(f: sympy.Expr, v: sympy.Symbol, branch: Branch | None
          ) -> tuple[str, sympy.Expr]:
    """The one rule that applies to d/dv[f], and what it rewrites the derivative to."""
    if not f.has(v):
        return "constant rule", sympy.S.Zero
    if f == v:
        return "identity rule", sympy.S.One
    if f.has(*_PIECEWISE):
        if branch is None:
            raise DerivationError(f"d/d{v}[{f}] is piecewise: the answer needs a branch "
                                  f"(where: '{v} > 0' or '{v} < 0')")
        piece = branch.restrict(f)
        if piece.has(*_PIECEWISE):
            raise DerivationError(f"{f} is not one formula on the branch {branch}")
        return f"on the branch ${branch}$", _d(piece, v)
    if isinstance(f, sympy.Add):
        return "sum rule", sympy.Add(*(_d(t, v) for t in f.args))
    if isinstance(f, sympy.Mul):
        const, rest = f.as_independent(v, as_Add=False)
        if const != 1:
            return "constant multiple rule", const * _d(rest, v)
        num, den = f.as_numer_denom()
        if den.has(v) and num.has(v) and den != 1:
            return "quotient rule", (_d(num, v) * den - num * _d(den, v)) / den**2
        first, others = f.args[0], sympy.Mul(*f.args[1:])
        return "product rule", _d(first, v) * others + first * _d(others, v)
    if isinstance(f, sympy.Pow):
        base, exp = f.args
        if not exp.has(v):
            if base == v:
                return "power rule", exp * base ** (exp - 1)
            # One Mul call: 2*(y - a) times a derivative stays factored (2*(y-a) alone distributes).
            return "chain rule (power)", sympy.Mul(exp, base ** (exp - 1), _d(base, v))
        return "rewrite as an exponential", _d(sympy.exp(exp * sympy.log(base)), v)
    outer = _OUTER.get(type(f))
    if outer is not None:
        name, derivative = outer
        (g,) = f.args
        if g == v:
            return name, derivative(g)
        return f"chain rule ({name.removesuffix(' rule')})", sympy.Mul(derivative(g), _d(g, v))
    definition = _DEFINITIONS.get(type(f))
    if definition is not None:
        name, body = definition
        return name, _d(body(*f.args), v)
    raise DerivationError(f"no differentiation rule for {f.func.__name__}")


# The table's derivative rules by SymPy class (solver.functions): functions differentiated
# directly, with the outer derivative at the argument, and functions first replaced by their
# definition.
_OUTER: dict[type, tuple[str, Callable[[sympy.Expr], sympy.Expr]]] = {
    cls: (f.rule.rule, f.rule.derivative) for cls, f in BY_CLASS.items()
    if isinstance(f.rule, Outer)}
_DEFINITIONS: dict[type, tuple[str, Callable[[sympy.Expr], sympy.Expr]]] = {
    cls: (f.rule.rule, f.rule.body) for cls, f in BY_CLASS.items()
    if isinstance(f.rule, Definition)}


@cache
def _proven(node: sympy.Expr, rewrite: sympy.Expr, branch: Branch | None) -> bool:
    left, right = node.doit(), rewrite.doit()
    if branch is not None:
        left, right = branch.restrict(left), branch.restrict(right)
    return identical(to_elementary(left), to_elementary(right))


@cache  # a class of 500 variants derives each formula once (it has no numbers in it)
def derive(f: sympy.Expr, v: sympy.Symbol, branch: Branch | None = None) -> tuple[DStep, ...]:
    """The steps from d/dv[f] to a derivative-free expression; DerivationError if stuck."""
    current = _d(f, v)
    steps: list[DStep] = [DStep("", current)]
    while current.has(Derivative):
        nodes = [n for n in sympy.preorder_traversal(current) if isinstance(n, Derivative)]
        name, _ = _rule(nodes[0].expr, v, branch)
        key = name.split(" (")[0]
        rewrites: dict[sympy.Expr, sympy.Expr] = {}
        names = [name]
        for node in nodes:
            rule, rewrite = _rule(node.expr, v, branch)
            if rule.split(" (")[0] == key:
                rewrites[node] = rewrite
                if rule not in names:
                    names.append(rule)
        current = _substitute(current, rewrites, branch)
        # Derivatives of constants and of the variable itself are folded in as they appear.
        # (Not after choosing a branch: the piece it picks is worth a line of its own.)
        trivial = {} if key.startswith("on the branch") else {
            n: _rule(n.expr, v, branch)[1] for n in current.atoms(Derivative)
            if not n.expr.has(v) or n.expr == v}
        if trivial:
            current = _substitute(current, trivial, branch)
            names += [r for r in ("constant rule", "identity rule")
                      if r not in names and any(_rule(n.expr, v, branch)[0] == r
                                                for n in trivial)]
        steps.append(DStep(", ".join(_merge(names)), current))
        if len(steps) > MAX_STEPS:
            raise DerivationError(f"d/d{v}[{f}] takes more than {MAX_STEPS} steps")
    return tuple(steps)


def _merge(names: list[str]) -> list[str]:
    """'chain rule (power)', 'chain rule (exponential)' → 'chain rule (power, exponential)'."""
    out: list[str] = []
    for n in names:
        head, _, detail = n.partition(" (")
        prev = next((i for i, o in enumerate(out) if o.partition(" (")[0] == head), None)
        if prev is not None and detail and "(" in out[prev]:
            out[prev] = out[prev][:-1] + ", " + detail
        elif prev is None or detail:
            out.append(n)
    return out


def _substitute(expr: sympy.Expr, rewrites: dict[sympy.Expr, sympy.Expr],
                branch: Branch | None) -> sympy.Expr:
    for node, rewrite in rewrites.items():
        if not _proven(node, rewrite, branch):
            raise DerivationError(f"rewriting {node} as {rewrite} failed its proof")
    return expr.xreplace(rewrites)
