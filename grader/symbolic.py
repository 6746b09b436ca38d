"""Symbolic answers: reading them (SymPy syntax or plain LaTeX), evaluating them, proving them.

Reading goes through the project's one whitelist parser (`solver.expr.parse`). SymPy syntax goes
there directly; anything else (LaTeX, or plain text as written by hand: `2(y-a)`, `tanh²(z)`,
`dL/da`) is first translated by a small recursive-descent reader that only emits names, numbers,
operators and whitelisted function names, so nothing it outputs can do more than `parse` allows.
The text is length-capped before any regex runs, and no regex here can backtrack
super-linearly.
Formulas are evaluated with plain floats by walking their syntax tree (no eval, no SymPy), which
is what makes grading a class fast; the exact SymPy proof runs only under a hard time limit.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache

import sympy

from solver.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    ExprError,
    Formula,
    exact,
    fold,
    parse,
    symbol,
)
from solver.functions import (
    ANSWER_FLOATS,
    ANSWER_FUNCTIONS,
    BY_CLASS,
    SPELLINGS,
    to_elementary,
)

# ---------------------------------------------------------------- reading


EULER = "e"  # `e` is Euler's number unless the question uses it as a name

# The grader's functions: the solver's, plus the indicator 1[z > 0] that q4's own notes use,
# read as heaviside(z) (solver.functions: the one table).
GRADER_FUNCTIONS = ANSWER_FUNCTIONS
GRADER_FLOATS = ANSWER_FLOATS

# Function names as students spell them, in any case (Tanh, EXP, Sigmoid, sig, σ).
_FUNC_WORDS = SPELLINGS
_LATEX_NAMES = {"eta": "eta", "alpha": "alpha", "beta": "beta", "lambda": "lambda_"}
_GREEK_WORDS = {"eta", "alpha", "beta", "lambda", "gamma", "delta", "epsilon", "theta", "mu",
                "tau", "phi", "omega", "sigma"}
_SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigl",
            "bigr", "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "middle"}
_MUL_CMDS = {"cdot", "times", "div", "ast"}
_BAR_CMDS = {"lvert", "rvert", "vert", "mid"}
_CMP_CMDS = {"geq": ">=", "ge": ">=", "leq": "<=", "le": "<=", "gt": ">", "lt": "<"}
_INDICATOR_CMDS = {"mathbb", "mathbf", "mathds", "mathrm", "boldsymbol", "bm"}
_SUBSCRIPTS = {chr(0x2080 + d): str(d) for d in range(10)}  # z₁ → z1
# Unicode as typed or pasted, per reading mode.
_UNICODE_PLAIN = {"σ": " sigma ", "η": " eta ", "α": " alpha ", "∂": "d", "√": " sqrt ",
                  "²": "^2", "³": "^3", "·": "*", "⋅": "*", "×": "*", "∗": "*", "−": "-",
                  "–": "-", "÷": "/", "≥": ">=", "≤": "<=", "’": "'", "′": "'", "𝟙": "1",
                  **_SUBSCRIPTS}
_UNICODE_LATEX = {"σ": "\\sigma ", "η": "\\eta ", "α": "\\alpha ", "∂": "\\partial ",
                  "√": "\\sqrt ", "²": "^2", "³": "^3", "·": "\\cdot ", "⋅": "\\cdot ",
                  "×": "\\times ", "−": "-", "–": "-", "≥": "\\geq ", "≤": "\\leq ",
                  "’": "'", "′": "'", "𝟙": "1", **_SUBSCRIPTS}
# dL/da, ∂L/∂a, \partial L / \partial a: one name (dL_da) when the question has it.
# Linear: no nested quantifiers, and the text is length-capped before any regex runs.
_SLASH_DERIV_RE = re.compile(
    r"(?<![A-Za-z\\])(?:\\partial|d) ?([A-Za-z]) ?/ ?(?:\\partial|d) ?([A-Za-z][0-9]?)(?![A-Za-z])")
_LATEX_TOKEN_RE = re.compile(
    r"\\([A-Za-z]+|[,;:! {}|])|(\d+(?:\.\d*)?|\.\d+)|([A-Za-z]+)|(\*\*)|(\S)")
_PLAIN_TOKEN_RE = re.compile(
    r"(\*\*)|(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|([A-Za-z][A-Za-z0-9_]*)|(\S)")
_SIMPLE_RE = re.compile(r"[\w.]+")


def student_formula(text: str, names: set[str]) -> Formula:
    """Parse a student's expression (SymPy syntax, plain text as written by hand, or LaTeX)
    with only `names` allowed. Everything goes through `solver.expr.parse` in the end."""
    return _student_formula(text, frozenset(names))


@lru_cache(maxsize=8192)  # a class writes the same few thousand forms; Formula is immutable
def _student_formula(text: str, names: frozenset[str]) -> Formula:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    latex = "\\" in text or "{" in text
    if not latex:
        # The common case, SymPy syntax, needs no translation; anything else is read below.
        plain = _plain(text)
        try:
            return parse(plain, names=names | {EULER}, functions=GRADER_FUNCTIONS)
        except ExprError:
            pass
    return parse(read_text(text, names), names=names | {EULER}, functions=GRADER_FUNCTIONS)


def _plain(text: str) -> str:
    for k, v in _UNICODE_PLAIN.items():
        if k in text:
            text = text.replace(k, v)
    return text


def read_text(text: str, names: set[str]) -> str:
    """Translate what a student wrote (plain text or LaTeX) into `parse` syntax: implicit
    multiplication, tanh^2(z), |z|, 1[z > 0], dL/da, σ(z), f(z) for the activation, any case of
    a function name. Raises ExprError saying what could not be read."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    text = unwrap_math(text)
    latex = "\\" in text or "{" in text
    table = _UNICODE_LATEX if latex else _UNICODE_PLAIN
    for k, v in table.items():
        if k in text:
            text = text.replace(k, v)

    def slash_name(m: re.Match[str]) -> str:
        name = f"d{m[1]}_d{m[2].lower()}"
        return f" {name} " if name in names else m[0]

    text = _SLASH_DERIV_RE.sub(slash_name, text)
    try:
        return _Reader(text, names, latex).run()
    except RecursionError:  # a safety net only: nesting is counted against MAX_DEPTH
        raise ExprError("formula nested too deeply") from None


