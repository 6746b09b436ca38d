"""What a professor reads: the hard steps shown and proven with the identities they use, in the
order a textbook writes, every number exact to its last shown figure, every note true of the
numbers it sits beside, and every bad spec or value one line."""

from __future__ import annotations

import re
import textwrap

import mpmath
import pytest
from click.testing import CliRunner

from cli import cli
from solver.engine import solve
from solver.present import view
from solver.render import to_text
from solver.spec import SpecError, find_spec, load_spec


def out(*args: str) -> str:
    result = CliRunner().invoke(cli, ["solve", *args])
    assert result.exit_code == 0, result.output
    return result.output


def chain(qid: str, sid: str, *sets: str) -> list[tuple[str, str]]:
    """A step's lines in the terminal form: (expression, rule)."""
    overrides = dict(s.split("=") for s in sets)
    sol = solve(find_spec(qid), overrides)
    row = next(r for r in view(sol, latex=False, sigfigs=4)["steps"] if r["id"] == sid)
    return [(p["expr"], p["rule"]) for p in row["chain"]]


# ---------------------------------------------------------------- derivations that teach

@pytest.mark.parametrize("qid,sid,tail", [
    ("q2", "da_dz", ["1/(1 + exp(-z))·(exp(-z)/(1 + exp(-z)))", "σ(z)·(1 - σ(z))", "a·(1 - a)"]),
    ("q10", "derivative", ["σ(z) + z·exp(-z)/(1 + exp(-z))²", "σ(z) + z·(1/(1 + exp(-z)))·"
                           "(exp(-z)/(1 + exp(-z)))", "σ(z) + z·σ(z)·(1 - σ(z))"]),
])
def test_sigma_prime_reaches_sigma_times_one_minus_sigma_through_its_identity(qid, sid, tail):
    lines = chain(qid, sid)
    exprs = [e for e, _ in lines]
    at = exprs.index(tail[0])
    assert exprs[at:at + len(tail)] == tail
    rule = dict(lines)[tail[-1] if qid == "q10" else "σ(z)·(1 - σ(z))"]
    assert "1 - σ(z) = e^(-z)/(1 + e^(-z))" in rule


def test_softmax_jacobian_by_the_quotient_rule_to_p_i_delta_minus_p_j():
    lines = chain("q8", "dp1_dz1")
    assert lines[1][1] == "quotient rule"
    assert lines[1][0].startswith("(∂/∂z₁[exp(z₁)]·(exp(z₁) + exp(z₂)) - exp(z₁)·∂/∂z₁[")
    assert ("p₁·(1 - p₁)", "p₁ = e^(z₁)/(e^(z₁) + e^(z₂))") in lines
    assert ("-p₁·p₂", "p₁ = e^(z₁)/(e^(z₁) + e^(z₂)), p₂ = e^(z₂)/(e^(z₁) + e^(z₂))") \
        in chain("q8", "dp1_dz2")


def test_cross_entropy_from_its_definition_to_p_minus_y_using_the_one_hot_label():
    lines = chain("q8", "dCE_dz1")
    assert lines[0][0] == "∂/∂z₁[-(y₁·ln(p₁) + y₂·ln(p₂))]"
    assert ("∂/∂z₁[ln(exp(z₁) + exp(z₂)) - y₁·z₁ - y₂·z₂]",
            "the label is one-hot: y₁ + y₂ = 1") in lines
    assert lines[-1] == ("p₁ - y₁", "p₁ = e^(z₁)/(e^(z₁) + e^(z₂))")
    # The label's gradients are that result at y = (1, 0): no "p₂ - 0".
    assert [e for e, _ in chain("q8", "dL_dz2")] == ["p₂ - y₂", "p₂", "0.3775"]
    assert [e for e, _ in chain("q8", "dL_dz1")] == ["p₁ - y₁", "p₁ - 1", "0.6225 - 1",
                                                    "-0.3775"]
    assert not re.search(r"- 0(?![.\d])", out("q8"))


def test_no_expansion_detours_and_textbook_order():
    text = out("--all")
    assert "-2·y + 2·a" not in text and "-2·(y - a)   [sum rule" in text
    assert "w_new = w - η·∂L/∂w = w - η·∂L/∂a·(1 - tanh²(z))·x" in text
    assert "w_new|z<0 = w - η·∂L/∂w|z<0 = w - 0.01·η·∂L/∂a·x" in text
    assert "∂L/∂w = ∂/∂w[(y - (w·x + b))²]" in text  # as written, not y - b - w·x
    assert ("-2·(y - ŷ)·x", "ŷ = w·x + b") in chain("q3", "dL_dw")


def test_q9_and_q10_give_the_bias_gradient_too():
    assert "∂L/∂b|z<0 = ∂L/∂a·f'(z)|z<0·∂z/∂b = ∂L/∂a·α·exp(z)" in out("q9")
    assert "∂L/∂b = ∂L/∂a·f'(z)·∂z/∂b = ∂L/∂a·(σ(z) + z·σ(z)·(1 - σ(z)))" in out("q10")


# ---------------------------------------------------------------- exact everywhere

def test_illustrations_are_exact_to_thirty_figures():
    text = out("q9", "--precision", "30")
    with mpmath.workdps(60):
        true = mpmath.nstr(mpmath.exp(mpmath.mpf("-0.7")), 30, strip_zeros=False)
    assert f"f'(z)|z<0 = {true}" in text and true.startswith("0.496585303791409514704")


