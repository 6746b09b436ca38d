"""The marking rubric (problems/rubric.yaml) as typed, frozen data, validated on load.

Every error names the file, the line and the field. Part A's section is policy only: each
answer's weight, tolerance and names are beside it in its question's spec (solver.spec checks
that the weights add up to the question's marks); here the questions' marks must add up to 50.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import yaml

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.references import load_references
from solver.spec import AnswerTolerance, Spec, load_all

PART_MARKS = {"parta": 50, "partb": 25, "partc": 25}


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
class Threshold:
    op: str  # at_least | at_most | equals
    value: float | bool


ITEM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


@dataclass(frozen=True)
class Item:
    """One Part B/C item: a metric check, the notebook, the model or the report."""

    id: str
    part: str
    title: str
    marks: Fraction
    check: str  # metric | notebook | model | report
    metric: str | None = None
    full: Threshold | None = None
    partial: Threshold | None = None
    partial_share: Fraction = Fraction(0)
    unverified_share: Fraction = Fraction(0)
    max_gap: float = 0.0  # a numeric claim's allowed gap to the measured value (rubric: max_gap)
    time_limit_s: float = 300.0
    memory_limit_mb: int = 4096
    reference: float | bool | None = None  # the reference solution's value (references.yaml)
    model: str | None = None  # model items: fashion | regression (models/<model>.pt2)
    shift_px: int = 1  # fashion: shifted copies of the test images, against memorisation
    reference_drop: float = 0.0  # fashion: the reference CNN's accuracy drop on them
    max_extra_drop: float = 0.1  # fashion: a drop beyond reference_drop + this: review
    shifted_images: int = 10_000  # fashion: how many test images get a shifted copy
    grid_points: int = 2001  # regression: points of the grid the MSE is measured on
    report_format: dict[str, object] | None = None  # a report item's PDF expectations


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
    top = r.mapping(root, "rubric", {"parta", "partb", "partc"}, {"submission"})
    parta = _parta(r, top["parta"], specs if specs is not None else load_all())
    items: list[Item] = []
    for part in ("partb", "partc"):
        node = top[part]
        for iid, inode in r.mapping(node, part).items():
            if not ITEM_ID.fullmatch(iid):  # ids name files (models, sandbox inputs) and columns
                raise r.fail(inode, f"{part}.{iid}", "expected an id of letters, digits and _")
            item = _item(r, part, iid, inode)
            items.append(replace(item, reference=refs.get(item.metric)) if item.metric else item)
        total = sum((i.marks for i in items if i.part == part), Fraction(0))
        if total != PART_MARKS[part]:
            raise r.fail(node, part, f"marks add up to {float(total):g}, expected "
                         f"{PART_MARKS[part]}")
    limit = Rubric.time_limit_s
    if "submission" in top:
        sub = r.mapping(top["submission"], "submission", {"time_limit_s"}, set())
        limit = float(r.number(sub["time_limit_s"], "submission.time_limit_s", 1, 86400))
        # The per-submission clock covers every sandboxed run of that submission.
        inner = [i for i in items if i.check in ("notebook", "model", "report")]
        need = sum(i.time_limit_s for i in inner)
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


def _parta(r: NodeReader, node: yaml.Node, specs: list[Spec]) -> PartA:
    m = _section(r, node, "parta", {"follow_through_share", "imprecise_share", "show_interval",
                                    "tolerance", "symbolic", "reading"}, set())
    total = sum(spec.marks for spec in specs)
    if total != PART_MARKS["parta"]:
        raise r.fail(node, "parta", f"the questions' marks (their specs' `marks:`) add up to "
                     f"{total}, expected {PART_MARKS['parta']}")
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


_CHECKS = {"notebook", "model", "report", "code"}
MODELS = ("fashion", "regression")  # the models a submission may hold, models/<name>.pt2
_REPORT_KEYS = {"body_fonts", "font_size_pt", "page_sizes", "max_spanning"}


def _item(r: NodeReader, part: str, iid: str, node: yaml.Node) -> Item:
    where = f"{part}.{iid}"
    m = r.mapping(node, where, {"title", "marks"},
                  {"metric", "check", "at_least", "at_most", "equals", "partial",
                   "unverified_share", "max_gap", "time_limit_s", "memory_limit_mb",
                   "model", "perturbation", "grid_points"} | _REPORT_KEYS)
    check = r.string(m["check"], f"{where}.check") if "check" in m else "metric"
    if check not in _CHECKS | {"metric"}:
        raise r.fail(m["check"], f"{where}.check",
                     "expected metric, notebook, model, report or code")
    metric = r.string(m["metric"], f"{where}.metric") if "metric" in m else None
    ops = [op for op in ("at_least", "at_most", "equals") if op in m]
    if check in ("metric", "model"):
        if metric is None:
            raise r.fail(node, f"{where}.metric", "missing required field")
        if len(ops) != 1:
            raise r.fail(node, where, "expected exactly one of at_least, at_most, equals")
    elif check == "code":  # hidden checks; a metric is the claim to compare, thresholds optional
        if len(ops) > 1 or (ops and metric is None):
            raise r.fail(node, where, "expected a metric with at most one of at_least, "
                         "at_most, equals")
    elif ops or metric:
        raise r.fail(node, where, f"a {check} check takes no metric or threshold")
    model = r.string(m["model"], f"{where}.model") if "model" in m else None
    if (check == "model") != (model is not None) or model not in (None, *MODELS):
        raise r.fail(node, f"{where}.model", f"a model check names one of {', '.join(MODELS)}"
                     " (and only a model check names one)")
    pert: dict = {}
    if "perturbation" in m:
        p = r.mapping(m["perturbation"], f"{where}.perturbation",
                      {"shift_px", "reference_drop", "max_extra_drop"}, {"images"})
        pert = {"shift_px": int(r.number(p["shift_px"], f"{where}.perturbation.shift_px", 1, 4)),
                "reference_drop": float(r.number(p["reference_drop"],
                                                 f"{where}.perturbation.reference_drop", 0, 1)),
                "max_extra_drop": float(r.number(p["max_extra_drop"],
                                                 f"{where}.perturbation.max_extra_drop", 0, 1))}
        if "images" in p:
            pert["shifted_images"] = int(r.number(p["images"], f"{where}.perturbation.images",
                                                  100, 1_000_000))
    if "grid_points" in m:
        pert["grid_points"] = int(r.number(m["grid_points"], f"{where}.grid_points", 10,
                                           1_000_000))
    if check != "report" and _REPORT_KEYS & m.keys():
        raise r.fail(node, where, f"only a report check takes {', '.join(sorted(_REPORT_KEYS))}")
    full = None
    if ops:
        op = ops[0]
        value = r.boolean(m[op], f"{where}.{op}") if op == "equals" else \
            float(r.number(m[op], f"{where}.{op}"))
        full = Threshold(op, value)
        if op != "equals" and "max_gap" not in m:  # a number is claimed: how close it must be
            raise r.fail(node, f"{where}.max_gap", "missing required field (the gap allowed "
                         "between the claimed and the measured value)")
    partial, share = None, Fraction(0)
    if "partial" in m:
        p = r.mapping(m["partial"], f"{where}.partial", {"share"}, {"at_least", "at_most"})
        pops = [op for op in ("at_least", "at_most") if op in p]
        if full is None or len(pops) != 1 or pops[0] != full.op:
            raise r.fail(m["partial"], f"{where}.partial",
                         f"expected share and one {full.op if full else 'threshold'} bound")
        pval = float(r.number(p[pops[0]], f"{where}.partial.{pops[0]}"))
        if (full.op == "at_least" and pval > full.value) or \
                (full.op == "at_most" and pval < full.value):
            raise r.fail(p[pops[0]], f"{where}.partial.{pops[0]}",
                         "expected a bar easier than the full-mark one")
        partial = Threshold(pops[0], pval)
        share = r.number(p["share"], f"{where}.partial.share", 0, 1)
    return Item(
        id=iid, part=part, title=r.string(m["title"], f"{where}.title"),
        marks=r.number(m["marks"], f"{where}.marks", 0, 25), check=check, metric=metric,
        full=full, partial=partial, partial_share=share,
        unverified_share=r.number(m["unverified_share"], f"{where}.unverified_share", 0, 1)
        if "unverified_share" in m else Fraction(0),
        max_gap=float(r.number(m["max_gap"], f"{where}.max_gap", 0, 1))
        if "max_gap" in m else Item.max_gap,
        time_limit_s=float(r.number(m["time_limit_s"], f"{where}.time_limit_s", 1, 3600))
        if "time_limit_s" in m else 300.0,
        memory_limit_mb=int(r.number(m["memory_limit_mb"], f"{where}.memory_limit_mb", 256,
                                     65536)) if "memory_limit_mb" in m else 4096,
        model=model, **pert,
        report_format=_report_format(r, m, where) if check == "report" else None,
    )


def _report_format(r: NodeReader, m: dict[str, yaml.Node], where: str) -> dict[str, object]:
    """A report item's PDF expectations (grader.report_check.Format's fields); defaults there."""
    out: dict[str, object] = {}
    if "body_fonts" in m:
        out["body_fonts"] = tuple(r.string(n, f"{where}.body_fonts")
                                  for n in r.seq(m["body_fonts"], f"{where}.body_fonts"))
    if "font_size_pt" in m:
        out["font_size_pt"] = float(r.number(m["font_size_pt"], f"{where}.font_size_pt", 5, 30))
    if "max_spanning" in m:
        out["max_spanning"] = float(r.number(m["max_spanning"], f"{where}.max_spanning", 0, 1))
    if "page_sizes" in m:
        sizes = {}
        for name, node in r.mapping(m["page_sizes"], f"{where}.page_sizes").items():
            wh = r.seq(node, f"{where}.page_sizes.{name}")
            if len(wh) != 2:
                raise r.fail(node, f"{where}.page_sizes.{name}", "expected [width, height] in "
                             "points")
            sizes[name] = tuple(float(r.number(n, f"{where}.page_sizes.{name}", 72, 5000))
                                for n in wh)
        out["page_sizes"] = sizes
    return out