def unwrap_math(text: str) -> str:
    """`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]` → what is inside."""
    text = text.strip()
    for open_, close_ in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(text) >= 2 * len(open_) and text.startswith(open_) and text.endswith(close_):
            return text[len(open_):-len(close_)].strip()
    return text


class _Reader:
    """Recursive-descent reader producing text for `solver.expr.parse`. In LaTeX a letter is
    a token (`xy` is x·y); in plain text a word is (`alpha`, `dL_da`), split into the
    question's names only where it is none itself (`wx` is w·x)."""

    def __init__(self, text: str, names: set[str], latex: bool):
        self.names = names
        self.latex = latex
        self.depth = 0
        self.toks: list[tuple[str, str]] = []
        if latex:
            for m in _LATEX_TOKEN_RE.finditer(text):
                if m[1] is not None:
                    if m[1] in ("{", "}"):
                        self.toks.append(("op", m[1]))  # \{ \}: braces as brackets
                    elif m[1] == "|" or m[1] in _BAR_CMDS:
                        self.toks.append(("op", "|"))
                    elif m[1] in _CMP_CMDS:
                        self.toks.append(("op", _CMP_CMDS[m[1]]))
                    elif m[1] not in _SPACING:
                        self.toks.append(("cmd", m[1]))
                elif m[2] is not None:
                    self.toks.append(("num", m[2]))
                elif m[3] is not None:
                    # LaTeX mixed with plain text (`sigmoid(z) \cdot x`): a function word
                    # stays one; any other run of letters is a product of letters, as in LaTeX.
                    if len(m[3]) > 1 and m[3].lower() in _FUNC_WORDS:
                        self.toks.append(("word", m[3]))
                    else:
                        self.toks += [("let", c) for c in m[3]]
                elif m[4] is not None:
                    self.toks.append(("op", "^"))
                else:
                    self.toks.append(("op", m[5]))
        else:
            for m in _PLAIN_TOKEN_RE.finditer(text):
                if m[1] is not None:
                    self.toks.append(("op", "^"))
                elif m[2] is not None:
                    self.toks.append(("num", m[2]))
                elif m[3] is not None:
                    self.toks.append(("word", m[3]))
                else:
                    self.toks.append(("op", m[4]))
        self._join_comparisons()
        self.i = 0
        # `σ + zσ(1 - σ)`: where σ stands alone somewhere, σ means σ(z) throughout, and
        # `σ(1 - σ)` is a product (only `σ(z)` stays a call).
        self.bare_sigma = "z" in names and any(
            _is_sigma(t) and (k + 1 == len(self.toks) or self.toks[k + 1][0] == "op" and
                              self.toks[k + 1][1] not in ("(", "^", "{", "["))
            for k, t in enumerate(self.toks))

    def _join_comparisons(self) -> None:
        out: list[tuple[str, str]] = []
        for tok in self.toks:
            if tok == ("op", "=") and out and out[-1] in (("op", ">"), ("op", "<")):
                out[-1] = ("op", out[-1][1] + "=")
            else:
                out.append(tok)
        self.toks = out

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, v = self.take()
        if v != value or kind == "end":
            raise ExprError(f"expected {value!r}, found {v or 'the end'!r}")

    def run(self) -> str:
        quotes = sum(t == ("op", "'") or t == ("op", '"') for t in self.toks)
        if quotes > 1 or ("op", '"') in self.toks:
            raise ExprError("text in quotes is not allowed in a formula")
        if quotes:
            raise ExprError("f'(z) and other primes are read only as the answer's name, left "
                            "of '=': write the derivative out")
        if not self.toks:
            raise ExprError("empty formula")
        out = self.expr()
        if self.peek()[0] != "end":
            raise ExprError(f"unexpected {self.peek()[1]!r}")
        return out

    def expr(self) -> str:
        parts = [self.term()]
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            parts.append(self.take()[1])
            parts.append(self.term())
        return " ".join(parts)

    def term(self) -> str:
        out = self.unary()
        while True:
            kind, v = self.peek()
            if (kind == "op" and v in ("*", "/")) or (kind == "cmd" and v in _MUL_CMDS):
                self.take()
                out += "/" if v in ("/", "div") else "*"
                out += self.unary()
            elif self._starts_atom():
                if kind == "num" and self.toks[self.i - 1][0] == "num":
                    raise ExprError(f"two numbers side by side ({self.toks[self.i - 1][1]} "
                                    f"{v}): one answer, one value")
                out += "*" + self.unary()  # implicit multiplication: 2x, z\sigma(z), 0.01x
            else:
                return out

    def _starts_atom(self) -> bool:
        kind, v = self.peek()
        return kind in ("num", "let", "word") or (kind == "op" and v in ("(", "[", "{")) or \
            (kind == "cmd" and v not in _MUL_CMDS)

    def unary(self) -> str:
        negative = False
        while self.peek()[1] in ("-", "+") and self.peek()[0] == "op":  # a loop: ------z
            negative ^= self.take()[1] == "-"
        inner = self.power()
        return f"-{inner}" if negative else inner

    def power(self) -> str:
        base = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            base = f"{_wrap(base)}**{_wrap(self.script())}"
        return base

    def script(self) -> str:
        """What follows ^ or _: a braced or parenthesised group, or one token."""
        kind, v = self.peek()
        if kind == "op" and v in ("{", "("):
            return self.group(v)
        if kind == "op" and v in ("-", "+"):
            negative = False
            while self.peek()[1] in ("-", "+") and self.peek()[0] == "op":
                negative ^= self.take()[1] == "-"
            inner = self.script()
            return f"-{_wrap(inner)}" if negative else inner
        self.take()
        if kind == "num":
            if self.latex and len(v) > 1 and "." not in v:  # x^23 is x^2·3 in LaTeX
                self.i -= 1
                self.toks[self.i] = ("num", v[1:])
                return v[0]
            return v
        if kind == "let":
            return self._name(v)
        if kind == "word":
            return self._word_name(v)
        if kind == "cmd" and v in _LATEX_NAMES:
            return _LATEX_NAMES[v]
        raise ExprError(f"unexpected {v or 'end of input'!r} in an exponent")

    def group(self, open_: str = "{") -> str:
        self.expect(open_)
        inner = self.expr()
        self.expect({"{": "}", "(": ")", "[": "]"}[open_])
        return f"({inner})"

    def atom(self) -> str:
        self.depth += 1  # every nesting (brackets, tanh tanh z, \frac{\frac..}) passes here
        if self.depth > MAX_DEPTH:
            raise ExprError("formula nested too deeply")
        try:
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self) -> str:
        kind, v = self.take()
        if kind == "num":
            if v == "1" and self.peek()[1] in ("[", "("):
                cond = self._try_condition()  # 1[z > 0]
                if cond is not None:
                    return cond
            return v
        if kind == "op" and v in ("(", "[", "{"):
            self.i -= 1
            return self.group(v)
        if kind == "op" and v == "|":
            inner = self.expr()
            self.expect("|")
            return f"abs({inner})"
        if kind == "let":
            if v == "e" and EULER not in self.names and self.peek() == ("op", "^"):
                self.take()
                return f"exp({self.script()})"
            if v == "f" and self.peek()[1] == "(":
                return self._activation()
            return self._name(v)
        if kind == "word":
            return self._word(v)
        if kind == "cmd":
            return self._command(v)
        raise ExprError(f"unexpected {v or 'end of input'!r}")

    # ------------------------------------------------------------ names

    def _name(self, letter: str) -> str:
        """A LaTeX letter with an optional subscript: x_1 → x1, w_{new} → w_new; or a known
        name spelled out (dL_da, eta) matched greedily from the token stream."""
        j = 0
        while self.peek(j)[0] == "let" or self.peek(j)[1] == "_":
            j += 1
        spelled = letter + "".join(self.peek(k)[1] for k in range(j))
        for end in range(len(spelled), 1, -1):
            if spelled[:end] in self.names:
                self.i += end - 1
                return spelled[:end]
        word = letter
        if self.peek()[1] == "_":
            self.take()
            sub = self.script().strip("()")
            word = f"{letter}{sub}" if sub.isdigit() else f"{letter}_{sub}"
        return word

    def _word_name(self, word: str) -> str:
        """A plain-text word that must be a name: itself, a Greek name, z_1 for z1, or a
        product of the question's names written together (wx → w*x)."""
        if word in self.names or word == EULER:
            return word
        if keyword.iskeyword(word):
            raise ExprError(f"{word!r} is not allowed in a formula")
        if word in _LATEX_NAMES:
            return _LATEX_NAMES[word]
        squeezed = word.replace("_", "")
        if squeezed in self.names:
            return squeezed
        if word.lower() not in _GREEK_WORDS and word.lower() not in _FUNC_WORDS:
            parts = _split_names(word, self.names)
            if parts:
                return "*".join(parts)
        return word  # parse names it in its message: unknown name 'y' (expected one of ...)

    def _word(self, word: str) -> str:
        fn = _FUNC_WORDS.get(word.lower())
        nxt = self.peek()
        if fn is not None and word not in self.names and (
                nxt[0] in ("num", "word", "let") or nxt[1] in ("(", "^", "|", "[") or
                (fn == "sigmoid" and self.bare_sigma)):
            return self._call(fn)
        if word == EULER and EULER not in self.names and nxt == ("op", "^"):
            self.take()
            return f"exp({self.script()})"
        if word == "f" and nxt[1] == "(" and "f" not in self.names:
            return self._activation()
        return self._word_name(word)

    def _activation(self) -> str:
        """f(z): the question's activation, the name `a` (Swish, Leaky ReLU, ELU call it f)."""
        arg = self.group("(")[1:-1].replace(" ", "")
        if "a" in self.names and arg in ("z", "w*x+b", "x*w+b", "b+w*x", "b+x*w"):
            return "a"
        raise ExprError(f"f({arg}) is read only as f(z), the activation a")

    # ------------------------------------------------------------ commands and functions

    def _command(self, cmd: str) -> str:
        if cmd in ("frac", "dfrac", "tfrac", "cfrac"):
            if self.peek()[1] == "{" and self.peek(1)[1] in ("partial", "d"):
                if self.peek(2)[1] == "}" or (self.peek(1)[1] == "d" and
                                              self.peek(2)[0] != "let"):
                    raise ExprError("d/dz is an operator left to apply: write the derivative "
                                    "out")
                return self._derivative()
            num = self._frac_arg()
            den = self._frac_arg()
            return f"{_wrap(num)}/{_wrap(den)}"
        if cmd in _INDICATOR_CMDS and self._indicator_one():
            cond = self._try_condition()
            if cond is None:
                raise ExprError("an indicator 1[...] needs a condition such as z > 0")
            return cond
        if cmd in ("operatorname", "mathrm", "text", "mathit", "textrm", "mathbb", "mathbf"):
            return self._function_or_name(self._braced_word())
        if cmd == "partial":
            raise ExprError("write derivatives as \\frac{\\partial L}{\\partial a}")
        return self._function_or_name(cmd, case=False)

    def _braced_word(self) -> str:
        if self.peek()[1] != "{":
            kind, v = self.take()
            return v
        self.take()
        word = ""
        while self.peek()[1] != "}":
            if self.peek()[0] == "end":
                raise ExprError("unclosed {")
            word += self.take()[1]
        self.take()
        return word

    def _indicator_one(self) -> bool:
        """After \\mathbb, \\mathbf...: is the argument the digit 1 (or I)?"""
        if self.peek() == ("num", "1"):
            self.take()
            return True
        if self.peek()[1] == "{" and self.peek(1) in (("num", "1"), ("let", "I")) and \
                self.peek(2)[1] == "}":
            self.i += 3
            return True
        return False

    def _try_condition(self) -> str | None:
        """[z > 0], (z > 0), _{z > 0}, \\{z > 0\\} after an indicator 1: heaviside(z)."""
        start = self.i
        sub = self.peek()[1] == "_"
        if sub:
            self.take()
        open_ = self.peek()[1]
        if open_ not in ("[", "(", "{"):
            self.i = start
            return None
        self.take()
        try:
            left = self.expr()
            kind, op = self.take()
            if op not in (">", "<", ">=", "<="):
                raise ExprError("not a condition")
            right = self.expr()
            self.expect({"[": "]", "(": ")", "{": "}"}[open_])
        except ExprError:
            self.i = start
            return None
        diff = (left if right == "0" else f"{left} - {_wrap(right)}") if op[0] == ">" else \
            (f"-{_wrap(left)}" if right == "0" else f"{right} - {_wrap(left)}")
        return f"heaviside({diff})"

    def _function_or_name(self, word: str, case: bool = True) -> str:
        fn = _FUNC_WORDS.get(word.lower() if case else word)
        if fn is not None:
            return self._call(fn)
        if word == "e" and EULER not in self.names:
            if self.peek() == ("op", "^"):
                self.take()
                return f"exp({self.script()})"
            return EULER
        if word in _LATEX_NAMES:
            return _LATEX_NAMES[word]
        if word in self.names:
            return word
        raise ExprError(f"unknown command \\{word}")

    def _call(self, fn: str) -> str:
        """A function and its argument: tanh(z), \\tanh z, tanh^2(z) = tanh(z)**2, \\sqrt{x}."""
        if fn == "sigmoid" and self.bare_sigma and not (
                self.peek()[1] == "(" and self.peek(1)[1] == "z" and self.peek(2)[1] == ")"):
            return "sigmoid(z)"
        power = None
        if self.peek() == ("op", "^"):
            self.take()
            power = self.script()
        if fn == "sqrt" and self.peek()[1] == "{":
            arg = self.group()[1:-1]
        else:
            arg = self._argument()
        call = f"{fn}({arg})"
        return f"{call}**{_wrap(power)}" if power else call

    def _argument(self) -> str:
        kind, v = self.peek()
        if kind == "op" and v in ("(", "{", "["):
            close = {"(": ")", "{": "}", "[": "]"}[v]
            self.take()
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.expr())
            self.expect(close)
            return ", ".join(args)
        if kind == "op" and v == "|":
            return self.atom()
        return self.power()  # \tanh z, sech^2 z

    def _frac_arg(self) -> str:
        if self.peek()[1] == "{":
            return self.group()
        kind, v = self.take()
        if kind == "num" and len(v) > 1 and "." not in v:  # \frac12
            self.i -= 1
            self.toks[self.i] = ("num", v[1:])
            return v[0]
        if kind in ("num", "let"):
            return v if kind == "num" else self._name(v)
        raise ExprError("\\frac needs two arguments in braces")

    def _derivative(self) -> str:
        top = self._dname()
        bottom = self._dname()
        return f"d{top}_d{bottom}"

    def _dname(self) -> str:
        self.expect("{")
        self.take()  # \partial or d
        kind, v = self.take()
        if kind == "cmd" and v in _LATEX_NAMES:
            v = _LATEX_NAMES[v]
        elif kind != "let":
            raise ExprError("expected a name after \\partial")
        while self.peek()[1] != "}":
            if self.peek()[0] == "end":
                raise ExprError("unclosed {")
            v += self.take()[1].strip("{}")
        self.take()
        return v


