"""Which piece of a piecewise formula holds, never assumed.

A piecewise formula (`z if z > 0 else alpha*(exp(z) - 1)`, max, min, abs, relu) has no single
derivative: before a derivation unfolds it, each piecewise part that depends on the variable is
replaced by its piece. Which piece is decided either from the values in force (a numeric step:
the test is evaluated, max's arguments compared, exactly) or from the branch an answer declares
(`where: z > 0`: SymPy decides the test on that side of the bound). A test that cannot be
decided, or a max whose arguments tie (a kink), is an error, never a guess.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from core.errors import DlhwError
from solver import rewrite
from solver.derive import is_diff_call
from solver.expr import Formula, to_sympy
from solver.functions import BY_NAME

# A piece: its formula, and the condition under which it is the function's value, as a tree.
Piece = tuple[ast.expr, ast.expr]
_FLIP = {ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Lt: ast.GtE, ast.LtE: ast.Gt}  # not
_MIRROR = {ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Lt: ast.Gt, ast.LtE: ast.GtE}  # sides swapped


class BranchError(DlhwError, ValueError):
    """A piecewise part whose piece cannot be told at these values or on this branch; `kink`
    when the values put it exactly on its kink."""

    def __init__(self, msg: str, kink: bool = False):
        super().__init__(msg)
        self.kink = kink


@dataclass(frozen=True)
class Branch:
    """The side of a bound an answer belongs to (where: z > 0)."""

    var: sympy.Symbol
    positive: bool  # True: var > bound; False: var < bound
    bound: sympy.Rational = sympy.S.Zero

    def __str__(self) -> str:
        return f"{self.var} {'>' if self.positive else '<'} {self.bound}"

    def restrict(self, expr: sympy.Basic) -> sympy.Basic:
        """`expr` with max/abs/step functions and tests resolved on this side of the bound."""
        d = sympy.Dummy("t", positive=True)
        shifted = self.bound + d if self.positive else self.bound - d
        return expr.subs(self.var, shifted).subs(d, (self.var - self.bound) * (1 if self.positive
                                                                              else -1))


def _compare(left: ast.expr, op: type, right: ast.expr) -> ast.Compare:
    return ast.Compare(copy.deepcopy(left), [op()], [copy.deepcopy(right)])


def pieces(node: ast.expr) -> list[Piece] | None:
    """The pieces of a piecewise part, or None for any other node."""
    if isinstance(node, ast.IfExp):
        test = node.test
        assert isinstance(test, ast.Compare)
        other = _compare(test.left, _FLIP[type(test.ops[0])], test.comparators[0])
        return [(node.body, test), (node.orelse, other)]
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    fn = BY_NAME.get(node.func.id)
    if fn is None or not fn.piecewise:
        return None
    args = node.args
    zero = rewrite.number(0)  # type: ignore[arg-type]
    if fn.name == "relu":
        args, fn = [zero, args[0]], BY_NAME["max"]
    if fn.name == "abs":
        return [(args[0], _compare(args[0], ast.GtE, zero)),
                (rewrite.neg(copy.deepcopy(args[0])), _compare(args[0], ast.Lt, zero))]
    op = ast.Gt if fn.name == "max" else ast.Lt
    out: list[Piece] = []
    for i, a in enumerate(args):
        tests: list[ast.expr] = [_compare(a, op, b) for j, b in enumerate(args) if j != i]
        out.append((a, tests[0] if len(tests) == 1 else ast.BoolOp(ast.And(), tests)))
    return out


def condition_text(test: ast.expr) -> list[ast.Compare]:
    return list(test.values) if isinstance(test, ast.BoolOp) else [test]  # type: ignore


def readable(tests: list[ast.expr]) -> list[ast.Compare]:
    """The comparisons of `tests` as one reads them: a number on the right (0 > z is z < 0),
    each once."""
    out: list[ast.Compare] = []
    for c in (c for test in tests for c in condition_text(test)):
        if rewrite.constant(c.left) is not None and rewrite.constant(c.comparators[0]) is None:
            c = _compare(c.comparators[0], _MIRROR[type(c.ops[0])], c.left)
        if ast.unparse(c) not in {ast.unparse(o) for o in out}:
            out.append(c)
    return out


# A chooser gets a piecewise part and its pieces; it returns the piece that holds and the
# condition that says so, or raises BranchError.
Chooser = Callable[[ast.expr, list[Piece]], Piece]


def by_branch(branch: Branch) -> Chooser:
    """Pieces chosen on an answer's declared branch: SymPy decides each test there."""
    def choose(node: ast.expr, options: list[Piece]) -> Piece:
        for piece, test in options:
            decided = [branch.restrict(_sympy_test(t)) for t in condition_text(test)]
            if all(d is sympy.true for d in decided):
                return piece, test
        raise BranchError(f"{ast.unparse(node)}: no piece holds throughout the branch {branch} "
                          "(write the function piecewise with a test on that variable)")
    return choose


_SYMPY_OPS = {ast.Gt: sympy.Gt, ast.GtE: sympy.Ge, ast.Lt: sympy.Lt, ast.LtE: sympy.Le}


def _sympy_test(test: ast.Compare) -> sympy.Basic:
    left, right = (to_sympy(rewrite.rebuild(copy.deepcopy(s)))
                   for s in (test.left, test.comparators[0]))
    return _SYMPY_OPS[type(test.ops[0])](left, right)


def by_values(holds: Callable[[ast.Compare], bool | None]) -> Chooser:
    """Pieces chosen at the values in force: `holds` evaluates a comparison exactly (None when
    both sides are equal: a kink, where only an explicit test may decide)."""
    def choose(node: ast.expr, options: list[Piece]) -> Piece:
        explicit = isinstance(node, ast.IfExp)
        for piece, test in options:
            verdicts = [holds(t) for t in condition_text(test)]
            if explicit:  # the test itself decides, its equality case included
                verdicts = [bool(v) or (v is None and type(t.ops[0]) in (ast.GtE, ast.LtE))
                            for v, t in zip(verdicts, condition_text(test))]
            if all(v is True for v in verdicts):
                return piece, test
        raise BranchError(f"{ast.unparse(node)} is at its kink at these values: its derivative "
                          "there is a convention; write the function piecewise "
                          "(a if TEST else b) so that the test chooses", kink=True)
    return choose


def restrict(line: Formula, choose: Chooser, everywhere: bool = False
             ) -> tuple[Formula, list[ast.expr]] | None:
    """`line` with every piecewise part inside a derivative that depends on its variable (with
    `everywhere`, every piecewise part) replaced by the chosen piece, and the conditions used;
    None when there is none."""
    used: list[ast.expr] = []

    class Swap(ast.NodeTransformer):
        def __init__(self, var: str | None):
            self.var = var

        def generic_visit(self, node: ast.AST) -> ast.AST:
            super().generic_visit(node)
            if not isinstance(node, ast.expr):
                return node
            options = pieces(node)
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if options is None or (self.var is not None and self.var not in names):
                return node
            piece, test = choose(node, options)
            used.append(test)
            return copy.deepcopy(piece)

    class Diffs(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            if is_diff_call(node):
                var = node.args[1]
                assert isinstance(var, ast.Name)
                node.args[0] = Swap(var.id).visit(node.args[0])
                return node
            self.generic_visit(node)
            return node

    tree = (Swap(None) if everywhere else Diffs()).visit(copy.deepcopy(line.tree))
    return (rewrite.tidied(tree), used) if used else None
