"""The references of each question, and their one explicit cache.

A question's references are its solution in every convention, every step's formula as computed
(`StepResult.raw`, or the step's proven closed form), and for symbolic questions a fixed, seeded
set of random points (inputs sampled, the spec's definitions z = wx + b, a = f(z) evaluated,
each answer's branch such as z > 0 respected) with every step's value there.

`References` holds them for one rubric: the common references, built when it is made, and each
student's variant (course seed, student id) on first use or when `warm` is asked to. The
function `references(rubric)` keeps one `References` per fingerprint of all they are built from
(the question files' text, the answers' weights and tolerances, the symbolic and reading
settings: `PartA.fingerprint`), so a rubric that differs in any of them never meets another's
references. A batch calls it in the parent process, before its workers fork, and they inherit
what was built.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy

from grader.parta.evaluate import PointError, eval_formula, eval_sympy
from grader.parta.names import name_key
from grader.rubric import PartA, Rubric, Tolerance
from solver.engine import Solution, expand_definitions, solve
from solver.expr import Formula, to_sympy
from solver.spec import Spec
from solver.variants import variant_given

POINT_TRIES = 500

Point = dict[str, float]
Values = dict[str, float | None]  # step id → its value at a point (None: none there)


@dataclass
class Convention:
    """A question solved in one of its conventions."""

    name: str
    text: str
    solution: Solution
    raws: dict[str, sympy.Expr]  # step id → formula as computed, earlier steps as names
    deps: dict[str, frozenset[str]]  # answer id → the answers it is computed from
    # Symbolic: answer id → every step's value at each of the answer's points, and the answer's.
    chains: dict[str, list[Values]] = field(default_factory=dict)
    refs: dict[str, list[float | None]] = field(default_factory=dict)
    # What the exact proof settled: (answer id, formula text) → equal (grader.parta.marking).
    proofs: dict[tuple[str, str], bool] = field(default_factory=dict)
    # (loss, answer id) → the answer's value at each of QuestionRef.loss_points' points.
    loss_refs: dict[tuple[str, str], list[float | None]] = field(default_factory=dict)
    # Judgements already made (grader.parta.marking._judge), and the objects their keys name
    # by id (kept alive while they do): caches, not part of the value.
    judged: dict[tuple, Any] = field(default_factory=dict, compare=False, repr=False)
    keep: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    def chain(self, env: Point, overrides: Mapping[str, object]) -> Values:
        """Every step's value at `env`, with the student's answers put in for `overrides` (a
        Formula, or a number)."""
        values = dict(env)
        out: Values = {}
        for sid, raw in self.raws.items():
            try:
                o = overrides.get(sid)
                if o is None:
                    v = eval_sympy(raw, values)
                elif isinstance(o, Formula):
                    v = eval_formula(o, values)
                else:
                    v = float(o)  # type: ignore[arg-type]
                values[sid] = v
                out[sid] = v
            except PointError:
                values.pop(sid, None)
                out[sid] = None
        return out


@dataclass(frozen=True)
class Loss:
    """A name the question leaves general written out for a named loss (the spec's
    `losses:`): mse: dL_da = -2*(y - a), in further names (`names`: the target y)."""

    name: str
    subs: dict[str, Formula]
    names: frozenset[str]

    def shown(self) -> str:
        return ", ".join(f"{k} = {f.text}" for k, f in self.subs.items())


@dataclass
class QuestionRef:
    spec: Spec
    weights: dict[str, Fraction]
    conventions: list[Convention]  # primary first
    symbolic: bool
    names: set[str]  # names a symbolic answer may use
    definitions: dict[str, sympy.Expr]  # expanded to base names, for proofs
    points: dict[str, list[Point]]  # symbolic: answer id → evaluation points
    given: dict[str, float]
    aliases: dict[str, set[str]]  # answer id → names (as name_key keys) left of an '='
    bounds: frozenset[str]  # answers that are a uniform bound (±r read as r)
    chain_rel: float  # the numbers of a chain `σ(0.56) = 0.6365` agree to this
    tolerances: dict[str, Tolerance]  # numeric answer id → how close it must be
    agree_rel: float  # a symbolic answer agrees with the reference at a point to this
    losses: dict[str, Loss] = field(default_factory=dict)
    # Symbolic: answer id → the loss names it may use (an answer computed from dL_da may use
    # the target y), and (loss, answer id) → points where those names have values too.
    loss_names: dict[str, frozenset[str]] = field(default_factory=dict)
    loss_points: dict[tuple[str, str], list[Point]] = field(default_factory=dict)
    # Numeric: the given values and every step's value, one per convention: what working
    # left of an answer's `=` (`-2(y - a) = -1.075`) is checked with.
    working: list[Point] = field(default_factory=list)
    # Answers already read (grader.parta.answers.read_entry), questions already marked
    # (grader.parta.marking.grade_question) and the objects their keys name by id (kept alive
    # while they do): caches, not part of the value.
    reads: dict[tuple, Any] = field(default_factory=dict, compare=False, repr=False)
    marked: dict[tuple, Any] = field(default_factory=dict, compare=False, repr=False)
    keep: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    def names_for(self, aid: str) -> set[str]:
        """The names answer `aid` may use: the question's, and a loss's where it applies."""
        return self.names | self.loss_names.get(aid, frozenset())


class References:
    """The references of one rubric's questions: the common ones, and each variant's."""

    def __init__(self, parta: PartA):
        self.parta = parta
        self.fingerprint = parta.fingerprint
        self.common = {spec.id: build(spec, parta) for spec in parta.questions}
        self._variants: dict[tuple[int, str], dict[str, QuestionRef]] = {}

    def get(self, variant: tuple[int, str] | None = None) -> dict[str, QuestionRef]:
        """Every question's references; with `variant` (course seed, student id), questions
        with variants are solved with that student's numbers, the others are the common ones."""
        if variant is None:
            return self.common
        if variant not in self._variants:
            seed, student = variant
            self._variants[variant] = {
                qid: build(ref.spec, self.parta, variant_given(ref.spec, seed, student))
                if ref.spec.variants else ref for qid, ref in self.common.items()}
        return self._variants[variant]

    def warm(self, variants: Iterable[tuple[int, str]]) -> None:
        """Build these variants now (in a parent process, before its workers fork)."""
        for variant in variants:
            self.get(variant)