def _is_sigma(tok: tuple[str, str]) -> bool:
    return (tok[0] == "word" and SPELLINGS.get(tok[1].lower()) == "sigmoid") or \
        tok == ("cmd", "sigma")


def _wrap(s: str) -> str:
    return s if _SIMPLE_RE.fullmatch(s) else f"({s})"


def _split_names(word: str, names: set[str]) -> list[str] | None:
    """`wx` → [w, x]; `dL_dax` → [dL_da, x]; None unless every piece is one of `names`."""
    if len(word) > 40:
        return None
    out: list[str] = []
    i = 0
    while i < len(word):
        for end in range(len(word), i, -1):
            if word[i:end] in names:
                out.append(word[i:end])
                i = end
                break
        else:
            return None
    return out if len(out) > 1 else None


# ---------------------------------------------------------------- what was read

def shown(formula: Formula) -> str:
    """How a formula was read, in SymPy syntax with the question's own names: the feedback's
    `read as 1 - tanh(z)**2`."""
    if formula.text not in _SHOWN:
        if len(_SHOWN) > 8192:
            _SHOWN.clear()
        _SHOWN[formula.text] = _shown(formula)
    return _SHOWN[formula.text]


_SHOWN: dict[str, str] = {}


def _shown(formula: Formula) -> str:
    # Python's own unparser: the tree in SymPy syntax, whatever the solver's display style.
    return ast.unparse(formula.tree).replace(" ** ", "**")


