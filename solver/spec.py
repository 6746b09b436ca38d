"""Question specs: YAML files in problems/, validated on load into typed, frozen objects.

The YAML is composed into nodes (never constructed by PyYAML), so no tag can build a Python
object and every error can name the file, the line and the field. Numbers are read from their
source text and kept exact. The objects are solver.specdata's, the section readers
solver.spec_read's, the checks across sections solver.spec_checks'.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sympy

from core import resources
from core.errors import DlhwError
from solver import spec_checks, spec_read
from solver.specdata import (
    LONG_GIVEN,
    PLACEHOLDER_RE,
    Answer,
    AnswerTolerance,
    Condition,
    Convention,
    Line,
    Note,
    Spec,
    Step,
    Variation,
    Where,
    decimal_text,
    given_text,
)

T = TypeVar("T")


class SpecError(DlhwError, ValueError):
    """A spec that does not validate: `file:line: field: what was expected`."""


def located(spec: Spec, key: str, msg: str) -> SpecError:
    """A SpecError for the field `key` of a loaded spec (`steps.dL_da.form`), at its line."""
    return SpecError(f"{spec.at(key)}: {msg}")

__all__ = ["Answer", "AnswerTolerance", "Condition", "Convention", "LONG_GIVEN", "Line", "Note",
           "PLACEHOLDER_RE", "Spec", "SpecError", "Step", "Variation", "Where", "decimal_text",
           "find_spec", "given_text", "load_all", "load_spec", "located", "problem_files"]

_TOP_REQUIRED = {"id", "title", "marks", "question", "steps", "answers", "convention"}
_TOP_OPTIONAL = {"given", "alternatives", "vocabulary", "definitions", "latex", "notes",
                 "illustration", "demo", "variants", "constraints", "domain", "assumptions",
                 "losses"}


def load_spec(path: str | Path) -> Spec:
    """Load and validate one spec file; raises SpecError naming file, line and field."""
    path = Path(path)
    r = spec_read.Reader(path, SpecError)
    top = r.mapping(r.load(), "", _TOP_REQUIRED, _TOP_OPTIONAL)
    for key, node in top.items():
        r.mark(node, key)

    def section(name: str, read: Callable[..., T], empty: T, *args: object) -> T:
        return read(r, top[name], *args) if name in top else empty

    given: dict[str, sympy.Rational] = section("given", spec_read.given, {})
    marks = r.integer(top["marks"], "marks")
    if marks < 1:
        raise r.fail(top["marks"], "marks", "expected at least 1")
    steps = spec_read.steps(r, top["steps"], given)
    step_ids = {s.id for s in steps}
    spec = Spec(
        path=path, id=r.ident(top["id"], "id"), title=r.string(top["title"], "title"),
        marks=marks, question=r.string(top["question"], "question"),
        given=given, steps=steps, answers=spec_read.answers(r, top["answers"], steps, marks),
        convention=spec_read.convention(r, top["convention"], "convention", None, step_ids),
        alternatives=section("alternatives", spec_read.alternatives, {}, step_ids),
        vocabulary=section("vocabulary", spec_read.vocabulary, ()),
        definitions=section("definitions", spec_read.definitions, {}),
        latex=section("latex", spec_read.latex, {}),
        notes=section("notes", spec_read.notes, ()),
        domain=section("domain", spec_read.conditions("domain"), ()),
        assumptions=section("assumptions", spec_read.conditions("assumptions", "=="), ()),
        illustration=section("illustration", spec_read.illustration, ()),
        demo=section("demo", spec_read.demo, {}),
        variants=section("variants", spec_read.variants, {}, given),
        constraints=section("constraints", spec_read.conditions("constraints"), ()),
        losses=section("losses", spec_read.losses, {}),
        digest=hashlib.sha256(r.text.encode()).hexdigest(),
        lines=r.lines,
    )
    spec_checks.check(spec, lambda key, msg: located(spec, key, msg))
    return spec


def problem_files(directory: Path | None = None) -> list[Path]:
    """The question specs of `directory`, default those in force (core.resources)."""
    if directory is None:
        return resources.listing("problems", "q[0-9]*.yaml")
    return sorted(directory.glob("q[0-9]*.yaml"))


def load_all(directory: Path | None = None) -> list[Spec]:
    """Every question spec, in question order."""
    specs = [load_spec(p) for p in problem_files(directory)]
    return sorted(specs, key=lambda s: int(re.sub(r"\D", "", s.id) or 0))


def find_spec(qid: str, directory: Path | None = None) -> Spec:
    """The spec for `q1`, `Q01` or `1`; SpecError listing the valid ids otherwise."""
    wanted = qid.lower().lstrip("q").lstrip("0") or "0"
    files = problem_files(directory)
    for p in files:
        m = re.match(r"q0*(\d+)", p.stem)
        if m and m[1] == wanted:
            return load_spec(p)
    valid = ", ".join(f"q{int(re.sub(r'[^0-9]', '', p.stem.split('_')[0]))}" for p in files)
    where = directory or "problems/"
    raise SpecError(f"no question {qid!r} in {where} (expected one of {valid})")
