"""Part A grading with real answers built from the reference solutions."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from grader.parta import grade_question, prepare
from grader.parta.numbers import accepted_interval, judge_number, written_sigfigs
from grader.parta.proof import prove_equal
from grader.parta.reader import read_text, student_formula
from grader.rubric import load_rubric
from grader.submission import Number, Text
from solver.expr import ExprError

RUBRIC = load_rubric()
REFS = prepare(RUBRIC)
NAMES = {"z", "a", "w", "x", "b", "dL_da", "eta", "alpha"}


def numbers(qid: str, convention: str | None = None, sigfigs: int = 4) -> dict[str, Number]:
    """A student's answers to a numeric question: the reference rounded to `sigfigs`."""
    sol = REFS[qid].conventions[0].solution
    if convention:
        sol = sol.alternatives[convention]
    return {aid: Number(f"{a.value:.{sigfigs}g}", 1) for aid, a in sol.answers.items()}


def statuses(mark) -> dict[str, str]:
    return {a.id: a.status for a in mark.answers}


@pytest.mark.parametrize("qid", ["q1", "q2", "q3", "q5", "q8"])
def test_reference_rounded_to_4_and_3_figures_gets_full_marks(qid):
    for sigfigs in (4, 3):
        mark = grade_question(REFS[qid], numbers(qid, sigfigs=sigfigs), RUBRIC)
        assert mark.score == 5 and mark.status == "correct", mark.answers


@pytest.mark.parametrize("qid,convention,changed", [
    ("q1", "row_per_neuron", {"z1", "z2", "h1", "h2", "z_out", "output"}),
    ("q2", "half_mse", {"dL_da", "dL_dw", "dL_db"}),
])
def test_each_declared_convention_gets_full_marks_and_is_named(qid, convention, changed):
    mark = grade_question(REFS[qid], numbers(qid, convention), RUBRIC)
    assert mark.score == 5
    assert {a for a, s in statuses(mark).items() if s == "convention"} == changed
    assert all(convention in a.feedback for a in mark.answers if a.status == "convention")
    assert convention in mark.feedback


def test_mixing_conventions_is_not_full_marks_and_says_so():
    answers = numbers("q1") | {"z1": numbers("q1", "row_per_neuron")["z1"]}
    mark = grade_question(REFS["q1"], answers, RUBRIC)
    assert mark.score == Fraction(9, 2)
    z1 = next(a for a in mark.answers if a.id == "z1")
    assert z1.status == "wrong" and "row_per_neuron" in z1.feedback
    assert "one convention" in z1.feedback


def test_imprecise_number_gets_a_note_and_the_rubric_share():
    answers = numbers("q1") | {"output": Number("0.6", 1)}  # 0.5722 to one figure
    out = next(a for a in grade_question(REFS["q1"], answers, RUBRIC).answers if a.id == "output")
    assert out.status == "imprecise" and "too imprecise" in out.feedback
    assert out.score == RUBRIC.parta.imprecise_share * out.max_score


def test_interval_is_shown_and_bounds_the_accepted_values():
    tol = RUBRIC.parta.tolerances["q1"]["output"]
    lo, hi = accepted_interval(0.5722272937062802, tol)
    assert judge_number(lo, None, 0.5722272937062802, tol).ok
    assert not judge_number(hi + 1e-4, None, 0.5722272937062802, tol).ok
    answers = numbers("q1") | {"output": Number("0.59", 1)}
    out = next(a for a in grade_question(REFS["q1"], answers, RUBRIC).answers if a.id == "output")
    assert out.status == "wrong" and "[0.5694, 0.5751]" in out.feedback


def test_written_sigfigs():
    assert [written_sigfigs(t) for t in ("0.570", "12", "1200", "-1.5e-3", "0.0")] == \
        [3, 2, 2, 2, 1]
    assert written_sigfigs("1/3") is None


def test_follow_through_q1_output_from_own_hidden_values():
    import math

    answers = numbers("q1")
    h1 = 0.7  # wrong
    z_out = 0.5 * h1 - 0.7 * answers["h2"].value + 0.3
    answers |= {"h1": Number("0.7", 1), "z_out": Number(f"{z_out:.4g}", 1),
                "output": Number(f"{1 / (1 + math.exp(-z_out)):.4g}", 1)}
    mark = grade_question(REFS["q1"], answers, RUBRIC)
    s = statuses(mark)
    assert s["h1"] == "wrong" and s["z_out"] == "follow-through" and s["output"] == \
        "follow-through"
    out = next(a for a in mark.answers if a.id == "output")
    assert out.score == RUBRIC.parta.follow_through_share * out.max_score
    assert "follow-through" in out.feedback and "h1" in out.feedback


