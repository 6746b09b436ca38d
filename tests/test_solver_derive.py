"""The derivation engine: rule-by-rule steps, each checked, for any activation a spec names."""

from __future__ import annotations

import random
import textwrap
from dataclasses import replace

import mpmath
import pytest
import sympy
import torch

from solver import derive as derive_mod
from solver import functions
from solver.branches import Branch, by_branch, restrict
from solver.derive import DerivationError, derive, value
from solver.engine import solve
from solver.expr import parse, symbol, to_sympy
from solver.functions import Outer, to_elementary
from solver.render import to_latex, to_markdown, to_text
from solver.spec import SpecError, find_spec, load_all, load_spec

z = symbol("z")


def rules(steps) -> list[str]:
    return [s.rule for s in steps[1:]]


def _value(expr: sympy.Expr, at: float) -> float:
    return float(expr.doit().subs(z, sympy.Float(at, 30)).evalf(30))


def test_tanh_is_derived_from_its_definition_through_the_quotient_rule():
    steps = derive("diff(tanh(z), z)")
    assert rules(steps)[:2] == [r"definition $\tanh z = \sinh z/\cosh z$", "quotient rule"]
    assert steps[-1].formula.text == "(cosh(z) ** 2 - sinh(z) ** 2) / cosh(z) ** 2"


def test_sigmoid_reaches_the_exponential_form_and_swish_uses_the_product_rule():
    steps = derive("diff(sigmoid(z), z)")
    assert sympy.simplify(steps[-1].expr - sympy.exp(-z) / (1 + sympy.exp(-z)) ** 2) == 0
    assert any(r.startswith("chain rule") for r in rules(steps))
    swish = derive("diff(z*sigmoid(z), z)")
    assert rules(swish)[0].startswith("product rule")
    target = sympy.diff(z * functions.sigmoid(z), z)
    assert sympy.simplify(to_elementary(swish[-1].expr - target)) == 0


def test_lines_keep_the_written_order_and_take_no_detours():
    # (y - a)^2 by the chain rule: -2(y - a), never -2y + 2a; the quotient rule as (f'g - fg')/g².
    assert [d.formula.text for d in derive("diff((y - a)**2, a)")][-1] == "-(2 * (y - a))"
    quotient = derive("diff(exp(z1)/(exp(z1) + exp(z2)), z1)")[1].formula.text
    assert quotient.startswith("(diff(exp(z1), z1) * (exp(z1) + exp(z2)) - exp(z1) * diff(")


def _expansions(sol) -> dict:
    out: dict = {}
    for res in sol.steps:
        out[symbol(res.id)] = to_sympy(res.final).xreplace(out)
    return out


@pytest.mark.parametrize("spec", load_all(), ids=lambda s: s.id)
def test_every_derivation_step_of_every_question_equals_its_neighbours_numerically(spec):
    # Independent of the engine's proofs: each line evaluated at random points (SymPy's own
    # diff for the derivatives still shown), on the answer's branch where it has one.
    rng = random.Random(spec.id)
    sol = solve(spec)
    full = _expansions(sol)
    for res in sol.steps:
        if not res.derivation:
            continue
        answer = spec.answers.get(res.id)
        where = answer.where if answer is not None else None
        lines = [value(d.formula, {k: v for k, v in full.items() if k != symbol(res.id)})
                 for d in res.derivation]
        names = sorted({str(s) for e in lines for s in e.free_symbols})
        for _ in range(3):
            point = {n: rng.uniform(0.2, 1.5) * rng.choice((-1, 1)) for n in names}
            if "y1" in point:  # q8's one-hot label, as its spec assumes
                point["y2"] = 1 - point["y1"]
            if where is not None:
                point[where.name] = abs(point.get(where.name, 1.0)) * (
                    1 if where.op in (">", ">=") else -1)
            subs = {symbol(n): sympy.Float(v, 30) for n, v in point.items()}
            values = [float(e.xreplace(subs).evalf(30)) for e in lines]
            assert all(abs(v - values[0]) <= 1e-12 * max(1, abs(values[0])) for v in values), \
                (spec.id, res.id, values)


