"""One grading run's context: everything the submissions of a run share, built once in the
parent process before any worker forks (the rubric, the Part A references, the Part B notebook
template, the secret perturbation seed, the preflight's findings), so every worker grades with
the same set-up and the seed logged to reproduce a run is the one every worker used."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Course
from grader.kinds import Item
from grader.overrides import Overrides
from grader.parta import Grouping, References
from grader.rubric import Rubric, load_rubric

SEED_ENV = "DLHW_PERTURB_SEED"
_BUILD = object()  # RunContext.build's default: make the template
log = logging.getLogger("dlhw.grader")


def perturbation_seed() -> int:
    """$DLHW_PERTURB_SEED (the instructor's, to reproduce a run), else drawn here. A drawn
    seed is logged as a warning (it reaches stderr even with logging unconfigured): the
    instructor needs it to reproduce a review flag; it is never shown to students."""
    env = os.environ.get(SEED_ENV, "").strip()
    if env.isdigit():
        log.info("perturbation seed %s (from $%s)", env, SEED_ENV)
        return int(env)
    seed = secrets.randbits(63)
    log.warning("dlhw grade: perturbation seed %d drawn for this run (set %s=%d to reproduce "
                "it)", seed, SEED_ENV, seed)
    return seed


@dataclass
class RunContext:
    """What the submissions of one run share. Build it with `RunContext.build` in the parent;
    forked workers inherit it as it is."""

    rubric: Rubric
    parts: str = "ABC"
    course: Course | None = None
    overrides: Overrides = field(default_factory=lambda: Overrides(None))
    data_dir: Path | None = None
    threads: int = 1  # cores a submission's sandboxed models may use
    # Capabilities the preflight found broken here (grader.preflight): their items are `not
    # run`, never run half-way and never marked against the student.
    missing: dict[str, str] = field(default_factory=dict)
    seed: int = 0  # the secret seed of the perturbed test copies
    template: dict | None = None  # the Part B notebook template (nets.notebook)
    references: References | None = None  # Part A's, built from the rubric (grader.parta)
    grouping: Grouping | None = None  # how wrong Part A answers are grouped and diagnosed

    @property
    def items(self) -> tuple[Item, ...]:
        return self.rubric.items

    @classmethod
    def build(cls, rubric: Rubric | None = None, *, parts: str = "ABC",
              course: Course | None = None, overrides: Overrides | None = None,
              data_dir: Path | None = None, threads: int = 1,
              missing: dict[str, str] | None = None, seed: int | None = None,
              template: dict | None | object = _BUILD) -> RunContext:
        """The context of a run; `template`: the Part B notebook template (default: built
        from nets.notebook when Part B is graded; None: none, Part B says not run)."""
        from grader import parta
        from grader.kinds.notebook import template_notebook

        rubric = rubric or load_rubric()
        if template is _BUILD:
            template = None
            if "B" in parts:
                try:
                    template = template_notebook()
                except ImportError:  # nets' notebook generator unavailable
                    template = None
        return cls(rubric, parts, course, overrides or Overrides(None), data_dir, threads,
                   missing or {}, perturbation_seed() if seed is None else seed,
                   template,  # type: ignore[arg-type]
                   parta.references(rubric), parta.load_grouping())


def for_submissions(path: Path, *, batch: bool, rubric: Path | None = None,
                    data_dir: Path | None = None, parts: str = "ABC", threads: int = 1,
                    course: Path | None = None, overrides: Path | None = None) -> RunContext:
    """The context `dlhw grade` builds for PATH: the course (a course.yaml, a course folder
    holding one, else the one beside the submissions or the course folder's), the overrides
    (given, else beside the submissions), the preflight's findings for `parts`. RubricError,
    OverrideError and RosterError name what is wrong."""
    from core import resources
    from grader import preflight
    from grader.course import find_course, load_course
    from grader.overrides import find_overrides, load_overrides

    if course is not None and course.is_dir():
        resources.set_home(course)
        course = None
    course = course or find_course(path, batch)
    ctx = RunContext.build(load_rubric(rubric) if rubric else None, parts=parts,
                           course=load_course(course) if course else None, data_dir=data_dir,
                           threads=threads)
    found = overrides or find_overrides(path, batch)
    if found:
        ctx.overrides = load_overrides(found, ctx.rubric)
    ctx.missing = preflight.check(ctx.rubric, parts, data_dir)
    return ctx
