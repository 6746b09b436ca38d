"""One answer as a student wrote it, read into a number or a formula before anything judges it.

Several labelled values (`w = 1.8, b = -0.6`) give the answer's own; a trailing remark
(`1.8 (w increased)`) is dropped; an equation has its left side checked and dropped
(grader.parta.equations); a branch answer may state its branch; what remains is read as a
number (grader.parta.numbers) or a formula (grader.parta.reader), a formula in every plausible
reading (`1/2z`), which must agree. Anything that cannot be read is `review`, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.numfmt import fmt
from grader.parta.equations import Review, pick, right_side, same_branch, segments
from grader.parta.evaluate import values_at
from grader.parta.names import strip_branch
from grader.parta.numbers import PLAIN, Reading, ambiguous, clip, read_number
from grader.parta.reader import shown, student_readings
from grader.parta.references import QuestionRef
from grader.parta.remarks import split_remark
from grader.submission import Number, Other, Text, Value
from solver.expr import MAX_LENGTH, ExprError, Formula

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Entry:
    """One answer as read."""

    kind: str  # blank | review | value | formula
    text: str | None = None
    value: float | None = None
    formula: Formula | None = None
    error: str = ""  # review: why it could not be read
    note: str = ""  # how it was read, for the feedback
    suggestion: str = ""  # review: what the instructor may find it is


# Distinct answers read per question reference, at most: a class repeats its answers (most
# students write the same right values), and reading is the dearest part of marking one.
MAX_READS = 20000


def read_entry(ref: QuestionRef, aid: str, raw: Value, reading: Reading = PLAIN) -> Entry:
    """Read answer `aid` as written; anything that cannot be read is `review`, with the reason.
    `reading`: what the whole file says about reading it (its decimal convention). Kept in
    `ref.reads` by everything the reading depends on (the text as parsed and as written, not
    the line)."""
    if not isinstance(raw, Number | Text):
        return _read_entry(ref, aid, raw, reading)
    key = (aid, type(raw), raw.text, raw.source, isinstance(raw, Text) and raw.quoted, reading)
    entry = ref.reads.get(key)
    if entry is None:
        if len(ref.reads) >= MAX_READS:
            ref.reads.clear()
        entry = ref.reads[key] = _read_entry(ref, aid, raw, reading)
    return entry


def _read_entry(ref: QuestionRef, aid: str, raw: Value, reading: Reading) -> Entry:
    answer = ref.spec.answers[aid]
    if raw is None or (isinstance(raw, Text) and not raw.text.strip()):
        return Entry("blank")
    if isinstance(raw, Other):
        expected = "number" if answer.kind == "numeric" else "formula"
        return Entry("review", error=f"expected a {expected}, found {raw.kind}")
    text, notes = as_written(raw)
    if len(text) > MAX_LENGTH:  # before any regex: reading stays linear in what was written
        return Entry("review", error=f"answer longer than {MAX_LENGTH} characters")
    if answer.kind == "numeric" and isinstance(raw, Number):  # the common case: a number
        try:
            n = read_number(text, aid in ref.bounds, ref.chain_rel, ref.given, reading)
            return Entry("value", n.literal, n.value, note=n.note or "")
        except ExprError as exc:
            return Entry("review", raw.text, error=str(exc),
                         suggestion=getattr(exc, "suggestion", ""))
    try:
        parts = segments(text)
        if parts:
            text = pick(ref, aid, parts)
            notes.append(f"the value labelled as {aid}, of {len(parts)}")
        original = text
        text, remark = split_remark(text, ref.names_for(aid) | set(ref.given))
        text, found = right_side(ref, aid, text)
        notes += found + ([f"the remark {clip(remark)!r} dropped"] if remark else [])
        if answer.where is not None:
            text, branch = strip_branch(text)
            if branch is not None and not same_branch(branch, answer):
                raise Review(f"written for {branch}, but {aid} is for {answer.where}")
        if answer.kind == "numeric":
            n = read_number(text, aid in ref.bounds, ref.chain_rel, ref.given, reading)
            how = f"read '{clip(original)}' as {fmt(n.value, 10)}" if remark else \
                n.note or (f"read {fmt(n.value, 10)}" if notes else "")
            return Entry("value", n.literal, n.value, note=" ".join(filter(None, [
                how, f"({'; '.join(notes)})" if notes else ""])))
        entry = _read_formula(ref, aid, text)
        return entry if not notes else Entry(entry.kind, entry.text, formula=entry.formula,
                                              note=f"{entry.note} ({'; '.join(notes)})")
    except ExprError as exc:
        return Entry("review", raw.text, error=str(exc),
                     suggestion=getattr(exc, "suggestion", ""))


def as_written(raw: Text | Value) -> tuple[str, list[str]]:
    """The answer's text. In double quotes YAML reads `\\frac` as a form feed and `\\tanh` as
    a tab; where that left control characters, the text is read as written in the file."""
    assert raw is not None and not isinstance(raw, Other)
    text = raw.text.strip()
    if isinstance(raw, Text) and raw.quoted and _CONTROL_RE.search(raw.text) and \
            len(raw.source) >= 2 and raw.source[0] == raw.source[-1] == '"':
        inner = raw.source[1:-1].replace('\\"', '"').replace("\\\\", "\\").strip()
        if not _CONTROL_RE.search(inner):
            return inner, ["read as written in the file: its backslashes are LaTeX, not YAML "
                           "escapes"]
    return text, []


@dataclass(frozen=True)
class ReadAnswer:
    """How the grader reads one answer, before anything judges it (`dlhw check`'s echo)."""

    kind: str  # blank | review | value | formula
    read: str  # value: the number; formula: in SymPy syntax; "" otherwise
    decorated: bool  # read from more than the bare number or formula (`62.25%`, `w (unchanged)`)
    error: str  # review: why it cannot be read


def read_answer(ref: QuestionRef, aid: str, raw: Value, reading: Reading = PLAIN
                ) -> ReadAnswer:
    """Answer `aid` of `ref`'s question read exactly as grading reads it; nothing is compared
    with a reference."""
    e = read_entry(ref, aid, raw, reading)
    read = fmt(e.value, 10) if e.kind == "value" and e.value is not None else \
        shown(e.formula) if e.kind == "formula" and e.formula is not None else ""
    return ReadAnswer(e.kind, read, bool(e.note) and e.note != f"read as {read}", e.error)


def _read_formula(ref: QuestionRef, aid: str, text: str) -> Entry:
    """A formula; failing that, the same without a trailing remark (`w (unchanged)`), or a
    constant written as a decorated number (`0,01`). The fallbacks run only when the text
    does not read as it is, so `x (dL_da)` stays a product."""
    names = ref.names_for(aid)
    try:
        return _formula(ref, aid, text, student_readings(text, names), "")
    except Review:
        raise
    except ExprError as exc:
        error = exc
    head, remark = split_remark(text, names)
    if remark:
        try:
            return _formula(ref, aid, head, student_readings(head, names),
                            f", the remark {clip(remark)} dropped")
        except Review:
            raise
        except ExprError:
            pass
    try:
        n = read_number(text, False, ref.chain_rel)
    except ExprError:
        raise error from None
    [formula] = student_readings(repr(n.value), names)
    return Entry("formula", text, formula=formula, note=f"read '{clip(text)}' as "
                 f"{shown(formula)}")


def _formula(ref: QuestionRef, aid: str, text: str, readings: tuple[Formula, ...],
             remark: str) -> Entry:
    """The first reading, where every reading agrees at the grader's points; Review showing
    them where they differ (`1/2z`: z/2 or 1/(2z)?)."""
    if len(readings) > 1:
        points = [p for key, ps in ref.loss_points.items() if key[1] == aid for p in ps] \
            or ref.points.get(aid) or []
        values = [values_at(f, points) for f in readings]
        if not points or any(
                (a is None) != (b is None) or (a is not None and b is not None and
                                               abs(a - b) > ref.agree_rel * max(1, abs(a)))
                for a, b in zip(values[0], values[1])):
            raise Review(ambiguous(text, readings, ["", ""]),
                         f"{shown(readings[0])} or {shown(readings[1])}")
    formula = readings[0]
    return Entry("formula", text, formula=formula, note=f"read as {shown(formula)}{remark}")