def test_a_wrong_rule_cannot_print(monkeypatch):
    # Break the derivative of sinh (cosh → −cosh): the proof of that line fails.
    broken = replace(functions.BY_NAME["sinh"], rule=Outer("sinh rule",
                                                           lambda g: -sympy.cosh(g)))
    monkeypatch.setitem(derive_mod.BY_NAME, "sinh", broken)
    derive_mod._template_text.cache_clear()
    derive_mod.derive.cache_clear()
    try:
        with pytest.raises(DerivationError, match="failed its proof"):
            derive("diff(tanh(z), z)")
    finally:
        monkeypatch.undo()
        derive_mod._template_text.cache_clear()
        derive_mod.derive.cache_clear()


def test_a_piecewise_derivative_needs_its_branch():
    with pytest.raises(DerivationError, match="needs a branch"):
        derive("diff(max(0, z), z)")
    for positive, want in ((True, "1"), (False, "0.01")):
        line, _ = restrict(parse("diff(max(0.01*z, z), z)"), by_branch(Branch(z, positive)))
        assert derive(line.text)[-1].formula.text == want


# A new activation is a new YAML file: no code change. Each is checked against torch.
NEW = {
    "softplus": ("log(1 + exp(z))", lambda t: torch.nn.functional.softplus(t)),
    "mish": ("z*tanh(log(1 + exp(z)))", lambda t: torch.nn.functional.mish(t)),
    "gelu_tanh": ("0.5*z*(1 + tanh(0.7978845608028654*(z + 0.044715*z**3)))",
                  lambda t: 0.5 * t * (1 + torch.tanh(0.7978845608028654
                                                      * (t + 0.044715 * t**3)))),
    "rational": ("z/(1 + z**2)", lambda t: t / (1 + t**2)),
}
SPEC = textwrap.dedent("""\
    id: q11
    title: A new activation
    marks: 5
    question: Derive the derivative of $f(z) = {latex}$ and the gradient of $w$.
    vocabulary: [z, a, w, x, b, dL_da]
    definitions:
      z: w*x + b
      a: {f}
    latex:
      derivative: "f'(z)"
    convention:
      name: upstream_gradient
      text: $\\partial L/\\partial a$ is the upstream gradient.
    steps:
      - id: derivative
        text: Derivative of $f$
        formula: diff({f}, z)
      - id: dL_dw
        text: Chain rule
        formula: dL_da*derivative*x
    answers:
      derivative: {{kind: symbolic}}
      dL_dw: {{kind: symbolic}}
    illustration:
      - {{x: 0.5, w: 0.8, b: 0.1, dL_da: -0.5}}
    """)


@pytest.mark.parametrize("name", NEW)
def test_a_new_activation_in_a_new_yaml_file_is_derived_checked_and_rendered(tmp_path, name):
    f, torch_f = NEW[name]
    path = tmp_path / "q11_new.yaml"
    path.write_text(SPEC.format(f=f, latex=name))
    spec = load_spec(path)
    sol = solve(spec)
    res = sol.step("derivative")
    assert len(res.derivation) >= 3 and all(d.rule for d in res.derivation[1:])
    for at in (-1.3, -0.2, 0.4, 2.1):
        zt = torch.tensor(at, dtype=torch.float64, requires_grad=True)
        torch_f(zt).backward()
        got = _value(res.raw, at)
        assert abs(got - float(zt.grad)) <= 1e-9 * max(1, abs(got)), (name, at)
        mp_f = sympy.lambdify(z, sympy.sympify(f.replace("z", "t")).subs("t", z), "mpmath")
        mpmath.mp.dps = 40
        assert abs(got - float(mpmath.diff(mp_f, at))) <= 1e-9 * max(1, abs(got))
    assert "rule" in to_text([sol]) and r"\tag*" in to_latex([sol])
    assert r"\text{" in to_markdown([sol])


def test_the_derivation_shows_in_every_output_form():
    sol = solve(find_spec("q6"))
    assert "[quotient rule]" in to_text([sol])
    assert r"\tag*{\footnotesize quotient rule}" in to_latex([sol])
    assert r"&& \text{quotient rule}" in to_markdown([sol])


def test_a_diff_the_rules_cannot_unfold_is_a_one_line_spec_error(tmp_path):
    path = tmp_path / "q11_new.yaml"
    path.write_text(SPEC.format(f="max(0, z)", latex="relu"))
    with pytest.raises(SpecError, match=r"q11_new.yaml:\d+: steps.derivative.formula: .*has no "
                       r"value here.*where: 'z > 0'") as info:
        solve(load_spec(path))
    assert "\n" not in str(info.value)
