"""Question specs: YAML files in problems/, validated on load into typed, frozen objects.

The YAML is composed into nodes (never constructed by PyYAML), so no tag can build a Python
object and every error can name the file, the line and the field. Numbers are read from their
source text and kept exact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import sympy
import yaml

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader
from solver.expr import ExprError, Formula, exact, parse, terminating_decimal

T = TypeVar("T")


class SpecError(DlhwError, ValueError):
    """A spec that does not validate: `file:line: field: what was expected`."""


@dataclass(frozen=True)
class Step:
    id: str
    text: str
    formula: Formula
    form: Formula | None = None  # an equivalent closed form, proven equal when solving

    @property
    def shown(self) -> Formula:
        return self.form or self.formula


@dataclass(frozen=True)
class Where:
    """The branch an answer belongs to, e.g. z > 0."""

    name: str
    op: str
    bound: sympy.Rational

    def holds(self, value: float) -> bool:
        b = float(self.bound)
        return {">": value > b, ">=": value >= b, "<": value < b, "<=": value <= b}[self.op]

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound}"


@dataclass(frozen=True)
class Condition:
    """`EXPR op NUMBER` over given and computed names, e.g. `loss_new == 0`."""

    text: str
    formula: Formula
    op: str
    bound: sympy.Rational


@dataclass(frozen=True)
class Note:
    """A remark printed with the solution; with `when`, only if every condition holds at the
    values being solved (so a claim about the numbers is printed only when they support it)."""

    text: str
    when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AnswerTolerance:
    """A numeric answer's own tolerance: any of the three over the rubric's default
    (problems/rubric.yaml, parta.tolerance); None keeps the default's."""

    rel: float | None = None
    abs: float | None = None
    sigfigs: int | None = None


@dataclass(frozen=True)
class Answer:
    """What a question asks for, and how it is marked: its share of the question's marks, how
    close a number must be (over the rubric's default) and how it may be written."""

    id: str
    kind: str  # numeric | symbolic
    text: str
    where: Where | None = None
    # Declared beside the answer, or an even split of what the declared weights leave.
    weight: Fraction = Fraction(0)
    tolerance: AnswerTolerance = AnswerTolerance()
    aliases: tuple[str, ...] = ()  # further names a student may write left of '='
    bound: bool = False  # a uniform bound r: `±r` and `U(-r, r)` are read as r


@dataclass(frozen=True)
class Convention:
    name: str
    text: str
    steps: dict[str, Formula] = field(default_factory=dict)


@dataclass(frozen=True)
class Variation:
    """How a given value may vary between students: min..max in steps of `step`."""

    min: sympy.Rational
    max: sympy.Rational
    step: sympy.Rational
    decimals: int | None = None  # fixed decimals when printed (2.0, not 2); else as short as exact


PLACEHOLDER_RE = re.compile(r"<<([A-Za-z]\w*)>>")


def decimal_text(value: sympy.Rational, decimals: int | None = None) -> str:
    """A given value as text, exactly: 1/2 -> '0.5'; `decimals` pads to fixed places (2.0) when
    that loses nothing; a value with no terminating decimal is written as a fraction, (-2/7)."""
    text = terminating_decimal(value)
    if text is None:
        return f"({value})"
    if decimals is not None and "." not in text:
        text += "." + "0" * decimals if decimals else ""
    elif decimals is not None:
        whole, frac = text.split(".")
        text = f"{whole}.{frac.ljust(decimals, '0')}"
    return text