# Separators between an answer's name and its value: `f'(z) = ...`, `w ← w - ...`, `w := ...`.
_ASSIGN = ("\\leftarrow", "\\gets", "\\approx", ":=", "←", "≈", "=")


def split_equation(text: str) -> list[str]:
    """`f'(z) = 1 - a^2` → ["f'(z)", "1 - a^2"]; a chain `x = y = z` gives every part. An `=`
    inside brackets, or that belongs to <=, >=, == or !=, does not split."""
    if len(text) > MAX_LENGTH or not any(sep in text for sep in _ASSIGN):
        return [text]
    parts: list[str] = []
    start = i = depth = 0
    while i < len(text):
        depth += (text[i] in "([{") - (text[i] in ")]}")
        sep = next((s for s in _ASSIGN if text.startswith(s, i)), None) \
            if text[i] in "\\:←≈=" and depth <= 0 else None  # not inside brackets: 0.5 (=2/4)
        if sep == "=" and ((i > 0 and text[i - 1] in "<>!=:") or text.startswith("==", i)):
            sep = None
        if sep is None:
            i += 1
            continue
        parts.append(text[start:i])
        i += len(sep)
        start = i
    parts.append(text[start:])
    return [p.strip() for p in parts]


_KEY_DROP_CMDS = ("\\left", "\\right", "\\bigl", "\\bigr", "\\big", "\\Big", "\\displaystyle",
                  "\\mathrm", "\\operatorname", "\\textrm", "\\text", "\\mathit", "\\mathbf",
                  "\\boldsymbol", "\\hat", "\\dfrac", "\\tfrac", "\\frac", "\\limits",
                  "\\quad", "\\qquad")
