"""Reading a number as students write it, and judging it against a reference: the accepted
interval, and "too imprecise".

Reading takes `≈ 0.6365`, `0.5722 (approx)`, `0.4675 (4 d.p.)`, `0.5722...`, `62.25%`,
`4.675×10⁻¹`, a decimal comma (`0,4626`; `1,075` as the file's other decimals are written), a
remark after the number (`0 (perfect fit)`, `1.8 (w increased)`: grader.parta.remarks), and for
a uniform bound `±1.2247` or `U(-1.414, 1.414)`; plain arithmetic (`1/2`, `sqrt(6/4)`,
`-2(y - 0.4626)` in the question's given names) goes through the whitelist parser. It refuses,
with a reason, two numbers, nan/inf, an ambiguous `1,075`, arithmetic whose precedence is
ambiguous (`1/2y`) and a formula in other names. The text is length-capped before any regex,
and the regexes cannot backtrack super-linearly (no nested or adjacent unbounded quantifiers).

The accepted interval is the union of what rounds to the reference's value at the rubric's
significant figures, the relative tolerance and the absolute tolerance (all three contain the
reference, so the union is one interval). A number outside it that still agrees with the
reference to its own, too few, digits is "too imprecise", not simply wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.numfmt import fmt
from grader.parta.evaluate import PointError, eval_formula
from grader.parta.reader import shown, student_readings
from grader.parta.remarks import is_remark, split_brackets, split_remark
from grader.parta.tokens import superscripts, unwrap_math
from grader.rubric import Tolerance
from solver.expr import MAX_LENGTH, ExprError, Formula

EPS = 1e-12  # relative slack at interval ends: 0.5725 must pass when the bound is 0.5725
# One way to match each literal: \d+(\.\d*)? rather than \d+\.?\d*, which backtracks
# quadratically on a long run of digits that fails to match.
_NUM_RE = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class NumberVerdict:
    ok: bool
    imprecise: bool
    interval: tuple[float, float]
    sigfigs: int | None  # significant figures the student wrote; None for an expression


def written_sigfigs(text: str) -> int | None:
    """Significant figures of a decimal literal ('0.570' → 3, '12' → 2, '1200' → 2); None if
    the text is not a plain literal (an expression is as precise as it needs to be)."""
    text = text.strip()
    if not _NUM_RE.fullmatch(text):
        return None
    mantissa = re.split(r"[eE]", text.lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0")  # 1200: trailing zeros of an integer are not significant
    return max(len(digits), 1)


def _round_sigfigs(x: float, sigfigs: int) -> tuple[float, float]:
    """x rounded to `sigfigs` significant figures, and half a unit in that last place."""
    if x == 0:
        return 0.0, 0.0
    exp = math.floor(math.log10(abs(x)))
    unit = 10.0 ** (exp - sigfigs + 1)
    return round(x / unit) * unit, unit / 2


def accepted_interval(ref: float, tol: Tolerance) -> tuple[float, float]:
    """The closed interval of values accepted for reference `ref`."""
    rounded, half = _round_sigfigs(ref, tol.sigfigs)
    width = max(abs(ref) * tol.rel, tol.abs)
    return min(rounded - half, ref - width), max(rounded + half, ref + width)


def judge_number(value: float, text: str | None, ref: float, tol: Tolerance) -> NumberVerdict:
    """Is `value` (written as `text`) an acceptable answer for `ref`?"""
    lo, hi = accepted_interval(ref, tol)
    slack = EPS * max(1.0, abs(ref))
    written = written_sigfigs(text) if text is not None else None
    if lo - slack <= value <= hi + slack:
        return NumberVerdict(True, False, (lo, hi), written)
    imprecise = False
    if written is not None and written < tol.sigfigs and value != 0:
        # The reference rounded to the student's own number of figures: e.g. 0.6 for 0.5722.
        rounded, half = _round_sigfigs(ref, written)
        imprecise = abs(value - rounded) <= half * 1e-6
    return NumberVerdict(False, imprecise, (lo, hi), written)


def fmt_interval(interval: tuple[float, float], sigfigs: int) -> str:
    # One digit more than the rubric asks for, so the two ends are distinguishable.
    lo, hi = interval
    shown = sigfigs + 1
    while fmt(lo, shown) == fmt(hi, shown) and shown < 12:
        shown += 1
    return f"[{fmt(lo, shown)}, {fmt(hi, shown)}]"


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class ReadNumber:
    value: float
    literal: str | None  # the decimal literal written, for significant figures; None: arithmetic
    note: str | None = None  # what was read from a decorated answer, for the feedback


@dataclass(frozen=True)
class Reading:
    """What a whole answers file says about how to read each of its answers: `decimal` is
    its own convention for decimals (`comma`, `point`, or None when it shows none or both),
    which decides an ambiguous `1,075`."""

    decimal: str | None = None


PLAIN = Reading()  # a file that says nothing of how to read it
_NONFINITE = {"nan", "+nan", "-nan", ".nan", "inf", "+inf", "-inf", ".inf", "-.inf", "infinity",
              "+infinity", "-infinity", "∞", "+∞", "-∞", "zoo", "oo", "-oo", "undefined"}
_APPROX = ("\\approx", "\\simeq", "\\sim", "≈", "≃", "~", "approximately", "approx.", "approx",
           "about", "around", "roughly", "circa", "ca.")
_PLUS_MINUS = ("±", "\\pm", "+/-", "+-")
_LEAD_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_NUM = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))"
_UNIFORM_RE = re.compile(r"(?:U|unif|uniform|\\mathcal ?\{?U\}?)? ?[(\[] ?" + _NUM
                         + r" ?[,;] ?" + _NUM + r" ?[)\]]", re.IGNORECASE)
# `4.675×10^(-1)`, `-2.672·10^-1`, `6.225 \times 10^{-1}` (superscripts already spelled out):
# one decimal literal in scientific notation, its figures those of the mantissa.
_SCIENTIFIC_RE = re.compile(_NUM + r" ?(?:[x×*·⋅]|\\times|\\cdot) ?10 ?(?:\^|\*\*) ?[({]? ?"
                            r"([+-]?\d{1,3}) ?[)}]?")
# `(4 d.p.)`, `(rounded to 3 s.f.)`, `to 4 decimal places`: at most three words before the
# count, so the match stays linear.
_PRECISION_RE = re.compile(r"\(? ?(?:[A-Za-z]+ ){0,3}\d{1,2} ?(?:d\.? ?p\.?|s\.? ?f\.?|"
                           r"sig\.? ?figs?\.?|significant figures?|decimal places?|dp|sf)\)?",
                           re.IGNORECASE)
_COMMA_DECIMAL_RE = re.compile(r"(?<![\d.,])(\d+),(\d+)(?![\d.,])")
_POINT_DECIMAL_RE = re.compile(r"(?<![\d.,])\d*\.\d+(?![\d.,])")


def read_number(text: str, bound: bool, agree: float, given: Mapping[str, float] | None = None,
                reading: Reading = PLAIN) -> ReadNumber:
    """A numeric answer as written; ExprError says why it cannot be read. `bound`: the answer
    is a uniform bound r, so `±r` and `U(-r, r)` are read as r; `agree`: the relative
    tolerance within which `0.6225 (62.25%)` states one value twice (the rubric's chain_rel);
    `given`: the question's given values, which arithmetic may name (`-2(y - 0.4626)`);
    `reading`: the file's own conventions (an ambiguous decimal comma)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"answer longer than {MAX_LENGTH} characters")
    original = text.strip()
    if _NUM_RE.fullmatch(original):  # the common case: a plain decimal literal
        value = float(original)
        if not math.isfinite(value):
            raise ExprError(f"{clip(original)} is not a finite number")
        return ReadNumber(value, original)
    given = given or {}
    t = _undecorated(original, bound)
    got = _scientific(t) or _literal(t, reading, set(given)) or \
        _with_equal_remark(t, bound, agree, given, reading)
    if got is None:
        head, remark = split_remark(t, set(given))
        if remark:  # arithmetic and a remark: `sqrt(6/4) (the bound)`
            inner = read_number(head, bound, agree, given, reading)
            return ReadNumber(inner.value, inner.literal, f"read '{clip(original)}' as "
                              f"{fmt(inner.value, 10)}, the remark dropped")
        value = _arithmetic(t, given)
        return ReadNumber(value, None, f"read '{clip(original)}' as {fmt(value, 10)}")
    value, literal = got
    note = None if literal == original else f"read '{clip(original)}' as {fmt(value, 10)}"
    return ReadNumber(value, literal, note)


def _undecorated(original: str, bound: bool) -> str:
    """The text without `$...$`, `≈`, a bound's `±` or `U(-r, r)`; superscripts spelled out."""
    t = " ".join(superscripts(unwrap_math(original)).replace("−", "-").replace("\\%", "%")
                 .split())
    if t.lower() in _NONFINITE:
        raise ExprError(f"{t} is not a finite number")
    for word in _APPROX:
        if t.lower().startswith(word):
            t = t[len(word):].strip()
            break
    for pm in _PLUS_MINUS:
        if t.startswith(pm):
            if not bound:
                raise ExprError(f"{pm} gives two values: write one number")
            t = t[len(pm):].strip()
            break
    m = _UNIFORM_RE.fullmatch(t)
    if m:
        lo, hi = float(m[1]), float(m[2])
        if not bound or lo != -hi or hi <= 0:
            raise ExprError(f"{t} is two numbers: write one")
        t = m[2].lstrip("+")
    return t


def _arithmetic(t: str, given: Mapping[str, float]) -> float:
    """Plain arithmetic in the question's given names (`2/(2+2)`, `-2(y - 0.4626)`); where
    it may be read two ways (`1/2·3` is not, `1/2y` is) the readings must agree."""
    try:
        readings = student_readings(t, set(given))
        values = [eval_formula(f, given) for f in readings]
    except ExprError as exc:
        lead = _LEAD_RE.match(t)
        if lead and any(c.isdigit() for c in t[lead.end():]):
            raise ExprError(f"more than one number in {clip(t)!r}: one answer, one value"
                            ) from None
        if "unknown name" in str(exc):
            name = str(exc).split(" (expected")[0]
            raise ExprError(f"a number is asked, not a formula ({name})") from None
        raise
    except PointError:
        raise ExprError(f"{clip(t)} has no real value") from None
    if len(values) > 1 and not math.isclose(values[0], values[1], rel_tol=1e-9):
        raise ExprError(ambiguous(t, readings, [fmt(v, 6) for v in values]))
    return values[0]


def ambiguous(text: str, readings: tuple[Formula, ...], values: list[str]) -> str:
    """Why an answer with two readings that differ goes to review, both readings shown."""
    first, second = (f"{shown(f)}{f' = {v}' if v else ''}" for f, v in zip(readings, values))
    return (f"ambiguous precedence in {clip(text)!r}: read as {first}, or as {second}? "
            "add brackets")


def _scientific(t: str) -> tuple[float, str] | None:
    """`4.675×10^(-1)`: (0.4675, '4.675e-1'), keeping the mantissa's figures."""
    m = _SCIENTIFIC_RE.fullmatch(t)
    if m is None:
        return None
    literal = f"{m[1]}e{m[2]}"
    value = float(literal)
    if not math.isfinite(value):
        raise ExprError(f"{clip(t)} is not a finite number")
    return value, literal


def _literal(t: str, reading: Reading, names: set[str]) -> tuple[float, str] | None:
    """A decimal literal with its decorations (..., %, a remark): (value, literal); None when
    `t` is something else (arithmetic, or not a number at all)."""
    m = _LEAD_RE.match(t)
    if m is None:
        return None
    literal, rest = m[0], t[m.end():].strip()
    for dots in ("...", "…"):
        if rest.startswith(dots):
            rest = rest[len(dots):].strip()
    percent = rest.startswith("%")
    if percent:
        rest = rest[1:].strip()
    if rest and not (_PRECISION_RE.fullmatch(rest) or _trailing_remark(literal, rest, names)):
        return None
    if "," in literal:
        literal = _comma(literal, reading)
    value = float(literal)
    if not math.isfinite(value):
        raise ExprError(f"{clip(literal)} is not a finite number")
    return (value / 100 if percent else value), literal


def _trailing_remark(literal: str, rest: str, names: set[str]) -> bool:
    """Is `rest`, after the number, a remark (`units`, `(w increased)`, `- negative`)?"""
    if rest[0].isalpha():
        return is_remark(rest, names)
    head, remark = split_remark(f"{literal} {rest}", names)
    return bool(remark) and head == literal


def _comma(literal: str, reading: Reading) -> str:
    """`0,4626` is 0.4626; `1,075` is 1.075 in a file that writes decimals with a comma,
    1075 in one that writes them with a point, and ambiguous in any other."""
    whole, frac = literal.split(",")
    if whole.lstrip("+-") not in ("", "0") and len(frac) == 3:
        if reading.decimal == "point":
            return f"{whole}{frac}"
        if reading.decimal != "comma":
            raise ExprError(f"{literal} is ambiguous: write {whole}.{frac} or {whole}{frac}")
    return f"{whole}.{frac}"


def decimal_convention(texts: list[str]) -> str | None:
    """A file's convention for decimals, from every answer in it: `comma` when it writes
    some decimal with an unambiguous comma (`0,4626`) and none with a point, `point` in the
    opposite case, else None."""
    comma = point = False
    for text in texts:
        text = text[:MAX_LENGTH]
        point = point or bool(_POINT_DECIMAL_RE.search(text))
        comma = comma or any(w.lstrip("+-") in ("", "0") or len(f) != 3
                             for w, f in _COMMA_DECIMAL_RE.findall(text))
    return "comma" if comma and not point else "point" if point and not comma else None


def _with_equal_remark(t: str, bound: bool, agree: float, given: Mapping[str, float],
                       reading: Reading) -> tuple[float, str] | None:
    """`0.6225 (62.25%)`, `0.5 (= 2/4)`: a number and, in brackets, the same value again."""
    head, inner = split_brackets(t)
    if not inner or t[len(head)] == "(":  # `-2(y - a)` is a product
        return None
    got = _literal(head, reading, set(given))
    try:
        again = read_number(inner[1:-1].strip().lstrip("=≈").strip(), bound, agree, given,
                            reading).value
    except ExprError:
        return None
    if got is None:
        return None
    if not math.isclose(got[0], again, rel_tol=agree):
        raise ExprError(f"more than one number in {clip(t)!r}: one answer, one value")
    return got


def clip(text: str) -> str:
    """A student's text shortened for a message."""
    return text if len(text) <= 40 else text[:40] + "…"
