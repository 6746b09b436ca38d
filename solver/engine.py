"""Turn a spec into a solution: ordered steps, exact answers, alternatives, illustrations.

Each step is worked in names first (solver.stepper: derivations unfolded rule by rule, stated
lines and forms proven, symbolic steps written out in their written order); numbers are put in
only at the end: the values shown come from the exact givens through solver.numbers, and a
float is only the correctly rounded report of such a value.

Errors: a problem of the spec names its file and line (SpecError); a problem of values set on
the command line or drawn for a student starts with the question's id (SolveError), since the
spec is not at fault.
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
from solver import demos, stepper
from solver.derive import DStep, is_diff_call
from solver.expr import MAX_DECADE, MAX_DIGITS, ExprError, Formula, bounded, symbol, to_sympy
from solver.numbers import Num, NumberError, settle, show, to_mpf
from solver.numbers import evaluate as evaluate_exact
from solver.spec import Answer, Condition, Convention, Note, Spec, SpecError, Step, located
from solver.specdata import exact_number


class SolveError(DlhwError, ValueError):
    """Values the question cannot be solved at (set on the command line, or a student's)."""


@dataclass(frozen=True)
class StepResult:
    step: Step
    # None when solved with exact=False (see solve); otherwise:
    raw: sympy.Expr | None  # the step as computed, earlier steps as names
    symbolic: sympy.Expr | None  # in the question's vocabulary (helper steps expanded)
    exact: sympy.Expr | None  # with every number put in; also None when symbols remain
    value: float | None
    number: Num | None = None  # the value as shown: an exact Fraction or a settled mpmath number
    derivation: tuple[DStep, ...] = ()  # its lines, rule by rule (exact solving only)
    expanded: Formula | None = None  # earlier symbolic steps (and `at:` values) put in
    final: Formula | None = None  # its last line in names

    @property
    def id(self) -> str:
        return self.step.id


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    exact: sympy.Expr | None  # the exact number or symbolic expression (None: exact=False)
    value: float | None
    number: Num | None = None
    formula: Formula | None = None  # a symbolic answer as it is shown, in its written order

    @property
    def id(self) -> str:
        return self.answer.id


@dataclass(frozen=True)
class Illustration:
    values: dict[str, Num]  # the case's inputs and what the definitions give, exact
    answers: dict[str, Num]  # each answer whose branch holds at this case, settled


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
    own = values == dict(spec.given)  # the spec's own values: a failure is the spec's
    known = {k: exact_number(v) for k, v in values.items()}
    for i, cond in enumerate((*spec.domain, *spec.assumptions)):
        if cond.formula.names <= known.keys() and not holds(cond, known):
            what = "the question is not defined otherwise" if i < len(spec.domain) else \
                "the derivations assume it"
            _raise(spec, own, "domain" if i < len(spec.domain) else "assumptions",
                   f"expected {cond.text} ({what})")
    try:
        primary = _convention(spec, spec.convention, values, exact, sigfigs)
        alternatives = {name: _convention(spec, conv, values, exact, sigfigs)
                        for name, conv in spec.alternatives.items()}
        illustrations = tuple(_illustrate(spec, primary, case, sigfigs, f"illustration[{i}]")
                              for i, case in enumerate(spec.illustration))
    except stepper.ValueProblem as exc:
        _raise(spec, own, exc.key, str(exc))
    demo = demos.run(spec, values, sigfigs) if spec.demo else None
    known |= {r.id: r.number for r in primary.steps if r.number is not None}
    notes = tuple(n for n in spec.notes if all(holds(c, known) for c in n.when))
    return replace(primary, alternatives=alternatives, illustrations=illustrations, demo=demo,
                   notes=notes)


def _raise(spec: Spec, own: bool, key: str, msg: str) -> None:
    if own:
        raise located(spec, key, msg)
    raise SolveError(f"{spec.id}: {msg}")


def holds(cond: Condition, values: Mapping[str, Num]) -> bool:
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


MAX_MAGNITUDE = sympy.Integer(10) ** MAX_DECADE


def _decimal(spec: Spec, name: str, text: str) -> sympy.Rational:
    """A --set value: a decimal (0.6, -1e-3) or a fraction of two (-2/7), kept exact. Each part
    has at most MAX_DIGITS significant digits and the value is 0 or of a magnitude from 1e-300
    to 1e300: beyond that the arithmetic would run for minutes and print pages."""
    num, slash, den = text.strip().partition("/")
    expected = f"{spec.id}: --set {name}={text[:40]}{'...' * (len(text) > 40)}: expected"
    try:
        parts = [bounded(p.strip(), MAX_DIGITS) for p in ([num, den] if slash else [num])]
    except ExprError as exc:
        what = str(exc).removeprefix("expected ") if str(exc).startswith("expected") else \
            "a number such as 0.6, -1e-3 or -2/7"
        raise SolveError(f"{expected} {what}") from None
    if len(parts) == 2 and not parts[1]:
        raise SolveError(f"{expected} a number such as 0.6, -1e-3 or -2/7 (division by zero)")
    value = sympy.Rational(str(parts[0])) / (sympy.Rational(str(parts[1])) if slash else 1)
    if value and not 1 / MAX_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:
        raise SolveError(f"{expected} 0 or a magnitude from 1e-{MAX_DECADE} to 1e{MAX_DECADE}")
    return value


def expand_definitions(spec: Spec) -> dict[sympy.Symbol, sympy.Expr]:
    """The spec's definitions (a = tanh(z), z = w·x + b), each expanded to the base names
    (a = tanh(w·x + b)): what the solver proves forms with and the grader proves answers with."""
    out: dict[sympy.Symbol, sympy.Expr] = {}
    for name, formula in spec.definitions.items():
        out[symbol(name)] = to_sympy(formula).xreplace(out)
    return out


def _steps(spec: Spec, convention: Convention) -> list[Step]:
    return [replace(s, formula=convention.steps[s.id], form=None, via=())
            if s.id in convention.steps else s for s in spec.steps]


def _arithmetic_only(spec: Spec, steps: list[Step]) -> bool:
    """No symbols to keep, no derivative to take, no closed form to prove."""
    return not spec.vocabulary and not spec.definitions and all(
        s.form is None and not s.via and not s.at and not is_diff(s.formula) for s in steps)


def is_diff(formula: Formula) -> bool:
    return any(is_diff_call(n) for n in ast.walk(formula.tree))


def _float(spec: Spec, sid: str, number: Num) -> float:
    value = float(to_mpf(number))
    if not math.isfinite(value):
        raise stepper.ValueProblem(f"steps.{sid}", f"{sid} is beyond the range of a double "
                                   "(about 1.8e308) at these values")
    return value


def _convention(spec: Spec, convention: Convention, given: Mapping[str, sympy.Rational],
                exact: bool = True, sigfigs: int = SIGFIGS) -> Solution:
    steps = _steps(spec, convention)
    state = stepper.State(spec, given, sigfigs)
    if not exact and _arithmetic_only(spec, steps):
        numbers = stepper.compute(state, {s.id: s.formula for s in steps})
        results = tuple(StepResult(s, None, None, None, _float(spec, s.id, numbers[s.id]),
                                   numbers[s.id]) for s in steps)
        by_id = {r.id: r for r in results}
        answers = {aid: AnswerResult(a, None, by_id[aid].value, by_id[aid].number)
                   for aid, a in spec.answers.items()}
        return Solution(spec, convention, dict(given), results, answers)
    state.assume = stepper.assumptions(spec)
    state.full = {**expand_definitions(spec)}
    state.numbers_exact = {symbol(k): v for k, v in given.items()}
    worked = []
    for step in steps:
        stepper.check_at(state, step)
        w = stepper.work(state, step)
        stepper.record(state, w)
        worked.append(w)
    numbers = state.numbers() if state.formulas else {}
    results = tuple(
        StepResult(w.step, w.raw, w.symbolic, w.exact,
                   _float(spec, w.step.id, numbers[w.step.id]) if w.step.id in numbers
                   and w.step.id in state.formulas else None,
                   numbers.get(w.step.id) if w.step.id in state.formulas else None,
                   w.derivation, w.expanded, w.final)
        for w in worked)
    return Solution(spec, convention, dict(given), results,
                    _answers(spec, results, numbers, given))


def _answers(spec: Spec, results: tuple[StepResult, ...], numbers: Mapping[str, Num],
             given: Mapping[str, sympy.Rational]) -> dict[str, AnswerResult]:
    by_id = {r.id: r for r in results}
    out = {}
    for aid, answer in spec.answers.items():
        r = by_id[aid]
        if answer.kind == "numeric" and r.exact is None:
            assert r.symbolic is not None
            put = {symbol(k): v for k, v in given.items()}
            unknown = {str(s) for s in r.symbolic.xreplace(put).free_symbols}
            raise located(spec, f"answers.{aid}", f"declared numeric but depends on "
                            f"{', '.join(sorted(unknown))}")
        if answer.kind == "numeric":
            if answer.where is not None:
                _check_where(spec, answer, numbers)
            out[aid] = AnswerResult(answer, r.exact, r.value, r.number)
        else:
            out[aid] = AnswerResult(answer, r.symbolic, None, formula=r.expanded or r.final)
    return out


def _check_where(spec: Spec, answer: Answer, numbers: Mapping[str, Num]) -> None:
    """A numeric answer's declared branch must hold at the values: never used silently."""
    where = answer.where
    assert where is not None
    at = numbers.get(where.name)
    if at is None:
        raise located(spec, f"answers.{answer.id}.where", f"{where.name} has no value here")
    with mpmath.workdps(60):
        if not where.holds(at):
            raise stepper.ValueProblem(
                f"answers.{answer.id}.where", f"{answer.id} is declared for {where}, but here "
                f"{where.name} = {show(at, SIGFIGS)}")


def _illustrate(spec: Spec, solution: Solution, case: Mapping[str, sympy.Rational],
                sigfigs: int, key: str) -> Illustration:
    """One numeric illustration of the symbolic answers, computed exactly as the steps are."""
    start: dict[str, Num] = {k: exact_number(v) for k, v in case.items()}
    wanted = {aid: a for aid, a in solution.answers.items() if a.formula is not None}

    def run() -> dict[str, Num]:
        values = dict(start)
        for name, formula in spec.definitions.items():
            if name not in case:
                values[name] = evaluate_exact(formula, values)
        for aid, ans in wanted.items():
            where = ans.answer.where
            if where is None or where.holds(values[where.name]):
                assert ans.formula is not None
                values[f"answer:{aid}"] = evaluate_exact(ans.formula, values)
        return values

    try:
        values = settle(run, sigfigs)
    except NumberError as exc:
        raise located(spec, key, str(exc)) from None
    except KeyError as exc:
        raise located(spec, key, f"{exc.args[0]} has no value in this case") from None
    shown = {k: v for k, v in values.items() if not k.startswith("answer:")}
    return Illustration(shown, {k.removeprefix("answer:"): v for k, v in values.items()
                                if k.startswith("answer:")})


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
           "parse_assignments", "expand_definitions", "holds"]