_KEY_CMP = (("\\geq", ">="), ("\\leq", "<="), ("\\ge", ">="), ("\\le", "<="), ("\\gt", ">"),
            ("\\lt", "<"), ("≥", ">="), ("≤", "<="), ("\\partial", "d"), ("∂", "d"),
            ("\\nabla", "grad"), ("\\sigma", "σ"), ("\\varphi", "φ"), ("\\phi", "φ"),
            ("’", "'"), ("′", "'"), ("^{\\prime}", "'"), ("\\prime", "'"), ("²", "2"),
            *_SUBSCRIPTS.items())
_KEY_DROP_CHARS = str.maketrans("", "", " \t{}()[]_$*/\\·^,.:;!")
_BRANCH_RE = re.compile(r"(?:\||for|if|when|on|where)?(z)(>=|<=|>|<)(0)$")


def name_key(text: str) -> tuple[str, str | None]:
    """A written name reduced to a comparable key, and the branch it states if any:
    `\\frac{\\partial L}{\\partial w}\\Big|_{z>0}` → ("dldw", "z > 0")."""
    t = text[:200].replace("\\left", "").replace("\\right", "")
    for a, b in _KEY_CMP:
        t = t.replace(a, b)
    for cmd in _KEY_DROP_CMDS:
        t = t.replace(cmd, "")
    t = t.translate(_KEY_DROP_CHARS).lower()
    m = _BRANCH_RE.search(t)
    if m:
        return t[:m.start()], f"{m[1]} {m[2]} {m[3]}"
    return t, None