def test_follow_through_q3_w_new_from_own_gradient_but_not_from_nothing():
    answers = numbers("q3") | {"dL_dw": Number("-6", 1), "w_new": Number("1.6", 1)}
    s = statuses(grade_question(REFS["q3"], answers, RUBRIC))
    assert s["dL_dw"] == "wrong" and s["w_new"] == "follow-through"
    # The same w_new with a correct gradient is simply wrong: nothing to follow through.
    answers = numbers("q3") | {"w_new": Number("1.6", 1)}
    assert statuses(grade_question(REFS["q3"], answers, RUBRIC))["w_new"] == "wrong"


def test_blank_wrong_review_are_distinct():
    answers = numbers("q2")
    answers = {k: v for k, v in answers.items() if k != "z"} | {
        "a": Number("0.9", 1), "dL_da": Text("minus one", 1)}
    mark = grade_question(REFS["q2"], answers, RUBRIC)
    s = statuses(mark)
    assert (s["z"], s["a"], s["dL_da"]) == ("blank", "wrong", "review")
    fb = {a.id: a.feedback for a in mark.answers}
    assert len({fb["z"], fb["a"], fb["dL_da"]}) == 3
    assert grade_question(REFS["q2"], None, RUBRIC).status == "blank"


@pytest.mark.parametrize("text", [
    "1 - tanh(z)**2", "1-tanh(z)^2", "sech(z)**2", "1 - a**2", "(1-a)*(1+a)",
    "1 - tanh(w*x + b)**2", r"1 - \tanh^2(z)", r"\operatorname{sech}^2(z)",
    r"$1-\tanh^{2}\left(z\right)$", "4/(exp(z) + exp(-z))**2",
    "1 - ((e^z - e^(-z))/(e^z + e^(-z)))^2",
])
def test_equivalent_forms_of_the_tanh_derivative_are_accepted(text):
    mark = grade_question(REFS["q6"], {"derivative": Text(text, 1)}, RUBRIC)
    assert statuses(mark)["derivative"] == "correct"


@pytest.mark.parametrize("text", ["1 + tanh(z)**2", "tanh(z)**2", "1 - tanh(z)", "1 - a",
                                  "sech(z)", "1 - tanh(x)**2"])
def test_wrong_forms_of_the_tanh_derivative_are_wrong(text):
    mark = grade_question(REFS["q6"], {"derivative": Text(text, 1)}, RUBRIC)
    assert statuses(mark)["derivative"] == "wrong"


def test_symbolic_follow_through_and_latex_chain_rule():
    mark = grade_question(REFS["q6"], {
        "derivative": Text("1 + tanh(z)^2", 1),
        "dL_dw": Text(r"\frac{\partial L}{\partial a} \cdot (1 + \tanh^2 z) \cdot x", 1)}, RUBRIC)
    assert statuses(mark) == {"derivative": "wrong", "dL_dw": "follow-through"}


def test_branch_answers_are_judged_on_their_branch():
    ok = {"derivative_pos": "1", "derivative_neg": "0", "dL_dw_pos": "dL_da*x",
          "dL_dw_neg": "0", "w_new_pos": "w - eta*dL_da*x", "w_new_neg": "w",
          "b_new_pos": "b - eta*dL_da", "b_new_neg": "b", "dL_dx_pos": "dL_da*w",
          "dL_dx_neg": "0"}
    mark = grade_question(REFS["q4"], {k: Text(v, 1) for k, v in ok.items()}, RUBRIC)
    assert mark.score == 5
    # abs(z)/z is 1 only where z > 0: right for the positive branch, wrong for the negative.
    mark = grade_question(REFS["q4"], {"derivative_pos": Text("abs(z)/z", 1),
                                       "derivative_neg": Text("abs(z)/z", 1)}, RUBRIC)
    assert statuses(mark)["derivative_pos"] == "correct"
    assert statuses(mark)["derivative_neg"] == "wrong"


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch {marker}')", "z.__class__", "(lambda: 1)()",
    "open('{marker}', 'w')", "[x for x in ()]", "z if z else a", r"\input{{{marker}}}",
])
def test_code_in_an_answer_goes_to_review_and_never_runs(tmp_path, text):
    marker = tmp_path / "ran"
    mark = grade_question(REFS["q6"], {"derivative": Text(text.format(marker=marker), 1)},
                          RUBRIC)
    assert statuses(mark)["derivative"] == "review"
    assert not marker.exists()


