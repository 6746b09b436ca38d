"""Formulas printed as LaTeX or terminal text, walking the tree in the order it was written.

A formula shown with numbers substituted keeps the order and signs it was written with (SymPy
would reorder it); names print as mathematics (w11 → w₁₁, dL_da → ∂L/∂a, eta → η) or by the
spec's `latex:` table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from solver.expr import COMPARE_TEXT, Formula
from solver.functions import REGISTRY

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "sigma", "tau",
    "phi", "omega",
}
GREEK_PLAIN = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η",
    "theta": "θ", "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω",
}


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
        return self._binop(node, src)

    def _binop(self, node: ast.BinOp, src: str) -> tuple[str, int]:
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
            assert isinstance(rest.test, ast.Compare)  # expr.parse admits only comparisons
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


def render(formula: Formula, latex: bool, values: Mapping[str, str] | None = None,
           names: Mapping[str, str] | None = None, inline: bool = False) -> str:
    return Printer(latex, values, names, inline)(formula)