def strip_branch(text: str) -> tuple[str, str | None]:
    """`1 for z > 0`, `1 (z>0)`, `1, z > 0`, `1 \\big|_{z>0}` → ("1", "z > 0"): a branch
    answer may state its branch after the value."""
    for sep in (",", ";", "(", " for ", " if ", " when ", "\\text", "\\quad", "\\big",
                "\\Big", "|"):
        idx = text.rfind(sep)
        if idx > 0:
            key, branch = name_key(text[idx:])
            if branch is not None and key == "":
                return text[:idx].strip(), branch
    return text, None


_DERIV_KEY_RE = re.compile(r"[a-zσφ]+'+z?|d[a-zσφ]*z?dz|ddz[a-zσφ]*z?")
_PARTIAL_ID_RE = re.compile(r"d([A-Za-z]\w*?)_d([A-Za-z]\w*)")


def is_answer_name(key: str, aid: str, aliases: set[str]) -> bool:
    """Is `key` (from name_key) a name for answer `aid`? Its id, the question's own symbol and
    the rubric's names (`aliases`, already keys), f'(z) and d/dz forms for a derivative,
    dL/dw and ∇_w L for a gradient, w', w_new, w for an update."""
    if key in aliases or key == name_key(aid)[0]:
        return True
    if aid.startswith("derivative"):
        return bool(_DERIV_KEY_RE.fullmatch(key))
    m = _PARTIAL_ID_RE.fullmatch(aid.split("_pos")[0].split("_neg")[0])
    if m:
        return key in (f"d{m[1]}d{m[2]}".lower(), f"grad{m[2]}{m[1]}".lower())
    base = aid.split("_new")[0]
    if base != aid:
        return key in (base, f"{base}new", f"{base}'", f"{base}+", f"{base}t+1")
    return False