def test_latex_translation():
    cases = {
        r"\frac{\partial L}{\partial a} \cdot (1 - a^2) \cdot x": "dL_da*(1 - a**2)*x",
        r"\sigma(z) + z\sigma(z)(1-\sigma(z))": "sigmoid(z) + z*sigmoid(z)*(1 - sigmoid(z))",
        r"w - \eta \frac{dL}{da} \alpha e^{z} x": "w - eta*dL_da*alpha*exp(z)*x",
        r"\frac{1}{1+e^{-z}}": "1/(1 + exp(-z))",
    }
    for latex, plain in cases.items():
        got = student_formula(latex, NAMES)
        assert got.tree is not None
        from solver.expr import parse, to_sympy
        from solver.functions import FUNCTIONS
        expect = parse(plain, NAMES, FUNCTIONS)
        assert to_sympy(got, functions=FUNCTIONS) == to_sympy(expect, functions=FUNCTIONS)
    with pytest.raises(ExprError):
        read_text(r"\frac{1}", NAMES)
    with pytest.raises(ExprError):
        read_text(r"\unknown(z)", NAMES)


def test_exact_proof_is_cut_off_by_the_hard_time_limit():
    # Expanding this takes far longer than any test run; the alarm must stop it.
    huge = student_formula("(w + x + b + dL_da + eta + z)**64", NAMES)
    ref = REFS["q6"].conventions[0].solution.answers["derivative"].exact
    assert prove_equal(huge, ref, REFS["q6"].definitions, 0.3) is None
    mark = grade_question(REFS["q6"], {"derivative": Text(huge.text, 1)}, RUBRIC)
    assert statuses(mark)["derivative"] == "wrong"


def test_example_submission_gets_full_marks_in_part_a():
    from grader.context import RunContext
    from grader.grade import grade_submission

    result = grade_submission(Path(__file__).resolve().parent.parent / "examples" / "submission",
                              RunContext.build(parts="A"))
    assert result.status == "graded"
    assert result.score == Fraction(50)
    assert {i.id for i in result.items} == {f"q{k}" for k in range(1, 11)}


# ---------------------------------------------------------------- tolerances: the rubric's


def _rubric_with(tmp_path: Path, old: str, new: str):
    from core import resources

    text = resources.path("problems", "rubric.yaml").read_text()
    assert old in text
    path = tmp_path / "rubric.yaml"
    path.write_text(text.replace(old, new))
    return load_rubric(path)


def test_every_numeric_answer_has_the_rubric_tolerance_and_q3_its_override():
    tol = RUBRIC.parta.tolerances
    assert tol["q3"]["loss_new"].abs == 0.0005 and tol["q3"]["loss_new"].rel == 0.005
    assert tol["q1"]["output"].abs == 0 and tol["q1"]["output"].sigfigs == 3
    assert "derivative" not in tol["q6"]  # symbolic answers are compared at points instead
    # q3's loss after the step is exactly 0: only the absolute bound accepts 0.0004.
    answers = numbers("q3") | {"loss_new": Number("0.0004", 1)}
    assert statuses(grade_question(REFS["q3"], answers, RUBRIC))["loss_new"] == "correct"


def test_the_rubric_tolerance_decides_what_is_accepted(tmp_path):
    loose = _rubric_with(tmp_path, "  tolerance:\n    rel: 0.005", "  tolerance:\n    rel: 0.05")
    answers = numbers("q1") | {"output": Number("0.59", 1)}  # 3% above 0.5722
    assert statuses(grade_question(REFS["q1"], answers, RUBRIC))["output"] == "wrong"
    assert statuses(grade_question(prepare(loose)["q1"], answers, loose))["output"] == "correct"


