"""One convention's steps, solved in order: each derivation unfolded and its stated lines and
form proven, each symbolic step written out in the order it was written, each number computed
from the exact givens (solver.numbers).

A step is worked in names first: `diff(f, v)` is derived rule by rule (solver.derive; a
piecewise part first put on the branch the values or the answer's `where` choose,
solver.branches), its stated lines (`via`) and closed form (`form`) are proven equal to it, with
the spec's assumptions. Numbers are put in only at the end.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import sympy

from core.errors import DlhwError
from solver import branches, rewrite
from solver.derive import DerivationError, DStep, derive, has_diff, unevaluated, value
from solver.expr import Formula, from_sympy, symbol, to_sympy
from solver.identity import AssumptionError, Solved, identical, solve_assumptions
from solver.numbers import Num, NumberError, settle, show, to_mpf
from solver.numbers import evaluate as evaluate_exact
from solver.printer import latex_name, render
from solver.spec import Line, Spec, SpecError, Step, located


class ValueProblem(DlhwError, ValueError):
    """A step that cannot be worked at these values (named by its spec key)."""

    def __init__(self, key: str, msg: str):
        super().__init__(msg)
        self.key = key


@dataclass
class Worked:
    """One step worked: its lines, SymPy forms and (once the numbers are in) its number."""

    step: Step
    derivation: tuple[DStep, ...]
    final: Formula  # the last line in names: form, last derivation line, or the formula
    raw: sympy.Expr  # the step as computed, earlier steps as names
    symbolic: sympy.Expr  # in the question's vocabulary (helper steps expanded)
    exact: sympy.Expr | None  # with every number put in; None where symbols remain
    expanded: Formula | None = None  # earlier symbolic steps and `at:` values put in, tidied


@dataclass
class State:
    """What the steps solved so far give the next one."""

    spec: Spec
    given: Mapping[str, sympy.Rational]
    sigfigs: int
    assume: Solved = ()
    numbers_exact: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)
    full: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)  # names → base names
    helpers: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)  # → vocabulary
    finals: dict[str, Formula] = field(default_factory=dict)  # step id → its last line
    inline: set[str] = field(default_factory=set)  # steps written out where used (no number)
    formulas: dict[str, Formula] = field(default_factory=dict)  # numeric steps' formulas
    _numbers: tuple[int, dict[str, Num]] | None = None

    def numbers(self) -> dict[str, Num]:
        """The values of the numeric steps so far (computed once per count of steps)."""
        if self._numbers is None or self._numbers[0] != len(self.formulas):
            self._numbers = (len(self.formulas), compute(self, self.formulas))
        return self._numbers[1]


def assumptions(spec: Spec) -> Solved:
    eqs = [to_sympy(c.formula) - c.bound for c in spec.assumptions]
    try:
        return solve_assumptions(eqs)
    except AssumptionError as exc:
        raise located(spec, "assumptions", str(exc)) from None


def compute(state: State, formulas: Mapping[str, Formula]) -> dict[str, Num]:
    """Every numeric step's value, certain to `sigfigs` figures (see solver.numbers)."""
    start: dict[str, Num] = {k: Fraction(int(v.p), int(v.q)) for k, v in state.given.items()}

    def run() -> dict[str, Num]:
        values = dict(start)
        for sid, formula in formulas.items():
            try:
                values[sid] = evaluate_exact(formula, values)
            except NumberError as exc:
                raise ValueProblem(f"steps.{sid}.formula", f"{sid} cannot be computed at these "
                                   f"values: {exc}") from None
        return values

    try:
        return settle(run, state.sigfigs, list(formulas))
    except NumberError as exc:
        raise ValueProblem(f"steps.{next(iter(formulas), '')}", str(exc)) from None


