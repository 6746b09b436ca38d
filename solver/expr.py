"""Formulas as data: a whitelist parser and exact conversion to SymPy (and back).

Specs and student answers are parsed here with Python's `ast` module and then walked by hand:
nothing is ever evaluated, only the node types, names and functions listed below are accepted,
and decimals become exact rationals from their source text. Printing walks the same tree
(solver.printer), so a formula keeps the order and signs it was written with.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import sympy
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from core.errors import DlhwError
from solver.functions import FLOAT_FUNCTIONS, SPEC_FUNCTIONS

T = TypeVar("T")
MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 64  # a literal exponent above this is refused: 9**9**9 must not hang anyone
# A number literal's magnitude: 1e99999999 would take minutes to build exactly, 1e-40000 to print.
MAX_DECADE = 300
MAX_DIGITS = 40  # significant digits of a value set on the command line (solver.engine)


class ExprError(DlhwError, ValueError):
    """A formula that is not acceptable; the message says what was expected."""


@dataclass(frozen=True)
class Formula:
    """A parsed, validated formula: its source text and its syntax tree."""

    text: str
    tree: ast.expr

    @property
    def names(self) -> set[str]:
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)} - _called(self.tree)


def _called(tree: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_COMPARISONS = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)
COMPARE_TEXT = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le}


def parse(text: str, names: AbstractSet[str] | None = None,
          functions: Mapping[str, object] = SPEC_FUNCTIONS) -> Formula:
    """Parse `text` into a Formula, accepting only arithmetic, known functions and known names.

    `names=None` accepts any plain identifier (used for specs, whose names are checked later).
    `^` is read as a power, as students write it.
    """
    if not isinstance(text, str):
        raise ExprError(f"expected a formula as text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"formula longer than {MAX_LENGTH} characters")
    source = text.replace("^", "**").strip()
    if not source:
        raise ExprError("empty formula")
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"not a formula: {exc.msg} in {text!r}") from None
    _check(tree, source, names, functions, depth=0)
    return Formula(text=source, tree=tree)


def _check(node: ast.AST, source: str, names: AbstractSet[str] | None,
           functions: Mapping[str, object],
           depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExprError("formula nested too deeply")
    if isinstance(node, ast.BinOp) and isinstance(node.op, _ALLOWED_BINOPS):
        if isinstance(node.op, ast.Pow):
            _check_exponent(node.right)
        _check(node.left, source, names, functions, depth + 1)
        _check(node.right, source, names, functions, depth + 1)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, source, names, functions, depth + 1)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExprError(f"only numbers are allowed as constants, not {node.value!r}")
        if isinstance(node.value, int) and abs(node.value) > 10**12:
            raise ExprError("number too large")
        bounded(ast.get_source_segment(source, node) or repr(node.value))
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExprError(f"name {node.id!r} is not allowed")
        if names is not None and node.id not in names:
            expected = ", ".join(sorted(names))
            raise ExprError(f"unknown name {node.id!r} (expected one of {expected})")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in functions:
            shown = ast.get_source_segment(source, node.func) or "?"
            raise ExprError(f"unknown function {shown!r} (expected one of "
                            f"{', '.join(sorted(functions))})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"{node.func.id}() takes plain arguments only")
        if not node.args:
            raise ExprError(f"{node.func.id}() needs an argument")
        for arg in node.args:
            _check(arg, source, names, functions, depth + 1)
    elif isinstance(node, ast.IfExp):
        # A piecewise formula, `z if z > 0 else alpha*(exp(z) - 1)`: its test is one comparison.
        test = node.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], _COMPARISONS)):
            shown = ast.get_source_segment(source, test) or "?"
            raise ExprError(f"{shown!r}: a piecewise formula's condition is one comparison "
                            "(<, <=, > or >=), e.g. 'z if z > 0 else 0.01*z'")
        for part in (test.left, test.comparators[0], node.body, node.orelse):
            _check(part, source, names, functions, depth + 1)
    else:
        shown = ast.get_source_segment(source, node) or type(node).__name__
        raise ExprError(f"{shown!r} is not allowed in a formula (only numbers, names, + - * / ** "
                        "and known functions)")


def _check_exponent(node: ast.AST) -> None:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if abs(node.value) > MAX_EXPONENT:
            raise ExprError(f"exponent {node.value} too large (at most {MAX_EXPONENT})")
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        raise ExprError("nested powers are not allowed; use parentheses and one power")


def bounded(literal: str, digits: int | None = None) -> Decimal:
    """A decimal literal, read without building it: refused (ExprError, saying what was
    expected) unless it is finite, 0 or of a magnitude from 1e-300 to 1e300 (MAX_DECADE), and,
    given `digits`, has at most that many significant digits. Checked on the text's exponent,
    so 1e99999999 is refused at once."""
    limit = 2 * MAX_DECADE + 50
    if len(literal) > limit:
        raise ExprError(f"expected a number of at most {limit} characters")
    try:
        d = Decimal(literal)
    except InvalidOperation:
        raise ExprError(f"{literal!r} is not a number") from None
    if not d.is_finite():
        raise ExprError(f"{literal!r} is not a finite number")
    if d and not -MAX_DECADE <= d.adjusted() <= MAX_DECADE:
        raise ExprError(f"expected 0 or a magnitude from 1e-{MAX_DECADE} to 1e{MAX_DECADE}")
    # Significant digits from the tuple (normalize() would round to the context's precision).
    if digits is not None and len("".join(map(str, d.as_tuple().digits)).strip("0")) > digits:
        raise ExprError(f"expected at most {digits} significant digits")
    return d


def exact(literal: str) -> sympy.Rational:
    """An exact rational from a decimal literal such as '0.8' or '-1e-3' (see `bounded`)."""
    return sympy.Rational(str(bounded(literal)))


_SYMBOLS: dict[str, sympy.Symbol] = {}


def symbol(name: str) -> sympy.Symbol:
    """The one SymPy symbol for `name`: real, so that simplification may use it."""
    if name not in _SYMBOLS:
        _SYMBOLS[name] = sympy.Symbol(name, real=True)
    return _SYMBOLS[name]


def _choose(test: Any, then: Callable[[], T], otherwise: Callable[[], T]) -> T:
    return then() if test else otherwise()


def fold(formula: Formula, number: Callable[[str], T], name: Callable[[str], T],
         functions: Mapping[str, Callable[..., T]], power: Callable[[T, T], T] = operator.pow,
         compare: Callable[[T, str, T], Any] | None = None,
         choose: Callable[[Any, Callable[[], T], Callable[[], T]], T] = _choose) -> T:
    """Compute a formula bottom-up in any number system: SymPy (exact) or floats.

    `number` turns a literal's source text into a value, `name` a variable, and `functions`
    maps each callable name; the tree has already been validated by `parse`. A piecewise
    formula's test goes to `compare(left, op, right)` (default: Python's comparison) and
    `choose(test, then, otherwise)` picks a branch (default: only the one the test selects is
    computed; SymPy builds both into a Piecewise).
    """
    source = formula.text
    binary = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: power}

    def walk(node: ast.AST) -> T:
        if isinstance(node, ast.BinOp):
            return binary[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            inner: Any = walk(node.operand)
            return operator.neg(inner) if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Constant):
            return number(ast.get_source_segment(source, node) or repr(node.value))
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.IfExp):
            test = node.test
            assert isinstance(test, ast.Compare)
            op = type(test.ops[0])
            left, right = walk(test.left), walk(test.comparators[0])
            result = _COMPARE[op](left, right) if compare is None \
                else compare(left, COMPARE_TEXT[op], right)
            return choose(result, lambda: walk(node.body), lambda: walk(node.orelse))
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return functions[node.func.id](*(walk(a) for a in node.args))

    return walk(formula.tree)


_SYMPY_COMPARE = {">": sympy.Gt, ">=": sympy.Ge, "<": sympy.Lt, "<=": sympy.Le}


def _piecewise(test: Any, then: Callable[[], Any], otherwise: Callable[[], Any]) -> Any:
    if test is sympy.true or test is sympy.false:
        return then() if test is sympy.true else otherwise()
    return sympy.Piecewise((then(), test), (otherwise(), True))


def to_sympy(formula: Formula, env: Mapping[str, sympy.Expr] | None = None,
             functions: Mapping[str, Callable[..., sympy.Expr]] = SPEC_FUNCTIONS
             ) -> sympy.Expr:
    """The exact SymPy expression; names found in `env` are replaced by their expressions. A
    piecewise formula becomes a Piecewise (or its branch, where SymPy can tell)."""
    env = env or {}
    return fold(formula, exact, lambda n: env[n] if n in env else symbol(n), functions,
                compare=lambda a, op, b: _SYMPY_COMPARE[op](a, b), choose=_piecewise)


def evaluate(formula: Formula, values: Mapping[str, float]) -> float:
    """The formula's value in floating point. A negative base to a fractional power raises
    ValueError (math.pow) instead of turning complex."""
    return float(fold(formula, float, values.__getitem__, FLOAT_FUNCTIONS, math.pow))


class _SpecPrinter(StrPrinter):
    """SymPy to the spec language: derivatives as diff(f, z), terminating rationals as decimals
    (0.01·z, not z/100), so a derived expression prints like a formula the instructor wrote."""

    def _print_Derivative(self, expr: sympy.Derivative) -> str:
        (var, _count), = expr.variable_count
        return f"diff({self._print(expr.expr)}, {self._print(var)})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        text = self._print(last) if cond is sympy.true else "nan"
        for piece, c in reversed(pieces):
            text = f"({self._print(piece)} if {self._print(c)} else {text})"
        return text

    def _print_Rational(self, expr: sympy.Rational) -> str:
        text = terminating_decimal(expr)
        return text if text is not None else super()._print_Rational(expr)

    def _print_Mul(self, expr: sympy.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        rational = coeff.is_Rational and not coeff.is_Integer
        text = terminating_decimal(abs(coeff)) if rational else None
        if text is None or rest == 1:
            return super()._print_Mul(expr)
        body = self.parenthesize(rest, precedence(expr), strict=True)
        return f"{'-' if coeff < 0 else ''}{text}*{body}"


def terminating_decimal(value: sympy.Rational) -> str | None:
    """The exact decimal text of a rational whose denominator is 2^a·5^b (0.01, -2.5, 3), or
    None for one that does not terminate (1/3). No rounding: Decimal's context never applies."""
    p, q = int(value.p), int(value.q)
    k, rest = 0, q
    for f in (2, 5):
        while rest % f == 0:
            rest //= f
    if rest != 1:
        return None
    while (10**k) % q:
        k += 1
    digits = str(abs(p) * (10**k // q)).rjust(k + 1, "0")
    text = digits if k == 0 else f"{digits[:-k]}.{digits[-k:]}".rstrip("0").rstrip(".")
    return ("-" if p < 0 else "") + text


def from_sympy(expr: sympy.Expr) -> Formula:
    """A SymPy result as a Formula, so that it prints in the same style as the spec's formulas."""
    return parse(_SpecPrinter({"order": "none"}).doprint(expr), names=None)
