"""The instructor's overrides: `overrides.yaml` beside the submissions settles answers by hand.

An answer the grader could not read is `review` (0 points for now); an instructor reads it and
writes one entry per answer (`dlhw review` writes them from review.csv), which the next run
applies (status `override`) and reports:

    - student: s001
      answer: q6.derivative
      points: 2.5
      reason: "th^2(z) is tanh^2(z): read by hand"

A whole question is settled with `question: q3` and its points (a broken answers.yaml, say),
and a broken answers.yaml is replaced by a corrected copy with `answers_file: fixed/s001.yaml`
(beside overrides.yaml) and a reason: the student's answers are then read from it, and the
result says so.

The file is the instructor's, but it is still read with the validating YAML reader: every
problem in it is reported at once, each with its line, and none of it applies until all are
fixed; never a silent skip.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import yaml

from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.results import ItemMark, Result, Status
from grader.rubric import Rubric
from grader.safeio import FileError
from grader.submission import MAX_YAML_BYTES, Value, read_answers

OVERRIDES_FILE = "overrides.yaml"
QUESTION = "*"  # the answer id of an override that settles a whole question
CORRECTED = "answers.yaml replaced by the instructor's corrected file"  # the result's flag
T = TypeVar("T")


class OverrideError(DlhwError, ValueError):
    """An overrides file that does not validate: `file:line: field: what was expected`, one
    line per problem."""


@dataclass(frozen=True)
class Override:
    student: str
    question: str
    answer: str  # QUESTION: the whole question
    points: Fraction
    reason: str
    line: int


@dataclass(frozen=True)
class Correction:
    """A corrected answers file for a student's broken one, read when the overrides load."""

    student: str
    path: Path
    reason: str
    line: int
    answers: dict[str, dict[str, Value]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Overrides:
    path: Path | None
    entries: tuple[Override, ...] = ()
    corrections: tuple[Correction, ...] = ()

    def for_student(self, *ids: str) -> dict[str, dict[str, Override]]:
        """question id → answer id (QUESTION: the whole question) → override, for a student
        known by any of `ids`."""
        out: dict[str, dict[str, Override]] = {}
        for o in self.entries:
            if o.student in ids:
                out.setdefault(o.question, {})[o.answer] = o
        return out

    def correction(self, *ids: str) -> Correction | None:
        return next((c for c in self.corrections if c.student in ids), None)

    def files(self) -> list[Path]:
        """Every file the overrides read (what a resumed batch's results depend on)."""
        return [p for p in [self.path, *(c.path for c in self.corrections)] if p is not None]


def find_overrides(submissions: Path, batch: bool) -> Path | None:
    """overrides.yaml beside the submission folders (a batch's root, or a submission's parent)."""
    candidate = (submissions if batch else submissions.resolve().parent) / OVERRIDES_FILE
    return candidate if candidate.is_file() else None


def load_overrides(path: Path, rubric: Rubric) -> Overrides:
    """Validate every entry against the rubric (a known answer or question, points within its
    marks, a reason, a corrected file that reads); OverrideError listing every problem."""
    r = NodeReader(Path(path), OverrideError)
    errors: list[str] = []
    entries: list[Override] = []
    corrections: list[Correction] = []
    seen: dict[tuple[str, str], int] = {}
    for k, node in enumerate(r.seq(r.load(), "overrides")):
        got = _entry(r, node, f"overrides[{k}]", rubric, errors)
        if got is None:
            continue
        target = (got.student, got.path.name if isinstance(got, Correction) else
                  f"{got.question}.{got.answer}")
        if target in seen:
            errors.append(f"{path}:{got.line}: overrides[{k}]: {target[0]} {target[1]} is "
                          f"already set on line {seen[target]}")
            continue
        seen[target] = got.line
        (corrections if isinstance(got, Correction) else entries).append(got)  # type: ignore
    if errors:
        errors.sort(key=lambda e: int(e.split(":")[1]) if e.split(":")[1].isdigit() else 0)
        raise OverrideError(f"{len(errors)} problem(s) in {path}, so none of it is applied:\n"
                            + "\n".join(errors))
    return Overrides(Path(path), tuple(entries), tuple(corrections))


def _attempt(errors: list[str], read: Callable[[], T]) -> T | None:
    try:
        return read()
    except OverrideError as exc:
        errors.append(str(exc))
        return None


def _entry(r: NodeReader, node: yaml.Node, where: str, rubric: Rubric, errors: list[str]
           ) -> Override | Correction | None:
    """One entry, or None with its problems (every one found) added to `errors`."""
    m = _attempt(errors, lambda: r.mapping(node, where, {"student", "reason"},
                                           {"answer", "question", "points", "answers_file"}))
    if m is None:
        return None
    found = len(errors)
    line = node.start_mark.line + 1
    student = _attempt(errors, lambda: str(m["student"].value) if r.is_number(m["student"])
                       else r.string(m["student"], f"{where}.student"))
    reason = _attempt(errors, lambda: _reason(r, m["reason"], f"{where}.reason"))
    targets = [t for t in ("answer", "question", "answers_file") if t in m]
    if len(targets) != 1:
        errors.append(str(r.fail(node, where, "expected one of answer (q6.derivative), "
                                 "question (q6) or answers_file")))
        return None
    if targets == ["answers_file"]:
        if "points" in m:
            errors.append(str(r.fail(m["points"], f"{where}.points", "a corrected file is "
                                     "graded: give no points")))
        fixed = _attempt(errors, lambda: _corrected(r, m["answers_file"], f"{where}.answers_file"))
        if len(errors) > found or student is None or reason is None or fixed is None:
            return None
        return Correction(student, fixed[0], reason, line, fixed[1], fixed[2])
    qid, aid, most = _target(r, m[targets[0]], f"{where}.{targets[0]}", rubric, errors)
    if "points" not in m:
        errors.append(str(r.fail(node, f"{where}.points", "missing required field")))
        return None
    points = _attempt(errors, lambda: r.number(m["points"], f"{where}.points", 0,
                                               float(most) if most is not None else None))
    if len(errors) > found or student is None or reason is None or points is None:
        return None
    return Override(student, qid, aid, points, reason, line)


def _reason(r: NodeReader, node: yaml.Node, where: str) -> str:
    reason = r.string(node, where).strip()
    if not reason:
        raise r.fail(node, where, "say why (it is shown to the student)")
    return reason


def _target(r: NodeReader, node: yaml.Node, where: str, rubric: Rubric, errors: list[str]
            ) -> tuple[str, str, Fraction | None]:
    """(question, answer or QUESTION, its most points) of `answer: q6.derivative` or
    `question: q6`; an unknown one is an error naming the closest."""
    text = _attempt(errors, lambda: r.string(node, where))
    if text is None:
        return "", "", None
    weights = rubric.parta.weights
    if where.endswith(".question"):  # a Part A question, or a Part B/C item
        marks = {q: sum(ws.values(), Fraction(0)) for q, ws in weights.items()} | \
            {i.id: Fraction(i.marks) for i in rubric.items}
        if text in marks:
            return text, QUESTION, marks[text]
        known = list(marks)
        example = "q6 or fashion"
    else:
        qid, _, aid = text.partition(".")
        if aid in weights.get(qid, {}):
            return qid, aid, weights[qid][aid]
        known = [f"{q}.{a}" for q, ws in weights.items() for a in ws]
        example = "q6.derivative"
    near = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else f"expected such as {example}"
    errors.append(str(r.fail(node, where, f"no {where.rsplit('.', 1)[1]} {text!r}: {hint}")))
    return "", "", None


def _corrected(r: NodeReader, node: yaml.Node, where: str
               ) -> tuple[Path, dict[str, dict[str, Value]], dict[str, list[str]]]:
    """The corrected answers file (relative to overrides.yaml), read as grading reads one."""
    path = r.path.parent / r.string(node, where)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise r.fail(node, where, f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_YAML_BYTES:
        raise r.fail(node, where, f"{path} is larger than {MAX_YAML_BYTES // 1024} KB")
    try:
        answers, notes = read_answers(data, path.name)
    except FileError as exc:
        raise r.fail(node, where, f"{path} does not read either: {exc}") from None
    return path, answers, notes


def settle_question(item: ItemMark, o: Override) -> ItemMark:
    """A whole question or item settled by the instructor (a broken answers.yaml, a model in
    review): its points, and none of its answers left pending."""
    answers = tuple(replace(a, status=Status.OVERRIDE, score=Fraction(0),
                            feedback=f"settled with the question: {o.reason}")
                    if a.status == Status.REVIEW else a for a in item.answers)
    return replace(item, score=o.points, status=Status.OVERRIDE, answers=answers,
                   feedback=f"set by the instructor: {o.reason} (the grader said: "
                   f"{item.status}, {item.feedback})")


def report_overrides(overrides: Overrides, results: list[Result],
                     single: bool = False) -> list[str]:
    """What a run did with the overrides and the answers left to review, one line each:
    applied, not matched (a typo in a student or answer id must not pass unnoticed)."""
    applied: set[tuple[str, str, str]] = set()
    review = 0
    ids: set[str] = set()
    for r in results:
        who = {r.student, r.folder or r.student}
        ids |= who
        if any(f.startswith(CORRECTED) for f in r.flags):
            applied |= {(s, "", "") for s in who}
        for q in r.items:
            if q.status == Status.OVERRIDE:
                applied |= {(s, q.id, QUESTION) for s in who}
            for a in q.answers:
                if a.status == Status.OVERRIDE:
                    applied |= {(s, q.id, a.id) for s in who}
                review += a.status == Status.REVIEW
    lines = []
    every = [(o.student, o.question, o.answer, o.line, f"{o.question}.{o.answer}".replace(
        f".{QUESTION}", "")) for o in overrides.entries] + \
        [(c.student, "", "", c.line, f"answers_file {c.path.name}") for c in overrides.corrections]
    if every:
        used = [e for e in every if e[:3] in applied]
        lines.append(f"applied {len(used)} override(s) from {overrides.path}")
        if not single:
            for student, _, _, line, what in (e for e in every if e[:3] not in applied):
                why = "no such student" if student not in ids else "not graded"
                lines.append(f"  not applied: line {line}: {student} {what} ({why})")
    if review and not single:
        lines.append(f"{review} answer(s) could not be read: status review, listed in "
                     "review.csv; settle them in overrides.yaml (dlhw review writes the "
                     "entries)")
    return lines
