"""The graded result of a submission: plain frozen data that every output format renders."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar, overload

_T = TypeVar("_T")


class Status(StrEnum):
    """How an answer, a check or an item was marked. Its value is what every output shows."""

    CORRECT = "correct"
    CONVENTION = "convention"  # right in a declared alternative convention
    FOLLOW_THROUGH = "follow-through"  # right from the student's own earlier wrong answer
    IMPRECISE = "imprecise"  # right value, too few significant figures
    PARTIAL = "partial"
    WRONG = "wrong"
    REVIEW = "review"  # the grader could not decide: the instructor does
    OVERRIDE = "override"  # settled by the instructor in overrides.yaml
    BLANK = "blank"
    ABSENT = "absent"  # the file it needs was not submitted
    UNPARSEABLE = "unparseable"  # a claim that is not a value of the right kind
    UNVERIFIED = "unverified"  # a claim nothing measured
    REFUSED = "refused"  # a notebook with magics or shell escapes
    NOT_RUN = "not run"
    INVALID = "invalid"  # a tampered notebook, a refused model: no score
    ERROR = "error"  # could not be graded (a limit, an internal error): no score
    PASSED = "passed"  # a hidden check of Part B
    FAILED = "failed"


class Outcome(StrEnum):
    """How a whole submission ended."""

    GRADED = "graded"
    REVIEW = "review"  # graded, but some answer or item waits for the instructor
    INVALID = "invalid"  # a file problem: the instructor must look
    INCOMPLETE = "incomplete"  # the grader could not run some item: graded again by --resume
    ERROR = "error"  # not graded (a limit, a crash): one line why

    @property
    def regrade(self) -> bool:
        """Whether the grader, not the submission, is why this is not final."""
        return self in (Outcome.INCOMPLETE, Outcome.ERROR)


# `dlhw grade`'s exit status, for one submission or a batch (the worst row decides).
EXIT_GRADED, EXIT_INVALID, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_PENDING = 0, 1, 2, 3, 4


def exit_status(outcomes: list[str]) -> int:
    """3 when some submission is incomplete or not graded (the grader's side: `dlhw doctor`,
    then --resume), else 1 when some is invalid (a file problem), else 4 when some answer or
    item waits for the instructor (review: settle it in overrides.yaml), else 0."""
    found = {Outcome(o) for o in outcomes}
    if any(o.regrade for o in found):
        return EXIT_INCOMPLETE
    if Outcome.INVALID in found:
        return EXIT_INVALID
    return EXIT_PENDING if Outcome.REVIEW in found else EXIT_GRADED


# The feedback of an answer in review: why, between these (grader.parta.marking).
REVIEW_LEAD = "could not read this answer: "
REVIEW_TAIL = "; left to the instructor (0 points until settled)"


def review_reason(feedback: str, suggestion: str = "") -> str:
    """Why an answer is in review, from its feedback (the suggestion, shown apart, left out)."""
    why = feedback.removeprefix(REVIEW_LEAD).removesuffix(REVIEW_TAIL)
    return why.removesuffix(f" ({suggestion})") if suggestion else why


@dataclass(frozen=True)
class AnswerMark:
    """One answer of a Part A question (or one hidden check of a Part B item). `group` and
    `diagnosis`, for a wrong Part A answer: its class among the class's wrong answers, and what
    it most likely is; for the instructor's pages, never in the student's feedback."""

    id: str
    status: Status
    score: Fraction
    max_score: Fraction
    feedback: str
    submitted: str | None = None  # what the student wrote, as text
    # A wrong answer's group among the class's (its value to the site's figures, a formula's
    # values at the grader's points) and what it most likely is (grader.parta.diagnosis).
    group: tuple[str, ...] = ()
    diagnosis: str = ""
    # An answer in review: what the instructor may find it is, and the text exactly as the
    # file has it (quotes and escapes shown; where it was found, when not under its own id).
    suggestion: str = ""
    written: str = ""


@dataclass(frozen=True)
class ItemMark:
    """A question of Part A, or an item of Part B/C. `score` is None when the item is invalid
    or was not graded (status `not run` or `error`: the grader's side, never the student's)."""

    id: str
    title: str
    part: str
    score: Fraction | None
    max_score: Fraction
    status: Status
    feedback: str
    answers: tuple[AnswerMark, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def not_graded(self) -> bool:
        return self.score is None and self.status in (Status.NOT_RUN, Status.ERROR)

    @property
    def pending(self) -> bool:
        """Whether it waits for the instructor: in review itself, or an answer of it is."""
        return self.status == Status.REVIEW or any(a.status == Status.REVIEW
                                                   for a in self.answers)


@dataclass(frozen=True)
class Result:
    """One submission's marks: what every writer renders (grader/writers/). `folder` is the
    submission's folder name as shown, `file` the stem of its own output files; `student` is
    who submitted (the folder, or the LMS's id); `declared` the id in student.yaml; `flags`
    what an instructor should look at (a declared id that is not the submitter's, a shared
    id). A submission whose grading did not finish has status `error` and no items."""

    student: str
    name: str
    status: Outcome
    items: tuple[ItemMark, ...]
    problems: tuple[str, ...] = ()
    declared: str | None = None
    flags: tuple[str, ...] = ()
    folder: str = ""
    file: str = ""

    @classmethod
    def error(cls, folder: str, file: str, message: str) -> Result:
        """The result of a submission whose grading did not finish: one line why."""
        return cls(folder, "", Outcome.ERROR, (), (message,), folder=folder, file=file)

    @property
    def graded(self) -> bool:
        """Whether it has marks at all (an error row has none)."""
        return self.status != Outcome.ERROR or bool(self.items)

    @property
    def score(self) -> Fraction | None:
        if not self.graded:
            return None
        return sum((i.score for i in self.items if i.score is not None), Fraction(0))

    @property
    def max_score(self) -> Fraction | None:
        return sum((i.max_score for i in self.items), Fraction(0)) if self.graded else None

    def item(self, iid: str) -> ItemMark | None:
        return next((i for i in self.items if i.id == iid), None)

    # Across a process boundary and in resume files: every field, exactly (fractions as text).
    def to_data(self) -> dict[str, Any]:
        return _data(self)  # type: ignore[no-any-return]

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Result:
        items = tuple(_build(ItemMark, i | {
            "score": _fraction(i["score"]), "max_score": _fraction(i["max_score"]),
            "status": _STATUS[i["status"]],
            "answers": tuple(_build(AnswerMark, a | {
                "score": _fraction(a["score"]), "max_score": _fraction(a["max_score"]),
                "status": _STATUS[a["status"]], "group": tuple(a["group"])})
                for a in i["answers"])}) for i in data["items"])
        return _build(cls, data | {"status": Outcome(data["status"]), "items": items,
                                   "problems": tuple(data["problems"]),
                                   "flags": tuple(data["flags"])})


def _build(cls: type[_T], values: dict[str, Any]) -> _T:
    """`cls(**values)`; where `values` has exactly the fields (what `to_data` writes), without
    the frozen dataclass's one `object.__setattr__` per field: a class of 1,000 results was
    read back in 0.63 s, a third of it in those calls, in the parent while its workers grade."""
    if tuple(values) != _FIELDS[cls]:  # in the fields' order, as to_data writes them
        return cls(**values)
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _data(x: Any) -> Any:
    """`x` as JSON-ready data: new containers all the way down, leaves shared (they are
    immutable). Not `dataclasses.asdict`, which deep-copies every leaf: it was a third of a
    Part A submission's grading time."""
    names = _FIELDS.get(type(x))
    if names is not None:
        values = [getattr(x, n) for n in names]
        return {n: v if type(v) in _LEAVES else _data(v) for n, v in zip(names, values)}
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, dict):
        return {k: _data(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_data(v) for v in x]
    return x


_STATUS = {s.value: s for s in Status}  # Status(text) is an Enum call: ten times slower
_LEAVES = frozenset({str, int, float, bool, type(None), Status, Outcome})
_FIELDS: dict[type, tuple[str, ...]] = {
    t: tuple(f.name for f in fields(t)) for t in (AnswerMark, ItemMark, Result)}


@overload
def _fraction(x: str) -> Fraction: ...
@overload
def _fraction(x: None) -> None: ...


def _fraction(x: str | None) -> Fraction | None:
    """A fraction as `str(Fraction)` wrote it, `n` or `n/d`: parsed with int(), not with
    Fraction's general regular expression (half of reading a result back), and each text once
    per process (a class's marks are a few dozen distinct fractions; Fraction is immutable)."""
    if x is None:
        return None
    if not isinstance(x, str):
        raise TypeError(f"expected a fraction as text, found {type(x).__name__}")
    if (known := _FRACTIONS.get(x)) is not None:
        return known
    n, _, d = x.partition("/")
    value = Fraction(int(n), int(d) if d else 1)
    if len(_FRACTIONS) < 4096:
        _FRACTIONS[x] = value
    return value


_FRACTIONS: dict[str, Fraction] = {}


def points(x: Fraction | None) -> float | None:
    """A score as a float rounded to 3 decimals: stable bytes in every output. (The division
    is float(Fraction)'s own, without its generic method: a class's writers call this 140,000
    times.)"""
    return None if x is None else round(x.numerator / x.denominator, 3)
