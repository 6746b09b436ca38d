"""A solution as plain data: what the templates render and what `--json` prints.

Everything shown is decided here once (which equalities a step's line chains, how numbers are
rounded), so the LaTeX, Markdown and terminal forms cannot disagree.
"""

from __future__ import annotations

import math
from typing import Any

import sympy

from solver.engine import AnswerResult, Solution, StepResult
from solver.expr import Formula, latex_name, parse, plain_name, render
from solver.functions import to_elementary


def fmt(value: float, sig: int = 4, latex: bool = False) -> str:
    """`value` to `sig` significant figures, trailing zeros dropped; LaTeX powers of ten."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = f"{value:.{sig}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}" if latex else f"{mant}e{int(exp)}"
    return text


def expr_formula(expr: sympy.Expr) -> Formula:
    """A SymPy result as a Formula, so it prints in the same style as the spec's formulas."""
    return parse(sympy.sstr(expr, order="none"), names=None)


def _has_diff(formula: Formula) -> bool:
    return "diff(" in formula.text.replace(" ", "")


def _line(sol: Solution, res: StepResult, latex: bool, sig: int, numbers: dict[str, float]
          ) -> list[str]:
    """The chain `formula = closed form = expanded = with numbers = value`, repeats dropped."""
    names = sol.spec.latex if latex else None
    parts = [render(res.step.formula, latex, names=names)]
    shown = res.step.shown
    if res.step.form is not None:
        parts.append(render(shown, latex, names=names))
    elif _has_diff(shown) or (sol.spec.vocabulary and res.symbolic != res.raw):
        parts.append(render(expr_formula(res.symbolic), latex, names=names))
    if res.value is not None:
        if not _has_diff(shown):
            values = {n: fmt(numbers[n], sig, latex) for n in shown.names if n in numbers}
            if values and len(values) == len(shown.names):
                parts.append(render(shown, latex, values=values, names=names))
        parts.append(fmt(res.value, sig, latex))
    out: list[str] = []
    for p in parts:
        if not out or out[-1] != p:
            out.append(p)
    return out


def steps_view(sol: Solution, latex: bool, sig: int, only: set[str] | None = None
               ) -> list[dict[str, Any]]:
    numbers = {k: float(v) for k, v in sol.given.items()}
    rows = []
    for res in sol.steps:
        if only is None or res.id in only:
            lhs = latex_name(res.id, sol.spec.latex) if latex else plain_name(res.id)
            rows.append({"id": res.id, "text": res.step.text, "lhs": lhs,
                         "chain": _line(sol, res, latex, sig, numbers)})
        if res.value is not None:
            numbers[res.id] = res.value
    return rows


def answer_view(ans: AnswerResult, sol: Solution, sig: int, latex: bool) -> str:
    if ans.value is not None:
        return fmt(ans.value, sig, latex)
    return render(expr_formula(ans.exact), latex, names=sol.spec.latex if latex else None)


def _constant(expr: sympy.Expr) -> float | None:
    return None if expr.free_symbols else float(expr.evalf(30))


def answers_json(sol: Solution, sig: int) -> dict[str, dict[str, Any]]:
    out = {}
    for aid, ans in sol.answers.items():
        numeric = ans.answer.kind == "numeric"
        out[aid] = {
            "kind": ans.answer.kind,
            "value": ans.value if numeric else _constant(ans.exact),
            # Numeric answers in exponentials, so that sympify evaluates them to the number.
            "sympy": sympy.sstr(to_elementary(ans.exact) if numeric else ans.exact),
            "latex": answer_view(ans, sol, sig, latex=True),
        }
        if ans.answer.where is not None:
            out[aid]["where"] = str(ans.answer.where)
    return out


def _changed(primary: Solution, alt: Solution) -> set[str]:
    return {a.id for a, b in zip(alt.steps, primary.steps)
            if a.value != b.value or a.symbolic != b.symbolic}


def illustration_view(sol: Solution, latex: bool, sig: int) -> list[dict[str, Any]]:
    if not sol.illustrations:
        return []
    used = {str(s) for a in sol.answers.values() for s in a.exact.free_symbols}
    used |= {a.answer.where.name for a in sol.answers.values() if a.answer.where}
    cases = []
    for il in sol.illustrations:
        inputs = [(latex_name(k, sol.spec.latex) if latex else plain_name(k),
                   fmt(float(v), sig, latex))
                  for k, v in il.values.items() if k not in sol.spec.definitions or k in used]
        results = [(latex_name(k, sol.spec.latex) if latex else plain_name(k), fmt(v, sig, latex))
                   for k, v in il.answers.items()]
        cases.append({"inputs": inputs, "results": results})
    return cases


def demo_view(sol: Solution, sig: int) -> dict[str, Any] | None:
    if sol.demo is None:
        return None
    d = sol.demo
    rows = [[c if isinstance(c, (str, int)) else fmt(c, sig) for c in row] for row in d.rows]
    return {"title": d.title, "text": d.text, "columns": list(d.columns), "rows": rows,
            "conclusion": d.conclusion}


def view(sol: Solution, latex: bool, sig: int) -> dict[str, Any]:
    """Everything a template needs for one question."""
    spec = sol.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "marks": spec.marks,
        "question": spec.question_text(sol.given),
        "convention": spec.convention.text,
        "notes": list(spec.notes),
        "steps": steps_view(sol, latex, sig),
        "answers": [{"id": a.id, "lhs": latex_name(a.id, spec.latex) if latex else plain_name(a.id),
                     "text": a.answer.text, "value": answer_view(a, sol, sig, latex),
                     "where": str(a.answer.where) if a.answer.where else None}
                    for a in sol.answers.values()],
        "alternatives": [
            {"name": name, "text": spec.alternatives[name].text,
             "steps": steps_view(alt, latex, sig, only=_changed(sol, alt)),
             "answers": [{"id": a.id,
                          "lhs": latex_name(a.id, spec.latex) if latex else plain_name(a.id),
                          "value": answer_view(a, alt, sig, latex)}
                         for a in alt.answers.values()]}
            for name, alt in sol.alternatives.items()
        ],
        "illustrations": illustration_view(sol, latex, sig),
        "demo": demo_view(sol, sig),
    }


def to_json_dict(sol: Solution, sig: int = 4) -> dict[str, Any]:
    """The `--json` object for one question."""
    return {
        "id": sol.spec.id,
        "title": sol.spec.title,
        "marks": sol.spec.marks,
        "convention": sol.spec.convention.name,
        "answers": answers_json(sol, sig),
        "alternatives": {name: answers_json(alt, sig) for name, alt in sol.alternatives.items()},
        "steps": [
            {"id": res.id, "text": res.step.text, "formula": res.step.formula.text,
             "form": res.step.form.text if res.step.form else None,
             "result": sympy.sstr(res.symbolic), "value": res.value,
             "latex": " = ".join([row["lhs"], *row["chain"]])}
            for res, row in zip(sol.steps, steps_view(sol, True, sig))
        ],
        "illustrations": [{"values": {k: float(v) for k, v in il.values.items()},
                           "answers": il.answers} for il in sol.illustrations],
    }
