"""Formulas rewritten as trees, in the order they were written.

A derivation line, a symbolic step with the earlier steps put in, or a formula at fixed values
(`at:`) is built here from the spec's own trees, so it prints in the order a person writes it
(w − η·∂L/∂a·x, not SymPy's ∂L/∂a·η·x), and tidied the way one does on paper: 1·x = x, 0·x = 0,
x − 0 = x, −(−x) = x, numbers gathered at the front of a product, 1/g·h written h/g. Nothing
here proves anything: each caller proves the result equal to what it replaces.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import sympy

from solver.expr import Formula, terminating_decimal


def number(value: Fraction) -> ast.expr:
    """An exact number as a tree: 3, 0.25, -2 (a negation), 1/3 (a quotient)."""
    if value < 0:
        return ast.UnaryOp(ast.USub(), number(-value))
    if value.denominator == 1:
        return ast.Constant(int(value))
    text = terminating_decimal(sympy.Rational(value.numerator, value.denominator))
    if text is not None and repr(float(text)) == text:
        return ast.Constant(float(text))
    return ast.BinOp(ast.Constant(value.numerator), ast.Div(), ast.Constant(value.denominator))


def constant(node: ast.expr) -> Fraction | None:
    """The exact value of a tree made of numbers only (+ − × ÷, integer powers); else None."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        value = node.value
        if isinstance(value, float):
            return Fraction(Decimal(repr(value)))
        assert isinstance(value, int)  # expr.parse admits only int and float constants
        return Fraction(value)
    if isinstance(node, ast.UnaryOp):
        inner = constant(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp):
        left, right = constant(node.left), constant(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right if right else None
        if isinstance(node.op, ast.Pow) and right.denominator == 1 and abs(right) <= 64 \
                and (left or right > 0):
            return left ** int(right)
    return None


def neg(node: ast.expr) -> ast.expr:
    return ast.UnaryOp(ast.USub(), node)


def call(name: str, *args: ast.expr) -> ast.expr:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def binop(left: ast.expr, op: ast.operator, right: ast.expr) -> ast.expr:
    return ast.BinOp(left, op, right)


def rebuild(tree: ast.expr) -> Formula:
    """A tree as a Formula of its own text (every node placed in it again). Built from checked
    formulas by checked rules, so it is not checked again (a derivation line may be long)."""
    text = ast.unparse(ast.fix_missing_locations(ast.Expression(tree)))
    return Formula(text, ast.parse(text, mode="eval").body)


def substitute(tree: ast.expr, values: Mapping[str, ast.expr]) -> ast.expr:
    """A copy of `tree` with names replaced by copies of trees (not the variable of a diff)."""

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return copy.deepcopy(values[node.id]) if node.id in values else node

        def visit_Call(self, node: ast.Call) -> ast.expr:
            if isinstance(node.func, ast.Name) and node.func.id == "diff" and len(node.args) == 2:
                node.args[0] = self.visit(node.args[0])
                return node
            node.args = [self.visit(a) for a in node.args]
            return node

    return Swap().visit(copy.deepcopy(tree))


def _zero(node: ast.expr) -> bool:
    return constant(node) == 0


def _one(node: ast.expr) -> bool:
    return constant(node) == 1


def _negated(node: ast.expr) -> ast.expr | None:
    """x for −x (a negation, or a negative number); None otherwise."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return node.operand
    return None


def _factors(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    return [node]


def _product(node: ast.BinOp, coef: Fraction = Fraction(1)) -> ast.expr:
    """A product chain: numbers and signs gathered in front, 1/g factors moved under a bar, a
    factor repeated written as its power (cosh z·cosh z = cosh² z)."""
    rest: list[ast.expr] = []
    under: list[ast.expr] = []
    for f in _factors(node):
        while (inner := _negated(f)) is not None and constant(f) is None:
            coef, f = -coef, inner
        c = constant(f)
        if c is not None:
            coef *= c
        elif isinstance(f, ast.BinOp) and isinstance(f.op, ast.Div) and _one(f.left):
            under.append(f.right)
        elif isinstance(f, ast.BinOp) and isinstance(f.op, ast.Div):
            # z·(a/b) is written z·a/b, one quotient, as on paper.
            rest += _factors(f.left)
            under.append(f.right)
        else:
            rest.append(f)
    if coef == 0:
        return number(Fraction(0))
    rest = _powers(rest)
    body: ast.expr | None = None
    for f in ([number(abs(coef))] if abs(coef) != 1 or not rest else []) + rest:
        body = f if body is None else binop(body, ast.Mult(), f)
    assert body is not None
    for d in under:
        body = binop(body, ast.Div(), d)
    return neg(body) if coef < 0 else body


def _powers(factors: list[ast.expr]) -> list[ast.expr]:
    texts = [ast.unparse(f) for f in factors]
    out: list[ast.expr] = []
    for i, f in enumerate(factors):
        if texts[i] in texts[:i]:
            continue
        n = texts.count(texts[i])
        out.append(f if n == 1 else ast.BinOp(f, ast.Pow(), number(Fraction(n))))
    return out


def _tidy_binop(node: ast.BinOp) -> ast.expr:
    left, right, op = node.left, node.right, node.op
    value = constant(node)
    if value is not None:
        return number(value)
    if isinstance(op, (ast.Add, ast.Sub)):
        if _zero(right):
            return left
        if _zero(left):
            return right if isinstance(op, ast.Add) else tidy(neg(right))
        inner = _negated(right)
        if inner is not None:
            return binop(left, ast.Sub() if isinstance(op, ast.Add) else ast.Add(), inner)
        return node
    if isinstance(op, ast.Mult):
        return _product(node)
    if isinstance(op, ast.Div):
        if _one(right):
            return left
        over = constant(right)
        if over is not None and over and any(constant(f) is not None for f in _factors(left)):
            # −2·(y − a)/2 is −(y − a): a number over a number is folded.
            return _product(ast.BinOp(left, ast.Mult(), number(Fraction(1))), 1 / over)
        if _zero(left):
            return number(Fraction(0))
        for side in ("left", "right"):
            inner = _negated(getattr(node, side))
            if inner is not None:
                parts = {"left": left, "right": right, side: inner}
                return neg(tidy(binop(parts["left"], ast.Div(), parts["right"])))
        return node
    if isinstance(op, ast.Pow):
        if _one(right):
            return left
        if _zero(right) or _one(left):
            return number(Fraction(1))
    return node


def tidy(node: ast.expr) -> ast.expr:
    """The tidying a person does on paper, bottom-up (see the module's docstring)."""
    for name in ("left", "right", "operand", "body", "orelse", "test"):
        if hasattr(node, name) and isinstance(getattr(node, name), ast.AST):
            setattr(node, name, tidy(getattr(node, name)))
    if isinstance(node, ast.Call):
        node.args = [tidy(a) for a in node.args]
        return node
    if isinstance(node, ast.Compare):
        node.left = tidy(node.left)
        node.comparators = [tidy(c) for c in node.comparators]
        return node
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return node.operand
        inner = _negated(node.operand)
        if inner is not None:
            return inner
        if _zero(node.operand):
            return number(Fraction(0))
        return node
    if isinstance(node, ast.BinOp):
        return _tidy_binop(node)
    return node


def tidied(tree: ast.expr) -> Formula:
    return rebuild(tidy(copy.deepcopy(tree)))
