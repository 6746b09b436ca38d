"""The graded result of a submission: plain frozen data that every output format renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class AnswerMark:
    """One answer of a Part A question."""

    id: str
    status: str  # blank | review | wrong | imprecise | correct | convention | follow-through |
    #              override (settled by the instructor in overrides.yaml)
    score: Fraction
    max_score: Fraction
    feedback: str
    submitted: str | None = None  # what the student wrote, as text


@dataclass(frozen=True)
class ItemMark:
    """A question of Part A, or an item of Part B/C. `score` is None when the item is invalid."""

    id: str
    title: str
    part: str
    score: Fraction | None
    max_score: Fraction
    status: str
    feedback: str
    answers: tuple[AnswerMark, ...] = ()
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """`student` is who submitted (the folder); `declared` the id in student.yaml; `flags` what
    an instructor should look at (a declared id that is not the submitter's, a shared id)."""

    student: str
    name: str
    status: str  # graded | invalid | error
    items: tuple[ItemMark, ...]
    problems: tuple[str, ...] = ()
    declared: str | None = None
    flags: tuple[str, ...] = ()

    @property
    def score(self) -> Fraction:
        return sum((i.score for i in self.items if i.score is not None), Fraction(0))

    @property
    def max_score(self) -> Fraction:
        return sum((i.max_score for i in self.items), Fraction(0))


def points(x: Fraction | None) -> float | None:
    """A score as a float rounded to 3 decimals: stable bytes in every output."""
    return None if x is None else round(float(x), 3)
