"""The LaTeX commands of a student's formula: \\frac (and \\frac{\\partial L}{\\partial a}), the
indicator 1[z > 0] in its spellings, \\operatorname{...} and friends, and any function or name
spelled as a command. A base class of the reader (grader.parta.reader), which holds the grammar.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from grader.parta.tokens import EULER, Token
from solver.expr import ExprError
from solver.functions import SPELLINGS

LATEX_NAMES = {"eta": "eta", "alpha": "alpha", "beta": "beta", "lambda": "lambda_"}
_SIMPLE_RE = re.compile(r"[\w.]+")
_INDICATOR_CMDS = {"mathbb", "mathbf", "mathds", "mathrm", "boldsymbol", "bm"}


class Commands:
    """The reader's LaTeX commands. The grammar (expr, group, the names and calls) is the
    reader's own; the token stream is this class's."""

    names: AbstractSet[str]
    toks: list[Token]
    i: int

    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, v = self.take()
        if v != value or kind == "end":
            raise ExprError(f"expected {value!r}, found {v or 'the end'!r}")

    # The grammar, the reader's.
    def expr(self) -> str:
        raise NotImplementedError

    def group(self, open_: str = "{") -> str:
        raise NotImplementedError

    def script(self, absorb: bool = False) -> str:
        raise NotImplementedError

    def _name(self, letter: str) -> str:
        raise NotImplementedError

    def _call(self, fn: str) -> str:
        raise NotImplementedError

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
            return f"{wrap(num)}/{wrap(den)}"
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
        diff = (left if right == "0" else f"{left} - {wrap(right)}") if op[0] == ">" else \
            (f"-{wrap(left)}" if right == "0" else f"{right} - {wrap(left)}")
        return f"heaviside({diff})"

    def _function_or_name(self, word: str, case: bool = True) -> str:
        fn = SPELLINGS.get(word.lower() if case else word)
        if fn is not None:
            return self._call(fn)
        if word == "e" and EULER not in self.names:
            if self.peek() == ("op", "^"):
                self.take()
                return f"exp({self.script(absorb=True)})"
            return EULER
        if word in LATEX_NAMES:
            return LATEX_NAMES[word]
        if word in self.names:
            return word
        raise ExprError(f"unknown command \\{word}")

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
        if kind == "cmd" and v in LATEX_NAMES:
            v = LATEX_NAMES[v]
        elif kind != "let":
            raise ExprError("expected a name after \\partial")
        while self.peek()[1] != "}":
            if self.peek()[0] == "end":
                raise ExprError("unclosed {")
            v += self.take()[1].strip("{}")
        self.take()
        return v


def wrap(s: str) -> str:
    """`s` in brackets unless it is one name or number."""
    return s if _SIMPLE_RE.fullmatch(s) else f"({s})"
