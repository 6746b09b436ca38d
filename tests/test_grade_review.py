"""Never a silent zero, end to end through `dlhw grade`: unreadable answers are `review`
(listed first, counted in stats.csv, written to review.csv), overrides.yaml settles them and the
run reports it; q8 follows through from the student's own p1, p2; answers live in the reals; a
huge or hostile answer string is read in linear time."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import cli
from grader.parta import grade_question, prepare
from grader.parta.proof import prove_equal
from grader.parta.reader import student_formula
from grader.results import EXIT_PENDING, exit_status
from grader.rubric import load_rubric
from grader.submission import Text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "submission"
RUBRIC = load_rubric()
REFS = prepare(RUBRIC)


def _submission(folder: Path, changes: dict[str, dict[str, object]]) -> Path:
    """The example submission (full marks in Part A) with some answers replaced."""
    folder.mkdir(parents=True)
    answers = yaml.safe_load((EXAMPLE / "answers.yaml").read_text())
    for qid, new in changes.items():
        answers[qid].update(new)
    (folder / "answers.yaml").write_text(yaml.safe_dump(answers, allow_unicode=True))
    return folder


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(cli, ["grade", *args, "--parts", "A", "--format", "json"])
    out = json.loads(result.stdout)
    # 0 graded; 4 (issue 24) when an answer waits for review.
    assert result.exit_code == exit_status([out["status"]]), result.output
    return out


def test_unreadable_answer_is_review_listed_first_and_correct_forms_are_read(tmp_path):
    sub = _submission(tmp_path / "s001", {
        "q6": {"derivative": "1 - tanh²(z)", "dL_dw": "dL/da (1 - tanh^2 z) x"},
        "q1": {"output": "0.5722 or 0.55", "h1": "≈ 0.6365"},
    })
    out = _json([str(sub)])
    q6 = out["questions"]["q6"]
    assert q6["score"] == 5 and q6["status"] == "correct"
    assert q6["answers"]["derivative"]["feedback"].startswith("read as 1 - tanh(z)**2")
    q1 = out["questions"]["q1"]
    assert q1["status"] == "review" and q1["answers"]["output"]["status"] == "review"
    assert "more than one number" in q1["answers"]["output"]["feedback"]
    assert q1["answers"]["h1"]["status"] == "correct"
    assert "read '≈ 0.6365' as 0.6365" in q1["answers"]["h1"]["feedback"]
    assert q1["feedback"].startswith("1 review")
    table = CliRunner().invoke(cli, ["grade", str(sub), "--parts", "A"]).output
    lines = table.splitlines()
    assert lines[1].startswith("  ? review q1.output:")  # before every question's row


def _batch(tmp_path: Path, overrides: str | None = None) -> tuple[CliRunner, Path, Path]:
    root = tmp_path / "class"
    _submission(root / "s001", {"q6": {"derivative": "th^2(z)"}})
    _submission(root / "s002", {"q1": {"output": "=HYPERLINK(0.5722)"}})
    _submission(root / "s003", {})
    if overrides is not None:
        (root / "overrides.yaml").write_text(textwrap.dedent(overrides))
    return CliRunner(), root, tmp_path / "out"


def test_batch_counts_review_and_writes_review_csv(tmp_path):
    runner, root, out = _batch(tmp_path)
    result = runner.invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                 "A", "--jobs", "1"])
    assert result.exit_code == EXIT_PENDING, result.output  # answers wait for review
    assert "2 answer(s) could not be read" in result.output
    rows = list(csv.DictReader((out / "review.csv").open()))
    # The full id and the weight, as overrides.yaml takes them (issue 24).
    assert [(r["student"], r["answer"], r["weight"]) for r in rows] == [
        ("s001", "q6.derivative", "2.5"), ("s002", "q1.output", "1.5")]
    assert rows[0]["written"] == "th^2(z)" and "unknown name" in rows[0]["why"]
    assert rows[1]["written"].startswith("'=")  # neutralised for spreadsheets
    stats = {r["item"]: r for r in csv.DictReader((out / "stats.csv").open())}
    assert "review=1" in stats["q6"]["statuses"] and "review=1" in stats["q1"]["statuses"]
    assert stats["q6"]["pending"] == "1" and stats["q6"]["n"] == "2"  # pending: not a score
    book = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert book["s001"]["q6"] == "2.5" and book["s003"]["total"] == "50"


def test_overrides_settle_review_and_are_reported(tmp_path):
    runner, root, out = _batch(tmp_path, """\
        - student: s001
          answer: q6.derivative
          points: 2.5
          reason: "th^2(z) is tanh^2(z), read by hand"
        - student: s404
          answer: q1.output
          points: 1
          reason: typo in the id
        """)
    result = runner.invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                 "A", "--jobs", "1"])
    assert result.exit_code == EXIT_PENDING, result.output  # s002 still waits for review
    assert "applied 1 override(s)" in result.output
    assert "not applied: line 5: s404 q1.output (no such student)" in result.output
    book = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert book["s001"]["q6"] == "5" and book["s001"]["total"] == "50"
    s001 = json.loads((out / "students" / "s001.json").read_text())
    derivative = s001["questions"]["q6"]["answers"]["derivative"]
    assert derivative["status"] == "override"
    assert "read by hand" in derivative["feedback"] and "review" in derivative["feedback"]
    assert [r["student"] for r in csv.DictReader((out / "review.csv").open())] == ["s002"]
    # Single mode finds the same file beside the submission and applies it.
    single = _json([str(root / "s001")])
    assert single["questions"]["q6"]["answers"]["derivative"]["status"] == "override"


@pytest.mark.parametrize("bad,why", [
    ("- student: s001\n  answer: q6.nothing\n  points: 1\n  reason: x\n", "q6.nothing"),
    ("- student: s001\n  answer: q6.derivative\n  points: 9\n  reason: x\n", "points"),
    ("- student: s001\n  answer: q6.derivative\n  points: 1\n", "reason"),
])
def test_a_bad_overrides_file_is_a_usage_error_naming_the_line(tmp_path, bad, why):
    runner, root, out = _batch(tmp_path, bad)
    result = runner.invoke(cli, ["grade", str(root), "--batch", "--out", str(out)])
    assert result.exit_code == 2 and "overrides.yaml:" in result.output and why in result.output


def test_q8_follows_through_from_the_students_own_swapped_probabilities(tmp_path):
    sol = REFS["q8"].conventions[0].solution.answers
    p1, p2 = sol["p2"].value, sol["p1"].value  # swapped
    sub = _submission(tmp_path / "s001", {"q8": {
        "p1": round(p1, 4), "p2": round(p2, 4), "dL_dz1": round(p1 - 1, 4),
        "dL_dz2": round(p2, 4)}})
    q8 = _json([str(sub)])["questions"]["q8"]["answers"]
    assert (q8["p1"]["status"], q8["p2"]["status"]) == ("wrong", "wrong")
    assert q8["dL_dz1"]["status"] == "follow-through" and "own p1" in q8["dL_dz1"]["feedback"]
    assert q8["dL_dz2"]["status"] == "follow-through" and "own p2" in q8["dL_dz2"]["feedback"]
    # Jacobian entries are products of p1 and p2: symmetric in the swap, so still correct.
    assert q8["dp1_dz2"]["status"] == "correct"


def test_answers_live_in_the_reals():
    """9.11: sqrt(-1)**2 must not cancel a -1 in complex algebra."""
    ref = REFS["q6"]
    exact = ref.conventions[0].solution.answers["derivative"].exact
    for text in ("1 - tanh(z)**2 + sqrt(-1)**2 + 1", "1 - tanh(z)**2 + log(-1)*0",
                 "1 - tanh(z)**2 + sqrt(-1 - z**2)*0", "1 - tanh(z)**2 - (-1)**0.5*(-1)**0.5 - 1"):
        formula = student_formula(text, ref.names)
        assert prove_equal(formula, exact, ref.definitions, 2.0) is not True, text
        mark = grade_question(ref, {"derivative": Text(text, 1)}, RUBRIC)
        derivative = next(a for a in mark.answers if a.id == "derivative")
        # Read as written, then not equal at the random points (no real value there).
        assert derivative.status == "wrong" and derivative.score == 0, text
    mark = grade_question(ref, {"derivative": Text("1 - tanh(z)**2 + sqrt(-1)**2 + 1", 1)},
                          RUBRIC)
    assert "no real value" in mark.answers[0].feedback
    # Numbers too: sqrt(-1) is not a value.
    mark = grade_question(REFS["q1"], {"output": Text("0.5722 + sqrt(-1)**2 + 1", 1)}, RUBRIC)
    assert next(a for a in mark.answers if a.id == "output").status == "review"


ATTACKS = {
    "digits": "1" * 250_000,
    "digits then junk": "1" * 250_000 + "x",
    "decimal then junk": "0." + "5" * 250_000 + "x",
    "spaces": "1" + " " * 250_000 + "x",
    "brackets": "(" * 250_000,
    "minus signs": "-" * 250_000 + "z",
    "equals": "=" * 250_000,
    "frac": "\\frac{" * 50_000,
    "indicator": "1[z>" * 60_000,
    "bars": "|" * 250_000,
    "dL/": "dL/" * 80_000,
}


def test_a_250000_digit_answer_is_graded_in_linear_time(tmp_path):
    """9.6: the attack as it arrives, a 250,000-digit number in answers.yaml (just under its
    256 KB cap), through `dlhw grade` in a subprocess that must finish: the timeout is generous
    and fails only if reading is super-linear (it took minutes before)."""
    sub = tmp_path / "attack"
    sub.mkdir()
    answers = (EXAMPLE / "answers.yaml").read_text().replace("output: 0.5722",
                                                             "output: " + "1" * 250_000)
    answers = answers.replace("z1: 0.56", "z1: '0." + "5" * 2000 + "x'")
    (sub / "answers.yaml").write_text(answers)
    proc = subprocess.run([sys.executable, "-m", "cli", "grade", str(sub), "--parts", "A",
                           "--format", "json"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == EXIT_PENDING, proc.stderr[-2000:]  # finished; answers in review
    q1 = json.loads(proc.stdout)["questions"]["q1"]["answers"]
    assert q1["output"]["status"] == "review" and "longer than" in q1["output"]["feedback"]
    assert q1["z1"]["status"] == "review"


_ATTACK_SCRIPT = """
import json, sys
from grader.parta import grade_question, prepare
from grader.rubric import load_rubric
from grader.submission import Number, Text
rubric = load_rubric()
refs = prepare(rubric)
out = {}
for name, text in json.loads(sys.stdin.read()).items():
    for qid, aid in (("q1", "output"), ("q6", "derivative"), ("q5", "xavier_bound_hidden")):
        mark = grade_question(refs[qid], {aid: Text(text, 1)}, rubric)
        a = next(a for a in mark.answers if a.id == aid)
        out[f"{name}/{qid}.{aid}"] = [a.status, a.feedback[:200]]
        # Just under the cap, the text goes through every regex and the reader: it must finish.
        grade_question(refs[qid], {aid: Text(text[:1999], 1)}, rubric)
