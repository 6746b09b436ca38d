"""Numbers a solution shows, computed from the exact givens and rounded once.

Rational arithmetic stays exact (`Fraction`); the first transcendental function switches to
mpmath, at a working precision that is doubled until two precisions agree on every value to
more digits than are shown. Floats are never used on the way, so cancellation (1 − σ(z) for a
large z) costs precision, not correctness; where even MAX_DPS digits cannot settle a value, the
caller gets a NumberError saying so instead of a wrong number.

Words, in solver/ and grader/ alike: `sigfigs` is a count of significant figures (shown, asked
for, written by a student); `dps` and "digits" are mpmath's working decimal places; "precision"
is only the CLI's `--precision` flag (which sets sigfigs) and mpmath's working precision.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from typing import TypeAlias

import mpmath

from core.errors import DlhwError
from solver.expr import Formula, fold
from solver.functions import REGISTRY, DomainError, Function, to_mpf

Num: TypeAlias = Fraction | mpmath.mpf
MAX_DPS = 4000
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class NumberError(DlhwError, ValueError):
    """A value that cannot be computed (division by zero, a logarithm of a negative number) or
    cannot be settled to the digits asked for."""


def _real(v: object, what: str) -> mpmath.mpf:
    if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v):
        raise NumberError(f"{what} is not a finite real number")
    return v


def _lift(f: Function, name: str) -> Callable[..., Num]:
    """`f` on exact or mpmath numbers: exact where its table entry knows the value exactly."""
    def call(*args: Num) -> Num:
        if f.exact is not None and (f.piecewise or all(isinstance(a, Fraction) for a in args)):
            try:
                known = f.exact(*args)
            except DomainError as exc:
                raise NumberError(str(exc)) from None
            if known is not None:
                return known
        assert f.mp is not None
        shown = ", ".join(mpmath.nstr(to_mpf(a), 6) for a in args)
        return _real(f.mp(*(to_mpf(a) for a in args)), f"{name}({shown})")
    return call


# The spec functions on exact or mpmath numbers (solver.functions holds their forms).
FUNCTIONS: dict[str, Callable[..., Num]] = {
    name: _lift(f, name) for f in REGISTRY if f.specs for name in f.names}


def _arith(op: Callable[[object, object], object]) -> Callable[[Num, Num], Num]:
    def call(a: Num, b: Num) -> Num:
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            return op(a, b)
        return op(to_mpf(a), to_mpf(b))
    return call


_ADD, _SUB, _MUL, _DIV = (_arith(op) for op in (operator.add, operator.sub, operator.mul,
                                                 operator.truediv))


def _power(a: Num, b: Num) -> Num:
    """a**b: exact for small integer powers of a rational (a huge one, a name set to 1e300,
    would never finish); any integer power of any base, negative ones too, in mpmath; a
    non-integer power only of a non-negative base (else it is not real)."""
    integer = isinstance(b, Fraction) and b.denominator == 1
    if integer and isinstance(a, Fraction) and abs(b) <= 1000:
        if a == 0 and b < 0:
            raise ZeroDivisionError
        return a ** int(b)
    if integer:
        if a == 0 and b < 0:
            raise ZeroDivisionError
        return _real(to_mpf(a) ** int(b), "a power")
    if to_mpf(a) < 0:
        raise NumberError(f"a negative number to the non-integer power {b}")
    return _real(to_mpf(a) ** to_mpf(b), "a power")


def _number(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _compare(a: _Exact, op: str, b: _Exact) -> bool:
    """A piecewise formula's test: exact between rationals, else at the working precision."""
    x, y = (a.value, b.value) if isinstance(a.value, Fraction) and isinstance(b.value, Fraction) \
        else (to_mpf(a.value), to_mpf(b.value))
    return {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[op]


def evaluate(formula: Formula, values: Mapping[str, Num]) -> Num:
    """The formula at `values`, exact while it is rational, else at mpmath's working precision."""
    try:
        return fold(formula, lambda t: _Exact(_number(t)), lambda n: _Exact(values[n]),
                    _BOXED, _wrapped_power, _compare).value
    except ZeroDivisionError:
        raise NumberError("division by zero") from None


class _Exact:
    """Box for a Num, so that fold's +, −, ×, ÷ go through the exact-or-mpmath rules."""

    __slots__ = ("value",)

    def __init__(self, value: Num):
        self.value = value

    def _bin(self, other: _Exact, op: Callable[[Num, Num], Num]) -> _Exact:
        return _Exact(op(self.value, other.value))

    def __add__(self, o: _Exact) -> _Exact:
        return self._bin(o, _ADD)

    def __sub__(self, o: _Exact) -> _Exact:
        return self._bin(o, _SUB)

    def __mul__(self, o: _Exact) -> _Exact:
        # An exact zero factor keeps the product exact (an inexact one is cancellation: 1 − σ(240)
        # at 50 digits, which more digits will show is not 0).
        if any(isinstance(v, Fraction) and v == 0 for v in (self.value, o.value)):
            return _Exact(Fraction(0))
        return self._bin(o, _MUL)

    def __truediv__(self, o: _Exact) -> _Exact:
        if o.value == 0:
            raise NumberError("division by zero")
        return self._bin(o, _DIV)

    def __neg__(self) -> _Exact:
        return _Exact(-self.value)

    def __pos__(self) -> _Exact:
        return self


def _unwrapped(f: Callable[..., Num]) -> Callable[..., _Exact]:
    return lambda *args: _Exact(f(*(a.value for a in args)))


_BOXED = {k: _unwrapped(f) for k, f in FUNCTIONS.items()}


def _wrapped_power(a: _Exact, b: _Exact) -> _Exact:
    return _Exact(_power(a.value, b.value))


def _agree(a: Num, b: Num, sigfigs: int) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    a, b = to_mpf(a), to_mpf(b)
    # An inexact zero is cancellation (1 - σ(40) at 24 digits), not a value: raise precision.
    return b != 0 and abs(a - b) <= abs(b) * mpmath.mpf(10) ** (-sigfigs)


def settle(compute: Callable[[], Mapping[str, Num]], sigfigs: int, what: Iterable[str] | None = None
           ) -> dict[str, Num]:
    """Run `compute` at rising mpmath precision until every value is certain to `sigfigs` digits.

    `compute` returns named values (exact Fractions or mpmath numbers made at the current
    precision); `what` restricts the check to some names (default all)."""
    dps = sigfigs + 20
    with mpmath.workdps(dps):
        last = dict(compute())
    names = list(what or last)
    while dps * 2 <= MAX_DPS:
        dps *= 2
        with mpmath.workdps(dps):
            now = dict(compute())
        unsettled = [k for k in names if not _agree(last[k], now[k], sigfigs + 3)]
        if not unsettled:
            return now
        last = now
    raise NumberError(f"{', '.join(unsettled)} cannot be computed to {sigfigs} significant figures "
                      f"within {MAX_DPS} digits of working precision (the value is lost to "
                      "cancellation)")


# ---------------------------------------------------------------- display

def rounded_figures(value: Num | float, sigfigs: int) -> tuple[bool, str, int]:
    """(negative, `sigfigs` significant digits, decimal exponent of the first), rounded once."""
    if isinstance(value, (int, float)):
        value = Fraction(value)  # exact: nstr would round an int to the context's 53 bits
    if isinstance(value, Fraction):
        d = Context(prec=sigfigs, rounding=ROUND_HALF_EVEN).divide(Decimal(value.numerator),
                                                               Decimal(value.denominator))
        sign, ds, exp = d.as_tuple()
        assert isinstance(exp, int)  # a finite quotient
        text = "".join(map(str, ds)).ljust(sigfigs, "0")[:sigfigs]
        return bool(sign), text, exp + len(ds) - 1
    # nstr rounds once to `sigfigs` digits; Decimal reads its text (fixed or not) exactly.
    # (The exponent is read apart: it may exceed what Decimal accepts, e.g. 1e-2000000000000.)
    mant, _, exp = mpmath.nstr(value, sigfigs, strip_zeros=False, min_fixed=1, max_fixed=0
                               ).partition("e")
    d = Decimal(mant)
    sign, ds, _ = d.as_tuple()
    text = "".join(map(str, ds)).lstrip("0")
    return bool(sign), text[:sigfigs].ljust(sigfigs, "0"), d.adjusted() + int(exp or 0)


def show(value: Num | float, sigfigs: int, style: str = "plain") -> str:
    """`value` to `sigfigs` significant figures, trailing zeros kept: 0.2350, 1.234×10⁻⁵.

    `style` is plain (terminal: Unicode), latex (math mode) or ascii (JSON-friendly 1.234e-5).
    Fixed notation for exponents -4 to sigfigs-1, as %g does; exact zero is '0'."""
    if value == 0:
        return "0"
    negative, ds, exp = rounded_figures(value, sigfigs)
    if -4 <= exp < sigfigs:
        if exp >= 0:
            text = ds[:exp + 1] + ("." + ds[exp + 1:] if len(ds) > exp + 1 else "")
        else:
            text = "0." + "0" * (-exp - 1) + ds
    else:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        text = {"latex": rf"{mant} \times 10^{{{exp}}}", "ascii": f"{mant}e{exp}"}.get(
            style, f"{mant}×10{str(exp).translate(SUPERSCRIPT)}")
    return ("-" if negative else "") + text
