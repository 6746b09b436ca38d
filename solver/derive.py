"""Derivations as data: `diff(f, v)` unfolded rule by rule, on the formula as it is written.

A derivation starts from the line d/dv[f] and applies one differentiation rule at a time (sum,
constant multiple, product, quotient, power, exponential, logarithm, hyperbolic functions, the
definitions of tanh, sech and σ in solver.functions, the definition of an earlier step) until
no derivative is left. The rules rewrite the spec's own syntax tree, so every line keeps the
order it was written in (the quotient rule reads (f′g − fg′)/g²), and each line is tidied as on
paper (solver.rewrite: 2·(y − a)·(−1) is −2·(y − a), never −2y + 2a). Each line is proven equal
to the one before it (SymPy's own derivative of both, then solver.identity.identical), so a
wrong rule cannot print. A piecewise function must first be put on its branch (solver.branches).
Nothing here knows about any question.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import sympy
from sympy import Derivative

from core.errors import DlhwError
from solver import rewrite
from solver.expr import SPEC_FUNCTIONS, Formula, from_sympy, parse, symbol, to_sympy
from solver.functions import BY_NAME, Definition, Outer
from solver.identity import identical
from solver.printer import latex_name

MAX_STEPS = 40
Defs = tuple[tuple[str, str, str], ...]  # (name, formula text, LaTeX name) of earlier steps


class DerivationError(DlhwError, ValueError):
    """A derivative the rules cannot unfold (or a rewrite that failed its proof)."""


@dataclass(frozen=True)
class DStep:
    rule: str  # the rule(s) applied to reach this line, e.g. "chain rule (power)"
    formula: Formula  # the whole line, derivatives written diff(f, v)
    expr: sympy.Expr  # the same in SymPy, derivatives left unevaluated


def is_diff_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
        and node.func.id == "diff"


def has_diff(tree: ast.AST) -> bool:
    return any(is_diff_call(n) for n in ast.walk(tree))


def unevaluated(formula: Formula) -> sympy.Expr:
    """A line in SymPy with its derivatives left as Derivative objects (JSON, tests)."""
    return to_sympy(formula, functions={**SPEC_FUNCTIONS,
                                        "diff": lambda f, v: Derivative(f, v, evaluate=False)})


def value(formula: Formula, defs: Mapping[str, sympy.Expr]) -> sympy.Expr:
    """What a line is worth: every derivative taken (by SymPy), every earlier step's name
    replaced by its definition (`defs`, fully expanded) except the variable of a derivative."""
    def diff(f: sympy.Expr, v: sympy.Symbol) -> sympy.Expr:
        return sympy.diff(f.xreplace({k: e for k, e in defs.items() if k != v}), v)

    return to_sympy(formula, functions={**SPEC_FUNCTIONS, "diff": diff}).xreplace(dict(defs))


class _Rules:
    """The differentiation rules for one derivation: which names depend on which (through the
    earlier steps' definitions), and the rewrite of one d/dv[f]."""

    def __init__(self, defs: Defs):
        self.defs = {name: parse(text) for name, text, _ in defs}
        self.latex = {name: tex for name, _, tex in defs}
        self._deps: dict[str, frozenset[str]] = {}

    def names(self, node: ast.AST) -> frozenset[str]:
        """Every name `node` depends on, through the definitions of earlier steps."""
        out: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and not (is_diff_call(n) or n.id in SPEC_FUNCTIONS):
                out |= {n.id} | self._of(n.id)
        return frozenset(out)

    def _of(self, name: str) -> frozenset[str]:
        if name not in self._deps:
            self._deps[name] = frozenset()
            if name in self.defs:
                self._deps[name] = self.names(self.defs[name].tree)
        return self._deps[name]

    def depends(self, node: ast.AST, v: str) -> bool:
        return v in self.names(node)

    def rule(self, f: ast.expr, v: str) -> tuple[str, ast.expr]:
        """The one rule that applies to d/dv[f], and what it rewrites the derivative to."""
        def d(g: ast.expr) -> ast.expr:
            return rewrite.call("diff", copy.deepcopy(g), ast.Name(v, ast.Load()))

        if not self.depends(f, v):
            return "constant rule", rewrite.number(0)  # type: ignore[arg-type]
        if isinstance(f, ast.Name):
            if f.id == v:
                return "identity rule", rewrite.number(1)  # type: ignore[arg-type]
            return (f"definition of ${self.latex.get(f.id) or latex_name(f.id)}$",
                    d(self.defs[f.id].tree))
        if isinstance(f, ast.UnaryOp):
            inner = d(f.operand)
            return "constant multiple rule", rewrite.neg(inner) \
                if isinstance(f.op, ast.USub) else inner
        if isinstance(f, ast.BinOp):
            return self._binop(f, v, d)
        if isinstance(f, ast.Call) and isinstance(f.func, ast.Name):
            return self._call(f, v, d)
        raise DerivationError(f"d/d{v}[{ast.unparse(f)}] is piecewise: it needs a branch")

    def _binop(self, f: ast.BinOp, v: str, d: Callable[[ast.expr], ast.expr]
               ) -> tuple[str, ast.expr]:
        left, right, op = f.left, f.right, f.op
        b = rewrite.binop
        if isinstance(op, (ast.Add, ast.Sub)):
            return "sum rule", _over_sum(f, d)
        if isinstance(op, ast.Mult):
            if not self.depends(left, v):
                return "constant multiple rule", b(copy.deepcopy(left), ast.Mult(), d(right))
            if not self.depends(right, v):
                return "constant multiple rule", b(d(left), ast.Mult(), copy.deepcopy(right))
            return "product rule", b(b(d(left), ast.Mult(), copy.deepcopy(right)), ast.Add(),
                                     b(copy.deepcopy(left), ast.Mult(), d(right)))
        if isinstance(op, ast.Div):
            if not self.depends(right, v):
                return "constant multiple rule", b(d(left), ast.Div(), copy.deepcopy(right))
            square = b(copy.deepcopy(right), ast.Pow(), rewrite.number(2))  # type: ignore
            top = b(b(d(left), ast.Mult(), copy.deepcopy(right)), ast.Sub(),
                    b(copy.deepcopy(left), ast.Mult(), d(right)))
            return "quotient rule", b(top, ast.Div(), square)
        assert isinstance(op, ast.Pow)
        if self.depends(right, v):
            body = b(copy.deepcopy(right), ast.Mult(), rewrite.call("log", copy.deepcopy(left)))
            return "rewrite as an exponential", d(rewrite.call("exp", body))
        lower = b(copy.deepcopy(right), ast.Sub(), rewrite.number(1))  # type: ignore[arg-type]
        power = b(copy.deepcopy(right), ast.Mult(), b(copy.deepcopy(left), ast.Pow(), lower))
        if isinstance(left, ast.Name) and left.id == v:
            return "power rule", power
        return "chain rule (power)", b(power, ast.Mult(), d(left))

    def _call(self, f: ast.Call, v: str, d: Callable[[ast.expr], ast.expr]
              ) -> tuple[str, ast.expr]:
        assert isinstance(f.func, ast.Name)
        fn = BY_NAME.get(f.func.id)
        if fn is None or fn.piecewise or len(f.args) != 1:
            raise DerivationError(f"no differentiation rule for {f.func.id}"
                                  + (" (piecewise: it needs a branch)"
                                     if fn is not None and fn.piecewise else ""))
        (g,) = f.args
        if isinstance(fn.rule, Outer):
            outer = _template(fn.name, "outer", g)
            if isinstance(g, ast.Name) and g.id == v:
                return fn.rule.rule, outer
            return (f"chain rule ({fn.rule.rule.removesuffix(' rule')})",
                    rewrite.binop(outer, ast.Mult(), d(g)))
        if isinstance(fn.rule, Definition):
            return fn.rule.rule, d(_template(fn.name, "definition", g))
        if not isinstance(fn.sympy, type):  # a composition of the others: softplus = ln(1 + e^z)
            shown = fn.latex or rf"\operatorname{{{fn.name}}}"
            return f"definition of ${shown}$", d(_template(fn.name, "sympy", g))
        raise DerivationError(f"no differentiation rule for {fn.name}")


def _over_sum(f: ast.expr, d: Callable[[ast.expr], ast.expr]) -> ast.expr:
    """d/dv of a sum, distributed over every term at once: (a − (b + c))′ = a′ − (b′ + c′)."""
    if isinstance(f, ast.BinOp) and isinstance(f.op, (ast.Add, ast.Sub)):
        return rewrite.binop(_over_sum(f.left, d), type(f.op)(), _over_sum(f.right, d))
    return d(f)


_ARG = "ZZarg"


@cache
def _template_text(name: str, kind: str) -> str:
    """A function's derivative or definition at a placeholder argument, as formula text."""
    fn = BY_NAME[name]
    t = symbol(_ARG)
    made = {"outer": lambda: fn.rule.derivative(t),  # type: ignore[union-attr]
            "definition": lambda: fn.rule.body(t),  # type: ignore[union-attr]
            "sympy": lambda: fn.sympy(t)}[kind]()
    return rewrite.tidied(from_sympy(made).tree).text


def _template(name: str, kind: str, arg: ast.expr) -> ast.expr:
    return rewrite.substitute(parse(_template_text(name, kind)).tree, {_ARG: arg})


def _diff_nodes(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if is_diff_call(n)]  # type: ignore[misc]


def _rewrite_diffs(tree: ast.expr, pick: Callable[[ast.Call], ast.expr | None]) -> ast.expr:
    """`tree` with each diff node for which `pick` gives a rewrite replaced by it."""
    class Swap(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.expr:
            if is_diff_call(node):
                new = pick(node)
                return node if new is None else new
            self.generic_visit(node)
            return node

    return Swap().visit(copy.deepcopy(tree))


def _var(node: ast.Call) -> str:
    arg = node.args[1]
    assert isinstance(arg, ast.Name)
    return arg.id


def _apply(rules: _Rules, tree: ast.expr) -> tuple[ast.expr, list[str]]:
    """One line's step: the rule of the first derivative applied to every derivative it fits,
    then derivatives of constants and of the variable itself folded in as they appear."""
    first = _diff_nodes(tree)[0]
    key = _key(rules.rule(first.args[0], _var(first))[0])
    names: list[str] = []

    def pick(node: ast.Call, only: str | None) -> ast.expr | None:
        name, new = rules.rule(node.args[0], _var(node))
        if (only is None and name in ("constant rule", "identity rule")) or _key(name) == only:
            if name not in names:
                names.append(name)
            return new
        return None

    tree = _rewrite_diffs(tree, lambda n: pick(n, key))
    return _rewrite_diffs(tree, lambda n: pick(n, None)), names


def _key(rule: str) -> str:
    """What groups rules applied in one line: 'chain rule (power)' and 'chain rule (exponential)'
    alike, and every definition of an earlier step."""
    return "definition of" if rule.startswith("definition of") else rule.split(" (")[0]


@cache  # a class of 500 variants derives each line once (it has no numbers in it)
def derive(text: str, defs: Defs = ()) -> tuple[DStep, ...]:
    """The steps from the line `text` (derivatives written diff(f, v)) to one without any; the
    first step is the line itself. DerivationError if stuck or if a rewrite fails its proof."""
    rules = _Rules(defs)
    full: dict[sympy.Symbol, sympy.Expr] = {}  # each step's name in base names (steps in order)
    for name, formula in rules.defs.items():
        full[symbol(name)] = to_sympy(formula).xreplace(full)
    current = parse(text)
    steps = [DStep("", current, unevaluated(current))]
    while has_diff(current.tree):
        tree, names = _apply(rules, current.tree)
        line = rewrite.tidied(tree)
        if not identical(value(steps[-1].formula, full), value(line, full)):
            raise DerivationError(f"rewriting {steps[-1].formula.text} as {line.text} "
                                  "failed its proof")
        steps.append(DStep(", ".join(_merge(names)), line, unevaluated(line)))
        current = line
        if len(steps) > MAX_STEPS:
            raise DerivationError(f"{text} takes more than {MAX_STEPS} steps")
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