@pytest.mark.parametrize("old,new,message", [
    # Fields that moved into the questions' specs are pointed there.
    ("    sigfigs: 3\n", "    sigfigs: 3\n    answers:\n      q3: {loss_new: {abs: 0.0005}}\n",
     r"parta.tolerance.answers: moved: an answer's own tolerance is `tolerance:` beside it"),
    ("    chain_rel: 0.005\n", "    chain_rel: 0.005\n    bounds: {q5: [xavier_bound_hidden]}\n",
     r"parta.reading.bounds: moved: a bound answer says `bound: true`"),
    ("  reading:\n", "  weights: {q6: {derivative: 2.5, dL_dw: 2.5}}\n  reading:\n",
     r"parta.weights: moved: an answer's weight is `weight:` beside it"),
    ("    rel: 0.005\n    abs: 0\n", "    rel: 0.005\n", r"parta.tolerance.abs: missing"),
    ("    rel: 1.0e-8 ", "    rel: -1 ", r"parta.symbolic.rel: "),
    ("    chain_rel: 0.005\n", "    chain_rel: 5\n", r"parta.reading.chain_rel: expected a number"),
    ("claim: {metric: digits.mlp.test_accuracy, type: accuracy, max_gap: 0.02}",
     "claim: {metric: digits.mlp.test_accuracy, type: accuracy}",
     r"partb.digits_mlp.claim.max_gap: missing"),
])
def test_a_bad_tolerance_is_one_line_naming_the_field(tmp_path, old, new, message):
    from grader.rubric import RubricError

    with pytest.raises(RubricError, match=message) as info:
        _rubric_with(tmp_path, old, new)
    assert "\n" not in str(info.value)


def test_the_questions_marks_must_add_up_to_part_a(tmp_path):
    from core import resources
    from grader.rubric import RubricError
    from solver.spec import load_all

    with pytest.raises(RubricError, match=r"rubric.yaml:\d+: parta: the questions' marks \(their "
                       r"specs' `marks:`\) add up to 45, expected 50 \(the rubric's marks.parta\)"):
        load_rubric(specs=load_all()[:9])
    # A course that drops (or adds) a question says so in its rubric's marks.
    text = (resources.path("problems", "rubric.yaml").read_text()
            .replace("marks: {parta: 50,", "marks: {parta: 45,"))
    (tmp_path / "rubric.yaml").write_text(text)
    assert load_rubric(tmp_path / "rubric.yaml", specs=load_all()[:9]).parta.questions


def test_answer_weights_and_tolerances_are_the_specs(tmp_path):
    from solver.spec import load_all

    specs = {s.id: s for s in load_all()}
    weights = RUBRIC.parta.weights
    assert weights["q1"]["output"] == Fraction(3, 2) == specs["q1"].answers["output"].weight
    # q6 and q10 declare no weights: their two answers share the 5 marks evenly.
    assert weights["q6"] == weights["q10"] == {"derivative": Fraction(5, 2),
                                              "dL_dw": Fraction(5, 2)}
    assert all(sum(w.values()) == specs[q].marks for q, w in weights.items())
    assert REFS["q5"].bounds == {"xavier_bound_hidden", "xavier_bound_output"}


# ---------------------------------------------------------------- the references' cache


def test_references_are_built_once_for_all_they_depend_on(tmp_path):
    from core import resources
    from grader.parta import references
    from solver.spec import load_all, load_spec

    refs = references(RUBRIC)
    assert references(load_rubric()) is refs  # the same content: built once per process
    # A copy elsewhere with a comment added is the same rubric for Part A.
    copy = tmp_path / "copy.yaml"
    copy.write_text(resources.path("problems", "rubric.yaml").read_text() + "# a note\n")
    assert references(load_rubric(copy)) is refs
    # Anything they are built from makes others: a tolerance, a spec's weights.
    loose = _rubric_with(tmp_path, "  tolerance:\n    rel: 0.005", "  tolerance:\n    rel: 0.05")
    assert references(loose) is not refs
    assert references(loose).common["q1"].tolerances["z1"].rel == 0.05
    text = (resources.path("problems", "q01_feedforward.yaml").read_text()
            .replace("z1: {kind: numeric, weight: 0.5}", "z1: {kind: numeric, weight: 0.25}")
            .replace("z2: {kind: numeric, weight: 0.5}", "z2: {kind: numeric, weight: 0.75}"))
    (tmp_path / "q01_feedforward.yaml").write_text(text)
    specs = [load_spec(tmp_path / "q01_feedforward.yaml"), *load_all()[1:]]
    reweighted = references(load_rubric(specs=specs))
    assert reweighted is not refs and reweighted.common["q1"].weights["z1"] == Fraction(1, 4)
    # A student's own numbers: built once, and shared where a question has no variants.
    mine = refs.get((7, "ada"))
    assert refs.get((7, "ada")) is mine and mine["q6"] is refs.common["q6"]
    assert mine["q1"].given != refs.common["q1"].given
