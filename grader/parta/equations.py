"""An answer written as an equation, or as several labelled values: which part is the answer.

`f'(z) = 1 - a^2`: a left side that names the answer (its id, an alias, the quantity it stands
for: grader.parta.names) is dropped. A chain `σ(0.56) = 0.6365` or `-2(y - a) = -1.075` is
working: it must agree with the answer, numbers with the question's values, formulas at the
grader's points. `w = 1.8, b = -0.6` (or `1 for z > 0, 0 for z < 0`) gives several values: the
one labelled with the answer's name (or its branch) is taken. Any other left side, working that
does not agree, and several values none of which is the answer's are `review`, with the reason;
nothing is dropped unchecked.
"""

from __future__ import annotations

import math

from grader.parta.evaluate import PointError, agrees, eval_formula
from grader.parta.names import is_answer_name, name_key, split_equation, strip_branch
from grader.parta.numbers import clip, read_number
from grader.parta.reader import student_formula
from grader.parta.references import QuestionRef
from solver.expr import ExprError
from solver.spec import Answer


class Review(ExprError):
    """An answer left to the instructor: why, and what it may be (`suggestion`)."""

    def __init__(self, why: str, suggestion: str = ""):
        super().__init__(why)
        self.suggestion = suggestion


def same_branch(branch: str, answer: Answer) -> bool:
    """`z <= 0` states the branch `z < 0` (the kink is not an answer's point)."""
    name, op, bound = branch.split()
    where = answer.where
    return where is None or (name == where.name and op[0] == where.op[0]
                             and float(bound) == float(where.bound))


# ---------------------------------------------------------------- several values


def segments(text: str) -> list[str]:
    """`w = 1.8, b = -0.6` → ["w = 1.8", "b = -0.6"]: the parts of an answer that each give a
    labelled value (a name and `=`, or a value and its branch), split at commas and semicolons
    outside brackets; [] when the answer is not several such values."""
    if "," not in text and ";" not in text:
        return []
    cuts = [-1]
    depth = 0
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if depth == 0 and c in ",;" and (i == 0 or text[i - 1] != "\\"):
            cuts.append(i)
    spans: list[tuple[int, int]] = []
    for a, b in zip(cuts, [*cuts[1:], len(text)]):
        if spans and not _labels(text[a + 1:b]):  # `1,8`, `z < 0` belong to the one before
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    out = [text[a + 1:b].strip() for a, b in spans]
    return out if len(out) > 1 and all(_labels(p) for p in out) else []


def _labels(part: str) -> bool:
    sides = split_equation(part)
    if len(sides) > 1 and sides[0] and sides[-1]:
        return True
    value, branch = strip_branch(part)
    return branch is not None and bool(value)


def pick(ref: QuestionRef, aid: str, parts: list[str]) -> str:
    """The one of several labelled values that is answer `aid`'s: labelled with its name, or
    (a branch answer) stating its branch; Review if none is, or more than one."""
    answer = ref.spec.answers[aid]
    chosen = []
    for part in parts:
        sides = split_equation(part)
        key, branch = name_key(sides[0]) if len(sides) > 1 else ("", None)
        named = len(sides) > 1 and is_answer_name(key, aid, ref.aliases[aid])
        stated = branch or strip_branch(sides[-1])[1]
        if (named or len(sides) == 1) and (named or stated) and (
                stated is None or same_branch(stated, answer)):
            chosen.append(part)
    shown = ", ".join(repr(clip(p)) for p in parts)
    if len(chosen) == 1:
        return chosen[0]
    if chosen:
        raise Review(f"several values for {aid}: {shown}: which is the answer?")
    raise Review(f"several values ({shown}), none labelled {aid}: which is the answer?",
                 f"write {aid}'s value alone")


# ---------------------------------------------------------------- an equation


