"""One answer as a student wrote it, read into a number or a formula before anything judges it.

An answer written as an equation has its left side dropped when it names the answer
(grader.parta.names), a chain of working `σ(0.56) = 0.6365` must agree with its last number, a
branch answer may state its branch; what remains is read as a number (grader.parta.numbers) or
a formula (grader.parta.reader). Anything that cannot be read is `review`, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.numfmt import fmt
from grader.parta.evaluate import PointError, agrees, eval_formula
from grader.parta.names import is_answer_name, name_key, split_equation, strip_branch
from grader.parta.numbers import clip, read_number, split_remark
from grader.parta.reader import shown, student_formula
from grader.parta.references import QuestionRef
from grader.submission import Other, Text, Value
from solver.expr import MAX_LENGTH, ExprError, Formula
from solver.spec import Answer


@dataclass(frozen=True)
class Entry:
    """One answer as read."""

    kind: str  # blank | review | value | formula
    text: str | None = None
    value: float | None = None
    formula: Formula | None = None
    error: str = ""  # review: why it could not be read
    note: str = ""  # how it was read, for the feedback


def read_entry(ref: QuestionRef, aid: str, raw: Value) -> Entry:
    """Read answer `aid` as written; anything that cannot be read is `review`, with the reason."""
    answer = ref.spec.answers[aid]
    if raw is None or (isinstance(raw, Text) and not raw.text.strip()):
        return Entry("blank")
    if isinstance(raw, Other):
        expected = "number" if answer.kind == "numeric" else "formula"
        return Entry("review", error=f"expected a {expected}, found {raw.kind}")
    text = raw.text.strip()
    if len(text) > MAX_LENGTH:  # before any regex: reading stays linear in what was written
        return Entry("review", error=f"answer longer than {MAX_LENGTH} characters")
    right = _right_side(ref, aid, text, raw.text)
    if isinstance(right, Entry):
        return right
    text, notes = right
    if answer.where is not None:
        text, branch = strip_branch(text)
        if branch is not None and not _same_branch(branch, answer):
            return Entry("review", raw.text, error=f"written for {branch}, but {aid} is for "
                         f"{answer.where}")
    try:
        if answer.kind == "numeric":
            n = read_number(text, aid in ref.bounds, ref.chain_rel)
            return Entry("value", n.literal, n.value,
                         note=" ".join(filter(None, [
                             n.note or (f"read {fmt(n.value, 10)}" if notes else ""),
                             f"({notes[0]})" if notes else ""])))
        return _read_formula(ref, text)
    except ExprError as exc:
        return Entry("review", raw.text, error=str(exc))


def _right_side(ref: QuestionRef, aid: str, text: str, original: str
                ) -> tuple[str, list[str]] | Entry:
    """What to read of an answer written as an equation, and how it was found; or `review`."""
    answer = ref.spec.answers[aid]
    notes: list[str] = []
    parts = split_equation(text)
    if len(parts) > 1 and not parts[0]:  # `= 0.5`, `≈ 0.6365`: a decoration, no name
        if text.startswith("="):
            notes.append("the value right of '='")
        text = text.lstrip("=").strip()
        parts = [text]
    if len(parts) == 1:
        return text, notes
    key, branch = name_key(parts[0])
    named = is_answer_name(key, aid, ref.aliases[aid])
    if named and branch and not _same_branch(branch, answer):
        return Entry("review", text, error=f"written for {branch}, but {aid} is for "
                     f"{answer.where}")
    if not named and answer.kind != "numeric" and not _equal_forms(ref, aid, parts):
        return Entry("review", text, error=f"left of '=', {clip(parts[0])!r} is not a "
                     f"name for {aid}, nor equal to the right side")
    working = parts[1:-1] if named else parts[:-1]
    text = parts[-1]
    if not text:
        return Entry("review", original, error="nothing right of '='")
    if answer.kind == "numeric":
        # A chain of working, `σ(0.56) = 0.6365`: its numbers must agree with the answer; a
        # formula in the middle (`h1 = σ(z1) = 0.6365`) is working shown, and skipped.
        problem = _chain_problem(working, text, aid, ref, named, ref.chain_rel)
        if problem:
            return Entry("review", original, error=problem)
    notes.append(f"the value right of '='{' (the last of several)' if len(parts) > 2 else ''}")
    return text, notes


@dataclass(frozen=True)
class ReadAnswer:
    """How the grader reads one answer, before anything judges it (`dlhw check`'s echo)."""

    kind: str  # blank | review | value | formula
    read: str  # value: the number; formula: in SymPy syntax; "" otherwise
    decorated: bool  # read from more than the bare number or formula (`62.25%`, `w (unchanged)`)
    error: str  # review: why it cannot be read


def read_answer(ref: QuestionRef, aid: str, raw: Value) -> ReadAnswer:
    """Answer `aid` of `ref`'s question read exactly as grading reads it; nothing is compared
    with a reference."""
    e = read_entry(ref, aid, raw)
    read = fmt(e.value, 10) if e.kind == "value" and e.value is not None else \
        shown(e.formula) if e.kind == "formula" and e.formula is not None else ""
    return ReadAnswer(e.kind, read, bool(e.note) and e.note != f"read as {read}", e.error)


def _read_formula(ref: QuestionRef, text: str) -> Entry:
    """A formula; failing that, the same without a trailing remark (`w (unchanged)`), or a
    constant written as a decorated number (`0,01`). The fallbacks run only when the text
    does not read as it is, so `x (dL_da)` stays a product."""
    try:
        formula = student_formula(text, ref.names)
        return Entry("formula", text, formula=formula, note=f"read as {shown(formula)}")
    except ExprError as exc:
        error = exc
    head, remark = split_remark(text)
    if remark and not any(w in ref.names for w in remark.strip("()").split()):
        try:
            formula = student_formula(head, ref.names)
            return Entry("formula", head, formula=formula,
                         note=f"read as {shown(formula)}, the remark {remark} dropped")
        except ExprError:
            pass
    try:
        n = read_number(text, False, ref.chain_rel)
    except ExprError:
        raise error from None
    formula = student_formula(repr(n.value), ref.names)
    return Entry("formula", text, formula=formula, note=f"read '{clip(text)}' as "
                 f"{shown(formula)}")


def _chain_problem(working: list[str], last: str, aid: str, ref: QuestionRef,
                   first_named: bool, rel: float) -> str | None:
    """Why a numeric chain `a = b = c` cannot be read, or None: every part that is a number
    agrees with the last; an unnamed first part must be such a number."""
    try:
        value = read_number(last, aid in ref.bounds, rel).value
    except ExprError:
        return None  # reading the answer itself says why
    for k, part in enumerate(working):
        try:
            v = read_number(part, aid in ref.bounds, rel).value
        except ExprError:
            # Working (`-2(y - a) = -1.075`) is skipped; another answer's name is not.
            key = name_key(part)[0]
            if k == 0 and not first_named and any(
                    is_answer_name(key, other, ref.aliases[other])
                    for other in ref.spec.answers if other != aid):
                return f"left of '=', {clip(part)!r} is the name of another answer, not {aid}"
            continue
        if not math.isclose(v, value, rel_tol=rel, abs_tol=rel):
            return f"{clip(part)!r} and {clip(last)!r} differ: which is the answer?"
    return None


def _equal_forms(ref: QuestionRef, aid: str, parts: list[str]) -> bool:
    """`sech²(z) = 1 - tanh²(z)`: every side reads, and all agree at the answer's points."""
    try:
        formulas = [student_formula(p, ref.names) for p in parts]
    except ExprError:
        return False
    try:
        last: list[float | None] = [eval_formula(formulas[-1], env) for env in ref.points[aid]]
    except PointError:
        return False
    return all(agrees(f, ref.points[aid], last, ref.agree_rel) for f in formulas[:-1])


def _same_branch(branch: str, answer: Answer) -> bool:
    """`z <= 0` states the branch `z < 0` (the kink is not an answer's point)."""
    name, op, bound = branch.split()
    where = answer.where
    return where is None or (name == where.name and op[0] == where.op[0]
                             and float(bound) == float(where.bound))