_STORE: dict[str, References] = {}


def references(rubric: Rubric) -> References:
    """The references of `rubric`'s questions, built once per process for all they depend on."""
    key = rubric.parta.fingerprint
    if key not in _STORE:
        _STORE[key] = References(rubric.parta)
    return _STORE[key]


def prepare(rubric: Rubric, variant: tuple[int, str] | None = None) -> dict[str, QuestionRef]:
    """Every question's references (`variant`: a student's own numbers, see References.get)."""
    return references(rubric).get(variant)


def build(spec: Spec, parta: PartA, given: dict[str, sympy.Rational] | None = None
          ) -> QuestionRef:
    """One question's references, solved with `given` (default the spec's own values)."""
    given_exact = dict(spec.given) if given is None else given
    sol = solve(spec, given=given_exact)
    symbolic = any(a.kind == "symbolic" for a in spec.answers.values())
    aliases = {aid: {name_key(n)[0] for n in (spec.latex.get(aid, aid), *a.aliases)}
               for aid, a in spec.answers.items()}
    ref = QuestionRef(
        spec, parta.weights[spec.id], [], symbolic, set(spec.vocabulary) | set(spec.definitions),
        {s.name: e for s, e in expand_definitions(spec).items()}, {},
        {k: float(v) for k, v in given_exact.items()}, aliases,
        frozenset(aid for aid, a in spec.answers.items() if a.bound), parta.reading.chain_rel,
        parta.tolerances[spec.id], parta.symbolic.rel)
    convs = [(spec.convention.name, spec.convention.text, sol)] + \
        [(n, c.text, sol.alternatives[n]) for n, c in spec.alternatives.items()]
    for name, text, s in convs:
        # A step's stated form where it has one (q8: dL_dz1 = p1 - 1): proven equal to the
        # formula, and written in the earlier answers, so follow-through uses the student's own.
        raws = {r.id: to_sympy(r.step.form) if r.step.form is not None else r.raw
                for r in s.steps}
        ref.conventions.append(Convention(name, text, s, raws, _deps(raws, spec)))
    if symbolic:
        for aid in spec.answers:
            ref.points[aid] = _points(ref, aid, parta.symbolic.points)
            for conv in ref.conventions:
                conv.chains[aid] = [conv.chain(env, {}) for env in ref.points[aid]]
                conv.refs[aid] = [values.get(aid) for values in conv.chains[aid]]
        _losses(ref)
    else:
        ref.working = [ref.given | {k: v for k, v in conv.chain(ref.given, {}).items()
                                    if v is not None} for conv in ref.conventions]
    return ref


