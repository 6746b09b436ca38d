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
