"""Judging a number against a reference: the accepted interval, and "too imprecise".

The accepted interval is the union of what rounds to the reference's value at the rubric's
significant figures, the relative tolerance and the absolute tolerance (all three contain the
reference, so the union is one interval). A number outside it that still agrees with the
reference to its own, too few, digits is "too imprecise", not simply wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from solver.present import fmt
from solver.spec import Tolerance

EPS = 1e-12  # relative slack at interval ends: 0.5725 must pass when the bound is 0.5725
_NUM_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class NumberVerdict:
    ok: bool
    imprecise: bool
    interval: tuple[float, float]
    digits: int | None  # significant digits the student wrote; None for an expression


def sig_digits(text: str) -> int | None:
    """Significant digits of a decimal literal ('0.570' → 3, '12' → 2, '1200' → 2); None if
    the text is not a plain literal (an expression is as precise as it needs to be)."""
    text = text.strip()
    if not _NUM_RE.fullmatch(text):
        return None
    mantissa = re.split(r"[eE]", text.lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0")  # 1200: trailing zeros of an integer are not significant
    return max(len(digits), 1)


def _round_sig(x: float, sigfigs: int) -> tuple[float, float]:
    """x rounded to `sigfigs` significant figures, and half a unit in that last place."""
    if x == 0:
        return 0.0, 0.0
    exp = math.floor(math.log10(abs(x)))
    unit = 10.0 ** (exp - sigfigs + 1)
    return round(x / unit) * unit, unit / 2


def accepted_interval(ref: float, tol: Tolerance) -> tuple[float, float]:
    """The closed interval of values accepted for reference `ref`."""
    rounded, half = _round_sig(ref, tol.sigfigs)
    width = max(abs(ref) * tol.rel, tol.abs)
    return min(rounded - half, ref - width), max(rounded + half, ref + width)


def judge_number(value: float, text: str | None, ref: float, tol: Tolerance) -> NumberVerdict:
    """Is `value` (written as `text`) an acceptable answer for `ref`?"""
    lo, hi = accepted_interval(ref, tol)
    slack = EPS * max(1.0, abs(ref))
    digits = sig_digits(text) if text is not None else None
    if lo - slack <= value <= hi + slack:
        return NumberVerdict(True, False, (lo, hi), digits)
    imprecise = False
    if digits is not None and digits < tol.sigfigs and value != 0:
        # The reference rounded to the student's own number of digits: e.g. 0.6 for 0.5722.
        rounded, half = _round_sig(ref, digits)
        imprecise = abs(value - rounded) <= half * 1e-6
    return NumberVerdict(False, imprecise, (lo, hi), digits)


def fmt_interval(interval: tuple[float, float], sigfigs: int) -> str:
    # One digit more than the rubric asks for, so the two ends are distinguishable.
    lo, hi = interval
    sig = sigfigs + 1
    while fmt(lo, sig) == fmt(hi, sig) and sig < 12:
        sig += 1
    return f"[{fmt(lo, sig)}, {fmt(hi, sig)}]"
