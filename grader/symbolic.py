"""Symbolic answers: reading them (SymPy syntax or plain LaTeX), evaluating them, proving them.

Reading goes through the project's one whitelist parser (`solver.expr.parse`); LaTeX is first
translated to that syntax by a small recursive-descent reader that only emits names, numbers,
operators and whitelisted function names, so nothing it outputs can do more than `parse` allows.
Formulas are evaluated with plain floats by walking their syntax tree (no eval, no SymPy), which
is what makes grading a class fast; the exact SymPy proof runs only under a hard time limit.
"""

from __future__ import annotations

import math
import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import sympy

from solver.expr import MAX_LENGTH, ExprError, Formula, evaluate, parse, symbol, to_sympy
from solver.functions import FUNCTIONS, float_sigmoid, sigmoid, to_elementary

# ---------------------------------------------------------------- reading


EULER = "e"  # `e` is Euler's number unless the question uses it as a name


def student_formula(text: str, names: set[str]) -> Formula:
    """Parse a student's expression (SymPy syntax or LaTeX) with only `names` allowed."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    if "\\" in text or "{" in text:
        text = latex_to_text(text, names)
    else:
        text = _plain(text)
    return parse(text, names=names | {EULER}, functions=FUNCTIONS)


_UNICODE = {"σ": "sigmoid", "·": "*", "×": "*", "−": "-", "η": "eta", "α": "alpha", "²": "**2"}


def _plain(text: str) -> str:
    for k, v in _UNICODE.items():
        text = text.replace(k, v)
    return text


_LATEX_FUNCS = {"tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sech": "sech", "exp": "exp",
                "ln": "log", "log": "log", "sigma": "sigmoid", "max": "max", "sqrt": "sqrt"}
_LATEX_NAMES = {"eta": "eta", "alpha": "alpha", "beta": "beta", "lambda": "lambda_"}
_SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigl",
            "bigr", "Bigl", "Bigr", "displaystyle"}
_TOKEN_RE = re.compile(r"\\([A-Za-z]+|[,;:! {}|])|(\d+\.?\d*|\.\d+)|([A-Za-z])|(\S)")


class _Latex:
    """Recursive-descent LaTeX reader producing text for `solver.expr.parse`."""

    def __init__(self, text: str, names: set[str]):
        self.names = names
        self.toks: list[tuple[str, str]] = []
        for m in _TOKEN_RE.finditer(text):
            if m[1] is not None:
                if m[1] in ("{", "}"):
                    self.toks.append(("op", m[1]))  # \{ \}: braces as brackets
                elif m[1] not in _SPACING:
                    self.toks.append(("cmd", m[1]))
            elif m[2] is not None:
                self.toks.append(("num", m[2]))
            elif m[3] is not None:
                self.toks.append(("let", m[3]))
            else:
                self.toks.append(("op", m[4]))
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, v = self.take()
        if v != value:
            raise ExprError(f"LaTeX: expected {value!r}, found {v or 'the end'!r}")

    def run(self) -> str:
        out = self.expr()
        if self.peek()[0] != "end":
            raise ExprError(f"LaTeX: unexpected {self.peek()[1]!r}")
        return out

    def expr(self) -> str:
        parts = [self.term()]
        while self.peek()[1] in ("+", "-"):
            parts.append(self.take()[1])
            parts.append(self.term())
        return " ".join(parts)

    def term(self) -> str:
        out = self.unary()
        while True:
            kind, v = self.peek()
            if v in ("*", "/") or (kind == "cmd" and v in ("cdot", "times", "div")):
                self.take()
                out += " / " if v in ("/", "div") else " * "
                out += self.unary()
            elif self._starts_atom():
                out += " * " + self.unary()  # implicit multiplication: 2x, z\sigma(z)
            else:
                return out

    def _starts_atom(self) -> bool:
        kind, v = self.peek()
        return kind in ("num", "let") or v in ("(", "[", "{") or \
            (kind == "cmd" and v not in ("cdot", "times", "div", "right"))

    def unary(self) -> str:
        if self.peek()[1] in ("-", "+"):
            sign = self.take()[1]
            return f"{sign}{self.unary()}" if sign == "-" else self.unary()
        return self.power()

    def power(self) -> str:
        base = self.atom()
        if self.peek()[1] == "^":
            self.take()
            base = f"({base})**({self.script()})"
        return base

    def script(self) -> str:
        """What follows ^ or _: a braced group or one token."""
        kind, v = self.peek()
        if v == "{":
            return self.group()
        if v == "-":
            self.take()
            return "-" + self.script()
        self.take()
        if kind == "num":
            return v[0] if len(v) > 1 and "." not in v else v  # x^23 is x^2 3 in LaTeX
        if kind == "let":
            return self._name(v)
        if kind == "cmd" and v in _LATEX_NAMES:
            return _LATEX_NAMES[v]
        raise ExprError(f"LaTeX: unexpected {v!r} in an exponent")

    def group(self) -> str:
        self.expect("{")
        inner = self.expr()
        self.expect("}")
        return f"({inner})"

    def atom(self) -> str:
        kind, v = self.take()
        if kind == "num":
            return v
        if v in ("(", "["):
            inner = self.expr()
            self.expect(")" if v == "(" else "]")
            return f"({inner})"
        if v == "{":
            self.i -= 1
            return self.group()
        if kind == "let":
            if v == "e" and EULER not in self.names and self.peek()[1] == "^":
                self.take()
                return f"exp({self.script()})"
            return self._name(v)
        if kind == "cmd":
            return self._command(v)
        raise ExprError(f"LaTeX: unexpected {v or 'end of input'!r}")

    def _name(self, letter: str) -> str:
        """A letter with an optional subscript: x_1 → x1, w_{new} → w_new; or a known name
        spelled out (dL_da, eta) matched greedily from the token stream."""
        word = letter
        j = 0
        while self.peek(j)[0] == "let" or self.peek(j)[1] == "_":
            j += 1
        spelled = letter + "".join(self.peek(k)[1] for k in range(j))
        for end in range(len(spelled), 1, -1):
            if spelled[:end] in self.names:
                self.i += end - 1
                return spelled[:end]
        if self.peek()[1] == "_":
            self.take()
            sub = self.script().strip("()")
            word = f"{letter}{sub}" if sub.isdigit() else f"{letter}_{sub}"
        return word

    def _command(self, cmd: str) -> str:
        if cmd == "frac" or cmd in ("dfrac", "tfrac"):
            if self.peek()[1] == "{" and self.peek(1)[1] in ("partial", "d") \
                    and self._is_derivative():
                return self._derivative()
            num = self.group()
            den = self.group()
            return f"({num})/({den})"
        if cmd in ("operatorname", "mathrm", "text", "mathit"):
            self.expect("{")
            word = ""
            while self.peek()[1] != "}":
                if self.peek()[0] == "end":
                    raise ExprError("LaTeX: unclosed {")
                word += self.take()[1]
            self.take()
            return self._function_or_name(word)
        if cmd == "partial":
            raise ExprError("LaTeX: write derivatives as \\frac{\\partial L}{\\partial a}")
        return self._function_or_name(cmd)

    def _function_or_name(self, word: str) -> str:
        if word in _LATEX_FUNCS:
            fn = _LATEX_FUNCS[word]
            power = None
            if self.peek()[1] == "^":  # \tanh^2(z) means tanh(z)**2
                self.take()
                power = self.script()
            if fn == "sqrt" and self.peek()[1] == "{":
                arg = self.group()
            else:
                arg = self._argument()
            call = f"{fn}({arg})"
            return f"({call})**({power})" if power else call
        if word in _LATEX_NAMES:
            return _LATEX_NAMES[word]
        if word in self.names:
            return word
        raise ExprError(f"LaTeX: unknown command \\{word}")

    def _argument(self) -> str:
        kind, v = self.peek()
        if v in ("(", "{", "["):
            close = {"(": ")", "{": "}", "[": "]"}[v]
            self.take()
            args = [self.expr()]
            while self.peek()[1] == ",":
                self.take()
                args.append(self.expr())
            self.expect(close)
            return ", ".join(args)
        return self.power()  # \tanh z

    def _is_derivative(self) -> bool:
        # \frac{\partial L}{\partial a} or \frac{dL}{da}: braces hold d/∂ then one name.
        return self.peek(1)[1] == "partial" or (self.peek(1)[1] == "d" and
                                                self.peek(2)[0] == "let")

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
            raise ExprError("LaTeX: expected a name after \\partial")
        while self.peek()[1] != "}":
            if self.peek()[0] == "end":
                raise ExprError("LaTeX: unclosed {")
            v += self.take()[1].strip("{}")
        self.take()
        return v


def latex_to_text(text: str, names: set[str]) -> str:
    """Translate plain LaTeX math (\\frac, \\sigma, \\tanh, \\cdot, ^{...}, ∂-names) to
    `parse` syntax. Raises ExprError with what was expected."""
    text = text.strip().strip("$")
    return _Latex(text, names).run()


# ---------------------------------------------------------------- evaluating


class PointError(ArithmeticError):
    """An expression has no real value at this point (log of a negative, overflow...)."""


def eval_formula(formula: Formula, env: Mapping[str, float]) -> float:
    """Evaluate a parsed formula with floats; PointError where it has no real value."""
    if EULER in formula.names and EULER not in env:
        env = {**env, EULER: math.e}
    try:
        value = evaluate(formula, env)
    except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
        raise PointError(str(exc)) from None
    if not math.isfinite(value):
        raise PointError("not finite")
    return value


_SYMPY_FLOAT: dict[type, Callable[..., float]] = {
    sympy.exp: math.exp, sympy.log: math.log, sympy.tanh: math.tanh, sympy.sinh: math.sinh,
    sympy.cosh: math.cosh, sympy.sech: lambda z: 1.0 / math.cosh(z), sigmoid: float_sigmoid,
    sympy.Abs: abs, sympy.Max: max, sympy.Min: min,
}


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


def close(a: float, b: float, rel: float = 1e-8) -> bool:
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


def prove_equal(student: Formula, reference: sympy.Expr,
                definitions: Mapping[str, sympy.Expr], seconds: float) -> bool | None:
    """True if SymPy proves student == reference (definitions substituted) within `seconds`;
    None when it could not tell in time (or no hard limit is available here)."""
    env = {**definitions, EULER: sympy.E} if EULER not in definitions else dict(definitions)
    try:
        with time_limit(seconds) as enforced:
            if not enforced:
                return None
            s = to_sympy(student, env, functions=FUNCTIONS)
            subs = {symbol(k): v for k, v in definitions.items()}
            diff = to_elementary(s - reference.xreplace(subs))
            # Only the quick normalisations; anything harder is left to the random points.
            if diff == 0 or sympy.expand(diff) == 0:
                return True
            return None
    except _Timeout:
        return None
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return None
