"""Reading a student's formula: SymPy syntax, plain text as written by hand, or LaTeX.

Reading goes through the project's one whitelist parser (`solver.expr.parse`). SymPy syntax goes
there directly; anything else (LaTeX, or plain text as written by hand: `2(y-a)`, `tanh²(z)`,
`dL/da`) is first translated by the recursive-descent reader here, which only emits names,
numbers, operators and the function names of solver.functions, so nothing it outputs can do
more than `parse` allows.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Set as AbstractSet
from functools import lru_cache

from grader.parta.latex import LATEX_NAMES, Commands, wrap
from grader.parta.tokens import (
    EULER,
    UNICODE_PLAIN,
    Token,
    is_latex,
    normalise,
    replace_all,
    tokenize_glued,
)
from solver.expr import MAX_DEPTH, MAX_LENGTH, ExprError, Formula, parse
from solver.functions import ANSWER_FUNCTIONS, SPELLINGS

_GREEK_WORDS = {"eta", "alpha", "beta", "lambda", "gamma", "delta", "epsilon", "theta", "mu",
                "tau", "phi", "omega", "sigma"}
_MUL_CMDS = {"cdot", "times", "div", "ast"}
_BINDS = {("op", "/"), ("op", "^"), ("cmd", "div")}  # where a glued product may bind tighter


def student_formula(text: str, names: AbstractSet[str]) -> Formula:
    """Parse a student's expression (SymPy syntax, plain text as written by hand, or LaTeX)
    with only `names` allowed. Everything goes through `solver.expr.parse` in the end."""
    return _student_formula(text, frozenset(names))


@lru_cache(maxsize=8192)  # a class writes the same few thousand forms; Formula is immutable
def _student_formula(text: str, names: frozenset[str]) -> Formula:
    return student_readings(text, names)[0]


def student_readings(text: str, names: AbstractSet[str]) -> tuple[Formula, ...]:
    """Every plausible reading of what a student wrote: one, or where a product written
    without a space may bind tighter than `/` or `^` (`1/2z`, `a/bc`, `e^-2z`), also that
    reading, second. The first is the usual precedence (`1/2z` is z/2)."""
    return _readings(text, frozenset(names))


@lru_cache(maxsize=8192)
def _readings(text: str, names: frozenset[str]) -> tuple[Formula, ...]:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    allowed = names | {EULER}
    if not is_latex(text):
        # The common case, SymPy syntax, needs no translation and has one reading.
        try:
            return (parse(replace_all(text, UNICODE_PLAIN), names=allowed,
                          functions=ANSWER_FUNCTIONS),)
        except ExprError:
            pass
    usual, tight = read_texts(text, names)
    first = parse(usual, names=allowed, functions=ANSWER_FUNCTIONS)
    if tight == usual:
        return (first,)
    second = parse(tight, names=allowed, functions=ANSWER_FUNCTIONS)
    return (first,) if second.text == first.text else (first, second)


def read_text(text: str, names: AbstractSet[str]) -> str:
    """Translate what a student wrote (plain text or LaTeX) into `parse` syntax: implicit
    multiplication, tanh^2(z), |z|, 1[z > 0], dL/da, σ(z), f(z) for the activation, any case of
    a function name. Raises ExprError saying what could not be read."""
    return read_texts(text, names)[0]


def read_texts(text: str, names: AbstractSet[str]) -> tuple[str, str]:
    """`read_text`'s translation, and the one where a glued product binds tightest."""
    text, latex = normalise(text, names)
    toks, glued = tokenize_glued(text, latex)
    try:
        usual = _Reader(list(toks), glued, names, latex).run()
        if not any(glued) or not any(t in _BINDS for t in toks):  # no `/` or `^` to bind to
            return usual, usual
        return usual, _Reader(list(toks), glued, names, latex, tight=True).run()
    except RecursionError:  # a safety net only: nesting is counted against MAX_DEPTH
        raise ExprError("formula nested too deeply") from None


