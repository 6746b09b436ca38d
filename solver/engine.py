"""Turn a spec into a solution: ordered steps, exact answers, alternatives, illustrations.

Each step's formula is built in SymPy with every name as a plain symbol (so `diff((y - a)**2, a)`
differentiates with respect to `a`), its stated closed form is proven equal to it, and numbers
are put in only at the end, exactly. Floats appear only when a value is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache

import sympy

from solver import demos
from solver.errors import DlhwError
from solver.expr import evaluate, symbol, to_sympy
from solver.functions import to_elementary
from solver.spec import Answer, Convention, Spec, SpecError, Step

PRECISION = 4


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

    @property
    def id(self) -> str:
        return self.step.id


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    exact: sympy.Expr | None  # the exact number or symbolic expression (None: exact=False)
    value: float | None

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

    def step(self, sid: str) -> StepResult:
        return next(s for s in self.steps if s.id == sid)


def solve(spec: Spec, overrides: Mapping[str, str] | None = None,
          given: Mapping[str, sympy.Rational] | None = None, exact: bool = True) -> Solution:
    """Solve `spec` in its primary convention and in every alternative.

    `overrides` maps given names to decimal text (`--set x1=0.6`); `given` replaces the given
    values wholesale (a student's variant). `exact=False` lets a question that is plain
    arithmetic skip SymPy (its `raw`, `symbolic` and `exact` stay None): printing needs only
    the floats, and building SymPy objects is most of a cold `dlhw solve q1`.
    """
    values = dict(given) if given is not None else dict(spec.given)
    for name, text in (overrides or {}).items():
        if name not in spec.given:
            valid = ", ".join(spec.given) or "none"
            raise SolveError(f"{spec.id}: unknown given value {name!r} (valid names: {valid})")
        values[name] = _decimal(spec, name, text)
    primary = _solve_convention(spec, spec.convention, values, exact)
    alternatives = {name: _solve_convention(spec, conv, values, exact)
                    for name, conv in spec.alternatives.items()}
    illustrations = tuple(_illustrate(spec, primary, case) for case in spec.illustration)
    demo = demos.run(spec, values) if spec.demo else None
    return replace(primary, alternatives=alternatives, illustrations=illustrations, demo=demo)


def _decimal(spec: Spec, name: str, text: str) -> sympy.Rational:
    from solver.expr import ExprError, exact

    try:
        return exact(text.strip())
    except ExprError:
        raise SolveError(f"{spec.id}: --set {name}={text}: expected a number") from None


def _definitions(spec: Spec) -> dict[sympy.Symbol, sympy.Expr]:
    """The spec's definitions (a = tanh(z), z = w·x + b), each expanded to the base names."""
    out: dict[sympy.Symbol, sympy.Expr] = {}
    for name, formula in spec.definitions.items():
        out[symbol(name)] = to_sympy(formula).subs(out)
    return out


def _steps(spec: Spec, convention: Convention) -> list[Step]:
    return [replace(s, formula=convention.steps[s.id], form=None) if s.id in convention.steps
            else s for s in spec.steps]


def _arithmetic_only(spec: Spec, steps: list[Step]) -> bool:
    """No symbols to keep, no derivative to take, no closed form to prove."""
    return not spec.vocabulary and not spec.definitions and all(
        s.form is None and "diff" not in s.formula.text for s in steps)


def _solve_floats(spec: Spec, convention: Convention, steps: list[Step],
                  given: Mapping[str, sympy.Rational]) -> Solution:
    floats: dict[str, float] = {k: float(v) for k, v in given.items()}
    results = []
    for step in steps:
        floats[step.id] = evaluate(step.formula, floats)
        results.append(StepResult(step, None, None, None, floats[step.id]))
    answers = {aid: AnswerResult(a, None, floats[aid]) for aid, a in spec.answers.items()}
    return Solution(spec, convention, dict(given), tuple(results), answers)


def _solve_convention(spec: Spec, convention: Convention, given: Mapping[str, sympy.Rational],
                      exact: bool = True) -> Solution:
    steps = _steps(spec, convention)
    if not exact and _arithmetic_only(spec, steps):
        return _solve_floats(spec, convention, steps, given)
    numbers: dict[sympy.Symbol, sympy.Expr] = {symbol(k): v for k, v in given.items()}
    floats: dict[str, float] = {k: float(v) for k, v in given.items()}
    vocabulary = {symbol(n) for n in spec.vocabulary}
    definitions = _definitions(spec)
    helpers: dict[sympy.Symbol, sympy.Expr] = {}  # non-vocabulary steps, for expansion
    full: dict[sympy.Symbol, sympy.Expr] = dict(definitions)  # everything, for proofs
    results: list[StepResult] = []
    for step in steps:
        raw = to_sympy(step.formula)
        shown = raw
        if step.form is not None:
            shown = to_sympy(step.form)
            _prove_equal(spec, step, raw, shown, full)
        sym = symbol(step.id)
        symbolic = shown.xreplace(helpers)
        exact_value = shown.xreplace(numbers)
        if exact_value.free_symbols:
            exact_value, value = None, None
        else:
            # Floats from the formula itself where it can be read directly: 20x faster than
            # evalf on the nested exact value, and the tests hold both to 1e-9 of torch.
            direct = "diff" not in step.shown.text and step.shown.names <= floats.keys()
            value = evaluate(step.shown, floats) if direct else _to_float(exact_value)
            numbers[sym] = exact_value
            floats[step.id] = value
        if sym not in vocabulary:
            helpers[sym] = symbolic
        full[sym] = shown.xreplace(full)
        results.append(StepResult(step, raw, symbolic, exact_value, value))
    by_id = {r.id: r for r in results}
    answers = {}
    for aid, answer in spec.answers.items():
        r = by_id[aid]
        if answer.kind == "numeric" and r.exact is None:
            unknown = r.symbolic.xreplace({symbol(k): v for k, v in given.items()}).free_symbols
            raise SolveError(f"{spec.path}: answers.{aid}: declared numeric but depends on "
                             f"{', '.join(sorted(map(str, unknown)))}")
        exact_value = r.exact if answer.kind == "numeric" else r.symbolic
        value = r.value if answer.kind == "numeric" else None
        answers[aid] = AnswerResult(answer, exact_value, value)
    return Solution(spec, convention, dict(given), tuple(results), answers)


def _prove_equal(spec: Spec, step: Step, raw: sympy.Expr, form: sympy.Expr,
                 full: Mapping[sympy.Symbol, sympy.Expr]) -> None:
    if not _identical(raw.xreplace(full), form.xreplace(full)):
        raise SolveError(f"{spec.path}: steps.{step.id}.form: {step.form.text!r} is not equal "
                         f"to {step.formula.text!r}")


@cache
def _identical(left: sympy.Expr, right: sympy.Expr) -> bool:
    # The identity holds for all values, so a class of 500 variants proves it once.
    diff = to_elementary(left - right)
    return diff == 0 or sympy.expand(diff) == 0 or sympy.simplify(diff) == 0


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
        out[name.strip()] = value
    return out


__all__ = ["Solution", "StepResult", "AnswerResult", "SolveError", "SpecError", "solve",
           "parse_assignments"]