# ---------------------------------------------------------------- evaluating


class PointError(ArithmeticError):
    """An expression has no real value at this point (log of a negative, overflow...)."""


def eval_formula(formula: Formula, env: Mapping[str, float]) -> float:
    """Evaluate a parsed formula with floats; PointError where it has no real value."""
    if EULER not in env:  # cheaper than walking the tree for its names
        env = {**env, EULER: math.e}
    try:
        value = float(fold(formula, float, env.__getitem__, GRADER_FLOATS, math.pow))
    except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise PointError(str(exc)) from None
    if not math.isfinite(value):
        raise PointError("not finite")
    return value


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

    try:
        value = float(ev(expr))
    except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise PointError(str(exc)) from None
    if not math.isfinite(value):
        raise PointError("not finite")
    return value


def close(a: float, b: float, rel: float) -> bool:
    """Equal to `rel` of max(1, |a|, |b|) (the rubric's parta.symbolic.rel)."""
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# ---------------------------------------------------------------- proving


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in SymPy eats it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Interrupt the body after `seconds` (SIGALRM timer). Yields False where no hard limit can
    be set (not the main thread, or no setitimer): callers then skip the unbounded work."""
    usable = (seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield False
        return

    def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _NotReal(Exception):
    """A step of a student's expression is not real (sqrt(-1), log(-2), (-1)**0.5)."""