def right_side(ref: QuestionRef, aid: str, text: str) -> tuple[str, list[str]]:
    """What to read of an answer written as an equation, and how it was found; Review when
    its left side does not name the answer or its working does not agree."""
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
    if named and branch and not same_branch(branch, answer):
        raise Review(f"written for {branch}, but {aid} is for {answer.where}")
    if not parts[-1]:
        raise Review("nothing right of '='")
    if answer.kind == "numeric":
        _check_numbers(ref, aid, parts, named)
    else:
        _check_formulas(ref, aid, parts, named)
    notes.append(f"the value right of '='{' (the last of several)' if len(parts) > 2 else ''}")
    return parts[-1], notes


def _another(ref: QuestionRef, aid: str, part: str) -> str | None:
    """The other answer of the question that `part` names, if any."""
    key = name_key(part)[0]
    return next((o for o in ref.spec.answers if o != aid and
                 is_answer_name(key, o, ref.aliases[o])), None)


def _check_numbers(ref: QuestionRef, aid: str, parts: list[str], named: bool) -> None:
    """A numeric chain `a = b = c`: every part that can be worked out with the question's
    values agrees with the last; an unnamed first part must be such working."""
    bound = aid in ref.bounds
    try:
        value = read_number(parts[-1], bound, ref.chain_rel, ref.given).value
    except ExprError:
        return  # reading the answer itself says why
    for k, part in enumerate(parts[:-1]):
        if k == 0 and named:
            continue
        other = _another(ref, aid, part) if k == 0 else None
        if other is not None:
            raise Review(f"left of '=', {clip(part)!r} is the name of another answer, not "
                         f"{aid}", f"is this {ref.spec.id}.{other}?")
        if k == 0 and name_key(part)[0] in {name_key(g)[0] for g in ref.given}:
            raise Review(f"left of '=', {clip(part)!r} is a given value of the question, not "
                         f"a name for {aid}")
        worked = _worked(ref, part, bound)
        if not worked:
            if k == 0:
                raise Review(f"left of '=', {clip(part)!r} is not a name for {aid} (its id, "
                             "an alias or the quantity it stands for), nor working that can "
                             "be checked")
            continue  # working shown under the answer's name, in words the grader cannot read
        if not any(math.isclose(v, value, rel_tol=ref.chain_rel, abs_tol=ref.chain_rel)
                   for v in worked):
            raise Review(f"{clip(part)!r} and {clip(parts[-1])!r} differ: which is the answer?")


def _worked(ref: QuestionRef, part: str, bound: bool) -> list[float]:
    """`part` worked out with the question's values (given, and every step's in each
    convention); [] when it cannot be."""
    out = []
    for env in ref.working or [ref.given]:
        try:
            out.append(read_number(part, bound, ref.chain_rel, env).value)
        except ExprError:
            return []
    return out


def _check_formulas(ref: QuestionRef, aid: str, parts: list[str], named: bool) -> None:
    """A chain of formulas: every side that reads agrees with the last at the grader's points;
    an unnamed first side must read."""
    names = ref.names_for(aid)
    try:
        last = student_formula(parts[-1], names)
        targets: list[float | None] = [eval_formula(last, env) for env in ref.points[aid]]
    except (ExprError, PointError):
        if named:
            return  # reading the answer itself says why
        raise Review(f"left of '=', {clip(parts[0])!r} is not a name for {aid}, nor equal to "
                     "the right side") from None
    for k, part in enumerate(parts[:-1]):
        if k == 0 and named:
            continue
        try:
            formula = student_formula(part, names)
        except ExprError:
            if k == 0:
                raise Review(f"left of '=', {clip(part)!r} is not a name for {aid}, nor "
                             "equal to the right side") from None
            continue
        if not agrees(formula, ref.points[aid], targets, ref.agree_rel):
            raise Review(f"left of '=', {clip(part)!r} is not a name for {aid}, nor equal to "
                         "the right side" if k == 0 else
                         f"{clip(part)!r} and {clip(parts[-1])!r} differ at the grader's "
                         "points: which is the answer?")