class _Reader(Commands):
    """Recursive-descent reader producing text for `solver.expr.parse`. In LaTeX a letter is
    a token (`xy` is x·y); in plain text a word is (`alpha`, `dL_da`), split into the
    question's names only where it is none itself (`wx` is w·x). `tight`: a product written
    without spaces binds tighter than `/` and `^` (`1/2z` is 1/(2z), `e^-2z` is e^(-2z))."""

    def __init__(self, toks: list[Token], glued: list[bool], names: AbstractSet[str],
                 latex: bool, tight: bool = False):
        self.names = names
        self.latex = latex
        self.depth = 0
        self.toks = toks
        self.glued = glued
        self.tight = tight
        self.i = 0
        # `σ + zσ(1 - σ)`: where σ stands alone somewhere, σ means σ(z) throughout, and
        # `σ(1 - σ)` is a product (only `σ(z)` stays a call).
        self.bare_sigma = "z" in names and any(
            _is_sigma(t) and (k + 1 == len(self.toks) or self.toks[k + 1][0] == "op" and
                              self.toks[k + 1][1] not in ("(", "^", "{", "["))
            for k, t in enumerate(self.toks))

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
                divide = v in ("/", "div")
                out += "/" if divide else "*"
                out += self._divisor() if divide and self.tight else self.unary()
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

    def _glued_atom(self, plain: bool = False) -> bool:
        """The next token starts a factor written with no space before it (`plain`: a name
        or a number only, no bracket or function)."""
        if not (self.i < len(self.glued) and self.glued[self.i] and self._starts_atom()):
            return False
        kind, v = self.peek()
        if kind == "num" and self.toks[self.i - 1][0] == "num":
            return False
        return not plain or kind in ("num", "let") or (
            kind == "word" and v.lower() not in SPELLINGS)

    def _divisor(self) -> str:
        """The tight reading's divisor: the factors glued after `/` (1/2z is 1/(2z))."""
        parts = [self.unary()]
        while self._glued_atom():
            parts.append(self.power())
        return parts[0] if len(parts) == 1 else f"({'*'.join(parts)})"

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
            base = f"{wrap(base)}**{wrap(self.script(absorb=True))}"
        return base

    def script(self, absorb: bool = False) -> str:
        """What follows ^ or _: a braced or parenthesised group, or one token; in the tight
        reading an exponent (`absorb`) also takes the names and numbers glued after it."""
        kind, v = self.peek()
        if kind == "op" and v in ("{", "("):
            return self.group(v)
        if kind == "op" and v in ("-", "+"):
            negative = False
            while self.peek()[1] in ("-", "+") and self.peek()[0] == "op":
                negative ^= self.take()[1] == "-"
            inner = self.script(absorb)
            return f"-{wrap(inner)}" if negative else inner
        one = self._script_token()
        if not (absorb and self.tight):
            return one
        parts = [one]
        while self._glued_atom(plain=True):
            parts.append(self._script_token())
        return one if len(parts) == 1 else "*".join(parts)

    def _script_token(self) -> str:
        kind, v = self.take()
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
        if kind == "cmd" and v in LATEX_NAMES:
            return LATEX_NAMES[v]
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
                return f"exp({self.script(absorb=True)})"
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
        if word in LATEX_NAMES:
            return LATEX_NAMES[word]
        squeezed = word.replace("_", "")
        if squeezed in self.names:
            return squeezed
        if word.lower() not in _GREEK_WORDS and word.lower() not in SPELLINGS:
            parts = _split_names(word, self.names)
            if parts:  # in the tight reading, `bc` in `a/bc` is one factor
                return f"({'*'.join(parts)})" if self.tight else "*".join(parts)
        return word  # parse names it in its message: unknown name 'y' (expected one of ...)

    def _word(self, word: str) -> str:
        fn = SPELLINGS.get(word.lower())
        nxt = self.peek()
        if fn is not None and word not in self.names and (
                nxt[0] in ("num", "word", "let") or nxt[1] in ("(", "^", "|", "[") or
                (fn == "sigmoid" and self.bare_sigma)):
            return self._call(fn)
        if EULER not in self.names and nxt == ("op", "^") and word.endswith(EULER):
            head = word[:-1]  # `ze^-z`: z·e^(-z), where z is a name and `ze` is none
            if not head or (word not in self.names and self._is_names(head)):
                self.take()
                power = f"exp({self.script(absorb=True)})"
                return f"{wrap(self._word_name(head))}*{power}" if head else power
        if word == "f" and nxt[1] == "(" and "f" not in self.names:
            return self._activation()
        return self._word_name(word)

    def _is_names(self, word: str) -> bool:
        """One of the question's names, or several written together (`wx`)."""
        return word in self.names or word in LATEX_NAMES or \
            _split_names(word, self.names) is not None

    def _activation(self) -> str:
        """f(z): the question's activation, the name `a` (Swish, Leaky ReLU, ELU call it f)."""
        arg = self.group("(")[1:-1].replace(" ", "")
        if "a" in self.names and arg in ("z", "w*x+b", "x*w+b", "b+w*x", "b+x*w"):
            return "a"
        raise ExprError(f"f({arg}) is read only as f(z), the activation a")

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
        return f"{call}**{wrap(power)}" if power else call

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

def _is_sigma(tok: Token) -> bool:
    return (tok[0] == "word" and SPELLINGS.get(tok[1].lower()) == "sigmoid") or \
        tok == ("cmd", "sigma")


def _split_names(word: str, names: AbstractSet[str]) -> list[str] | None:
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
