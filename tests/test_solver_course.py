"""A new question is one YAML file in a course folder (`dlhw --course DIR`): an ELU neuron with a
target (a piecewise activation whose piece the values choose, never a fixed one) and a
three-class softmax with cross-entropy (derived from its definition, with the one-hot label the
spec assumes) solve, print, agree with torch autograd, and are marked by the grader once the
course's own rubric counts their marks."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli import cli
from core import resources
from grader.parta import grade_question, prepare
from grader.rubric import RubricError, load_rubric
from grader.submission import Number

ROOT = Path(__file__).resolve().parent.parent

ELU = textwrap.dedent("""\
    id: q11
    title: ELU neuron with a target
    marks: 5
    question: >-
      A neuron with input $x = <<x>>$, weight $w = <<w>>$, bias $b = <<b>>$ and the ELU
      activation with $\\alpha = <<alpha>>$ has the target $y = <<y>>$ and the loss
      $L = (y - a)^2$. Compute the gradients of $L$ with respect to $w$ and $b$.
    given: {x: 1, w: -0.5, b: -0.2, y: 1, alpha: 0.5}
    convention:
      name: left_derivative_at_zero
      text: ELU is $z$ for $z > 0$ and $\\alpha(e^z - 1)$ otherwise, as PyTorch takes it.
    steps:
      - {id: z, text: Pre-activation, formula: w*x + b}
      - {id: a, text: Activation, formula: "z if z > 0 else alpha*(exp(z) - 1)"}
      - {id: L, text: Loss, formula: (y - a)**2}
      - {id: dL_da, text: Derivative of the loss, formula: "diff((y - a)**2, a)"}
      - id: da_dz
        text: Derivative of ELU at this $z$
        formula: "diff(z if z > 0 else alpha*(exp(z) - 1), z)"
      - {id: dL_dw, text: Chain rule, formula: dL_da*da_dz*x}
      - {id: dL_db, text: Chain rule for the bias, formula: dL_da*da_dz}
    answers:
      a: {kind: numeric}
      da_dz: {kind: numeric}
      dL_dw: {kind: numeric, weight: 2}
      dL_db: {kind: numeric}
    """)

SOFTMAX3 = textwrap.dedent("""\
    id: q12
    title: Three-class softmax with cross-entropy
    marks: 5
    question: >-
      Logits $z = (<<z1>>, <<z2>>, <<z3>>)$ go through a softmax; the one-hot label is
      $y = (<<y1>>, <<y2>>, <<y3>>)$. Compute the cross-entropy loss and its gradient.
    given: {z1: 1.0, z2: 2.0, z3: 0.5, y1: 0, y2: 1, y3: 0}
    assumptions: ["y1 + y2 + y3 == 1"]
    convention:
      name: natural_log
      text: $L = -\\sum_k y_k \\ln p_k$ with $p_k = e^{z_k}/\\sum_j e^{z_j}$.
    steps:
      - {id: p1, text: Class 1, formula: exp(z1)/(exp(z1) + exp(z2) + exp(z3))}
      - {id: p2, text: Class 2, formula: exp(z2)/(exp(z1) + exp(z2) + exp(z3))}
      - {id: p3, text: Class 3, formula: exp(z3)/(exp(z1) + exp(z2) + exp(z3))}
      - {id: L, text: Loss, formula: -(y1*log(p1) + y2*log(p2) + y3*log(p3))}
    """) + "".join(f"  - id: dL_dz{k}\n"
                   f"    text: Gradient, logit {k}, from the definition\n"
                   f"    formula: diff(-(y1*log(p1) + y2*log(p2) + y3*log(p3)), z{k})\n"
                   f"    form: p{k} - y{k}\n" for k in (1, 2, 3)) + textwrap.dedent("""\
    answers:
      L: {kind: numeric}
      dL_dz1: {kind: numeric}
      dL_dz2: {kind: numeric}
      dL_dz3: {kind: numeric}
    """)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    (folder / "problems").mkdir()
    (folder / "problems" / "q11_elu_target.yaml").write_text(ELU)
    (folder / "problems" / "q12_softmax3.yaml").write_text(SOFTMAX3)
    return folder


@pytest.fixture
def in_course(course):
    resources.set_home(course)
    yield course
    resources.set_home(None)


def solve(course: Path, qid: str, *sets: str) -> dict:
    args = ["--course", str(course), "solve", qid, "--json"]
    for s in sets:
        args += ["--set", s]
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        resources.set_home(None)  # --course sets the folder for the rest of the process
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def t(value: float, grad: bool = False) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("w", ["-0.5", "0.8", "0.2"])  # z < 0, z > 0 and z = 0 exactly
def test_elu_question_takes_the_piece_its_values_choose_and_agrees_with_autograd(course, w):
    data = solve(course, "q11", f"w={w}")
    got = {k: a["value"] for k, a in data["answers"].items()}
    wt, bt = t(float(w), True), t(-0.2, True)
    z = wt * 1 + bt
    z.retain_grad()
    a = torch.nn.functional.elu(z, alpha=0.5)
    a.retain_grad()
    ((1 - a) ** 2).backward()
    expected = {"a": a.item(), "da_dz": float(z.grad / a.grad), "dL_dw": float(wt.grad),
                "dL_db": float(bt.grad)}
    for k, v in expected.items():
        assert abs(got[k] - v) <= 1e-12 * max(1, abs(v)), (w, k, got[k], v)
    step = next(s for s in data["steps"] if s["id"] == "da_dz")
    rule = step["derivation"][0]["rule"]
    assert re.fullmatch(r"on the branch \$z (>|\\le) 0\$, as \$z = \S+\$ here", rule), rule
    # The activation itself (a numeric step) is shown on its piece too, never both.
    act = next(s for s in data["steps"] if s["id"] == "a")
    assert [d["rule"] for d in act["derivation"]] == [rule]
    assert act["derivation"][0]["sympy"] == ("z" if float(w) > 0.2 else "alpha*(exp(z) - 1)")


def test_elu_at_a_max_kink_is_one_line_not_a_guess(course, tmp_path):
    folder = tmp_path / "kink"
    (folder / "problems").mkdir(parents=True)
    (folder / "problems" / "q11_elu_max.yaml").write_text(ELU.replace(
        "z if z > 0 else alpha*(exp(z) - 1)", "max(0, z) + alpha*(exp(min(0, z)) - 1)"))
    result = CliRunner().invoke(cli, ["--course", str(folder), "solve", "q11", "--set", "w=0.2"])
    resources.set_home(None)
    assert result.exit_code == 1
    assert re.fullmatch(r"dlhw: error: q11: max\(0, z\) is at its kink at these values: .*\n",
                        result.output), result.output


@pytest.mark.parametrize("label", [(0, 1, 0), (1, 0, 0), (0, 0, 1)])
def test_three_class_cross_entropy_from_its_definition_agrees_with_autograd(course, label):
    data = solve(course, "q12", *(f"y{k}={v}" for k, v in zip((1, 2, 3), label)))
    z = t([1.0, 2.0, 0.5], True)
    loss = torch.nn.functional.cross_entropy(z.unsqueeze(0), torch.tensor([label.index(1)]))
    loss.backward()
    got = {k: a["value"] for k, a in data["answers"].items()}
    assert abs(got["L"] - loss.item()) <= 1e-12
    for k in range(3):
        assert abs(got[f"dL_dz{k + 1}"] - float(z.grad[k])) <= 1e-12, (label, k)
    # Proven from -sum y ln p to p - y with the label's one-hot assumption, which it says.
    step = next(s for s in data["steps"] if s["id"] == "dL_dz1")
    assert "y_{1} + y_{2} + y_{3} = 1" in step["derivation"][-1]["rule"]


def test_a_label_that_breaks_the_assumption_is_one_line(course):
    result = CliRunner().invoke(cli, ["--course", str(course), "solve", "q12", "--set", "y1=1"])
    resources.set_home(None)
    assert result.exit_code == 1
    assert result.output == ("dlhw: error: q12: expected y1 + y2 + y3 == 1 (the derivations "
                             "assume it)\n")


def test_the_grader_marks_the_new_questions_once_the_course_rubric_counts_them(in_course):
    shipped = (ROOT / "problems" / "rubric.yaml").read_text()
    with pytest.raises(RubricError, match=r"add up to 60, expected 50"):
        load_rubric(resources.shipped("problems") / "rubric.yaml")
    raised = shipped.replace("marks: {parta: 50,", "marks: {parta: 60,")
    assert raised != shipped
    (in_course / "problems" / "rubric.yaml").write_text(raised)
    rubric = load_rubric()
    refs = prepare(rubric)
    assert rubric.parta.weights["q11"]["dL_dw"] == 2
    for qid in ("q11", "q12"):
        sol = refs[qid].conventions[0].solution
        answers = {aid: Number(f"{a.value:.4g}", 1) for aid, a in sol.answers.items()}
        mark = grade_question(refs[qid], answers, rubric)
        assert mark.score == 5, mark.answers
