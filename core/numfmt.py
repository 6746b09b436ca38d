"""Numbers as people read them: significant figures, trailing zeros dropped, powers of ten."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

SIGFIGS = 4  # the default of every printed computed number


def fmt(value: float, sigfigs: int = SIGFIGS, latex: bool = False) -> str:
    """`value` to `sigfigs` significant figures, trailing zeros dropped; LaTeX powers of ten."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = f"{value:.{sigfigs}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}" if latex else f"{mant}e{int(exp)}"
    return text


def sig(value: float, n: int) -> str:
    """`value` to n significant figures as its shortest decimal reads (0.3635 → 0.364, which
    float formatting makes 0.363)."""
    return fmt(float(Context(prec=n, rounding=ROUND_HALF_UP).plus(Decimal(repr(value)))), n)