@dataclass(frozen=True)
class Spec:
    path: Path
    id: str
    title: str
    marks: int
    question: str
    given: dict[str, sympy.Rational]
    steps: tuple[Step, ...]
    answers: dict[str, Answer]
    convention: Convention
    alternatives: dict[str, Convention]
    vocabulary: tuple[str, ...] = ()
    definitions: dict[str, Formula] = field(default_factory=dict)
    latex: dict[str, str] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    domain: tuple[Condition, ...] = ()
    illustration: tuple[dict[str, sympy.Rational], ...] = ()
    demo: dict[str, sympy.Rational | str] = field(default_factory=dict)
    variants: dict[str, Variation] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    # A name the question leaves general written out for a named loss (mse: dL_da = -2*(y - a)),
    # in further names (the target y) an answer may then use.
    losses: dict[str, dict[str, Formula]] = field(default_factory=dict)
    digest: str = ""  # SHA-256 of the file's text: what references built from it are keyed by

    def question_text(self, given: dict[str, sympy.Rational] | None = None) -> str:
        """The question with its <<name>> placeholders filled (the homework's text by default)."""
        values = self.given if given is None else given

        def fill(m: re.Match) -> str:
            var = self.variants.get(m[1])
            return decimal_text(values[m[1]], var.decimals if var else None)

        return PLACEHOLDER_RE.sub(fill, self.question)


# ---------------------------------------------------------------- node helpers

class _Reader(NodeReader):
    """NodeReader plus what specs hold: exact rationals and formulas."""

    def rational(self, node: yaml.Node, where: str) -> sympy.Rational:
        value = self.number(node, where)
        return sympy.Rational(value.numerator, value.denominator)

    def formula(self, node: yaml.Node, where: str) -> Formula:
        text = node.value if self.is_number(node) else self.string(node, where)
        try:
            return parse(text)
        except ExprError as exc:
            raise self.fail(node, where, str(exc)) from None


# ---------------------------------------------------------------- loading

_TOP_REQUIRED = {"id", "title", "marks", "question", "steps", "answers", "convention"}
_TOP_OPTIONAL = {"given", "alternatives", "vocabulary", "definitions", "latex", "notes",
                 "illustration", "demo", "variants", "constraints", "domain", "losses"}
_CONDITION_RE = re.compile(r"\s*(.+?)\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:[eE]-?\d+)?)\s*")
_WHERE_RE = re.compile(r"\s*([A-Za-z]\w*)\s*(>=|<=|>|<)\s*(-?[\d.]+)\s*")


def load_spec(path: str | Path) -> Spec:
    """Load and validate one spec file; raises SpecError naming file, line and field."""
    path = Path(path)
    r = _Reader(path, SpecError)
    top = r.mapping(r.load(), "", _TOP_REQUIRED, _TOP_OPTIONAL)

    def section(name: str, read: Callable[..., T], empty: T, *args: object) -> T:
        return read(r, top[name], *args) if name in top else empty

    given: dict[str, sympy.Rational] = section("given", _given, {})
    marks = r.integer(top["marks"], "marks")
    if marks < 1:
        raise r.fail(top["marks"], "marks", "expected at least 1")
    steps = _steps(r, top["steps"], given)
    step_ids = {s.id for s in steps}
    spec = Spec(
        path=path, id=r.ident(top["id"], "id"), title=r.string(top["title"], "title"),
        marks=marks, question=r.string(top["question"], "question"),
        given=given, steps=steps, answers=_answers(r, top["answers"], steps, marks),
        convention=_convention(r, top["convention"], "convention", None, step_ids),
        alternatives=section("alternatives", _alternatives, {}, step_ids),
        vocabulary=section("vocabulary", _vocabulary, ()),
        definitions=section("definitions", _definitions, {}),
        latex=section("latex", _latex, {}),
        notes=section("notes", _notes, ()),
        domain=section("domain", _domain, ()),
        illustration=section("illustration", _illustration, ()),
        demo=section("demo", _demo, {}),
        variants=section("variants", _variants, {}, given),
        constraints=section("constraints", _constraints, ()),
        losses=section("losses", _losses, {}),
        digest=hashlib.sha256(r.text.encode()).hexdigest(),
    )
    _check_placeholders(r, top, given, steps)
    _check_names(spec, r, top)
    return spec


# ---------------------------------------------------------------- one reader per section


def _given(r: _Reader, node: yaml.Node) -> dict[str, sympy.Rational]:
    return {k: r.rational(v, f"given.{k}") for k, v in r.pairs(node, "given")}


