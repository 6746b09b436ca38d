"""How the handout writes numbers, counts, names and lists in LaTeX text.

Every number in the prose goes through here, so one rule holds everywhere: measured values to a
fixed number of significant figures with trailing zeros kept (Part A's −0.1870, never
−0.187046); percentages to one decimal with no space before the sign; counts with thousands
separators; negative numbers with a true minus sign. Comparisons in the rules are made on the
values as printed (`shown`), so a sentence never contradicts the numbers beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from core.errors import DlhwError
from nets.labels import count, label, plural
from solver.numbers import show

__all__ = ["count", "gap_pts", "label", "listing", "num", "pct", "plural", "pm", "points", "pts",
           "seconds", "setting", "shown", "threshold"]

THRESHOLDS_PATH = Path(__file__).with_name("prose.yaml")


@cache
def _thresholds() -> dict[str, float]:
    data = yaml.safe_load(THRESHOLDS_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise DlhwError(f"{THRESHOLDS_PATH}: expected a mapping of names to numbers")
    return data


def threshold(name: str) -> float:
    """One declared threshold of the prose rules (handout/prose.yaml)."""
    if name not in _thresholds():
        raise DlhwError(f"{THRESHOLDS_PATH}: no threshold {name!r}")
    return float(_thresholds()[name])


def _math(text: str) -> str:
    """`text` as LaTeX text: in math mode when it has a sign or a power of ten."""
    return f"${text}$" if text.startswith("-") or "\\" in text else text


def num(x: float, sig: int = 3) -> str:
    """A measured value to `sig` significant figures, trailing zeros kept: 0.0140, $-0.1870$.

    Values of `sig` or more integer digits are written whole, with separators (289,130)."""
    if isinstance(x, bool):
        raise TypeError("num() takes a number, not a bool")
    if abs(x) >= 10 ** sig:
        return _math(("-" if x < 0 else "") + count(round(abs(x))))
    return _math(show(Fraction(x), sig, "latex"))


def shown(x: float, sig: int = 3) -> Decimal:
    """The value `num(x, sig)` prints, as an exact decimal (what comparisons are made on)."""
    return Decimal(show(Fraction(x), sig, "ascii"))


def pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage: 0.6465 -> 64.6\\% (no space before the sign)."""
    return f"{100 * x:.{digits}f}\\%"


def points(a: float, b: float, digits: int = 1) -> Decimal:
    """a − b in percentage points, from the percentages as printed (57.0 − 27.1 = 29.9)."""
    return Decimal(f"{100 * a:.{digits}f}") - Decimal(f"{100 * b:.{digits}f}")


def pts(d: Decimal) -> str:
    """A difference of percentages, unsigned: '29.9 points'."""
    return f"{abs(d)} points"


def gap_pts(x: float, digits: int = 1) -> str:
    """An accuracy difference (a fraction) in signed percentage points: '4.9 points',
    '$-$1.2 points'."""
    d = Decimal(f"{100 * x:.{digits}f}")
    return ("$-$" if d < 0 else "") + f"{abs(d)} points"


def pm(mean: float, std: float) -> str:
    """mean ± std, the std to 2 significant figures and the mean to the same decimal place:
    $0.0177 \\pm 0.0066$ (not 0.0177 ± 0.00656)."""
    s = show(Fraction(std), 2, "ascii") if std else ""
    if not s or "e" in s:
        return f"{num(mean)} $\\pm$ {num(std, 2) if s else 0}"
    exponent = Decimal(s).as_tuple().exponent
    assert isinstance(exponent, int)  # `show` gives a finite number, never NaN or infinity
    places = max(-exponent, 0)
    return f"${mean:.{places}f} \\pm {s}$"


def seconds(s: float) -> str:
    """A duration: two significant figures below 10 s, whole seconds above (0.66\\,s, 590\\,s)."""
    return (f"{s:.0f}" if s >= 10 else show(Fraction(s), 2, "plain")) + "\\,s"


def setting(value: Any) -> str:
    """A configuration value as set (learning rate 0.01, weight decay $10^{-5}$, ReLU): the
    shortest decimal that is the value; names through nets.labels."""
    if isinstance(value, str):
        return label(value)
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a setting: {value!r}")
    if float(value).is_integer() and abs(value) < 1e6:
        return count(int(value))
    text = repr(float(value))
    if "e" in text:
        mant, exp = text.split("e")
        times = "" if mant in ("1", "1.0") else mant + r" \times "
        return f"${times}10^{{{int(exp)}}}$"
    return _math(text)


def listing(items: Sequence[str], conj: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 2:
        return f" {conj} ".join(items)
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]
