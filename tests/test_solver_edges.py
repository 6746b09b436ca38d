"""Any --set, however extreme: a one-line error or answers that agree with mpmath to 30 digits."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import sympy
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import cli
from core.errors import DlhwError
from solver.engine import solve
from solver.numbers import show, to_mpf
from solver.render import to_json, to_latex, to_text
from solver.spec import load_all

SPECS = [s for s in load_all() if s.given]
EDGES = ["0", "1e-300", "-1e-300", "1e300", "-1e300", "1", "-1", "0.5", "-2/7", "1e-17", "40",
         "-40", "800", "-800", "1e6", "-1e6"]
wide = st.one_of(
    st.sampled_from(EDGES),
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False).map(repr),
    st.floats(-50, 50, allow_nan=False).map(lambda v: f"{v:.3g}"),
    st.tuples(st.integers(-999, 999), st.integers(1, 999)).map(lambda pq: f"{pq[0]}/{pq[1]}"),
)


def reference(expr: sympy.Expr, digits: int = 30) -> mpmath.mpf | None:
    """The exact answer by another route (SymPy's tree through mpmath), at rising precision
    until two precisions agree; None if even 8000 digits cannot settle it."""
    if expr == 0:
        return mpmath.mpf(0)
    f = sympy.lambdify([], expr, "mpmath")
    last = None
    dps = 60
    while dps <= 8000:
        with mpmath.workdps(dps):
            now = f()
            # A zero from rounding is cancellation, not an answer: it needs more digits.
            if last is not None and now != 0 and \
                    abs(now - last) <= abs(now) * mpmath.mpf(10) ** -(digits + 5):
                return now
            last = now
        dps *= 2
    return None


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_set_gives_an_error_line_or_answers_true_to_30_digits(spec, data):
    names = data.draw(st.lists(st.sampled_from(sorted(spec.given)), min_size=1, unique=True))
    overrides = {n: data.draw(wide, label=n) for n in names}
    try:
        sol = solve(spec, overrides, sigfigs=30)
    except DlhwError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(spec.id)
        return
    # Whatever solved also prints, in every form.
    assert to_text([sol], 30) and to_latex([sol], 30) and to_json([sol], 30)
    for conv in (sol, *sol.alternatives.values()):
        for aid, ans in conv.answers.items():
            if ans.answer.kind != "numeric":
                continue
            ref = reference(ans.exact)
            if ref is None:
                continue  # beyond the reference's reach too; the solver's value was settled
            got = ans.number
            if isinstance(got, Fraction):
                assert sympy.Rational(got.numerator, got.denominator) == ans.exact, aid
            else:
                assert abs(to_mpf(got) - ref) <= abs(ref) * mpmath.mpf(10) ** -29, (aid, got, ref)
            assert show(got, 30) == show(ref, 30) or abs(ref) < mpmath.mpf(10) ** -4000, aid


@pytest.mark.parametrize("args,expected", [
    (["q2", "--set", "w=50"], "L = (y - a)² = (1 - 1.000)² = 2.665×10⁻³¹"),
    (["q8", "--set", "z1=800", "--set", "z2=800"], "p₁ = 0.5000"),
    (["q2", "--set", "w=1e6", "--set", "x=0.0001"], "∂L/∂w"),
])
def test_known_edges_print_true_numbers(args, expected):
    result = CliRunner().invoke(cli, ["solve", *args])
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_half_mse_gradient_keeps_its_sign_far_in_the_tail():
    # σ(z) is within 1e-30 of 1 here: floats round a to 1.0 and lose the sign of y - a.
    sol = solve(next(s for s in SPECS if s.id == "q2"), {"w": "100"}, sigfigs=4)
    half = sol.alternatives["half_mse"].answers
    assert half["dL_da"].value < 0 and half["dL_dw"].value < 0
    assert half["dL_dw"].value != 0.0


def test_json_values_are_the_correctly_rounded_floats():
    import json

    data = json.loads(CliRunner().invoke(cli, ["solve", "q2", "--json"]).output)
    assert data["answers"]["z"]["value"] == -0.15
