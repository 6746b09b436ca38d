"""Formulas as data: a whitelist parser, exact conversion to SymPy, and order-preserving printing.

Specs and student answers are parsed here with Python's `ast` module and then walked by hand:
nothing is ever evaluated, only the node types, names and functions listed below are accepted,
and decimals become exact rationals from their source text. Printing walks the same tree, so a
formula shown with numbers substituted keeps the order and signs it was written with (SymPy
would reorder it).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import sympy
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from core.errors import DlhwError
from solver.functions import FLOAT_FUNCTIONS, REGISTRY, SPEC_FUNCTIONS

T = TypeVar("T")
MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 64  # a literal exponent above this is refused: 9**9**9 must not hang anyone
# A number literal's magnitude: 1e99999999 would take minutes to build exactly, 1e-40000 to print.
MAX_DECADE = 300
MAX_DIGITS = 40  # significant digits of a value set on the command line (solver.engine)

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma", "tau",
    "phi", "omega",
}
GREEK_PLAIN = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η",
    "theta": "θ", "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω",
}


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
_COMPARE = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le}


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


# ---------------------------------------------------------------- printing

def latex_name(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """LaTeX for a variable name: w11 → w_{11}, eta → \\eta, dL_dz1 → ∂L/∂z_1, w_new → w_{new}."""
    if overrides and name in overrides:
        return overrides[name]
    m = re.fullmatch(r"d([A-Za-z]\w*?)_d([A-Za-z]\w*)", name)
    if m:
        return rf"\frac{{\partial {latex_name(m[1])}}}{{\partial {latex_name(m[2])}}}"
    if name in GREEK:
        return "\\" + name
    m = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    if m:
        return f"{latex_name(m[1])}_{{{m[2]}}}"
    if "_" in name:
        head, tail = name.split("_", 1)
        return f"{latex_name(head)}_{{\\text{{{tail.replace('_', ' ')}}}}}"
    return name if len(name) == 1 else rf"\mathit{{{name}}}"


def printable(name: str) -> bool:
    """Whether latex_name prints `name` as mathematics rather than as the identifier it is: a
    letter or Greek name with digits (w11, eta), a derivative of two such (dL2_dz1), or one
    with a word as subscript (w_new). Any other name needs a `latex:` entry in its spec."""
    m = re.fullmatch(r"d([A-Za-z]\w*?)_d([A-Za-z]\w*)", name)
    if m:
        return all(re.fullmatch(r"([A-Za-z]|" + "|".join(GREEK) + r")\d*", p) for p in m.groups())
    if len(name) == 1 or name in GREEK:
        return True
    m = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    if m:
        return printable(m[1])
    head, sep, tail = name.partition("_")
    return bool(sep) and printable(head) and "_" not in head and \
        re.fullmatch(r"[A-Za-z0-9]+", tail) is not None


def plain_name(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """Terminal form of a variable name: dL_da → ∂L/∂a, eta → η; others unchanged."""
    if overrides and name in overrides:
        return overrides[name]
    m = re.fullmatch(r"d([A-Za-z]\w*?)_d([A-Za-z]\w*)", name)
    if m:
        return f"∂{plain_name(m[1])}/∂{plain_name(m[2])}"
    m = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    if m:
        return plain_name(m[1]) + m[2].translate(_SUBSCRIPT)
    return GREEK_PLAIN.get(name, name)


# How the table's functions print (solver.functions); others as \operatorname{name}.
_LATEX_FUNCS = {n: f.latex for f in REGISTRY if f.latex for n in f.names}
_PLAIN_FUNCS = {n: f.plain for f in REGISTRY if f.plain for n in f.names}
_POWERED = {n for f in REGISTRY if f.powered for n in f.names}  # written f^n(z)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _called_name(node: ast.AST) -> str | None:
    """The function a call node calls (None for any other node)."""
    return node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
        else None


def _small_integer(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and 1 < node.value < 10


class Printer:
    """Prints a Formula as LaTeX or plain text, optionally with numbers put in for names."""

    def __init__(self, latex: bool, values: Mapping[str, str] | None = None,
                 names: Mapping[str, str] | None = None, inline: bool = False):
        self.latex = latex
        self.values = values or {}
        self.names = names or {}
        self.inline = inline  # LaTeX for running text: quotients with a slash, not \frac

    def __call__(self, formula: Formula) -> str:
        return self._node(formula.tree, formula.text)[0]

    # Each visit returns (text, precedence): 1 sum, 2 product, 3 negation, 4 power, 5 a negative
    # number put in for a name (parenthesised wherever it is an operand of *, / or **), 9 atom.
    def _node(self, node: ast.AST, src: str) -> tuple[str, int]:
        if isinstance(node, ast.Constant):
            return ast.get_source_segment(src, node) or repr(node.value), 9
        if isinstance(node, ast.Name):
            if node.id in self.values:
                text = self.values[node.id]
                # A negative number or a power of ten is bracketed as a factor: (-0.4)·x.
                scientific = "×" in text or r"\times" in text
                return text, (5 if text.startswith("-") or scientific else 9)
            namer = latex_name if self.latex else plain_name
            return namer(node.id, self.names), 9
        if isinstance(node, ast.UnaryOp):
            inner, prec = self._node(node.operand, src)
            if isinstance(node.op, ast.UAdd):
                return inner, prec
            if prec == 1 or inner.startswith("-"):
                inner = self._paren(inner)
            return "-" + inner, 3
        if isinstance(node, ast.Call):
            return self._call(node, src), 9
        if isinstance(node, ast.IfExp):
            return self._cases(node, src), 9
        if isinstance(node, ast.Compare):
            return self._compare(node, src), 0
        assert isinstance(node, ast.BinOp)
        op = type(node.op)
        left, lp = self._node(node.left, src)
        right, rp = self._node(node.right, src)
        if op is ast.Pow:
            small = _small_integer(node.right)
            if small and isinstance(node.left, ast.Call) and _called_name(node.left) in _POWERED:
                return self._call(node.left, src, power=right), 9
            # e^{z} squared is (e^{z})^{2}: a superscript cannot take another.
            if lp < 9 or (self.latex and _called_name(node.left) == "exp"):
                left = self._paren(left)
            if self.latex:
                return f"{left}^{{{right}}}", 4
            if small or (right.startswith("-") and right[1:].isdigit()):
                return left + right.translate(_SUPERSCRIPT), 4
            return f"{left}^{right if rp == 9 else self._paren(right)}", 4
        if op is ast.Div and self.latex and not self.inline:
            if r"\frac" not in (left + right).replace(r"\frac{\partial}", ""):
                # A derivative operator in a fraction is set in text size, as in print.
                left, right = (t.replace(r"\frac{\partial}", r"\tfrac{\partial}")
                               for t in (left, right))
                return rf"\frac{{{left}}}{{{right}}}", 9
            # A fraction inside a fraction is set with a slash instead.
            left = self._paren(left) if lp < 9 else left
            right = self._paren(right) if rp < 9 else right
            return f"{left}/{right}", 2
        negative_right = right.startswith("-")
        if op in (ast.Add, ast.Sub):
            if negative_right or (op is ast.Sub and rp == 1):
                right = self._paren(right)
            return f"{left} {'+' if op is ast.Add else '-'} {right}", 1
        if lp in (1, 5):
            left = self._paren(left)
        # In plain text a quotient right of a product is bracketed: x·(1/g), not x·1/g.
        quotient = isinstance(node.right, ast.BinOp) and isinstance(node.right.op, ast.Div)
        if negative_right or rp in (1, 5) or (op is ast.Div and rp == 2) or \
                (not self.latex and quotient and rp == 2):
            right = self._paren(right)
        if op is ast.Div:
            return f"{left}/{right}", 2
        if self.latex:
            numeric = right[:1].isdigit() or (left[-1:].isdigit() and right.startswith(r"\left("))
            return (f"{left} \\cdot {right}" if numeric else f"{left}\\,{right}"), 2
        return f"{left}·{right}", 2

    def _compare(self, node: ast.Compare, src: str) -> str:
        op = COMPARE_TEXT[type(node.ops[0])]
        if self.latex:
            op = {">=": r"\ge", "<=": r"\le"}.get(op, op)
        else:
            op = {">=": "≥", "<=": "≤"}.get(op, op)
        return f"{self._node(node.left, src)[0]} {op} {self._node(node.comparators[0], src)[0]}"

    def _cases(self, node: ast.IfExp, src: str) -> str:
        """A piecewise formula: LaTeX cases, or (a if z > 0, else b) in plain text."""
        pieces: list[tuple[str, str]] = []
        rest: ast.AST = node
        while isinstance(rest, ast.IfExp):
            pieces.append((self._node(rest.body, src)[0], self._compare(rest.test, src)))
            rest = rest.orelse
        last = self._node(rest, src)[0]
        if self.latex:
            rows = [rf"{body} & \text{{if }} {test}" for body, test in pieces]
            rows.append(rf"{last} & \text{{otherwise}}")
            return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"
        return "(" + ", ".join(f"{body} if {test}" for body, test in pieces) + \
            f", else {last})"

    def _paren(self, text: str) -> str:
        return rf"\left({text}\right)" if self.latex else f"({text})"

    def _call(self, node: ast.Call, src: str, power: str = "") -> str:
        """A call; `power` (an integer exponent) goes on the name: tanh²(z), \\tanh^{2} z."""
        assert isinstance(node.func, ast.Name)
        fn = node.func.id
        rendered = [self._node(a, src) for a in node.args]
        args = [text for text, _ in rendered]
        atom = len(rendered) == 1 and rendered[0][1] == 9 and " " not in args[0]
        if power and self.latex:
            name = _LATEX_FUNCS.get(fn, rf"\operatorname{{{fn}}}")
            if fn != "sigmoid" and atom and not args[0].startswith("\\"):
                return f"{name}^{{{power}}} {args[0]}"
            return f"{name}^{{{power}}}{self._call_args(args, atom)}"
        if power:
            return f"{_PLAIN_FUNCS.get(fn, fn)}{power.translate(_SUPERSCRIPT)}({', '.join(args)})"
        if fn == "diff":
            var = args[1] if len(args) > 1 else "z"
            if self.latex:
                return rf"\frac{{\partial}}{{\partial {var}}}\left[{args[0]}\right]"
            return f"∂/∂{var}[{args[0]}]"
        if fn == "exp":
            return f"e^{{{args[0]}}}" if self.latex else f"exp({args[0]})"
        if fn == "sqrt":
            return rf"\sqrt{{{args[0]}}}" if self.latex else f"√({args[0]})"
        if self.latex:
            name = _LATEX_FUNCS.get(fn, rf"\operatorname{{{fn}}}")
            return name + self._call_args(args, atom)
        return f"{_PLAIN_FUNCS.get(fn, fn)}({', '.join(args)})"

    @staticmethod
    def _call_args(args: list[str], atom: bool) -> str:
        # Plain parentheses round a single symbol: \left( after an operator name adds a space.
        return f"({args[0]})" if atom else rf"\left({', '.join(args)}\right)"


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


def render(formula: Formula, latex: bool, values: Mapping[str, str] | None = None,
           names: Mapping[str, str] | None = None, inline: bool = False) -> str:
    return Printer(latex, values, names, inline)(formula)