def _real(value: sympy.Expr) -> sympy.Expr:
    if value.has(sympy.I, sympy.zoo, sympy.nan) or value.is_extended_real is False:
        raise _NotReal
    return value


def _checked(fn: Callable[..., sympy.Expr]) -> Callable[..., sympy.Expr]:
    return lambda *args: _real(fn(*args))


_REAL_FUNCTIONS = {name: _checked(fn) for name, fn in GRADER_FUNCTIONS.items()}


def _real_valued(expr: sympy.Expr) -> bool:
    """No part of `expr` is known to be non-real (I, log of a negative, sqrt(-x**2 - 1)...);
    the symbols are real, so SymPy can tell."""
    if expr.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return False
    return not any(getattr(e, "is_extended_real", None) is False
                   for e in sympy.preorder_traversal(expr))


def prove_equal(student: Formula, reference: sympy.Expr,
                definitions: Mapping[str, sympy.Expr], seconds: float) -> bool | None:
    """True if SymPy proves student == reference (definitions substituted) within `seconds`;
    False if the student's expression is not real-valued (answers live in the reals: sqrt(-1)**2
    must not cancel a -1); None when it could not tell in time (or no hard limit is here)."""
    env = {**definitions, EULER: sympy.E} if EULER not in definitions else dict(definitions)
    try:
        with time_limit(seconds) as enforced:
            if not enforced:
                return None
            # Built with every function and power checked, since SymPy folds sqrt(-1)**2 to -1
            # as it builds: a non-real step anywhere refuses the proof.
            s = fold(student, exact, lambda n: env[n] if n in env else symbol(n), _REAL_FUNCTIONS,
                     lambda base, power: _real(base ** power))
            if not _real_valued(s):
                return False
            subs = {symbol(k): v for k, v in definitions.items()}
            diff = to_elementary(s - reference.xreplace(subs))
            # Only the quick normalisations; anything harder is left to the random points.
            if diff == 0 or sympy.expand(diff) == 0:
                return True
            return None
    except _NotReal:
        return False
    except _Timeout:
        return None
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return None
