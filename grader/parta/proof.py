"""The exact proof that a student's formula equals the reference, under a hard time limit.

SymPy may take any time on a formula a student wrote, so the proof runs under a SIGALRM timer
and tries only the quick normalisations; what it cannot settle in time is left to the random
points (grader.parta.evaluate).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import sympy

from grader.parta.tokens import EULER
from solver.expr import Formula, exact, fold, symbol
from solver.functions import ANSWER_FUNCTIONS, to_elementary


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
    # Again every 50 ms until the body ends: an exception raised where Python swallows it (in a
    # __del__ that SymPy's garbage runs mid-expand) would otherwise leave the body unbounded.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
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


_REAL_FUNCTIONS = {name: _checked(fn) for name, fn in ANSWER_FUNCTIONS.items()}


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