def _steps(r: _Reader, node: yaml.Node, given: dict[str, sympy.Rational]) -> tuple[Step, ...]:
    steps: list[Step] = []
    for i, snode in enumerate(r.seq(node, "steps")):
        where = f"steps[{i}]"
        m = r.mapping(snode, where, {"id", "text", "formula"}, {"form"})
        sid = r.ident(m["id"], f"{where}.id")
        if sid in given or any(s.id == sid for s in steps):
            raise r.fail(m["id"], f"{where}.id", f"{sid!r} is defined twice")
        steps.append(Step(sid, r.string(m["text"], f"{where}.text"),
                          r.formula(m["formula"], f"{where}.formula"),
                          r.formula(m["form"], f"{where}.form") if "form" in m else None))
    return tuple(steps)


_ANSWER_KEYS = {"text", "where", "weight", "tolerance", "aliases", "bound"}


def _answers(r: _Reader, node: yaml.Node, steps: tuple[Step, ...], marks: int
             ) -> dict[str, Answer]:
    text_of = {s.id: s.text for s in steps}
    answers: dict[str, Answer] = {}
    declared: dict[str, Fraction] = {}
    for aid, anode in r.pairs(node, "answers"):
        where = f"answers.{aid}"
        m = r.mapping(anode, where, {"kind"}, _ANSWER_KEYS)
        if aid not in text_of:
            raise r.fail(anode, where,
                         "no step computes this answer (an answer id must be a step id)")
        kind = r.string(m["kind"], f"{where}.kind")
        if kind not in ("numeric", "symbolic"):
            raise r.fail(m["kind"], f"{where}.kind", f"expected numeric or symbolic, got {kind!r}")
        for key in ("tolerance", "bound"):
            if key in m and kind != "numeric":
                raise r.fail(m[key], f"{where}.{key}", "only a numeric answer takes one (a "
                             "symbolic answer is compared at random points: parta.symbolic)")
        if "weight" in m:
            declared[aid] = r.number(m["weight"], f"{where}.weight", 0, marks)
        text = r.string(m["text"], f"{where}.text") if "text" in m else text_of[aid]
        answers[aid] = Answer(
            aid, kind, text, _where(r, m["where"], f"{where}.where") if "where" in m else None,
            tolerance=_tolerance(r, m["tolerance"], f"{where}.tolerance")
            if "tolerance" in m else AnswerTolerance(),
            aliases=tuple(r.string(n, f"{where}.aliases")
                          for n in r.seq(m["aliases"], f"{where}.aliases"))
            if "aliases" in m else (),
            bound=r.boolean(m["bound"], f"{where}.bound") if "bound" in m else False)
    weights = _weights(r, node, declared, list(answers), marks)
    return {aid: replace(a, weight=weights[aid]) for aid, a in answers.items()}


def _where(r: _Reader, node: yaml.Node, where: str) -> Where:
    wm = _WHERE_RE.fullmatch(r.string(node, where))
    if not wm:
        raise r.fail(node, where, "expected a condition such as 'z > 0'")
    return Where(wm[1], wm[2], exact(wm[3]))


def _tolerance(r: _Reader, node: yaml.Node, where: str) -> AnswerTolerance:
    m = r.mapping(node, where, set(), {"rel", "abs", "sigfigs"})
    if not m:
        raise r.fail(node, where, "expected any of rel, abs, sigfigs")
    sigfigs = r.integer(m["sigfigs"], f"{where}.sigfigs") if "sigfigs" in m else None
    if sigfigs is not None and sigfigs < 1:
        raise r.fail(m["sigfigs"], f"{where}.sigfigs", "expected at least 1")
    return AnswerTolerance(
        rel=float(r.number(m["rel"], f"{where}.rel", 0, 1)) if "rel" in m else None,
        abs=float(r.number(m["abs"], f"{where}.abs", 0)) if "abs" in m else None,
        sigfigs=sigfigs)