mark = grade_question(refs["q1"], {"output": Number("1" * 250_000, 1)}, rubric)
out["number/q1.output"] = [mark.answers[-1].status, mark.answers[-1].feedback[:200]]
print(json.dumps(out))
"""


def test_each_attack_string_is_review_and_read_in_linear_time():
    """The same strings straight into the reader (answers.yaml caps the file at 256 KB, so the
    longest cannot all arrive through grade at once), in a subprocess that must finish."""
    proc = subprocess.run([sys.executable, "-c", _ATTACK_SCRIPT], input=json.dumps(ATTACKS),
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert len(got) == 3 * len(ATTACKS) + 1
    for where, (status, feedback) in got.items():
        assert status == "review" and "longer than" in feedback, (where, feedback)


def test_overrides_option_names_a_file_anywhere(tmp_path):
    sub = _submission(tmp_path / "class" / "s001", {"q1": {"output": "0.5722 or 0.55"}})
    file = tmp_path / "settled.yaml"
    file.write_text("- {student: s001, answer: q1.output, points: 1.5, reason: 'said 0.5722 "
                    "first'}\n")
    result = CliRunner().invoke(cli, ["grade", str(sub), "--parts", "A", "--format", "json",
                                      "--overrides", str(file)])
    output = json.loads(result.stdout)["questions"]["q1"]
    assert output["answers"]["output"]["status"] == "override" and output["score"] == 5
    assert "applied 1 override(s)" in result.stderr


def test_reading_settings_are_validated_with_file_and_line(tmp_path):
    from solver.spec import SpecError, load_spec

    text = (ROOT / "problems" / "q05_initialization.yaml").read_text().replace(
        "xavier_var_hidden: {kind: numeric, ", "xavier_var_hidden: {kind: numeric, bound: 1, ")
    bad = tmp_path / "q05_initialization.yaml"
    bad.write_text(text)
    with pytest.raises(SpecError, match=r"q05_initialization.yaml:\d+: "
                       r"answers.xavier_var_hidden.bound: expected true or false"):
        load_spec(bad)


# ---------------------------------------------------------------- issue 24


def _written(folder: Path, text: str) -> Path:
    """A submission whose answers.yaml is `text`, byte for byte (quotes and escapes as given)."""
    folder.mkdir(parents=True)
    (folder / "answers.yaml").write_text(text, encoding="utf-8")
    return folder


def _answer(out: dict, where: str) -> dict:
    qid, aid = where.split(".")
    return out["questions"][qid]["answers"][aid]


def test_the_issues_findings_are_graded_as_a_careful_ta_would(tmp_path):
    """Every finding of issue 24 through `dlhw grade`: read where a TA reads, in review with a
    reason where one must decide, never a silent zero, never a wrong left side accepted."""
    example = (EXAMPLE / "answers.yaml").read_text()
    text = example.replace("  h1: 0.6365\n  h2: 0.4675\n", "  a1: 0.6365\n  a2: '4.675×10⁻¹'\n")
    text = text.replace("  output: 0.5722\n", "  y_hat: 0.5722 (the network's output)\n")
    text = text.replace("  w_new: 1.8\n  b_new: -0.6\n", "  w: 1.8\n  b: -0.6\n")
    text = text.replace("  dL2_dz1: 0.6225\n", "  dL_dz1_y2: 0.6225\n")
    text = text.replace("  dL_db: -0.2672\n", "  dL_db: banana = -0.2672\n")
    text = text.replace("  dL_dw: -0.187\n", "  dL_dw: '-2(1 - a)·x = -0.1870'\n")
    text = text.replace("  derivative: '1 - tanh(z)^2'\n", "  derivative: '4e^-2z/(1+e^-2z)^2'\n")
    text = text.replace(r"  dL_dw: '\frac{\partial L}{\partial a} \cdot (1 - a^2) \cdot x'",
                        "  dL_dw: '-2(y - a)(1 - a^2)x'")
    text = text.replace(r"  derivative: '\sigma(z) + z\sigma(z)(1 - \sigma(z))'",
                        "  derivative: 'σ(z) + ze^-z σ(z)^2'")
    text = text.replace("  xavier_var_hidden: 0.5\n",
                        "  xavier_var_hidden: '0.5 (uniform: U(−1.2247, 1.2247))'\n")
    out = _json([str(_written(tmp_path / "s001", text))])
    # Read: declared names as ids, superscripts, remarks of any content, ze^-z, the target y.
    for where in ("q1.h1", "q1.h2", "q1.output", "q5.xavier_var_hidden", "q10.derivative",
                  "q6.dL_dw"):
        assert _answer(out, where)["status"] == "correct", (where, _answer(out, where))
    assert "filed under 'a1'" in _answer(out, "q1.h1")["feedback"]
    assert "mse loss" in _answer(out, "q6.dL_dw")["feedback"]
    # Waiting, with the suggestion: ids near known ones, a wrong or unnamed left side, two
    # readings that differ (both shown).
    waiting = {"q3.w_new": "did you mean w_new?", "q3.b_new": "did you mean b_new?",
               "q8.dL2_dz1": "did you mean dL2_dz1?", "q2.dL_db": "not a name for dL_db",
               "q2.dL_dw": "differ", "q6.derivative": "exp(-(2 * z))"}
    for where, why in waiting.items():
        a = _answer(out, where)
        assert a["status"] == "review" and why in a["feedback"], (where, a)
    assert "exp(-2) * z" in _answer(out, "q6.derivative")["feedback"]
    assert out["status"] == "review"
    # Nothing else moved: every other answer is as the example has it.
    others = [a for q in out["questions"].values() for aid, a in q["answers"].items()
              if a["status"] not in ("correct", "review")]
    assert others == []


def test_several_values_take_the_labelled_one_and_review_the_rest(tmp_path):
    sub = _submission(tmp_path / "s001", {"q3": {"w_new": "w = 1.8, b = −0.6", "b_new": None},
                                          "q1": {"z1": "0.56, -0.13"}})
    out = _json([str(sub)])
    assert _answer(out, "q3.w_new")["status"] == "correct"  # 1.8, not the last number
    b_new = _answer(out, "q3.b_new")
    assert b_new["status"] == "review" and "found in q3.w_new's answer" in b_new["feedback"]
    assert _answer(out, "q1.z1")["status"] == "review"  # unlabelled: never the last number


def test_the_files_decimal_convention_decides_an_ambiguous_comma(tmp_path):
    commas = "q2:\n  z: '-0,15'\n  a: '0,4626'\n  dL_da: '-1,075'\n"
    points = "q2:\n  z: -0.15\n  a: 0.4626\n  dL_da: '-1,075'\n"
    out = _json([str(_written(tmp_path / "s1", commas))])
    assert _answer(out, "q2.dL_da")["status"] == "correct"
    out = _json([str(_written(tmp_path / "s2", points))])  # 1075: a thousands separator here
    assert _answer(out, "q2.dL_da")["status"] == "wrong"
    assert "-1075" in _answer(out, "q2.dL_da")["feedback"]


def test_latex_in_double_quotes_is_read_as_written_in_the_file(tmp_path):
    # YAML reads "\frac" as a form feed and "\alpha" as a bell; the text as written is LaTeX.
    text = ('q6:\n  derivative: "\\frac{4}{(e^z+e^{-z})^2}"\n'
            'q9:\n  derivative_neg: "\\alpha e^{z}"\n')
    out = _json([str(_written(tmp_path / "s1", text))])
    for where in ("q6.derivative", "q9.derivative_neg"):
        a = _answer(out, where)
        assert a["status"] == "correct" and "as written in the file" in a["feedback"], a


def _class_in_review(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "class"
    _written(root / "s001", 'q6:\n  derivative: "th^2(z)\\t"\n  dL_dw: "1/2z"\n')
    _submission(root / "-s002", {"q1": {"output": "0.5722 or 0.55"}})
    _submission(root / "s003", {})
    return root, tmp_path / "out"


def _batch_grade(root: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                    "A", "--jobs", "1", *extra])


def test_review_csv_rows_become_overrides_without_retyping(tmp_path):
    """review.csv's first columns are an overrides.yaml entry's; `dlhw review` writes the
    entries (live where points were filled in, commented otherwise), adds them to an existing
    file keeping what it holds, and the next run applies them."""
    root, out = _class_in_review(tmp_path)
    first = _batch_grade(root, out)
    assert first.exit_code == EXIT_PENDING, first.output
    rows = list(csv.DictReader((out / "review.csv").open()))
    assert list(rows[0])[:4] == ["student", "answer", "points", "reason"]
    by_answer = {r["answer"]: r for r in rows}
    assert set(by_answer) == {"q6.derivative", "q6.dL_dw", "q1.output"}
    # The text exactly as the file has it: quotes, and the escape as written.
    assert by_answer["q6.derivative"]["written"] == '"th^2(z)\\t"'
    assert by_answer["q6.dL_dw"]["suggestion"] == "1 / 2 * z or 1 / (2 * z)"
    assert by_answer["q1.output"]["student"] == "'-s002"  # neutralised in the sheet
    # The instructor fills in points for one row in a spreadsheet; the others wait.
    by_answer["q6.derivative"].update(points="2.5", reason="th² is tanh², read by hand")
    with (out / "review.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    overrides = root / "overrides.yaml"
    overrides.write_text("# settled earlier\n- {student: s003, answer: q1.z1, points: 0.5, "
                         "reason: kept}\n")
    made = CliRunner().invoke(cli, ["review", str(out), "--out", str(overrides)])
    assert made.exit_code == 0 and "1 entry settled, 2 to decide" in made.output, made.output
    text = overrides.read_text()
    assert text.startswith("# settled earlier\n- {student: s003")  # kept as it was
    assert '- student: "s001"\n  answer: "q6.derivative"\n  points: 2.5' in text
    assert '# - student: "-s002"\n#   answer: "q1.output"' in text  # commented: to decide
    second = _batch_grade(root, out)
    assert "applied 2 override(s)" in second.output, second.output  # the kept one too
    s001 = json.loads((out / "students" / "s001.json").read_text())
    assert s001["questions"]["q6"]["answers"]["derivative"]["status"] == "override"
    assert {r["answer"] for r in csv.DictReader((out / "review.csv").open())} == \
        {"q6.dL_dw", "q1.output"}
    # Run again, the settled rows are not added twice.
    again = CliRunner().invoke(cli, ["review", str(out / "review.csv"), "--out", str(overrides)])
    assert again.exit_code == 0 and overrides.read_text().count('answer: "q6.derivative"') == 1


def test_every_override_problem_is_reported_at_once_and_none_is_applied(tmp_path):
    runner, root, out = _batch(tmp_path, """\
        - student: s001
          answer: q6.derivativ
          points: 1
          reason: typo
        - student: s001
          answer: q6.derivative
          points: 9
          reason: too many
        - student: s002
          answer: q1.output
          points: 1
          reason: ""
        - student: s002
          question: q1
          points: 5
          reason: fine
        - student: s002
          question: q1
          points: 4
          reason: twice
        """)
    result = runner.invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                 "A"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if "overrides.yaml:" in ln]
    assert [ln.split("overrides.yaml:")[1].split(":")[0] for ln in lines] == \
        ["2", "7", "12", "17"], lines
    assert "did you mean q6.derivative?" in lines[0] and "[0, 2.5]" in lines[1]
    assert "already set on line 13" in lines[3]
    assert "4 problem(s)" in result.output and not out.exists()


def test_a_broken_answers_file_is_settled_by_marks_or_a_corrected_file(tmp_path):
    root = tmp_path / "class"
    for sid in ("s001", "s002"):
        _written(root / sid, "q1:\n  z1: 0.56\n z2: [\n")
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "s002.yaml").write_text((EXAMPLE / "answers.yaml").read_text())
    marks = "".join(f"- {{student: s001, question: q{k}, points: 4, reason: marked by hand}}\n"
                    for k in range(1, 11))
    (root / "overrides.yaml").write_text(marks + "- student: s002\n  answers_file: "
                                         "../fixed/s002.yaml\n  reason: indentation fixed\n")
    out = tmp_path / "out"
    result = _batch_grade(root, out)
    assert result.exit_code == 0, result.output  # nothing invalid or pending is left
    assert "applied 11 override(s)" in result.output
    book = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert book["s001"]["total"] == "40" and book["s001"]["status"] == "graded"
    assert book["s002"]["total"] == "50" and book["s002"]["status"] == "graded"
    assert "corrected file s002.yaml: indentation fixed" in book["s002"]["flags"]
    s001 = json.loads((out / "students" / "s001.json").read_text())
    assert "settled by the instructor" in s001["problems"][0]  # still shown, never hidden


def test_pending_answers_are_left_out_of_the_statistics_and_counted(tmp_path):
    root, out = _class_in_review(tmp_path)
    _batch_grade(root, out)
    stats = {r["item"]: r for r in csv.DictReader((out / "stats.csv").open())}
    # s001's q6 waits: it is neither a score, nor a zero, nor in the mean; it is pending.
    assert (stats["q6"]["n"], stats["q6"]["pending"], stats["q6"]["zero"]) == ("2", "1", "0")
    assert stats["q6"]["mean"] == "5.000" and stats["q2"]["pending"] == "0"
    index = (out / "index.html").read_text()
    assert "2 pending review</span> (left out)" in index


def test_claim_flags_reach_the_gradebook():
    from grader.context import RunContext
    from grader.results import ItemMark, Outcome, Result, Status
    from grader.writers.csvs import gradebook

    claim = ItemMark("digits_mlp", "MLP", "B", Fraction(4), Fraction(4), Status.CORRECT,
                     "measured 0.97; FLAG: claimed digits.mlp.test_accuracy = 0.99 but "
                     "measured 0.97 (gap 0.02, more than 0.005)", detail={"flagged": True})
    result = Result("s1", "", Outcome.GRADED, (claim,), folder="s1", file="s1")
    row = list(csv.DictReader(gradebook([result], RunContext.build(parts="B", seed=0,
                                                                    template=None))
                              .splitlines()))[0]
    assert row["flags"] == ("digits_mlp: claimed digits.mlp.test_accuracy = 0.99 but measured "
                            "0.97 (gap 0.02, more than 0.005)")


def test_resume_says_what_it_reused(tmp_path):
    root, out = _class_in_review(tmp_path)
    _batch_grade(root, out)
    result = _batch_grade(root, out, "--resume")
    assert "reused 3 saved result(s) (1 graded, 2 review); graded 0" in result.output


def test_exit_codes_for_invalid_and_pending_submissions():
    assert exit_status(["graded"]) == 0 and exit_status(["review", "graded"]) == EXIT_PENDING
    assert exit_status(["review", "invalid"]) == 1  # a file problem comes first
    assert exit_status(["review", "incomplete"]) == exit_status(["error"]) == 3