def _prove(state: State, key: str, before: Formula, after: Formula) -> str:
    """Prove `after` equal to `before` (names expanded); the assumptions it needed, as text
    for its rule ('' when it holds for all values)."""
    left, right = value(before, state.full), value(after, state.full)
    if identical(left, right):
        return ""
    if state.assume and identical(left, right, state.assume):
        # Name the one assumption that suffices, else all of them (later ones are solved
        # with the earlier ones substituted, so alone they may not be enough).
        alone = [c for c, solved in zip(state.spec.assumptions, state.assume)
                 if identical(left, right, (solved,))]
        used = alone[:1] or list(state.spec.assumptions)
        return ", ".join(f"${_math(state, c.formula)} = {c.bound}$" for c in used)
    raise located(state.spec, key, f"{after.text!r} is not equal to {before.text!r}")


def _defs(state: State, formula: Formula) -> tuple[tuple[str, str, str], ...]:
    """The earlier steps a line depends on (transitively), in step order, for solver.derive."""
    wanted: set[str] = set()
    todo = [n for n in formula.names if n in state.finals]
    while todo:
        n = todo.pop()
        if n not in wanted:
            wanted.add(n)
            todo += [m for m in state.finals[n].names if m in state.finals]
    names = state.spec.latex
    return tuple((n, state.finals[n].text, names.get(n) or latex_name(n))
                 for n in state.finals if n in wanted)


def _math(state: State, formula: Formula | ast.expr) -> str:
    f = formula if isinstance(formula, Formula) else rewrite.rebuild(formula)
    return render(f, True, names=state.spec.latex, inline=True)


def _branch_rule(state: State, tests: list[ast.expr], where: branches.Branch | None) -> str:
    """'on the branch z > 0': the answer's declared branch, or the tests the values pass."""
    if where is not None:
        name = Formula(str(where.var), ast.Name(str(where.var), ast.Load()))
        op = ">" if where.positive else "<"
        return f"on the branch ${_math(state, name)} {op} {where.bound}$"
    conds = branches.readable(tests)
    text = ", ".join(f"${_math(state, c)}$" for c in conds)
    numbers = state.numbers()
    named = sorted({n.id for c in conds for n in ast.walk(c)
                    if isinstance(n, ast.Name) and n.id in numbers})
    here = ", ".join(f"${_math(state, Formula(n, ast.Name(n, ast.Load())))} = "
                     f"{show(numbers[n], state.sigfigs, 'latex')}$" for n in named)
    return f"on the branch {text}" + (f", as {here} here" if here else "")


def _holds(state: State, test: ast.Compare) -> bool | None:
    """A comparison at the values in force: exactly, None when both sides are equal."""
    numbers = state.numbers()
    sides = (test.left, test.comparators[0])
    missing = {n.id for s in sides for n in ast.walk(s) if isinstance(n, ast.Name)} - \
        numbers.keys()
    if missing:
        raise branches.BranchError(f"{ast.unparse(test)}: {', '.join(sorted(missing))} has no "
                                   "value here, so the piece cannot be chosen (a symbolic "
                                   "answer declares its branch: where: 'z > 0')")
    with mpmath.workdps(state.sigfigs + 40):
        try:
            a, b = (evaluate_exact(rewrite.rebuild(s), numbers) for s in sides)
        except NumberError as exc:
            raise branches.BranchError(f"{ast.unparse(test)}: {exc}") from None
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            gap: Num = a - b
        else:
            gap = to_mpf(a) - to_mpf(b)
            if abs(gap) <= max(1, abs(to_mpf(a))) * mpmath.mpf(10) ** -(state.sigfigs + 20):
                gap = Fraction(0)
    if gap == 0:
        return None
    return {ast.Gt: gap > 0, ast.GtE: gap > 0, ast.Lt: gap < 0, ast.LtE: gap < 0}[
        type(test.ops[0])]


