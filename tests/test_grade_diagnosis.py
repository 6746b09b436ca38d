"""What a wrong Part A answer most likely is, and its group among the class's wrong answers:
decided with its mark (AnswerMark.diagnosis, AnswerMark.group), in the grading worker."""

from __future__ import annotations

from grader.parta import grade_question, prepare
from grader.parta.diagnosis import load_grouping
from grader.results import Outcome, Result
from grader.rubric import load_rubric
from grader.submission import Number, Text
from grader.writers.json import to_dict

RUBRIC = load_rubric()
REFS = prepare(RUBRIC)


def numbers(qid: str, **wrong: str) -> dict[str, Number]:
    sol = REFS[qid].conventions[0].solution
    out = {aid: Number(f"{a.value:.4g}", 1) for aid, a in sol.answers.items()}
    return out | {aid: Number(text, 1) for aid, text in wrong.items()}


def marked(qid: str, answers: dict, variant: bool = False) -> dict[str, tuple]:
    mark = grade_question(REFS[qid], answers, RUBRIC, variant=variant)
    return {a.id: (a.status, a.group, a.diagnosis) for a in mark.answers}


def test_numbers_are_grouped_by_their_value_and_diagnosed():
    got = marked("q1", numbers("q1", z1="-0.56", h1="0.64", output="0.59"))
    assert got["z1"] == ("wrong", ("value", "-0.56"), "a sign error")
    assert got["h1"] == ("imprecise", ("value", "0.64"), "too few significant figures")
    assert got["output"] == ("wrong", ("value", "0.59"), "unexplained")
    assert got["z2"] == ("correct", (), "")  # only wrong answers have either
    p1 = REFS["q8"].conventions[0].solution.answers["p1"].value
    assert marked("q8", numbers("q8", p2=f"{p1:.4g}"))["p2"] == \
        ("wrong", ("value", "0.623"), "the value of p1")  # to the site's 3 figures


def test_a_question_in_the_other_convention_and_answers_mixing_them():
    other = REFS["q1"].conventions[0].solution.alternatives["row_per_neuron"].answers
    whole = {aid: Number(f"{a.value:.4g}", 1) for aid, a in other.items()}
    got = marked("q1", whole)
    assert got["output"][0] == "convention" and got["output"][2] == "the row_per_neuron convention"
    mixed = marked("q1", numbers("q1", z1=f"{other['z1'].value:.4g}"))
    assert mixed["z1"] == ("wrong", ("value", "0.38"), "the row_per_neuron convention (the "
                           "question's other answers: input_to_hidden)")


def test_formulas_equal_at_the_points_are_one_group():
    forms = ["tanh(z)**2 - 1", "-sech(z)**2", r"-\operatorname{sech}^2(z)", "(a - 1)(a + 1)"]
    groups = set()
    for text in forms:
        got = marked("q6", {"derivative": Text(text, 1), "dL_dw": Text("dL_da*(1-a**2)*x", 1)})
        assert got["derivative"][0] == "wrong" and got["derivative"][2] == "a sign error"
        groups.add(got["derivative"][1])
    (group,) = groups
    assert group[0] == "formula" and len(group) == 1 + RUBRIC.parta.symbolic.points
    got = marked("q6", {"derivative": Text("dL_da*(1-a**2)*x", 1)})
    assert got["derivative"][2] == "the expression of dL_dw"
    got = marked("q6", {"derivative": Text("1 + a**2", 1), "dL_dw": Text("dL_da*(1+a**2)*x", 1)})
    assert got["derivative"][2] == "unexplained"
    assert got["dL_dw"][0] == "follow-through" and \
        got["dL_dw"][2] == "follow-through from derivative"


def test_own_numbers_are_grouped_by_diagnosis():
    # With each student's own numbers (a course's variants) a value says nothing across the
    # class: the group is the diagnosis; a question without variants keeps its values.
    assert marked("q1", numbers("q1", z1="-0.56"), variant=True)["z1"][1] == \
        ("diagnosis", "a sign error")
    assert not REFS["q6"].spec.variants
    got = marked("q6", {"derivative": Text("-sech(z)**2", 1)}, variant=True)
    assert got["derivative"][1][0] == "formula"


def test_the_grouping_settings_are_the_sites():
    grouping = load_grouping()
    assert (grouping.value_sigfigs, grouping.match_rel) == (3, 0.005)


def test_the_student_json_is_unchanged():
    mark = grade_question(REFS["q1"], numbers("q1", z1="-0.56"), RUBRIC)
    z1 = to_dict(Result("s", "", Outcome.GRADED, (mark,)))["questions"]["q1"]["answers"]["z1"]
    assert set(z1) == {"score", "max_score", "status", "submitted", "feedback"}
