"""Grade one submission folder: load it, gather the evidence (read and run, no judging), mark
Part A and every Part B/C item through its kind, return a Result. `dlhw check` goes through the
same loading and evidence (grader/check.py)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from grader import parta
from grader.context import RunContext
from grader.course import Course
from grader.kinds import KINDS, Evidence, Item, not_run
from grader.kinds.base import Run
from grader.kinds.claim import withheld
from grader.overrides import CORRECTED, QUESTION, settle_question
from grader.results import ItemMark, Outcome, Result, Status
from grader.safeio import shown
from grader.submission import Submission, load_submission


def items_of(ctx: Run) -> list[Item]:
    """The Part B/C items graded in this run (`--parts`)."""
    return [i for i in ctx.items if i.letter in ctx.parts]


def open_submission(folder: Path, ctx: RunContext, submitter: str | None = None) -> Submission:
    """load_submission with the rubric's model files."""
    models = tuple(i.id for i in ctx.rubric.items if i.kind == "model")
    return load_submission(Path(folder), submitter, models)


def grade_submission(folder: Path, ctx: RunContext, submitter: str | None = None) -> Result:
    """Mark everything in `folder`. Never raises for bad student files: they become statuses.

    `submitter`: who handed the folder in, where an LMS says so; default the folder's name.
    """
    with open_submission(folder, ctx, submitter) as sub:
        ev = Evidence(sub, ctx)
        gather(ev)
        return judge(ev, ctx)


def runnable(item: Item, ev: Evidence) -> str | None:
    """Why `item` cannot run here (a capability the preflight found broken), or None."""
    kind = KINDS[item.kind]
    broken = sorted(kind.needs(item) & ev.ctx.missing.keys())
    return ev.ctx.missing[broken[0]] if broken and kind.submitted(ev.sub, item) else None


def gather(ev: Evidence) -> None:
    """The evidence stage: every item's files read and run (once each), nothing judged. A
    failure here is met again, and marked, when the item is graded."""
    for item in items_of(ev.ctx):
        if runnable(item, ev) is None:
            try:
                KINDS[item.kind].gather(item, ev)
            except Exception:  # noqa: BLE001,S110 - grade() meets it again and says why
                pass


def judge(ev: Evidence, ctx: RunContext) -> Result:
    """The marks for what `gather` read and ran (`ev.ctx` is `ctx`)."""
    sub = ev.sub
    rubric = ctx.rubric
    items: list[ItemMark] = []
    flags = identity_flags(sub, ctx.course)
    answers_problem = next((p for p in sub.problems if p.startswith("answers.yaml")), None)
    remarks: list[str] = []  # shown with the problems, but they invalidate nothing
    if sub.answers is not None:
        known = parta.known_questions(rubric)
        unknown = sorted(set(sub.answers) - known)
        if unknown:
            remarks.append(f"answers.yaml: unknown question id(s) "
                           f"{', '.join(shown(u) for u in unknown)} "
                           f"ignored as questions (expected q1 ... q{len(known)}; what they "
                           "hold that a question has is in review)")
    variant = None
    if ctx.course is not None:
        if sub.id in ctx.course.students:
            variant = (ctx.course.seed, sub.id)
        else:
            # Without the student's own numbers Part A cannot be marked fairly either way.
            answers_problem = answers_problem or (
                f"'{sub.id}' (the submission's folder) is not in the roster of "
                f"{ctx.course.path}; Part A is marked against each student's own numbers")
            sub.problems.append(answers_problem)
    if "A" in ctx.parts:
        overrides = ctx.overrides.for_student(sub.id, sub.path.name)
        refs = ctx.references or parta.references(rubric)
        answers_problem = _settled(sub, ctx, answers_problem, overrides, flags, remarks)
        notes = dict(sub.answer_notes)
        items += _guarded(lambda: parta.grade_parta(sub.answers, notes, rubric, answers_problem,
                                                    variant, overrides, refs, ctx.grouping),
                          [(q, r.spec.title, "A", r.spec.marks) for q, r in refs.get().items()])
    settled = ctx.overrides.for_student(sub.id, sub.path.name)
    for item in items_of(ctx):
        got = _guarded(lambda i=item: [_grade_item(i, ev)],  # type: ignore[misc]
                       [(item.id, item.title, item.letter, item.marks)])
        o = settled.get(item.id, {}).get(QUESTION)
        items += [settle_question(m, o) if o is not None and not m.not_graded else m
                  for m in got]
    invalid = bool(sub.problems) or any(i.status == Status.INVALID for i in items)
    status = Outcome.INCOMPLETE if any(i.not_graded for i in items) \
        else Outcome.INVALID if invalid else Outcome.REVIEW if any(i.pending for i in items) \
        else Outcome.GRADED
    return Result(sub.id, sub.name, status, tuple(items), (*sub.problems, *remarks), sub.declared,
                  tuple(flags))


def _settled(sub: Submission, ctx: RunContext, problem: str | None,
             overrides: dict[str, dict], flags: list[str], remarks: list[str]) -> str | None:
    """A broken answers.yaml the instructor settled: replaced by a corrected file (read
    instead, and flagged as such), or every question given its marks (the problem stays
    shown, but no longer makes the submission invalid). What is left of the problem."""
    fixed = ctx.overrides.correction(sub.id, sub.path.name)
    if fixed is not None:
        sub.problems[:] = [p for p in sub.problems if not p.startswith("answers.yaml")]
        sub.answers, sub.answer_notes = fixed.answers, dict(fixed.notes)
        flags.append(f"{CORRECTED} {fixed.path.name}: {fixed.reason}")
        return problem if problem is not None and not problem.startswith("answers.yaml") \
            else None
    questions = ctx.references.get() if ctx.references else {}
    if problem is not None and problem in sub.problems and questions and all(
            QUESTION in overrides.get(q, {}) for q in questions):
        sub.problems.remove(problem)
        remarks.append(f"{problem} (settled by the instructor's marks for every question)")
    return problem


def _grade_item(item: Item, ev: Evidence) -> ItemMark:
    if item.requires and not KINDS[item.kind].submitted(ev.sub, item):
        return withheld(item, ev.sub)
    why = runnable(item, ev)
    if why is not None:
        return not_run(item, why)
    return KINDS[item.kind].grade(item, ev)


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
