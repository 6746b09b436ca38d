"""A solution as plain data: what the templates render and what `--json` prints.

Everything shown is decided here once (which equalities a step's line chains, how numbers are
rounded), so the LaTeX, Markdown and terminal forms cannot disagree.
"""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sympy

from core.numfmt import SIGFIGS
from solver.demos import FLOAT_SIGFIGS, Figures
from solver.engine import AnswerResult, Solution, StepResult, is_diff
from solver.expr import Formula, from_sympy
from solver.functions import to_elementary
from solver.numbers import Num, show, to_mpf
from solver.plaintext import latex_to_plain
from solver.printer import latex_name, plain_name, render
from solver.rewrite import constant
from solver.spec import PLACEHOLDER_RE, Spec, given_text


def expr_formula(expr: sympy.Expr) -> Formula:
    """A SymPy result as a Formula, so it prints in the same style as the spec's formulas."""
    return from_sympy(expr)


def _decimals(spec: Spec, name: str) -> int | None:
    var = spec.variants.get(name)
    return var.decimals if var else None


def fill(text: str, sol: Solution, sigfigs: int) -> str:
    """<<name>> placeholders filled with the values being solved (LaTeX numbers: the text is
    LaTeX-flavoured; the terminal turns them into Unicode)."""
    numbers = {r.id: r.number for r in sol.steps if r.number is not None}

    def one(m: re.Match) -> str:
        name = m[1]
        if name in sol.given:
            return given_text(sol.given[name], _decimals(sol.spec, name), True)
        return number_text(numbers[name], sigfigs, True) if name in numbers else m[0]

    return PLACEHOLDER_RE.sub(one, text)


def number_text(value: Num | float, sigfigs: int, latex: bool) -> str:
    return show(value, sigfigs, "latex" if latex else "plain")


def rule_text(rule: str, latex: bool) -> str:
    """A derivation rule's name: LaTeX-flavoured text with inline math, or plain Unicode."""
    return rule if latex else latex_to_plain(rule)


def inline(latex: str) -> str:
    """Math for running text: ∂L/∂a with a slash, | without \\Big (a display's \\frac or \\Big
    would push the lines of a paragraph apart)."""
    latex = re.sub(r"\\frac\{(\\partial [^{}]*)\}\{(\\partial [^{}]*)\}", r"\1/\2", latex)
    return re.sub(r"\\[bB]ig\|", "|", latex)


def names_for(spec: Spec, latex: bool) -> dict[str, str]:
    """How the spec's names print: its `latex:` table, or that table as Unicode text."""
    return dict(spec.latex) if latex else {k: latex_to_plain(v) for k, v in spec.latex.items()}


def lhs_for(name: str, spec: Spec, latex: bool) -> str:
    names = names_for(spec, latex)
    return latex_name(name, names) if latex else plain_name(name, names)


def _start(sol: Solution, res: StepResult) -> Formula:
    """What a step's line starts from: its formula, or, for `f` at fixed values (at:) where f
    names an earlier symbolic step, that step's result (p₁ − y₁, then p₁ − 1)."""
    tree = res.step.formula.tree
    if res.step.at and isinstance(tree, ast.Name):
        earlier = next((r for r in sol.steps if r.id == tree.id), None)
        if earlier is not None and earlier.final is not None and earlier.number is None:
            return earlier.expanded or earlier.final
    return res.step.formula


def _last(res: StepResult) -> Formula:
    if res.expanded is not None:
        return res.expanded
    if res.derivation:
        return res.derivation[-1].formula
    return res.step.shown


def _line(sol: Solution, res: StepResult, latex: bool, sigfigs: int, numbers: dict[str, str]
          ) -> list[dict[str, str]]:
    """The chain `formula = derivation… = closed form = with numbers = value`, repeats dropped;
    each link carries the rule that justifies it (empty for plain rewriting)."""
    names = names_for(sol.spec, latex)
    parts = [(render(_start(sol, res), latex, names=names), "")]
    for d in res.derivation[1:]:
        parts.append((render(d.formula, latex, names=names), rule_text(d.rule, latex)))
    if not res.derivation and res.step.form is not None:
        parts.append((render(res.step.form, latex, names=names), ""))
    if res.expanded is not None:
        fixed = ", ".join(f"{lhs_for(k, sol.spec, True)} = {given_text(v, latex=True)}"
                          for k, v in res.step.at.items())
        parts.append((render(res.expanded, latex, names=names),
                      rule_text(f"${fixed}$", latex) if fixed else ""))
    if res.number is not None:
        last = _last(res)
        if not is_diff(last) and last.names and last.names <= numbers.keys():
            values = {n: numbers[n] for n in last.names}
            parts.append((render(last, latex, values=values, names=names), ""))
        literal = constant(last.tree)
        if literal is None or literal != res.number:
            parts.append((number_text(res.number, sigfigs, latex), ""))
    out: list[dict[str, str]] = []
    for expr, rule in parts:
        if not out or out[-1]["expr"] != expr:
            out.append({"expr": expr, "rule": rule})
    return out


