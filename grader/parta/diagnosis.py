"""What a wrong Part A answer most likely is, and which wrong answers are the same one.

Decided when the answer is marked, in the grading worker, from its status, its value and the
references: the question's other convention, a sign error, another answer's value or
expression, follow-through from the student's own wrong earlier answers, too few figures. The
group is what the results site counts wrong answers by: a number's value to `value_sigfigs`
significant figures, a formula's values at the grader's points (formulas equal there are one
class, as the grader's own test has it); where each student has their own numbers (a course's
variants) a number is grouped by its diagnosis instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from core import resources
from core.numfmt import sig
from grader.parta.answers import Entry
from grader.parta.evaluate import values_at
from grader.parta.references import Convention, QuestionRef
from grader.results import Status

# Answered, but not the reference's value; and what follow-through starts from.
WRONG = (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH, Status.CONVENTION)
UPSTREAM_WRONG = (Status.WRONG, Status.IMPRECISE, Status.FOLLOW_THROUGH)
NO_VALUE = ""  # a formula's group at a point where it has no value


@dataclass(frozen=True)
class Grouping:
    """templates/site/site.yaml's `value_sigfigs` (a wrong number's group is its value to this
    many significant figures) and `match_rel` (a wrong value "is" another one, its negation or
    another convention's, within this relative gap)."""

    value_sigfigs: int
    match_rel: float


def load_grouping(path: Path | None = None) -> Grouping:
    """The two settings from the site's file (the course folder's when it has one)."""
    path = path or resources.path("templates", "site/site.yaml")
    return _load(path)


@cache  # one small file, read once per process and path
def _load(path: Path) -> Grouping:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    got: dict[str, float] = {}
    for name in ("value_sigfigs", "match_rel"):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{path}: {name}: expected a positive number")
        got[name] = value
    return Grouping(int(got["value_sigfigs"]), float(got["match_rel"]))


Value = float | list[float | None] | None  # a number, a formula's values at points, or none


def diagnose(ref: QuestionRef, conv: Convention, aid: str, entry: Entry, status: Status,
             statuses: dict[str, Status], grouping: Grouping, variant: bool = False
             ) -> tuple[tuple[str, ...], str]:
    """A wrong answer's group and diagnosis; ((), "") for an answer that is not wrong.
    `conv` is the convention the question was marked in, `statuses` every answer's status,
    `variant` whether the student's numbers are their own."""
    if status not in WRONG:
        return (), ""
    value: Value = None
    group: tuple[str, ...] = ("text", " ".join((entry.text or "").split()))
    if entry.kind == "value" and entry.value is not None:
        value = entry.value
        group = ("value", sig(entry.value, grouping.value_sigfigs))
    elif entry.kind == "formula" and entry.formula is not None:
        value = values_at(entry.formula, ref.points[aid])
        # Rounding error around 0 (1 - tanh² + tanh² - 1) is 0.
        group = ("formula", *(NO_VALUE if v is None else "0" if abs(v) < 1e-9 else f"{v:.6g}"
                              for v in value))
    why = _diagnosis(ref, conv, aid, status, statuses, value, grouping.match_rel)
    if variant and ref.spec.variants and group[0] == "value":
        group = ("diagnosis", why)
    return group, why


def _diagnosis(ref: QuestionRef, conv: Convention, aid: str, status: Status,
               statuses: dict[str, Status], value: Value, rel: float) -> str:
    if status == Status.CONVENTION:
        return f"the {conv.name} convention"
    if status == Status.FOLLOW_THROUGH:
        upstream = sorted(d for d in conv.deps[aid] if statuses.get(d) in UPSTREAM_WRONG)
        return f"follow-through from {', '.join(upstream) or 'earlier answers'}"
    if status == Status.IMPRECISE:
        return "too few significant figures"
    if value is None:
        return "not read"
    for other in ref.conventions:
        if other is not conv and _matches(other, aid, aid, value, rel):
            return f"the {other.name} convention (the question's other answers: {conv.name})"
    for c in ref.conventions:
        if _matches(c, aid, aid, value, rel, sign=-1):
            return "a sign error"
    for c in ref.conventions:
        for o in ref.spec.answers:
            if o != aid and _matches(c, aid, o, value, rel):
                return f"the {'value' if isinstance(value, float) else 'expression'} of {o}"
    return "unexplained"


def _same(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return False
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _matches(conv: Convention, aid: str, target: str, value: Value, rel: float,
             sign: int = 1) -> bool:
    """Is `value` (answer `aid`'s) the value of answer `target` in `conv` (times `sign`)?"""
    if isinstance(value, float):
        t = conv.solution.answers[target].value if target in conv.solution.answers else None
        return t is not None and t != 0 and _same(value, sign * t, rel)
    assert isinstance(value, list)
    targets = conv.refs[aid] if target == aid else \
        [values.get(target) for values in conv.chains[aid]]
    pairs = [(v, t) for v, t in zip(value, targets) if t is not None]
    return len(pairs) >= 2 and any(t != 0 for _, t in pairs) and \
        all(_same(v, sign * t, rel) for v, t in pairs)
