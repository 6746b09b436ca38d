"""The derivation engine: rule-by-rule steps, each checked, for any activation a spec names."""

from __future__ import annotations

import random
import textwrap

import mpmath
import pytest
import sympy
import torch

from solver import derive as derive_mod
from solver.derive import Branch, DerivationError, derive
from solver.engine import SolveError, solve
from solver.expr import symbol
from solver.functions import sigmoid, to_elementary
from solver.render import to_latex, to_markdown, to_text
from solver.spec import find_spec, load_all, load_spec

z = symbol("z")


def rules(steps) -> list[str]:
    return [s.rule for s in steps[1:]]


def _value(expr: sympy.Expr, at: float) -> float:
    return float(expr.doit().subs(z, sympy.Float(at, 30)).evalf(30))


def test_tanh_is_derived_from_its_definition_through_the_quotient_rule():
    steps = derive(sympy.tanh(z), z)
    assert rules(steps)[:2] == [r"definition $\tanh z = \sinh z/\cosh z$", "quotient rule"]
    assert steps[-1].expr == (sympy.cosh(z) ** 2 - sympy.sinh(z) ** 2) / sympy.cosh(z) ** 2


def test_sigmoid_reaches_the_exponential_form_and_swish_uses_the_product_rule():
    steps = derive(sigmoid(z), z)
    assert steps[-1].expr == sympy.exp(-z) / (1 + sympy.exp(-z)) ** 2
    assert any(r.startswith("chain rule") for r in rules(steps))
    swish = derive(z * sigmoid(z), z)
    assert rules(swish)[0].startswith("product rule")
    assert sympy.simplify(to_elementary(swish[-1].expr - sympy.diff(z * sigmoid(z), z))) == 0


@pytest.mark.parametrize("spec", load_all(), ids=lambda s: s.id)
def test_every_derivation_step_of_every_question_equals_its_neighbours_numerically(spec):
    # Independent of the engine's proofs: each line evaluated at random points (SymPy's own
    # diff for the derivatives still shown), on the answer's branch where it has one.
    rng = random.Random(spec.id)
    for res in solve(spec).steps:
        if not res.derivation:
            continue
        where = spec.answers[res.id].where if res.id in spec.answers else None
        names = sorted({str(s) for d in res.derivation for s in d.expr.free_symbols})
        for _ in range(3):
            point = {n: rng.uniform(0.2, 1.5) * rng.choice((-1, 1)) for n in names}
            if where is not None:
                point[where.name] = abs(point.get(where.name, 1.0)) * (
                    1 if where.op in (">", ">=") else -1)
            subs = {symbol(n): sympy.Float(v, 30) for n, v in point.items()}
            values = [float(d.expr.doit().xreplace(subs).evalf(30)) for d in res.derivation]
            assert all(abs(v - values[0]) <= 1e-12 * max(1, abs(values[0])) for v in values), \
                (spec.id, res.id, values)


def test_a_wrong_rule_cannot_print(monkeypatch):
    # Break the derivative of sinh (cosh → −cosh): the proof of that rewrite fails.
    monkeypatch.setitem(derive_mod._OUTER, sympy.sinh, ("sinh rule", lambda g: -sympy.cosh(g)))
    derive_mod._proven.cache_clear()
    derive_mod.derive.cache_clear()
    try:
        with pytest.raises(DerivationError, match="failed its proof"):
            derive(sympy.tanh(z), z)
    finally:
        derive_mod._proven.cache_clear()
        derive_mod.derive.cache_clear()


def test_a_piecewise_derivative_needs_its_branch():
    with pytest.raises(DerivationError, match="needs a branch"):
        derive(sympy.Max(0, z), z)
    pos = derive(sympy.Max(sympy.Rational(1, 100) * z, z), z, Branch(z, True))
    neg = derive(sympy.Max(sympy.Rational(1, 100) * z, z), z, Branch(z, False))
    assert (pos[-1].expr, neg[-1].expr) == (1, sympy.Rational(1, 100))
    assert rules(neg)[0] == "on the branch $z < 0$"


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
    with pytest.raises(SolveError, match=r"steps.derivative.formula: .*needs a branch"):
        solve(load_spec(path))