def _rounded(value: Num, sigfigs: int) -> bool:
    """Whether `value` differs from its display at `sigfigs` figures."""
    if not isinstance(value, Fraction):
        return True
    shown = show(value, sigfigs, "ascii")
    return Fraction(Decimal(shown)) != value


def rounding_note(sol: Solution, sigfigs: int) -> str | None:
    """A sentence for a solution where some line puts in values that are shown rounded: the
    results are computed from the unrounded values (0.5·0.6365 + (−0.7)·0.4675 + 0.3 is 0.2910,
    yet z_o = 0.2909)."""
    for s in (sol, *sol.alternatives.values()):
        rounded = {r.id for r in s.steps if r.number is not None and _rounded(r.number, sigfigs)}
        for res in s.steps:
            last = _last(res)
            if res.number is not None and not is_diff(last) and last.names & rounded \
                    and last.names <= rounded | set(s.given) | {r.id for r in s.steps
                                                                if r.number is not None}:
                return (f"Values are shown to {sigfigs} significant figures; every line is "
                        "computed from the unrounded values of the lines before it, so a "
                        "result may differ in its last figure from one recomputed with the "
                        "rounded values shown.")
    return None


SHORT_LINE = 34  # characters of visible math: a chain this short is set on one line


def _width(lhs: str, chain: list[dict[str, str]]) -> int:
    """Roughly how many characters a chain shows (markup removed; a fraction counts twice)."""
    text = " = ".join([lhs, *(p["expr"] for p in chain)])
    return len(re.sub(r"\\[A-Za-z]+|[{}\s]|\^|_", "", text))


def steps_view(sol: Solution, latex: bool, sigfigs: int, only: set[str] | None = None
               ) -> list[dict[str, Any]]:
    numbers = {k: given_text(v, _decimals(sol.spec, k), latex) for k, v in sol.given.items()}
    rows = []
    for res in sol.steps:
        if only is None or res.id in only:
            lhs = lhs_for(res.id, sol.spec, latex)
            chain = _line(sol, res, latex, sigfigs, numbers)
            rows.append({"id": res.id, "text": fill(res.step.text, sol, sigfigs), "lhs": lhs,
                         "chain": chain, "derived": bool(res.derivation),
                         "short": not res.derivation and _width(lhs, chain) <= SHORT_LINE})
        if res.number is not None:
            numbers[res.id] = number_text(res.number, sigfigs, latex)
    return rows


def answer_view(ans: AnswerResult, sol: Solution, sigfigs: int, latex: bool) -> str:
    if ans.number is not None:
        return number_text(ans.number, sigfigs, latex)
    formula = ans.formula if ans.formula is not None else expr_formula(ans.exact)
    return render(formula, latex, names=names_for(sol.spec, latex))


def _constant(expr: sympy.Expr) -> float | None:
    return None if expr.free_symbols else float(expr.evalf(30))


def answers_json(sol: Solution, sigfigs: int) -> dict[str, dict[str, Any]]:
    out = {}
    for aid, ans in sol.answers.items():
        numeric = ans.answer.kind == "numeric"
        out[aid] = {
            "kind": ans.answer.kind,
            "value": ans.value if numeric else _constant(ans.exact),
            # Numeric answers in exponentials, so that sympify evaluates them to the number.
            "sympy": sympy.sstr(to_elementary(ans.exact) if numeric else ans.exact),
            "latex": answer_view(ans, sol, sigfigs, latex=True),
        }
        if ans.answer.where is not None:
            out[aid]["where"] = str(ans.answer.where)
    return out


def _changed(primary: Solution, alt: Solution) -> set[str]:
    return {a.id for a, b in zip(alt.steps, primary.steps)
            if a.value != b.value or a.symbolic != b.symbolic}


