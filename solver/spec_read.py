"""Reading one spec's sections from YAML nodes into solver.specdata's objects.

Every failure names the file, the line and the field (core.yamlnodes); every part records its
line in `lines`, so errors found later, while solving, can name it too.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path

import sympy
import yaml

from core.yamlnodes import NodeReader
from solver.expr import ExprError, Formula, bounded, exact, parse
from solver.specdata import (
    Answer,
    AnswerTolerance,
    Condition,
    Convention,
    Line,
    Note,
    Step,
    Variation,
    Where,
)

_CONDITION_RE = re.compile(r"\s*(.+?)\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:[eE][-+]?\d+)?)\s*")
_WHERE_RE = re.compile(r"\s*([A-Za-z]\w*)\s*(>=|<=|>|<)\s*(-?[\d.]+)\s*")
_ANSWER_KEYS = {"text", "where", "weight", "tolerance", "aliases", "bound"}


class Reader(NodeReader):
    """NodeReader plus what specs hold: exact rationals, formulas, and the line of each part."""

    def __init__(self, path: Path, error_type: type[ValueError]):
        super().__init__(path, error_type)
        self.lines: dict[str, int] = {}

    def mark(self, node: yaml.Node, key: str) -> None:
        self.lines[key] = node.start_mark.line + 1

    def number(self, node: yaml.Node, where: str, lo: float | None = None,
               hi: float | None = None) -> Fraction:
        if self.is_number(node):
            try:
                bounded(node.value)  # before Fraction builds 10**99999999
            except ExprError as exc:
                raise self.fail(node, where, str(exc)) from None
        return super().number(node, where, lo, hi)

    def integer(self, node: yaml.Node, where: str) -> int:
        if isinstance(node, yaml.ScalarNode) and len(node.value) > 12:
            raise self.fail(node, where, "expected an integer of at most 12 digits")
        return super().integer(node, where)

    def rational(self, node: yaml.Node, where: str) -> sympy.Rational:
        value = self.number(node, where)
        return sympy.Rational(value.numerator, value.denominator)

    def formula(self, node: yaml.Node, where: str, derivatives: bool = True) -> Formula:
        """A formula; `derivatives=False` where a diff has no place (a form, a definition)."""
        text = node.value if self.is_number(node) else self.string(node, where)
        try:
            formula = parse(text)
            check_diff(formula, allowed=derivatives)
        except ExprError as exc:
            raise self.fail(node, where, str(exc)) from None
        self.mark(node, where)
        return formula

    def condition(self, node: yaml.Node, where: str, ops: str = ">=,<=,==,!=,>,<") -> Condition:
        text = self.string(node, where)
        m = _CONDITION_RE.fullmatch(text)
        if not m or m[2] not in ops.split(","):
            shown = " or ".join(ops.split(","))
            raise self.fail(node, where, f"expected a condition such as 'loss_new == 0' "
                            f"(EXPR {shown} NUMBER)")
        try:
            formula = parse(m[1])
            check_diff(formula, allowed=False)
            cond = Condition(text, formula, m[2], exact(m[3]))
        except ExprError as exc:
            raise self.fail(node, where, str(exc)) from None
        self.mark(node, where)
        return cond


def check_diff(formula: Formula, allowed: bool = True) -> None:
    """diff(f, v) takes a formula and a plain name, and is not nested in another diff."""
    for node in ast.walk(formula.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "diff":
            if not allowed:
                raise ExprError("diff is for a step's formula and its stated lines only")
            if len(node.args) != 2 or not isinstance(node.args[1], ast.Name):
                shown = ast.get_source_segment(formula.text, node) or "diff(...)"
                raise ExprError(f"{shown}: expected diff(FORMULA, NAME), a derivative with "
                                "respect to one name")
            if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                   and n.func.id == "diff" for n in ast.walk(node.args[0])):
                raise ExprError("a diff inside a diff: write the inner derivative as a step")


# ---------------------------------------------------------------- one reader per section


def given(r: Reader, node: yaml.Node) -> dict[str, sympy.Rational]:
    out = {}
    for k, v in r.pairs(node, "given"):
        out[k] = r.rational(v, f"given.{k}")
        r.mark(v, f"given.{k}")
    return out


def steps(r: Reader, node: yaml.Node, known: dict[str, sympy.Rational]) -> tuple[Step, ...]:
    out: list[Step] = []
    for i, snode in enumerate(r.seq(node, "steps")):
        where = f"steps[{i}]"
        m = r.mapping(snode, where, {"id", "text", "formula"}, {"form", "via", "at"})
        sid = r.ident(m["id"], f"{where}.id")
        if sid in known or any(s.id == sid for s in out):
            raise r.fail(m["id"], f"{where}.id", f"{sid!r} is defined twice")
        key = f"steps.{sid}"
        r.mark(snode, key)
        out.append(Step(
            sid, r.string(m["text"], f"{where}.text"), r.formula(m["formula"], f"{key}.formula"),
            r.formula(m["form"], f"{key}.form", derivatives=False) if "form" in m else None,
            _via(r, m["via"], f"{key}.via") if "via" in m else (),
            _at(r, m["at"], f"{key}.at") if "at" in m else {}))
    return tuple(out)


def _via(r: Reader, node: yaml.Node, where: str) -> tuple[Line, ...]:
    lines: list[Line] = []
    for i, lnode in enumerate(r.seq(node, where)):
        key = f"{where}[{i}]"
        r.mark(lnode, key)
        if isinstance(lnode, yaml.ScalarNode) and lnode.value == "derive":
            lines.append(Line(None, "derive"))
            continue
        m = r.mapping(lnode, key, {"formula"}, {"rule", "using"})
        using = _identity(r, m["using"], f"{key}.using") if "using" in m else None
        if "rule" not in m and using is None:
            raise r.fail(lnode, key, "expected a rule or an identity it uses (rule: or using:)")
        lines.append(Line(r.formula(m["formula"], f"{key}.formula"),
                          r.string(m["rule"], f"{key}.rule") if "rule" in m else "", using))
    if sum(line.formula is None for line in lines) > 1:
        raise r.fail(node, where, "'derive' may appear once")
    return tuple(lines)


def _identity(r: Reader, node: yaml.Node, where: str) -> tuple[Formula, Formula]:
    left, sep, right = r.string(node, where).partition("=")
    if not sep or "=" in right or not left.strip() or not right.strip():
        raise r.fail(node, where, "expected an identity LEFT = RIGHT, e.g. "
                     "'1 - sigmoid(z) = exp(-z)/(1 + exp(-z))'")
    try:
        pair = parse(left.strip()), parse(right.strip())
        for side in pair:
            check_diff(side, allowed=False)
    except ExprError as exc:
        raise r.fail(node, where, str(exc)) from None
    r.mark(node, where)
    return pair


def _at(r: Reader, node: yaml.Node, where: str) -> dict[str, sympy.Rational]:
    values = {k: r.rational(v, f"{where}.{k}") for k, v in r.pairs(node, where)}
    if not values:
        raise r.fail(node, where, "expected NAME: NUMBER pairs")
    r.mark(node, where)
    return values


def answers(r: Reader, node: yaml.Node, step_list: tuple[Step, ...], marks: int
            ) -> dict[str, Answer]:
    text_of = {s.id: s.text for s in step_list}
    out: dict[str, Answer] = {}
    declared: dict[str, Fraction] = {}
    for aid, anode in r.pairs(node, "answers"):
        where = f"answers.{aid}"
        r.mark(anode, where)
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
        out[aid] = Answer(
            aid, kind, r.string(m["text"], f"{where}.text") if "text" in m else text_of[aid],
            _where(r, m["where"], f"{where}.where") if "where" in m else None,
            tolerance=_tolerance(r, m["tolerance"], f"{where}.tolerance")
            if "tolerance" in m else AnswerTolerance(),
            aliases=tuple(r.string(n, f"{where}.aliases")
                          for n in r.seq(m["aliases"], f"{where}.aliases"))
            if "aliases" in m else (),
            bound=r.boolean(m["bound"], f"{where}.bound") if "bound" in m else False)
    weights = _weights(r, node, declared, list(out), marks)
    return {aid: Answer(a.id, a.kind, a.text, a.where, weights[aid], a.tolerance, a.aliases,
                        a.bound) for aid, a in out.items()}


def _where(r: Reader, node: yaml.Node, where: str) -> Where:
    wm = _WHERE_RE.fullmatch(r.string(node, where))
    if not wm:
        raise r.fail(node, where, "expected a condition such as 'z > 0'")
    try:
        bound = exact(wm[3])
    except ExprError as exc:
        raise r.fail(node, where, str(exc)) from None
    r.mark(node, where)
    return Where(wm[1], wm[2], bound)


def _tolerance(r: Reader, node: yaml.Node, where: str) -> AnswerTolerance:
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


def _weights(r: Reader, node: yaml.Node, declared: dict[str, Fraction], ids: list[str],
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


def convention(r: Reader, node: yaml.Node, where: str, name: str | None,
               step_ids: set[str]) -> Convention:
    m = r.mapping(node, where, {"text"} | ({"name"} if name is None else set()), {"steps"})
    r.mark(node, where)
    overrides: dict[str, Formula] = {}
    if "steps" in m:
        for sid, fnode in r.pairs(m["steps"], f"{where}.steps"):
            if sid not in step_ids:
                raise r.fail(fnode, f"{where}.steps.{sid}", "not a step of this question")
            overrides[sid] = r.formula(fnode, f"{where}.steps.{sid}")
    cname = name if name is not None else r.ident(m["name"], f"{where}.name")
    return Convention(cname, r.string(m["text"], f"{where}.text"), overrides)


def alternatives(r: Reader, node: yaml.Node, step_ids: set[str]) -> dict[str, Convention]:
    return {name: convention(r, cnode, f"alternatives.{name}", name, step_ids)
            for name, cnode in r.pairs(node, "alternatives")}


def vocabulary(r: Reader, node: yaml.Node) -> tuple[str, ...]:
    return tuple(r.ident(n, "vocabulary") for n in r.seq(node, "vocabulary"))


def definitions(r: Reader, node: yaml.Node) -> dict[str, Formula]:
    return {k: r.formula(v, f"definitions.{k}", derivatives=False)
            for k, v in r.pairs(node, "definitions")}


def losses(r: Reader, node: yaml.Node) -> dict[str, dict[str, Formula]]:
    return {name: {k: r.formula(v, f"losses.{name}.{k}") for k, v in r.pairs(m, f"losses.{name}")}
            for name, m in r.pairs(node, "losses")}


def latex(r: Reader, node: yaml.Node) -> dict[str, str]:
    return {k: r.string(v, f"latex.{k}") for k, v in r.pairs(node, "latex")}


def notes(r: Reader, node: yaml.Node) -> tuple[Note, ...]:
    out: list[Note] = []
    for i, nnode in enumerate(r.seq(node, "notes")):
        r.mark(nnode, f"notes[{i}]")
        if isinstance(nnode, yaml.MappingNode):
            m = r.mapping(nnode, f"notes[{i}]", {"text", "when"}, set())
            whens = m["when"].value if isinstance(m["when"], yaml.SequenceNode) else [m["when"]]
            out.append(Note(r.string(m["text"], f"notes[{i}].text"),
                            tuple(r.condition(w, f"notes[{i}].when") for w in whens)))
        else:
            out.append(Note(r.string(nnode, f"notes[{i}]")))
    return tuple(out)


def conditions(name: str, ops: str = ">=,<=,==,!=,>,<"):
    """A reader for a list of conditions (domain, assumptions, constraints)."""
    def read(r: Reader, node: yaml.Node) -> tuple[Condition, ...]:
        return tuple(r.condition(n, f"{name}[{i}]", ops)
                     for i, n in enumerate(r.seq(node, name)))
    return read


def illustration(r: Reader, node: yaml.Node) -> tuple[dict[str, sympy.Rational], ...]:
    out = []
    for i, c in enumerate(r.seq(node, "illustration")):
        r.mark(c, f"illustration[{i}]")
        out.append({k: r.rational(v, f"illustration[{i}].{k}")
                    for k, v in r.pairs(c, f"illustration[{i}]")})
    return tuple(out)


def demo(r: Reader, node: yaml.Node) -> dict[str, sympy.Rational | str]:
    out: dict[str, sympy.Rational | str] = {}
    r.mark(node, "demo")
    for k, v in r.pairs(node, "demo"):
        r.mark(v, f"demo.{k}")
        is_text = isinstance(v, yaml.ScalarNode) and v.tag == "tag:yaml.org,2002:str"
        out[k] = r.string(v, f"demo.{k}") if is_text else r.rational(v, f"demo.{k}")
    if "rule" not in out:
        raise r.fail(node, "demo.rule", "missing required field")
    return out


def variants(r: Reader, node: yaml.Node, known: dict[str, sympy.Rational]
             ) -> dict[str, Variation]:
    out: dict[str, Variation] = {}
    for k, v in r.pairs(node, "variants"):
        if k not in known:
            raise r.fail(v, f"variants.{k}", "not a given value of this question")
        m = r.mapping(v, f"variants.{k}", {"min", "max", "step"}, {"decimals"})
        lo, hi, step = (r.rational(m[f], f"variants.{k}.{f}") for f in ("min", "max", "step"))
        decimals = r.integer(m["decimals"], f"variants.{k}.decimals") if "decimals" in m \
            else None
        if lo > hi or step <= 0 or (decimals is not None and not 0 <= decimals <= 12):
            raise r.fail(v, f"variants.{k}", "expected min <= max, step > 0 and decimals "
                         "from 0 to 12")
        if (hi - lo) / step > 10**6:
            raise r.fail(v, f"variants.{k}", "expected at most a million values")
        out[k] = Variation(lo, hi, step, decimals)
    return out
