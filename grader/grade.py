"""Grade one submission folder: load it, mark Parts A, B and C, return a Result."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from grader import parta, partbc
from grader.course import Course
from grader.overrides import Overrides
from grader.preflight import needs
from grader.results import ItemMark, Outcome, Result, Status
from grader.rubric import Item, Rubric, load_rubric
from grader.safeio import shown
from grader.submission import Submission, load_submission

_NO_TEMPLATE = object()


class Options:
    """What a grading run shares between submissions (loaded once per process)."""

    def __init__(self, rubric: Rubric | None = None, data_dir: Path | None = None,
                 template: dict | None | object = _NO_TEMPLATE, parts: str = "ABC",
                 course: Course | None = None, overrides: Overrides | None = None,
                 threads: int = 1, missing: dict[str, str] | None = None):
        self.rubric = rubric or load_rubric()
        self.threads = threads  # cores a submission's sandboxed models may use
        # Capabilities the preflight found broken here (grader.preflight): their items are
        # `not run`, never run half-way and never marked against the student.
        self.missing = missing or {}
        self.data_dir = data_dir
        self._template = template
        self.parts = parts
        self.course = course
        self.overrides = overrides or Overrides(None)

    @property
    def template(self) -> dict | None:
        if self._template is _NO_TEMPLATE:
            try:
                self._template = partbc.template_notebook()
            except ImportError:
                self._template = None
        return self._template  # type: ignore[return-value]


def grade_submission(folder: Path, options: Options, submitter: str | None = None) -> Result:
    """Mark everything in `folder`. Never raises for bad student files: they become statuses.

    `submitter`: who handed the folder in, where an LMS says so; default the folder's name.
    """
    with load_submission(Path(folder), submitter) as sub:
        return _grade(sub, options)


def _grade(sub: Submission, options: Options) -> Result:
    rubric = options.rubric
    items: list[ItemMark] = []
    flags = identity_flags(sub, options.course)
    answers_problem = next((p for p in sub.problems if p.startswith("answers.yaml")), None)
    notes = dict(sub.answer_notes)
    remarks: list[str] = []  # shown with the problems, but they invalidate nothing
    if sub.answers is not None:
        known = parta.known_questions(rubric)
        unknown = sorted(set(sub.answers) - known)
        if unknown:
            remarks.append(f"answers.yaml: unknown question id(s) "
                           f"{', '.join(shown(u) for u in unknown)} "
                           f"ignored (expected q1 ... q{len(known)})")
    variant = None
    if options.course is not None:
        if sub.id in options.course.students:
            variant = (options.course.seed, sub.id)
        else:
            # Without the student's own numbers Part A cannot be marked fairly either way.
            answers_problem = answers_problem or (
                f"'{sub.id}' (the submission's folder) is not in the roster of "
                f"{options.course.path}; Part A is marked against each student's own numbers")
            sub.problems.append(answers_problem)
    if "A" in options.parts:
        overrides = options.overrides.for_student(sub.id, sub.path.name)
        items += _guarded(lambda: parta.grade_parta(sub.answers, notes, rubric, answers_problem,
                                                    variant, overrides),
                          [(q, r.spec.title, "A", r.spec.marks)
                           for q, r in parta.prepare(rubric).items()])
    partb = partbc.PartB(sub, rubric, options.template)  # runs the notebook once, when needed
    partc = partbc.PartC(sub, [i for i in rubric.items if i.part == "partc" and
                               "C" in options.parts], options.data_dir, options.threads)
    for item in rubric.items:
        if item.part == "partb" and "B" not in options.parts or \
                item.part == "partc" and "C" not in options.parts:
            continue
        items += _guarded(lambda i=item: [_grade_item(sub, i, options, partb, partc)],
                          [(item.id, item.title, item.part[-1].upper(), item.marks)])
    invalid = bool(sub.problems) or any(i.status == Status.INVALID for i in items)
    status = Outcome.INCOMPLETE if any(i.not_graded for i in items) \
        else Outcome.INVALID if invalid else Outcome.GRADED
    return Result(sub.id, sub.name, status, tuple(items), (*sub.problems, *remarks), sub.declared,
                  tuple(flags))


def _grade_item(sub: Submission, item: Item, options: Options, partb: partbc.PartB,
                partc: partbc.PartC) -> ItemMark:
    broken = sorted(needs(item) & options.missing.keys())
    if broken and _runs_something(sub, item):
        return partbc.not_run(item, options.missing[broken[0]])
    if item.check == "metric":
        return partbc.grade_metric(sub, item)
    if item.check in ("notebook", "code"):
        return partb.grade(item)
    if item.check == "model":
        return partc.grade(item)
    return partbc.grade_report(sub, item)


def _runs_something(sub: Submission, item: Item) -> bool:
    """Whether grading `item` runs a file of the submission (else it needs no tool)."""
    if item.check in ("notebook", "code"):
        return sub.notebook is not None
    if item.check == "model":
        return partbc.model_path(sub, item) is not None
    return item.check == "report" and sub.report is not None


def _guarded(grade: Callable[[], list[ItemMark]],
             shape: list[tuple[str, str, str, Fraction | int]]) -> list[ItemMark]:
    """`grade()`, or, if it raises, its items as `error` with one line why: a grader bug met by
    one student's file costs that item only (the instructor sees it), never the submission."""
    try:
        return grade()
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, one line, never a traceback
        why = f"could not be graded: internal error ({type(exc).__name__}: {str(exc)[:160]})"
        return [ItemMark(iid, title, part, None, Fraction(marks), Status.ERROR, why)
                for iid, title, part, marks in shape]


def identity_flags(sub: Submission, course: Course | None) -> list[str]:
    """The folder is who submitted. A different id in student.yaml is flagged; in a course
    (where the id picks the numbers a student is marked against) it makes the submission
    invalid, so nobody is graded under, or against the numbers of, someone else's id."""
    if sub.declared is None or sub.declared == sub.id:
        return []
    flag = (f"student.yaml declares id '{sub.declared}', but the submission is '{sub.id}' "
            "(the folder's name)")
    if course is not None:
        sub.problems.append(f"student.yaml: id: '{sub.declared}' is not the submitter "
                            f"'{sub.id}'; in a course each student is graded under their own id")
    return [flag]