def _auto(state: State, step: Step, line: Formula, key: str) -> list[DStep]:
    """The engine's part of a derivation: the branch (if any), then rule after rule."""
    out: list[DStep] = []
    answer = state.spec.answers.get(step.id)
    where = answer.where if answer is not None and answer.kind == "symbolic" else None
    branch = branches.Branch(symbol(where.name), where.op in (">", ">="), where.bound) \
        if where else None
    choose = branches.by_branch(branch) if branch else \
        branches.by_values(lambda t: _holds(state, t))
    try:
        restricted = branches.restrict(line, choose)
        if restricted is not None:
            piece, tests = restricted
            # Proven in the line's own names: the branch speaks of them (z, not w·x + b).
            if branch is not None and not identical(branch.restrict(value(line, {})),
                                                    branch.restrict(value(piece, {}))):
                raise located(state.spec, key, f"the branch {branch} does not give {piece.text}")
            out.append(DStep(_branch_rule(state, tests, branch), piece, unevaluated(piece)))
            line = piece
        out += derive(line.text, _defs(state, line))[1:]
    except branches.BranchError as exc:
        if exc.kink:  # the values put the function on its kink: a problem of these values
            raise ValueProblem(key, str(exc)) from None
        raise located(state.spec, key, str(exc)) from None
    except DerivationError as exc:
        raise located(state.spec, key, str(exc)) from None
    return out


def _stated(state: State, line: Line, key: str, before: Formula) -> DStep:
    assert line.formula is not None
    assumed = _prove(state, key, before, line.formula)
    rule = line.rule
    if assumed and line.using is None:  # say what it rests on, if the author did not
        rule = f"{rule}, with {assumed}" if rule else f"with {assumed}"
    if line.using is not None:
        left, right = line.using
        _prove(state, f"{key}.using", left, right)
        identity = f"${_math(state, left)} = {_math(state, right)}$"
        joined = " " if rule.endswith(("and", "since", "with", "by", "as", ":")) else ", "
        rule = f"{rule}{joined}{identity}" if rule else identity
    return DStep(rule, line.formula, unevaluated(line.formula))


def _form_rule(state: State, before: Formula, form: Formula) -> str:
    """What takes the last line to the stated form: the definitions of the earlier steps it
    names (ŷ = wx + b), else simplification."""
    seen = [n.id for n in sorted((n for n in ast.walk(form.tree) if isinstance(n, ast.Name)),
                                 key=lambda n: n.col_offset)]  # in the order they are read
    new = [n for i, n in enumerate(seen) if n not in seen[:i] and n not in before.names
           and n in state.finals]
    if not new:
        return "simplify"
    return ", ".join(f"${_math(state, Formula(n, ast.Name(n, ast.Load())))} = "
                     f"{_math(state, state.finals[n])}$" for n in new)


def _piece(state: State, step: Step) -> tuple[DStep, ...]:
    """A numeric step's piecewise formula, put on the piece its values choose (shown as a
    line: the numbers then go into that piece)."""
    known = state.formulas.keys() | state.given.keys()
    if not step.formula.names <= known:
        return ()
    try:
        restricted = branches.restrict(step.formula, branches.by_values(
            lambda t: _holds(state, t)), everywhere=True)
    except branches.BranchError as exc:
        raise ValueProblem(f"steps.{step.id}.formula", str(exc)) from None
    if restricted is None:
        return ()
    piece, tests = restricted
    return (DStep("", step.formula, unevaluated(step.formula)),
            DStep(_branch_rule(state, tests, None), piece, unevaluated(piece)))


def derivation(state: State, step: Step) -> tuple[DStep, ...]:
    """A step's lines: its formula, the engine's and the stated ones, its form; each proven."""
    key = f"steps.{step.id}"
    if not has_diff(step.formula.tree) and not step.via:
        return _piece(state, step)
    lines = [DStep("", step.formula, unevaluated(step.formula))]
    plan = list(enumerate(step.via))
    if has_diff(step.formula.tree) and all(item.formula is not None for item in step.via):
        plan.insert(0, (-1, Line(None, "derive")))
    for i, item in plan:
        where = f"{key}.via[{i}]" if i >= 0 else f"{key}.formula"
        if item.formula is None:
            lines += _auto(state, step, lines[-1].formula, where)
        else:
            lines.append(_stated(state, item, where, lines[-1].formula))
    if has_diff(lines[-1].formula.tree):
        raise located(state.spec, f"{key}.via", "the derivation ends with a derivative left "
                              "(add 'derive' where the rules should take over)")
    if step.form is not None and step.form.text != lines[-1].formula.text:
        assumed = _prove(state, f"{key}.form", lines[-1].formula, step.form)
        rule = _form_rule(state, lines[-1].formula, step.form)
        lines.append(DStep(f"{rule}, with {assumed}" if assumed else rule, step.form,
                           unevaluated(step.form)))
    return tuple(lines)