def illustration_view(sol: Solution, latex: bool, sigfigs: int) -> list[dict[str, Any]]:
    if not sol.illustrations:
        return []
    used = {n for a in sol.answers.values() if a.formula is not None for n in a.formula.names}
    used |= {a.answer.where.name for a in sol.answers.values() if a.answer.where}
    cases = []
    for il in sol.illustrations:
        inputs = [(inline(lhs_for(k, sol.spec, latex)),
                   given_text(sympy.Rational(v.numerator, v.denominator), latex=latex)
                   if k not in sol.spec.definitions and isinstance(v, Fraction)
                   else number_text(v, sigfigs, latex))
                  for k, v in il.values.items() if k not in sol.spec.definitions or k in used]
        results = [(lhs_for(k, sol.spec, latex), number_text(v, sigfigs, latex))
                   for k, v in il.answers.items()]
        cases.append({"inputs": inputs, "results": results})
    return cases


def demo_view(sol: Solution, sigfigs: int, latex: bool) -> dict[str, Any] | None:
    """The demonstration's table: quantities down, runs across; numbers in math mode in LaTeX."""
    if sol.demo is None:
        return None
    d = sol.demo
    sigfigs = min(sigfigs, FLOAT_SIGFIGS)

    def cell(c: float | str | Figures) -> str:
        if isinstance(c, Figures):
            text = number_text(c.value, c.sigfigs, latex)
        else:
            text = number_text(c, sigfigs, latex) if isinstance(c, float) else str(c)
        return f"${text}$".replace("%", r"\%") if latex else text

    def label(name: str) -> str:
        if name in ("loss", "accuracy", "epochs"):
            return {"loss": "loss $L$", "accuracy": "accuracy", "epochs": "epochs"}[name] \
                if latex else {"loss": "loss L"}.get(name, name)
        return f"${lhs_for(name, sol.spec, True)}$" if latex else lhs_for(name, sol.spec, False)

    text = d.text if latex else latex_to_plain(d.text)
    rows = [[label(name), *map(cell, cells)] for name, cells in d.rows]
    return {"title": d.title, "text": text, "columns": ["", *d.columns], "rows": rows,
            "width": 2 + max(len(c) for row in [*rows, d.columns] for c in row),
            "conclusions": [c if latex else latex_to_plain(c) for c in d.conclusions]}


def view(sol: Solution, latex: bool, sigfigs: int = SIGFIGS) -> dict[str, Any]:
    """Everything a template needs for one question."""
    spec = sol.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "marks": spec.marks,
        "question": spec.question_text(sol.given),
        "convention": spec.convention.text,
        "notes": [fill(n.text, sol, sigfigs) for n in sol.notes],
        "rounding": rounding_note(sol, sigfigs),
        "steps": steps_view(sol, latex, sigfigs),
        "answers": [{"id": a.id, "lhs": lhs_for(a.id, spec, latex),
                     "text": a.answer.text, "value": answer_view(a, sol, sigfigs, latex),
                     "where": str(a.answer.where) if a.answer.where else None}
                    for a in sol.answers.values()],
        "alternatives": [
            {"name": name, "text": spec.alternatives[name].text,
             "steps": steps_view(alt, latex, sigfigs, only=_changed(sol, alt)),
             "answers": [{"id": a.id,
                          "lhs": lhs_for(a.id, spec, latex),
                          "value": answer_view(a, alt, sigfigs, latex),
                          "where": str(a.answer.where) if a.answer.where else None}
                         for a in alt.answers.values()]}
            for name, alt in sol.alternatives.items()
        ],
        "illustrations": illustration_view(sol, latex, sigfigs),
        "demo": demo_view(sol, sigfigs, latex),
    }


def to_json_dict(sol: Solution, sigfigs: int = SIGFIGS) -> dict[str, Any]:
    """The `--json` object for one question."""
    return {
        "id": sol.spec.id,
        "title": sol.spec.title,
        "marks": sol.spec.marks,
        "convention": sol.spec.convention.name,
        "rounding": rounding_note(sol, sigfigs),
        "answers": answers_json(sol, sigfigs),
        "alternatives": {name: answers_json(alt, sigfigs)
                         for name, alt in sol.alternatives.items()},
        "steps": [
            {"id": res.id, "text": res.step.text, "formula": res.step.formula.text,
             "form": res.step.form.text if res.step.form else None,
             "result": sympy.sstr(res.symbolic), "value": res.value,
             "latex": " = ".join([row["lhs"], *(p["expr"] for p in row["chain"])]),
             "derivation": [{"rule": d.rule, "sympy": sympy.sstr(d.expr)}
                            for d in res.derivation[1:]]}
            for res, row in zip(sol.steps, steps_view(sol, True, sigfigs))
        ],
        "illustrations": [{"values": {k: float(to_mpf(v)) for k, v in il.values.items()},
                           "answers": {k: float(to_mpf(v)) for k, v in il.answers.items()}}
                          for il in sol.illustrations],
    }
