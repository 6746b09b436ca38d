"""The marking rubric (problems/rubric.yaml) as typed, frozen data, validated on load.

Every error names the file, the line and the field. Weights are checked against the specs: each
question's weights cover exactly its answers and add up to its marks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import yaml

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.items import read_items
from grader.kinds import Item
from grader.references import load_references
from solver.spec import Spec, load_all


class RubricError(DlhwError, ValueError):
    """A rubric that does not validate: `file:line: field: what was expected`."""


@dataclass(frozen=True)
class Tolerance:
    """How close a numeric answer must be to the reference (grader.numeric.accepted_interval)."""

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
    """How Part A answers are read: which answers are a uniform bound (±r and U(-r, r) read as
    r), and further names a student may write left of '=' (question id → answer id → names)."""

    chain_rel: float  # the numbers of a chain `σ(0.56) = 0.6365` agree to this
    bounds: dict[str, frozenset[str]] = field(default_factory=dict)
    names: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class PartA:
    follow_through_share: Fraction
    imprecise_share: Fraction
    show_interval: bool
    symbolic: Symbolic
    weights: dict[str, dict[str, Fraction]]
    tolerances: dict[str, dict[str, Tolerance]]  # question id → numeric answer id → tolerance
    reading: Reading


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
    items = read_items(r, top, refs)
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


def _parta(r: NodeReader, node: yaml.Node, specs: list[Spec]) -> PartA:
    m = r.mapping(node, "parta", {"follow_through_share", "imprecise_share", "show_interval",
                                  "tolerance", "symbolic", "weights", "reading"}, set())
    s = r.mapping(m["symbolic"], "parta.symbolic",
                  {"points", "rel", "time_limit_s", "exact_time_limit_s"}, set())
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
    wnode = m["weights"]
    by_id = {spec.id: spec for spec in specs}
    weights: dict[str, dict[str, Fraction]] = {}
    for qid, qnode in r.mapping(wnode, "parta.weights").items():
        where = f"parta.weights.{qid}"
        if qid not in by_id:
            raise r.fail(qnode, where, f"no such question (expected one of {', '.join(by_id)})")
        spec = by_id[qid]
        q = r.mapping(qnode, where, set(spec.answers), set())
        weights[qid] = {aid: r.number(q[aid], f"{where}.{aid}", 0, spec.marks)
                        for aid in spec.answers}
        total = sum(weights[qid].values(), Fraction(0))
        if total != spec.marks:
            raise r.fail(qnode, where, f"weights add up to {float(total):g}, expected the "
                         f"question's {spec.marks} marks")
    for qid in by_id.keys() - weights.keys():
        raise r.fail(wnode, f"parta.weights.{qid}", "missing: every question needs its split")
    return PartA(
        follow_through_share=r.number(m["follow_through_share"],
                                      "parta.follow_through_share", 0, 1),
        imprecise_share=r.number(m["imprecise_share"], "parta.imprecise_share", 0, 1),
        show_interval=r.boolean(m["show_interval"], "parta.show_interval"),
        symbolic=symbolic, weights=weights, tolerances=_tolerances(r, m["tolerance"], by_id),
        reading=_reading(r, m["reading"], by_id),
    )


_TOLERANCE_KEYS = {"rel", "abs", "sigfigs"}


def _tolerance(r: NodeReader, m: dict[str, yaml.Node], where: str, base: Tolerance | None
               ) -> Tolerance:
    """The fields of `m` (all three, or with `base` any of them over it)."""
    def get(key: str, read: Callable[[yaml.Node, str], object]) -> object:
        return read(m[key], f"{where}.{key}") if key in m else getattr(base, key)

    tol = Tolerance(
        rel=float(get("rel", lambda n, w: r.number(n, w, 0, 1))),
        abs=float(get("abs", lambda n, w: r.number(n, w, 0))),
        sigfigs=int(get("sigfigs", r.integer)),
    )
    if tol.sigfigs < 1:
        raise r.fail(m["sigfigs"], f"{where}.sigfigs", "expected at least 1")
    return tol


def _tolerances(r: NodeReader, node: yaml.Node, by_id: dict[str, Spec]
                ) -> dict[str, dict[str, Tolerance]]:
    """The default tolerance, and per-answer overrides, for every numeric answer."""
    where = "parta.tolerance"
    m = r.mapping(node, where, _TOLERANCE_KEYS, {"answers"})
    default = _tolerance(r, m, where, None)
    out = {qid: {aid: default for aid, a in spec.answers.items() if a.kind == "numeric"}
           for qid, spec in by_id.items()}
    for qid, qnode in (r.mapping(m["answers"], f"{where}.answers").items()
                       if "answers" in m else []):
        qwhere = f"{where}.answers.{qid}"
        if qid not in by_id:
            raise r.fail(qnode, qwhere, f"no such question (expected one of {', '.join(by_id)})")
        for aid, anode in r.mapping(qnode, qwhere, set(), set(out[qid])).items():
            out[qid][aid] = _tolerance(r, r.mapping(anode, f"{qwhere}.{aid}", set(),
                                                    _TOLERANCE_KEYS), f"{qwhere}.{aid}", default)
    return out


def _reading(r: NodeReader, node: yaml.Node, by_id: dict[str, Spec]) -> Reading:
    m = r.mapping(node, "parta.reading", {"chain_rel"}, {"bounds", "names"})

    def answers(qid: str, qnode: yaml.Node, where: str) -> Spec:
        if qid not in by_id:
            raise r.fail(qnode, where, f"no such question (expected one of {', '.join(by_id)})")
        return by_id[qid]

    bounds: dict[str, frozenset[str]] = {}
    for qid, qnode in (r.mapping(m["bounds"], "parta.reading.bounds").items()
                       if "bounds" in m else []):
        where = f"parta.reading.bounds.{qid}"
        spec = answers(qid, qnode, where)
        ids = [r.string(n, where) for n in r.seq(qnode, where)]
        for aid, n in zip(ids, r.seq(qnode, where)):
            if aid not in spec.answers:
                raise r.fail(n, where, f"{aid!r} is not an answer of {qid}")
        bounds[qid] = frozenset(ids)
    names: dict[str, dict[str, tuple[str, ...]]] = {}
    for qid, qnode in (r.mapping(m["names"], "parta.reading.names").items()
                       if "names" in m else []):
        where = f"parta.reading.names.{qid}"
        spec = answers(qid, qnode, where)
        names[qid] = {}
        for aid, anode in r.mapping(qnode, where, set(), set(spec.answers)).items():
            names[qid][aid] = tuple(r.string(n, f"{where}.{aid}")
                                    for n in r.seq(anode, f"{where}.{aid}"))
    chain_rel = float(r.number(m["chain_rel"], "parta.reading.chain_rel", 0, 1))
    return Reading(chain_rel, bounds, names)