def _weights(r: _Reader, node: yaml.Node, declared: dict[str, Fraction], ids: list[str],
             marks: int) -> dict[str, Fraction]:
    """Each answer's share of the question's marks: declared, or an even split of the rest."""
    rest = [aid for aid in ids if aid not in declared]
    left = marks - sum(declared.values(), Fraction(0))
    if left < 0 or (not rest and left != 0):
        raise r.fail(node, "answers", f"weights add up to {float(marks - left):g}, expected the "
                     f"question's {marks} marks")
    if rest and left == 0:
        raise r.fail(node, "answers", f"the declared weights leave no marks for "
                     f"{', '.join(rest)} (give each a weight)")
    return {aid: declared[aid] if aid in declared else left / len(rest) for aid in ids}


def _convention(r: _Reader, node: yaml.Node, where: str, name: str | None,
                step_ids: set[str]) -> Convention:
    m = r.mapping(node, where, {"text"} | ({"name"} if name is None else set()), {"steps"})
    overrides: dict[str, Formula] = {}
    if "steps" in m:
        for sid, fnode in r.pairs(m["steps"], f"{where}.steps"):
            if sid not in step_ids:
                raise r.fail(fnode, f"{where}.steps.{sid}", "not a step of this question")
            overrides[sid] = r.formula(fnode, f"{where}.steps.{sid}")
    cname = name if name is not None else r.ident(m["name"], f"{where}.name")
    return Convention(cname, r.string(m["text"], f"{where}.text"), overrides)


def _alternatives(r: _Reader, node: yaml.Node, step_ids: set[str]) -> dict[str, Convention]:
    return {name: _convention(r, cnode, f"alternatives.{name}", name, step_ids)
            for name, cnode in r.pairs(node, "alternatives")}


def _vocabulary(r: _Reader, node: yaml.Node) -> tuple[str, ...]:
    return tuple(r.ident(n, "vocabulary") for n in r.seq(node, "vocabulary"))


def _definitions(r: _Reader, node: yaml.Node) -> dict[str, Formula]:
    return {k: r.formula(v, f"definitions.{k}") for k, v in r.pairs(node, "definitions")}


def _losses(r: _Reader, node: yaml.Node) -> dict[str, dict[str, Formula]]:
    return {name: {k: r.formula(v, f"losses.{name}.{k}") for k, v in r.pairs(m, f"losses.{name}")}
            for name, m in r.pairs(node, "losses")}


def _latex(r: _Reader, node: yaml.Node) -> dict[str, str]:
    return {k: r.string(v, f"latex.{k}") for k, v in r.pairs(node, "latex")}


def _condition(r: _Reader, node: yaml.Node, where: str) -> Condition:
    text = r.string(node, where)
    m = _CONDITION_RE.fullmatch(text)
    if not m:
        raise r.fail(node, where, "expected a condition such as 'loss_new == 0' "
                     "(EXPR >=, <=, ==, !=, > or < NUMBER)")
    try:
        return Condition(text, parse(m[1]), m[2], exact(m[3]))
    except ExprError as exc:
        raise r.fail(node, where, str(exc)) from None


def _notes(r: _Reader, node: yaml.Node) -> tuple[Note, ...]:
    notes: list[Note] = []
    for i, nnode in enumerate(r.seq(node, "notes")):
        if isinstance(nnode, yaml.MappingNode):
            m = r.mapping(nnode, f"notes[{i}]", {"text", "when"}, set())
            whens = m["when"].value if isinstance(m["when"], yaml.SequenceNode) else [m["when"]]
            notes.append(Note(r.string(m["text"], f"notes[{i}].text"),
                              tuple(_condition(r, w, f"notes[{i}].when") for w in whens)))
        else:
            notes.append(Note(r.string(nnode, f"notes[{i}]")))
    return tuple(notes)


def _domain(r: _Reader, node: yaml.Node) -> tuple[Condition, ...]:
    return tuple(_condition(r, n, "domain") for n in r.seq(node, "domain"))


def _illustration(r: _Reader, node: yaml.Node) -> tuple[dict[str, sympy.Rational], ...]:
    return tuple(
        {k: r.rational(v, f"illustration[{i}].{k}") for k, v in r.pairs(c, f"illustration[{i}]")}
        for i, c in enumerate(r.seq(node, "illustration")))


