"""The marking rubric (problems/rubric.yaml) as typed, frozen data, validated on load.

Every error names the file, the line and the field. Part A's section is policy only: each
answer's weight, tolerance and names are beside it in its question's spec (solver.spec checks
that the weights add up to the question's marks); here the questions' marks must add up to 50.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import yaml

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.items import read_items
from grader.kinds import Item
from grader.references import load_references
from solver.spec import AnswerTolerance, Spec, load_all

PART_MARKS = {"parta": 50, "partb": 25, "partc": 25}  # the homework's, unless `marks:` says


class RubricError(DlhwError, ValueError):
    """A rubric that does not validate: `file:line: field: what was expected`."""


@dataclass(frozen=True)
class Tolerance:
    """How close a numeric answer must be to the reference (grader.parta.numbers)."""

    rel: float
    abs: float
    sigfigs: int


@dataclass(frozen=True)
class Symbolic:
    points: int
    rel: float  # agreement of an expression with the reference at each random point
    time_limit_s: float
    exact_time_limit_s: float


@dataclass(frozen=True)
class Reading:
    """How Part A answers are read; the names and bounds of each answer are in its spec."""

    chain_rel: float  # the numbers of a chain `σ(0.56) = 0.6365` agree to this


@dataclass(frozen=True)
class PartA:
    """Part A's policy (rubric.yaml) over its questions (the specs it was validated against):
    each answer's weight and tolerance are its spec's, over the rubric's default tolerance."""

    follow_through_share: Fraction
    imprecise_share: Fraction
    show_interval: bool
    symbolic: Symbolic
    tolerance: Tolerance  # the default, for numeric answers that declare none of their own
    reading: Reading
    questions: tuple[Spec, ...]  # in question order
    weights: dict[str, dict[str, Fraction]]  # question id → answer id → its marks
    tolerances: dict[str, dict[str, Tolerance]]  # question id → numeric answer id → tolerance

    @cached_property
    def fingerprint(self) -> str:
        """A digest of all that Part A's references are built from: the questions' files, the
        weights and tolerances, and the symbolic and reading settings (grader.parta)."""
        parts = [(s.id, s.digest) for s in self.questions]
        text = repr((parts, self.weights, self.tolerances, self.symbolic, self.reading))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rubric:
    path: Path
    parta: PartA
    items: tuple[Item, ...]
    time_limit_s: float = 900.0  # wall clock for one whole submission (submission.time_limit_s)


def load_rubric(path: Path | None = None, specs: list[Spec] | None = None,
                references: dict[str, float | bool] | None = None) -> Rubric:
    """Load and validate the rubric against the question specs; metric items carry the
    reference solution's value (problems/references.yaml) for the feedback."""
    path = Path(path) if path is not None else resources.path("problems", "rubric.yaml")
    refs = load_references() if references is None else references
    r = NodeReader(path, RubricError)
    root = r.load()
    top = r.mapping(root, "rubric", {"parta", "partb", "partc"}, {"submission", "marks"})
    marks = _marks(r, top["marks"]) if "marks" in top else PART_MARKS
    parta = _parta(r, top["parta"], specs if specs is not None else load_all(),
                   Fraction(marks["parta"]))
    items = read_items(r, top, refs, marks)
    limit = Rubric.time_limit_s
    if "submission" in top:
        sub = r.mapping(top["submission"], "submission", {"time_limit_s"}, set())
        limit = float(r.number(sub["time_limit_s"], "submission.time_limit_s", 1, 86400))
        # The per-submission clock covers every sandboxed run of that submission.
        inner = [i for i in items if i.limits is not None]
        need = sum(i.limits.time_limit_s for i in inner if i.limits is not None)
        if inner and need >= limit:
            raise r.fail(sub["time_limit_s"], "submission.time_limit_s",
                         f"expected more than {need:g}, the sum of the time limits it includes "
                         f"({', '.join(f'{i.part}.{i.id}' for i in inner)})")
    return Rubric(path, parta, tuple(items), limit)


# Fields that moved from the rubric into each question's spec (problems/qNN_*.yaml).
_MOVED = {
    "parta.weights": "an answer's weight is `weight:` beside it in its question's spec "
                     "(without one, the answers share the question's marks evenly)",
    "parta.tolerance.answers": "an answer's own tolerance is `tolerance:` beside it in its "
                               "question's spec",
    "parta.reading.names": "an answer's further names are `aliases:` beside it in its "
                           "question's spec",
    "parta.reading.bounds": "a bound answer says `bound: true` beside it in its question's spec",
}


