"""Turn a spec into a solution: ordered steps, exact answers, alternatives, illustrations.

Each step's formula is built in SymPy with every name as a plain symbol (so `diff((y - a)**2, a)`
differentiates with respect to `a`); a `diff(f, z)` step is derived rule by rule
(solver.derive), and its stated closed form is proven equal to it. Numbers are put in only at
the end: the values shown come from the exact givens through solver.numbers, and a float is
only the correctly rounded report of such a value.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction

import mpmath
import sympy

from core.errors import DlhwError
from core.numfmt import SIGFIGS
from solver import demos
from solver.derive import Branch, DerivationError, DStep, derive
from solver.expr import ExprError, Formula, exact, from_sympy, symbol, to_sympy
from solver.identity import identical
from solver.numbers import Num, NumberError, settle, to_mpf
from solver.numbers import evaluate as evaluate_exact
from solver.spec import Answer, Condition, Convention, Note, Spec, SpecError, Step


class SolveError(DlhwError, ValueError):
    """The spec parses but cannot be solved (an unproven form, an unknown override...)."""


@dataclass(frozen=True)
class StepResult:
    step: Step
    # None when solved with exact=False (see solve); otherwise:
    raw: sympy.Expr | None  # the formula as computed, names as symbols
    symbolic: sympy.Expr | None  # in the question's vocabulary (helper steps expanded)
    exact: sympy.Expr | None  # with every number put in; also None when symbols remain
    value: float | None
    number: Num | None = None  # the value as shown: an exact Fraction or a settled mpmath number
    derivation: tuple[DStep, ...] = ()  # diff(f, z) unfolded rule by rule (exact solving only)

    @property
    def id(self) -> str:
        return self.step.id


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    exact: sympy.Expr | None  # the exact number or symbolic expression (None: exact=False)
    value: float | None
    number: Num | None = None

    @property
    def id(self) -> str:
        return self.answer.id


@dataclass(frozen=True)
class Illustration:
    values: dict[str, sympy.Expr]  # the case's inputs and what the definitions give
    answers: dict[str, float]  # each answer whose branch holds at this case


@dataclass(frozen=True)
class Solution:
    spec: Spec
    convention: Convention
    given: dict[str, sympy.Rational]
    steps: tuple[StepResult, ...]
    answers: dict[str, AnswerResult]
    alternatives: dict[str, Solution] = field(default_factory=dict)
    illustrations: tuple[Illustration, ...] = ()
    demo: demos.DemoTable | None = None
    notes: tuple[Note, ...] = ()  # the spec's notes whose conditions hold at these values

    def step(self, sid: str) -> StepResult:
        return next(s for s in self.steps if s.id == sid)


def solve(spec: Spec, overrides: Mapping[str, str] | None = None,
          given: Mapping[str, sympy.Rational] | None = None, exact: bool = True,
          sigfigs: int = SIGFIGS) -> Solution:
    """Solve `spec` in its primary convention and in every alternative.

    `overrides` maps given names to decimal text (`--set x1=0.6`); `given` replaces the given
    values wholesale (a student's variant). `exact=False` lets a question that is plain
    arithmetic skip SymPy (its `raw`, `symbolic` and `exact` stay None): printing needs only
    the numbers, and building SymPy objects is most of a cold `dlhw solve q1`. `sigfigs` is the
    number of significant figures every shown value must be certain to.
    """
    values = dict(given) if given is not None else dict(spec.given)
    for name, text in (overrides or {}).items():
        if name not in spec.given:
            valid = ", ".join(spec.given) or "none"
            raise SolveError(f"{spec.id}: unknown given value {name!r} (valid names: {valid})")
        values[name] = _decimal(spec, name, text)
    for cond in spec.domain:
        if not _holds(cond, {k: Fraction(int(v.p), int(v.q)) for k, v in values.items()}):
            raise SolveError(f"{spec.id}: expected {cond.text} (the question is not defined "
                             "otherwise)")
    primary = _solve_convention(spec, spec.convention, values, exact, sigfigs)
    alternatives = {name: _solve_convention(spec, conv, values, exact, sigfigs)
                    for name, conv in spec.alternatives.items()}
    illustrations = tuple(_illustrate(spec, primary, case) for case in spec.illustration)
    demo = demos.run(spec, values, sigfigs) if spec.demo else None
    known = {k: Fraction(int(v.p), int(v.q)) for k, v in values.items()}
    known |= {r.id: r.number for r in primary.steps if r.number is not None}
    notes = tuple(n for n in spec.notes if all(_holds(c, known) for c in n.when))
    return replace(primary, alternatives=alternatives, illustrations=illustrations, demo=demo,
                   notes=notes)


def _holds(cond: Condition, values: Mapping[str, Num]) -> bool:
    """Whether `cond` holds at `values` (exactly where the values are rational)."""
    if not cond.formula.names <= values.keys():
        return False  # it speaks of a symbolic step: no number to judge
    with mpmath.workdps(60):
        try:
            lhs = evaluate_exact(cond.formula, values)
        except NumberError:
            return False
        bound = Fraction(int(cond.bound.p), int(cond.bound.q))
        if not isinstance(lhs, Fraction):
            lhs, bound = to_mpf(lhs), to_mpf(bound)
        return {">": lhs > bound, ">=": lhs >= bound, "<": lhs < bound, "<=": lhs <= bound,
                "==": lhs == bound, "!=": lhs != bound}[cond.op]


MAX_MAGNITUDE = sympy.Integer(10) ** 300


def _decimal(spec: Spec, name: str, text: str) -> sympy.Rational:
    """A --set value: a decimal (0.6, -1e-3) or a fraction of two (-2/7), kept exact."""
    num, slash, den = text.strip().partition("/")
    try:
        value = exact(num.strip()) / (exact(den.strip()) if slash else 1)
    except (ExprError, ZeroDivisionError):
        raise SolveError(f"{spec.id}: --set {name}={text}: expected a number such as 0.6, "
                         "-1e-3 or -2/7") from None
    if value.is_zero is None or not value.is_finite:
        raise SolveError(f"{spec.id}: --set {name}={text}: expected a number such as 0.6, "
                         "-1e-3 or -2/7")
    if abs(value) > MAX_MAGNITUDE:
        raise SolveError(f"{spec.id}: --set {name}={text}: expected a magnitude of at most 1e300")
    return value


def expand_definitions(spec: Spec) -> dict[sympy.Symbol, sympy.Expr]:
    """The spec's definitions (a = tanh(z), z = w·x + b), each expanded to the base names
    (a = tanh(w·x + b)): what the solver proves forms with and the grader proves answers with."""
    out: dict[sympy.Symbol, sympy.Expr] = {}
    for name, formula in spec.definitions.items():
        out[symbol(name)] = to_sympy(formula).xreplace(out)
    return out


def _steps(spec: Spec, convention: Convention) -> list[Step]:
    return [replace(s, formula=convention.steps[s.id], form=None) if s.id in convention.steps
            else s for s in spec.steps]


def _arithmetic_only(spec: Spec, steps: list[Step]) -> bool:
    """No symbols to keep, no derivative to take, no closed form to prove."""
    return not spec.vocabulary and not spec.definitions and all(
        s.form is None and not is_diff(s.formula) for s in steps)


def is_diff(formula: Formula) -> bool:
    return "diff" in {n.func.id for n in ast.walk(formula.tree)
                      if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _derivation(spec: Spec, step: Step) -> tuple[DStep, ...]:
    """The rule-by-rule derivation of a step whose formula is diff(f, v); () for other steps."""
    tree = step.formula.tree
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)
            and tree.func.id == "diff" and len(tree.args) == 2
            and isinstance(tree.args[1], ast.Name)):
        return ()
    f = to_sympy(Formula(step.formula.text, tree.args[0]))
    var = symbol(tree.args[1].id)
    answer = spec.answers.get(step.id)
    where = answer.where if answer is not None else None
    branch = Branch(symbol(where.name), where.op in (">", ">="), where.bound) if where else None
    try:
        return derive(f, var, branch)
    except DerivationError as exc:
        raise SolveError(f"{spec.path}: steps.{step.id}.formula: {exc}") from None


def _numbers(spec: Spec, formulas: Mapping[str, Formula], given: Mapping[str, sympy.Rational],
             sigfigs: int) -> dict[str, Num]:
    """Every numeric step's value, certain to `sigfigs` figures (see solver.numbers)."""
    start: dict[str, Num] = {k: Fraction(int(v.p), int(v.q)) for k, v in given.items()}

    def compute() -> dict[str, Num]:
        values = dict(start)
        for sid, formula in formulas.items():
            try:
                values[sid] = evaluate_exact(formula, values)
            except NumberError as exc:
                raise SolveError(f"{spec.id}: {sid} cannot be computed at these values: {exc}"
                                 ) from None
        return values

    try:
        return settle(compute, sigfigs, list(formulas))
    except NumberError as exc:
        raise SolveError(f"{spec.id}: {exc}") from None


def _float(spec: Spec, sid: str, number: Num) -> float:
    value = float(to_mpf(number))
    if not math.isfinite(value):
        raise SolveError(f"{spec.id}: {sid} is beyond the range of a double (about 1.8e308) "
                         "at these values")
    return value


def _solve_convention(spec: Spec, convention: Convention, given: Mapping[str, sympy.Rational],
                      exact: bool = True, sigfigs: int = SIGFIGS) -> Solution:
    steps = _steps(spec, convention)
    if not exact and _arithmetic_only(spec, steps):
        numbers = _numbers(spec, {s.id: s.formula for s in steps}, given, sigfigs)
        results = tuple(StepResult(s, None, None, None, _float(spec, s.id, numbers[s.id]),
                                   numbers[s.id]) for s in steps)
        answers = {aid: AnswerResult(a, None, results[i].value, results[i].number)
                   for aid, a in spec.answers.items()
                   for i in [next(j for j, s in enumerate(steps) if s.id == aid)]}
        return Solution(spec, convention, dict(given), results, answers)
    exact_numbers: dict[sympy.Symbol, sympy.Expr] = {symbol(k): v for k, v in given.items()}
    vocabulary = {symbol(n) for n in spec.vocabulary}
    helpers: dict[sympy.Symbol, sympy.Expr] = {}  # non-vocabulary steps, for expansion
    full: dict[sympy.Symbol, sympy.Expr] = expand_definitions(spec)  # everything, for proofs
    partial: list[tuple[Step, sympy.Expr, sympy.Expr, sympy.Expr | None, tuple]] = []
    formulas: dict[str, Formula] = {}  # what each numeric step's value is computed from
    for step in steps:
        derivation = _derivation(spec, step)
        raw = derivation[-1].expr if derivation else to_sympy(step.formula)
        shown = raw
        if step.form is not None:
            shown = to_sympy(step.form)
            _prove_equal(spec, step, raw, shown, full)
        sym = symbol(step.id)
        symbolic = shown.xreplace(helpers)
        exact_value = shown.xreplace(exact_numbers)
        if exact_value.free_symbols:
            exact_value = None
        else:
            exact_numbers[sym] = exact_value
            formula = step.form or (from_sympy(raw) if is_diff(step.formula)
                                    else step.formula)
            # A symbolic step that happens to be constant (0·∂L/∂a) is computed from its value.
            known = formulas.keys() | given.keys()
            formulas[step.id] = formula if formula.names <= known else from_sympy(exact_value)
        if sym not in vocabulary:
            helpers[sym] = symbolic
        full[sym] = shown.xreplace(full)
        partial.append((step, raw, symbolic, exact_value, derivation))
    numbers = _numbers(spec, formulas, given, sigfigs) if formulas else {}
    results = tuple(
        StepResult(step, raw, symbolic, exact_value,
                   _float(spec, step.id, numbers[step.id]) if step.id in formulas else None,
                   numbers.get(step.id), derivation)
        for step, raw, symbolic, exact_value, derivation in partial)
    by_id = {r.id: r for r in results}
    answers = {}
    for aid, answer in spec.answers.items():
        r = by_id[aid]
        if answer.kind == "numeric" and r.exact is None:
            assert r.symbolic is not None
            unknown = r.symbolic.xreplace({symbol(k): v for k, v in given.items()}).free_symbols
            raise SolveError(f"{spec.path}: answers.{aid}: declared numeric but depends on "
                             f"{', '.join(sorted(map(str, unknown)))}")
        if answer.kind == "numeric":
            answers[aid] = AnswerResult(answer, r.exact, r.value, r.number)
        else:
            answers[aid] = AnswerResult(answer, r.symbolic, None)
    return Solution(spec, convention, dict(given), results, answers)


def _prove_equal(spec: Spec, step: Step, raw: sympy.Expr, form: sympy.Expr,
                 full: Mapping[sympy.Symbol, sympy.Expr]) -> None:
    if not identical(raw.xreplace(full), form.xreplace(full)):
        assert step.form is not None
        raise SolveError(f"{spec.path}: steps.{step.id}.form: {step.form.text!r} is not equal "
                         f"to {step.formula.text!r}")


def _to_float(expr: sympy.Expr) -> float:
    value = expr.evalf(30)
    if not value.is_real:
        raise SolveError(f"value {expr} is not a real number")
    return float(value)


def _illustrate(spec: Spec, solution: Solution, case: Mapping[str, sympy.Rational]) -> Illustration:
    numbers: dict[sympy.Symbol, sympy.Expr] = {symbol(k): v for k, v in case.items()}
    shown: dict[str, sympy.Expr] = dict(case)
    for name, formula in spec.definitions.items():
        if name not in case:
            val = to_sympy(formula).xreplace(numbers)
            numbers[symbol(name)] = val
            shown[name] = val
    values: dict[str, float] = {}
    for aid, result in solution.answers.items():
        cond = result.answer.where
        if cond is not None:
            point = numbers.get(symbol(cond.name))
            if point is None or not cond.holds(_to_float(point)):
                continue
        assert result.exact is not None
        val = result.exact.xreplace(numbers)
        if not val.free_symbols:
            values[aid] = _to_float(val)
    return Illustration(shown, values)


def parse_assignments(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`('x1=0.6', 'w12=-0.5')` → {'x1': '0.6', 'w12': '-0.5'}."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SolveError(f"--set {item!r}: expected NAME=NUMBER")
        if name.strip() in out:
            raise SolveError(f"--set {name.strip()} is given twice; give each name once")
        out[name.strip()] = value
    return out


__all__ = ["Solution", "StepResult", "AnswerResult", "SolveError", "SpecError", "solve",
           "parse_assignments", "expand_definitions"]