def _demo(r: _Reader, node: yaml.Node) -> dict[str, sympy.Rational | str]:
    demo: dict[str, sympy.Rational | str] = {}
    for k, v in r.pairs(node, "demo"):
        is_text = isinstance(v, yaml.ScalarNode) and v.tag == "tag:yaml.org,2002:str"
        demo[k] = r.string(v, f"demo.{k}") if is_text else r.rational(v, f"demo.{k}")
    if "rule" not in demo:
        raise r.fail(node, "demo.rule", "missing required field")
    return demo


def _variants(r: _Reader, node: yaml.Node, given: dict[str, sympy.Rational]
              ) -> dict[str, Variation]:
    variants: dict[str, Variation] = {}
    for k, v in r.pairs(node, "variants"):
        if k not in given:
            raise r.fail(v, f"variants.{k}", "not a given value of this question")
        m = r.mapping(v, f"variants.{k}", {"min", "max", "step"}, {"decimals"})
        lo, hi, step = (r.rational(m[f], f"variants.{k}.{f}") for f in ("min", "max", "step"))
        var = Variation(lo, hi, step, r.integer(m["decimals"], f"variants.{k}.decimals")
                        if "decimals" in m else None)
        if var.min > var.max or var.step <= 0:
            raise r.fail(v, f"variants.{k}", "expected min <= max and step > 0")
        variants[k] = var
    return variants


def _constraints(r: _Reader, node: yaml.Node) -> tuple[str, ...]:
    return tuple(r.string(n, "constraints") for n in r.seq(node, "constraints"))


def _check_placeholders(r: _Reader, top: dict[str, yaml.Node], given: dict[str, sympy.Rational],
                        steps: tuple[Step, ...]) -> None:
    """The question's and the steps' <<name>> placeholders name given values."""
    for m in PLACEHOLDER_RE.finditer(r.string(top["question"], "question")):
        if m[1] not in given:
            raise r.fail(top["question"], "question",
                         f"placeholder <<{m[1]}>> names no given value")
    for i, step in enumerate(steps):
        for m in PLACEHOLDER_RE.finditer(step.text):
            if m[1] not in given:
                raise r.fail(top["steps"].value[i], f"steps[{i}].text",
                             f"placeholder <<{m[1]}>> names no given value")


def _check_names(spec: Spec, r: _Reader, top: dict[str, yaml.Node]) -> None:
    """Every name a step uses must be given, computed earlier, or declared vocabulary."""
    known = set(spec.given) | set(spec.vocabulary) | set(spec.definitions)
    for i, step in enumerate(spec.steps):
        for formula in (step.formula, step.form):
            if formula is None:
                continue
            unknown = formula.names - known
            if unknown:
                node = top["steps"].value[i]
                raise r.fail(node, f"steps[{i}] ({step.id})",
                             f"unknown name(s) {', '.join(sorted(unknown))}: declare them under "
                             "given or vocabulary, or compute them in an earlier step")
        known.add(step.id)
    for where, conds in [("domain", spec.domain)] + [
            (f"notes[{i}].when", n.when) for i, n in enumerate(spec.notes)]:
        for c in conds:
            unknown = c.formula.names - (known if where != "domain" else set(spec.given))
            if unknown:
                raise r.fail(top[where.split("[")[0]], where,
                             f"{c.text!r}: unknown name(s) {', '.join(sorted(unknown))}")
    for name, subs in spec.losses.items():
        for k in sorted(subs.keys() - set(spec.vocabulary)):
            raise r.fail(top["losses"], f"losses.{name}.{k}", "expected a vocabulary name")
    for i, n in enumerate(spec.notes):
        for m in PLACEHOLDER_RE.finditer(n.text):
            if m[1] not in known:
                raise r.fail(top["notes"], f"notes[{i}].text",
                             f"placeholder <<{m[1]}>> names no given value or step")


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
