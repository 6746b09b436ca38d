"""Grade one submission folder: load it, mark Parts A, B and C, return a Result."""

from __future__ import annotations

from pathlib import Path

from grader import parta, partbc
from grader.course import Course
from grader.results import ItemMark, Result
from grader.rubric import Rubric, load_rubric
from grader.submission import load_submission

_NO_TEMPLATE = object()


class Options:
    """What a grading run shares between submissions (loaded once per process)."""

    def __init__(self, rubric: Rubric | None = None, data_dir: Path | None = None,
                 template: dict | None | object = _NO_TEMPLATE, parts: str = "ABC",
                 course: Course | None = None):
        self.rubric = rubric or load_rubric()
        self.data_dir = data_dir
        self._template = template
        self.parts = parts
        self.course = course

    @property
    def template(self) -> dict | None:
        if self._template is _NO_TEMPLATE:
            try:
                self._template = partbc.template_notebook()
            except ImportError:
                self._template = None
        return self._template  # type: ignore[return-value]


def grade_submission(folder: Path, options: Options) -> Result:
    """Mark everything in `folder`. Never raises for bad student files: they become statuses."""
    sub = load_submission(Path(folder))
    rubric = options.rubric
    items: list[ItemMark] = []
    answers_problem = next((p for p in sub.problems if p.startswith("answers.yaml")), None)
    notes = dict(sub.answer_notes)
    if sub.answers is not None:
        known = parta.known_questions(rubric)
        unknown = sorted(set(sub.answers) - known)
        if unknown:
            sub.problems.append(f"answers.yaml: unknown question id(s) {', '.join(unknown)} "
                                f"ignored (expected q1 ... q{len(known)})")
    variant = None
    if options.course is not None:
        if sub.id in options.course.students:
            variant = (options.course.seed, sub.id)
        else:
            # Without the student's own numbers Part A cannot be marked fairly either way.
            answers_problem = answers_problem or (
                f"student.yaml: id: {sub.id!r} is not in the roster of {options.course.path}; "
                "Part A is marked against each student's own numbers")
            sub.problems.append(answers_problem)
    if "A" in options.parts:
        items += parta.grade_parta(sub.answers, notes, rubric, answers_problem, variant)
    partb = partbc.PartB(sub, rubric, options.template)  # runs the notebook once, when needed
    for item in rubric.items:
        if item.part == "partb" and "B" not in options.parts or \
                item.part == "partc" and "C" not in options.parts:
            continue
        if item.check == "metric":
            items.append(partbc.grade_metric(sub, item))
        elif item.check in ("notebook", "code"):
            items.append(partb.grade(item))
        elif item.check == "model":
            items.append(partbc.grade_model(sub, item, options.data_dir))
        else:
            items.append(partbc.grade_report(sub, item))
    file_errors = [p for p in sub.problems if "ignored" not in p]
    invalid = bool(file_errors) or any(i.status == "invalid" for i in items)
    return Result(sub.id, sub.name, "invalid" if invalid else "graded", tuple(items),
                  tuple(sub.problems))