def _losses(ref: QuestionRef) -> None:
    """Each loss of the spec, for the answers computed from what it writes out: the names
    they may then use, points where those have values (seeded), the references there."""
    spec = ref.spec
    known = set(spec.vocabulary) | set(spec.definitions)
    raws = ref.conventions[0].raws
    for name, subs in spec.losses.items():
        loss = Loss(name, subs, frozenset(set().union(*(f.names for f in subs.values())) - known))
        ref.losses[name] = loss
        for aid in spec.answers:
            if not _uses(raws, aid) & subs.keys():
                continue
            ref.loss_names[aid] = ref.loss_names.get(aid, frozenset()) | loss.names
            rng = random.Random(zlib.crc32(f"{spec.id}:{aid}:{name}".encode()))
            points = []
            for env in ref.points[aid]:
                point = env | {n: rng.uniform(0.2, 1.6) * rng.choice((-1, 1)) for n in loss.names}
                point |= {k: eval_formula(f, point) for k, f in subs.items()}
                points.append(point)
            ref.loss_points[name, aid] = points
            for conv in ref.conventions:
                conv.loss_refs[name, aid] = [conv.chain(env, {}).get(aid) for env in points]


def _uses(raws: dict[str, sympy.Expr], sid: str) -> set[str]:
    """The names a step is computed from, through the steps before it."""
    out: set[str] = set()
    for s in raws[sid].free_symbols:
        out |= _uses(raws, s.name) if s.name in raws and s.name != sid else {s.name}
    return out


def _deps(raws: dict[str, sympy.Expr], spec: Spec) -> dict[str, frozenset[str]]:
    """For each answer, the answers upstream of it (through helper steps too)."""
    upstream: dict[str, set[str]] = {}
    for sid, raw in raws.items():
        direct = {s.name for s in raw.free_symbols} & upstream.keys()
        upstream[sid] = set(direct).union(*(upstream[d] for d in direct))
    return {aid: frozenset(upstream[aid] & spec.answers.keys()) for aid in spec.answers}


def _points(ref: QuestionRef, aid: str, n: int) -> list[Point]:
    """n seeded random points for a symbolic answer, on its branch, where the reference exists."""
    spec = ref.spec
    rng = random.Random(zlib.crc32(f"{spec.id}:{aid}".encode()))
    base = sorted((set(spec.vocabulary) | _formula_names(spec)) - set(spec.definitions))
    where = spec.answers[aid].where
    primary = ref.conventions[0]
    points: list[Point] = []
    for _ in range(POINT_TRIES):
        env: Point = {}
        for name in base:
            magnitude = rng.uniform(0.2, 1.6)
            positive = name in ("eta", "alpha")  # a learning rate and ELU's alpha are > 0
            env[name] = magnitude if positive or rng.random() < 0.5 else -magnitude
        try:
            for name, formula in spec.definitions.items():
                env[name] = eval_formula(formula, env)
        except PointError:
            continue
        if where is not None and (not where.holds(env[where.name])
                                  or abs(env[where.name]) < 0.05):
            continue
        if primary.chain(env, {}).get(aid) is None:
            continue
        points.append(env)
        if len(points) == n:
            return points
    raise RuntimeError(f"{spec.id}.{aid}: could not find {n} evaluation points")


def _formula_names(spec: Spec) -> set[str]:
    return set().union(*(f.names for f in spec.definitions.values())) if spec.definitions \
        else set()
