"""`dlhw solve` end to end: JSON snapshots, LaTeX that pdflatex compiles, errors, no torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
from click.testing import CliRunner

from cli import cli
from tests.conftest import require

# Snapshots of the tool's own output: they catch a change, not an error (a wrong answer stored
# here would pass). Correctness is checked against autograd and finite differences instead
# (test_solver_crosscheck.py).
SNAPSHOTS = Path(__file__).parent / "snapshots"
QUESTIONS = [f"q{i}" for i in range(1, 11)]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("qid", QUESTIONS)
def test_json_is_unchanged_from_its_snapshot(qid):
    # Regenerate after a deliberate change: dlhw solve qN --json > tests/snapshots/qN.json
    result = invoke("solve", qid, "--json")
    assert result.exit_code == 0, result.output
    assert_same(json.loads(result.output), json.loads((SNAPSHOTS / f"{qid}.json").read_text()))


def assert_same(got, want, where="$"):
    """Equal JSON, floats to 1e-12 relative (the last bit may differ between libms)."""
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert abs(got - want) <= 1e-12 * max(1.0, abs(want)), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


@pytest.mark.parametrize("qid", QUESTIONS)
def test_json_sympy_strings_parse_and_agree_with_values(qid):
    data = json.loads(invoke("solve", qid, "--json").output)
    assert set(data) >= {"id", "title", "marks", "answers", "alternatives", "steps"}
    for shape in [data["answers"], *data["alternatives"].values()]:
        for aid, ans in shape.items():
            assert set(ans) >= {"value", "sympy", "latex"}, aid
            expr = sympy.sympify(ans["sympy"])
            if ans["kind"] == "numeric":
                assert abs(float(expr) - ans["value"]) <= 1e-12 * max(1, abs(ans["value"]))


def test_all_json_is_a_list_of_ten():
    data = json.loads(invoke("solve", "--all", "--json").output)
    assert [d["id"] for d in data] == QUESTIONS


def test_terminal_output_of_q1_shows_steps_and_both_conventions():
    out = invoke("solve", "q1").output
    assert "z₁ = w₁₁·x₁ + w₂₁·x₂ + b₁ = 0.8·0.5 + 0.2·0.3 + 0.1 = 0.5600" in out
    assert "z₂ = w₁₂·x₁ + w₂₂·x₂ + b₂ = (-0.4)·0.5 + 0.9·0.3 + (-0.2) = -0.1300" in out
    assert "ŷ = σ(z_o) = σ(0.2909) = 0.5722" in out
    assert "row_per_neuron" in out and "0.5541" in out


def test_precision_option_keeps_trailing_zeros_and_never_rounds_given_values():
    assert "0.572227" in invoke("solve", "q1", "--precision", "6").output
    out = invoke("solve", "q8", "--precision", "1").output
    assert "exp(2.0)/(exp(2.0) + exp(1.5))" in out and "= 0.6" in out
    assert "0.2350" in invoke("solve", "q8").output  # four figures, the zero kept
    out30 = invoke("solve", "q1", "--precision", "30").output
    assert "0.572227293706280" in out30 and "0.560000000000000000000000000000" in out30


def test_set_resolves_with_new_values_and_accepts_fractions():
    out = invoke("solve", "q1", "--set", "x1=0.6", "--set", "w12=-0.5").output
    assert "0.8·0.6 + 0.2·0.3 + 0.1 = 0.6400" in out
    out = invoke("solve", "q2", "--set", "w=-2/7").output
    assert "(-2/7)·0.7" in out


def test_labels_follow_the_values():
    out = invoke("solve", "q5", "--set", "fan_in_hidden=100").output
    assert "n_in = 100" in out and "2/(100 + 2) = 0.01961" in out


def test_markdown_has_math_and_answer_table():
    out = invoke("solve", "q2", "--markdown").output
    assert out.startswith("## Question 2: Gradient computation")
    assert "| $\\frac{\\partial L}{\\partial w} = -0.1870$ | `dL_dw` |" in out


def test_q5_demo_table_in_every_form():
    for form, w11 in (("--latex", "$w_{11}$"), ("--markdown", "$w_{11}$"), (None, "w₁₁")):
        out = invoke("solve", "q5", *([form] if form else [])).output
        assert "Xavier, end" in out and "zero, start" in out and w11 in out


@pytest.mark.parametrize("args,code,message", [
    (["solve"], 2, "give one QUESTION"),
    (["solve", "q1", "--all"], 2, "give one QUESTION"),
    (["solve", "q1", "--standalone"], 2, "--standalone goes with --latex"),
    (["solve", "--all", "--set", "x1=1"], 2, "--set applies to one question"),
    (["solve", "q11"], 1, "no question 'q11'"),
    (["solve", "q1", "--set", "x9=1"], 1, "unknown given value 'x9'"),
    (["solve", "q1", "--set", "x1=abc"], 1, "--set x1=abc: expected a number"),
    (["solve", "q1", "--set", "x1"], 1, "expected NAME=NUMBER"),
    (["solve", "q1", "--json", "--latex"], 2, "at most one of --latex, --markdown and --json"),
    (["solve", "q1", "--set", "x1=1", "--set", "x1=2"], 1, "--set x1 is given twice"),
    (["solve", "q2", "--set", "w=1e400"], 1, "expected 0 or a magnitude from 1e-300 to 1e300"),
    (["solve", "q2", "--set", "w=1/0"], 1, "expected a number such as 0.6, -1e-3 or -2/7"),
    (["solve", "q5", "--set", "fan_in_hidden=0"], 1, "expected fan_in_hidden >= 1"),
    (["solve", "q5", "--set", "fan_in_hidden=-3"], 1, "expected fan_in_hidden >= 1"),
    (["solve", "q1", "--precision", "31"], 2, "31 is not in the range 1<=x<=30"),
])
def test_cli_errors_are_one_line_with_exit_codes(args, code, message):
    result = invoke(*args)
    assert result.exit_code == code
    assert message in result.output
    if code == 1:
        assert result.output.strip().count("\n") == 0


def test_list_prints_ten_questions_and_total():
    out = invoke("list").output.splitlines()
    assert out[0].split()[0] == "q1" and len(out) == 11 and out[-1].split()[-2] == "50"


def test_solve_never_imports_torch():
    code = ("import sys; from click.testing import CliRunner; import cli; "
            "r = CliRunner().invoke(cli.cli, ['solve', '--all', '--json']); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("qid", QUESTIONS)
def test_standalone_latex_compiles_with_pdflatex(qid, tmp_path):
    require(shutil.which("pdflatex") is not None,
            "pdflatex missing: apt-get install texlive-latex-base texlive-latex-recommended")
    result = invoke("solve", qid, "--latex", "--standalone")
    assert result.exit_code == 0
    tex = tmp_path / f"{qid}.tex"
    tex.write_text(result.output)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / f"{qid}.pdf").stat().st_size > 1000


@pytest.mark.parametrize("qid", QUESTIONS)
def test_float_only_solving_prints_exactly_what_exact_solving_prints(qid):
    from solver import render
    from solver.engine import solve
    from solver.spec import find_spec

    spec = find_spec(qid)
    fast, full = solve(spec, exact=False), solve(spec)
    for to in (render.to_text, render.to_markdown, render.to_latex):
        assert to([fast]) == to([full])
    assert [a.value for a in fast.answers.values()] == [a.value for a in full.answers.values()]