def expand(state: State, step: Step, final: Formula) -> Formula | None:
    """`final` with the earlier symbolic steps (and `at:` values) put in, tidied; None when
    nothing is put in."""
    put = {n: state.finals[n].tree for n in final.names if n in state.inline}
    put |= {n: rewrite.number(Fraction(int(v.p), int(v.q))) for n, v in step.at.items()}
    if not put:
        return None
    tree = final.tree
    for _ in range(20):  # a symbolic step may name others: put them in until none is left
        tree = rewrite.substitute(tree, put)
        if not {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & put.keys():
            break
    return rewrite.tidied(tree)


def work(state: State, step: Step) -> Worked:
    """One step, in names (its number comes with the others: see compute)."""
    key = f"steps.{step.id}"
    lines = derivation(state, step)
    final = lines[-1].formula if lines else step.shown
    if step.form is not None and not lines:
        _prove(state, f"{key}.form", step.formula, step.form)
    computed = [d for d in lines if d.formula is not step.form] or lines
    raw = to_sympy(computed[-1].formula if lines else step.formula)
    at = {symbol(k): v for k, v in step.at.items()}
    expanded = expand(state, step, final)
    if expanded is not None:
        if not identical(value(final, state.full).xreplace(at), value(expanded, state.full),
                         state.assume):
            raise located(state.spec, key, f"{expanded.text!r} is not equal to {final.text!r}")
        if at:
            raw, final = to_sympy(expanded), expanded
    shown = to_sympy(final).xreplace(at)
    exact = shown.xreplace(state.numbers_exact)
    if exact.has(sympy.zoo, sympy.oo, sympy.nan, sympy.I):
        raise ValueProblem(f"{key}.formula", f"{step.id} has no finite real value (a division "
                           "by zero?)")
    return Worked(step, lines, final, raw, shown.xreplace(state.helpers),
                  None if exact.free_symbols else exact, expanded)


def record(state: State, w: Worked) -> None:
    """What the next steps may use of this one."""
    sym = symbol(w.step.id)
    state.finals[w.step.id] = w.expanded or w.final
    if w.exact is not None:
        state.numbers_exact[sym] = w.exact
        known = state.formulas.keys() | state.given.keys()
        # A step that is constant though written in names (0·∂L/∂a) is computed from its value.
        state.formulas[w.step.id] = w.final if w.final.names <= known else from_sympy(w.exact)
    if w.exact is None or not state.given:
        state.inline.add(w.step.id)  # symbolic, or a constant of a symbolic question
    if w.step.id not in state.spec.vocabulary:
        state.helpers[sym] = w.symbolic
    state.full[sym] = to_sympy(w.final).xreplace(state.full)


def check_at(state: State, step: Step) -> None:
    """`at:` values, with the givens, must satisfy the assumptions the derivations used."""
    if not step.at:
        return
    values = {symbol(k): v for k, v in {**state.given, **step.at}.items()}
    for cond in state.spec.assumptions:
        lhs = to_sympy(cond.formula).xreplace(values)
        if not lhs.free_symbols and lhs != cond.bound:
            raise located(state.spec, f"steps.{step.id}.at", f"these values break the assumption "
                                  f"{cond.text}")


__all__ = ["SpecError", "State", "ValueProblem", "Worked", "assumptions", "compute",
           "derivation", "record", "work"]