def test_powers_of_negative_bases_solve():
    text = out("q2", "--set", "y=0")
    assert "L = (y - a)² = (0 - 0.4626)² = 0.2140" in text


@pytest.mark.parametrize("form", [[], ["--latex"], ["--markdown"], ["--json"]])
def test_rounded_factors_are_said_to_be_carried_unrounded_in_every_form(form):
    text = " ".join(out("q1", *form).split())
    assert "computed from the unrounded values" in text
    assert "0.5·0.6365 + (-0.7)·0.4675 + 0.3 = 0.2909" in out("q1")


def test_no_rounding_note_where_nothing_shown_is_rounded():
    assert "unrounded" not in out("q3") and "unrounded" not in out("q4")


# ---------------------------------------------------------------- notes true of their numbers

def test_q3_says_nothing_changes_when_the_loss_is_already_zero():
    text = " ".join(out("q3", "--set", "y=1").split())
    assert "the loss is 0 before the step" in text and "happens to equal" not in text


def test_q5_shows_its_stopping_loss_below_the_tolerance_and_computes_its_relu_claim():
    text = " ".join(out("q5").split())
    assert "falls below 0.01" in text and "0.0099997" in text and "0.01000" not in text
    assert "only the output bias learns" not in text
    assert "even the output bias's gradient is 0" in text


# ---------------------------------------------------------------- bounds and bad specs

@pytest.mark.parametrize("value,message", [
    ("0." + "1" * 4400, "expected a number of at most 650 characters"),
    ("1e99999999", "expected 0 or a magnitude from 1e-300 to 1e300"),
    ("1e-40000", "expected 0 or a magnitude from 1e-300 to 1e300"),
    ("1." + "2" * 45, "expected at most 40 significant digits"),
])
def test_set_values_beyond_the_bounds_are_refused_at_once(value, message):
    result = CliRunner().invoke(cli, ["solve", "q2", "--set", f"w={value}"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert message in result.output


BASE = textwrap.dedent("""\
    id: q99
    title: A test question
    marks: 5
    question: Compute it.
    given: {w: 0.5, x: 2}
    vocabulary: [z]
    convention: {name: plain, text: Nothing to choose.}
    steps:
      - id: y
        text: A step
        formula: w*x
    answers:
      y: {kind: numeric}
    """)


@pytest.mark.parametrize("formula,message", [
    ("diff(w*x, 2*w)", r":11: steps.y.formula: diff\(w\*x, 2\*w\): expected diff\(FORMULA, NAME\)"),
    ("diff(max(0, z), z)", r":11: steps.y.formula: .*has no value here.*where: 'z > 0'"),
    ("w*x\n    form: 2*w*x", r":12: steps.y.form: '2\*w\*x' is not equal to 'w\*x'"),
    ("w*x\n    via: [{formula: w + x, rule: oops}]", r":12: steps.y.via\[0\]: 'w \+ x' is not "
     "equal to 'w\\*x'"),
    ("diff(w*x, w)\n    via: [{formula: x, using: 'w = x'}]",
     r":12: steps.y.via\[0\].using: 'x' is not equal to 'w'"),
])
def test_spec_errors_found_while_solving_name_file_and_line(tmp_path, formula, message):
    path = tmp_path / "q99.yaml"
    path.write_text(BASE.replace("formula: w*x", f"formula: {formula}"))
    with pytest.raises(SpecError, match=message) as info:
        solve(load_spec(path))
    assert str(info.value).startswith(f"{path}:") and "\n" not in str(info.value)


def test_an_id_without_latex_never_reaches_the_reader(tmp_path):
    path = tmp_path / "q99.yaml"
    path.write_text(BASE.replace("id: y", "id: loss").replace("  y: {kind", "  loss: {kind"))
    with pytest.raises(SpecError, match=r":9: steps.loss: 'loss' would be printed as the "
                       r"identifier it is"):
        load_spec(path)
    path.write_text(path.read_text() + "latex: {loss: L}\n")
    assert "L = w·x = 0.5·2 = 1" in to_text([solve(load_spec(path))])


def test_a_numeric_answer_declared_on_a_branch_that_does_not_hold_is_refused(tmp_path):
    path = tmp_path / "q99.yaml"
    path.write_text(BASE.replace("y: {kind: numeric}", "y: {kind: numeric, where: 'w < 0'}"))
    with pytest.raises(SpecError, match=r"answers.y.where: y is declared for w < 0, but here "
                       r"w = 0.5000"):
        solve(load_spec(path))


def test_a_proof_names_only_the_assumption_it_rests_on(tmp_path):
    path = tmp_path / "q99.yaml"
    path.write_text(BASE.replace("given: {w: 0.5, x: 2}",
                                 "given: {w: 0.5, x: 2, y1: 1, y2: 0, u: 0.25, v: 0.75}\n"
                                 "assumptions: ['y1 + y2 == 1', 'u + v == 1']")
                    .replace("formula: w*x", "formula: diff(w*x*(y1 + y2), w)\n    form: x"))
    row = next(r for r in view(solve(load_spec(path)), latex=False, sigfigs=4)["steps"]
               if r["id"] == "y")
    rule = {line["expr"]: line["rule"] for line in row["chain"]}["x"]
    assert "y₁ + y₂ = 1" in rule and "u + v" not in rule, rule
