"""Reading a number as students write it, and judging it against a reference: the accepted
interval, and "too imprecise".

Reading takes `≈ 0.6365`, `0.5722 (approx)`, `0.4675 (4 d.p.)`, `0.5722...`, `62.25%`, an
unambiguous decimal comma (`0,4626`), a remark after the number (`0 (perfect fit)`), and for a
uniform bound `±1.2247` or `U(-1.414, 1.414)`; plain arithmetic (`1/2`, `sqrt(6/4)`) goes through
the whitelist parser. It refuses, with a reason, two numbers, nan/inf, an ambiguous `1,075` and a
formula with names. The text is length-capped before any regex, and the regexes cannot backtrack
super-linearly (no nested or adjacent unbounded quantifiers).

The accepted interval is the union of what rounds to the reference's value at the rubric's
significant figures, the relative tolerance and the absolute tolerance (all three contain the
reference, so the union is one interval). A number outside it that still agrees with the
reference to its own, too few, digits is "too imprecise", not simply wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.numfmt import fmt
from grader.parta.evaluate import PointError, eval_formula
from grader.parta.reader import student_formula
from grader.parta.tokens import unwrap_math
from grader.rubric import Tolerance
from solver.expr import MAX_LENGTH, ExprError

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


_NONFINITE = {"nan", "+nan", "-nan", ".nan", "inf", "+inf", "-inf", ".inf", "-.inf", "infinity",
              "+infinity", "-infinity", "∞", "+∞", "-∞", "zoo", "oo", "-oo", "undefined"}
_APPROX = ("\\approx", "\\simeq", "\\sim", "≈", "≃", "~", "approximately", "approx.", "approx",
           "about", "around", "roughly", "circa", "ca.")
_PLUS_MINUS = ("±", "\\pm", "+/-", "+-")
_LEAD_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_NUM = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))"
_UNIFORM_RE = re.compile(r"(?:U|unif|uniform|\\mathcal ?\{?U\}?)? ?[(\[] ?" + _NUM
                         + r" ?[,;] ?" + _NUM + r" ?[)\]]", re.IGNORECASE)
# `(4 d.p.)`, `(rounded to 3 s.f.)`, `to 4 decimal places`: at most three words before the
# count, so the match stays linear.
_PRECISION_RE = re.compile(r"\(? ?(?:[A-Za-z]+ ){0,3}\d{1,2} ?(?:d\.? ?p\.?|s\.? ?f\.?|"
                           r"sig\.? ?figs?\.?|significant figures?|decimal places?|dp|sf)\)?",
                           re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z]+")
# Words that make a "remark" a second value or a formula rather than a remark.
_NOT_REMARKS = {"or", "and", "to", "plus", "minus", "times", "over", "nan", "inf", "infinity",
                "zoo", "oo", "e", "exp", "log", "ln", "sqrt", "tanh", "sigmoid", "sigma", "eta",
                "alpha", "beta", "lambda"}


def read_number(text: str, bound: bool, agree: float) -> ReadNumber:
    """A numeric answer as written; ExprError says why it cannot be read. `bound`: the answer
    is a uniform bound r, so `±r` and `U(-r, r)` are read as r; `agree`: the relative
    tolerance within which `0.6225 (62.25%)` states one value twice (the rubric's chain_rel)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"answer longer than {MAX_LENGTH} characters")
    original = text.strip()
    if _NUM_RE.fullmatch(original):  # the common case: a plain decimal literal
        value = float(original)
        if not math.isfinite(value):
            raise ExprError(f"{clip(original)} is not a finite number")
        return ReadNumber(value, original)
    t = " ".join(unwrap_math(original).replace("−", "-").replace("\\%", "%").split())
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
    got = _literal(t) or _with_equal_remark(t, bound, agree)
    if got is None:
        try:
            formula = student_formula(t, set())
            value = eval_formula(formula, {})
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
        return ReadNumber(value, None, f"read '{clip(original)}' as {fmt(value, 10)}")
    value, literal = got
    note = None if literal == original else f"read '{clip(original)}' as {fmt(value, 10)}"
    return ReadNumber(value, literal, note)


def _literal(t: str) -> tuple[float, str] | None:
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
    if rest and not _remark(rest):
        return None
    if "," in literal:
        whole, frac = literal.split(",")
        if whole.lstrip("+-") not in ("", "0") and len(frac) == 3:
            raise ExprError(f"{literal} is ambiguous: write {whole}.{frac} or {whole}{frac}")
        literal = f"{whole}.{frac}"
    value = float(literal)
    if not math.isfinite(value):
        raise ExprError(f"{clip(literal)} is not a finite number")
    return (value / 100 if percent else value), literal


def split_remark(text: str) -> tuple[str, str]:
    """`w (unchanged)` → ("w", "(unchanged)"): a trailing bracketed remark of words only."""
    head, remark = _split_brackets(text.strip())
    return (head, remark) if remark and _remark(remark) else (text.strip(), "")


def _with_equal_remark(t: str, bound: bool, agree: float) -> tuple[float, str] | None:
    """`0.6225 (62.25%)`, `0.5 (= 2/4)`: a number and, in brackets, the same value again."""
    head, inner = _split_brackets(t)
    if not inner:
        return None
    got = _literal(head)
    try:
        again = read_number(inner[1:-1].strip().lstrip("=≈").strip(), bound, agree).value
    except ExprError:
        return None
    if got is None:
        return None
    if not math.isclose(got[0], again, rel_tol=agree):
        raise ExprError(f"more than one number in {clip(t)!r}: one answer, one value")
    return got


def _split_brackets(text: str) -> tuple[str, str]:
    """`w (unchanged)` → ("w", "(unchanged)"): the last bracketed group, if the text ends
    with one and something comes before it."""
    if not text.endswith(")"):
        return text, ""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            head = text[:i].strip()
            return (head, text[i:]) if head else (text, "")
    return text, ""


def _remark(rest: str) -> bool:
    """Is `rest` a remark to drop (`(approx)`, `(4 d.p.)`, `units`), not a second value?"""
    if _PRECISION_RE.fullmatch(rest):
        return True
    if any(c.isdigit() or c in "+-*/^=<>|" for c in rest):
        return False
    words = _WORD_RE.findall(rest)
    return all(len(w) > 1 and w.lower() not in _NOT_REMARKS for w in words)


def clip(text: str) -> str:
    """A student's text shortened for a message."""
    return text if len(text) <= 40 else text[:40] + "…"