def _section(r: NodeReader, node: yaml.Node, where: str, required: set[str],
             optional: set[str]) -> dict[str, yaml.Node]:
    """A mapping of the rubric, with a pointer to the spec for a key that moved there."""
    m = r.mapping(node, where)
    for key, value in m.items():
        if f"{where}.{key}" in _MOVED:
            raise r.fail(value, f"{where}.{key}", f"moved: {_MOVED[f'{where}.{key}']}")
    return r.mapping(node, where, required, optional)


def _marks(r: NodeReader, node: yaml.Node) -> dict[str, Fraction]:
    """Each part's total (a course that adds a question raises Part A's)."""
    m = r.mapping(node, "marks", set(PART_MARKS), set())
    return {part: r.number(m[part], f"marks.{part}", 0, 1000) for part in PART_MARKS}


def _parta(r: NodeReader, node: yaml.Node, specs: list[Spec], marks: Fraction) -> PartA:
    m = _section(r, node, "parta", {"follow_through_share", "imprecise_share", "show_interval",
                                    "tolerance", "symbolic", "reading"}, set())
    total = sum(spec.marks for spec in specs)
    if total != marks:
        raise r.fail(node, "parta", f"the questions' marks (their specs' `marks:`) add up to "
                     f"{total}, expected {float(marks):g} (the rubric's marks.parta)")
    default = _tolerance(r, _section(r, m["tolerance"], "parta.tolerance", _TOLERANCE_KEYS,
                                     set()), "parta.tolerance")
    reading = _section(r, m["reading"], "parta.reading", {"chain_rel"}, set())
    return PartA(
        follow_through_share=r.number(m["follow_through_share"],
                                      "parta.follow_through_share", 0, 1),
        imprecise_share=r.number(m["imprecise_share"], "parta.imprecise_share", 0, 1),
        show_interval=r.boolean(m["show_interval"], "parta.show_interval"),
        symbolic=_symbolic(r, m["symbolic"]), tolerance=default,
        reading=Reading(float(r.number(reading["chain_rel"], "parta.reading.chain_rel", 0, 1))),
        questions=tuple(specs),
        weights={s.id: {aid: a.weight for aid, a in s.answers.items()} for s in specs},
        tolerances={s.id: {aid: _over(default, a.tolerance) for aid, a in s.answers.items()
                           if a.kind == "numeric"} for s in specs},
    )


def _symbolic(r: NodeReader, node: yaml.Node) -> Symbolic:
    s = r.mapping(node, "parta.symbolic", {"points", "rel", "time_limit_s", "exact_time_limit_s"},
                  set())
    symbolic = Symbolic(
        points=int(r.number(s["points"], "parta.symbolic.points", 2, 50)),
        rel=float(r.number(s["rel"], "parta.symbolic.rel", 0, 1)),
        time_limit_s=float(r.number(s["time_limit_s"], "parta.symbolic.time_limit_s", 0.1, 60)),
        exact_time_limit_s=float(r.number(s["exact_time_limit_s"],
                                          "parta.symbolic.exact_time_limit_s", 0, 60)),
    )
    if symbolic.exact_time_limit_s >= symbolic.time_limit_s:
        raise r.fail(s["exact_time_limit_s"], "parta.symbolic.exact_time_limit_s",
                     "expected less than time_limit_s")
    return symbolic


_TOLERANCE_KEYS = {"rel", "abs", "sigfigs"}


def _tolerance(r: NodeReader, m: dict[str, yaml.Node], where: str) -> Tolerance:
    tol = Tolerance(rel=float(r.number(m["rel"], f"{where}.rel", 0, 1)),
                    abs=float(r.number(m["abs"], f"{where}.abs", 0)),
                    sigfigs=r.integer(m["sigfigs"], f"{where}.sigfigs"))
    if tol.sigfigs < 1:
        raise r.fail(m["sigfigs"], f"{where}.sigfigs", "expected at least 1")
    return tol


def _over(default: Tolerance, own: AnswerTolerance) -> Tolerance:
    """An answer's own tolerance (its spec's, validated there) over the rubric's default."""
    return Tolerance(rel=default.rel if own.rel is None else own.rel,
                     abs=default.abs if own.abs is None else own.abs,
                     sigfigs=default.sigfigs if own.sigfigs is None else own.sigfigs)
