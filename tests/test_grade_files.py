"""Whole submissions: malicious and malformed files, output formats, exit codes, batch, fuzz."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import cli
from grader.batch import run_batch
from grader.context import RunContext
from grader.grade import grade_submission

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission"
OPTIONS_A = RunContext.build(parts="A")


def copy_example(tmp_path: Path, name: str = "s1") -> Path:
    dest = tmp_path / name
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_yaml_python_tag_is_refused_and_not_run(tmp_path):
    sub = copy_example(tmp_path)
    marker = tmp_path / "ran"
    (sub / "answers.yaml").write_text(
        f"q1: !!python/object/apply:os.system ['touch {marker}']\n")
    result = grade_submission(sub, OPTIONS_A)
    assert result.status == "invalid"
    assert any("answers.yaml:1" in p and "python/object" in p for p in result.problems)
    assert all(i.status == "invalid" for i in result.items)
    assert not marker.exists()


def test_yaml_alias_bomb_and_huge_file_are_refused(tmp_path):
    sub = copy_example(tmp_path)
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    (sub / "answers.yaml").write_text(bomb)
    assert any("alias" in p for p in grade_submission(sub, OPTIONS_A).problems)
    (sub / "answers.yaml").write_text("q1: {z1: 0.56}\n" + "#" * 300_000 + "\n")
    result = grade_submission(sub, OPTIONS_A)
    assert result.status == "invalid"
    assert any("answers.yaml" in p and "bytes" in p for p in result.problems)


def test_bad_metrics_value_names_file_and_field(tmp_path):
    sub = copy_example(tmp_path)
    (sub / "partb.ipynb").unlink()  # nothing measured: the claim alone is read
    (sub / "metrics.yaml").write_text("digits.mlp.test_accuracy: [0.9]\n")
    result = grade_submission(sub, RunContext.build(parts="B"))
    mlp = next(i for i in result.items if i.id == "digits_mlp")
    assert mlp.status == "absent" and "partb.ipynb not submitted: 0 marks" in mlp.feedback
    assert "metrics.yaml:1: digits.mlp.test_accuracy: expected a number" in mlp.feedback


def test_absent_parts_score_zero_and_say_so(tmp_path):
    sub = tmp_path / "empty"
    sub.mkdir()
    result = grade_submission(sub, RunContext.build(template=None))
    assert result.status == "graded" and result.score == 0
    assert all(i.status == "absent" for i in result.items)
    missing = {"A": "answers.yaml", "B": "partb.ipynb"}  # Part C: each item names its files
    for item in result.items:
        what = {"regression": "models/regression.pt2", "fashion": "models/fashion.pt2",
                "report": "report.tex"}.get(item.id, missing.get(item.part))
        assert f"{what} not submitted: 0 marks" in item.feedback, (item.id, item.feedback)


def test_cli_formats_and_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["grade", str(EXAMPLE), "--parts", "A", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert {"student", "status", "score", "max_score", "questions"} <= data.keys()
    # The folder is who submitted; the id it declares is kept, and flagged as different.
    assert data["student"] == "submission" and data["declared"] == "s2025-0042"
    assert data["score"] == 50.0 and "'s2025-0042'" in data["flags"][0]
    q1 = data["questions"]["q1"]
    assert {"score", "max_score", "status", "feedback", "answers"} <= q1.keys()
    gs = json.loads(runner.invoke(cli, ["grade", str(EXAMPLE), "--parts", "A", "--format",
                                        "gradescope"]).output)
    assert gs["score"] == 50.0 and len(gs["tests"]) == 10
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= \
        gs["tests"][0].keys()
    assert "leaderboard" in gs
    table = runner.invoke(cli, ["grade", str(EXAMPLE), "--parts", "A"])
    assert table.exit_code == 0 and "q10" in table.output

    bad = copy_example(tmp_path)
    (bad / "answers.yaml").write_text("q1: [unclosed\n")
    res = runner.invoke(cli, ["grade", str(bad), "--parts", "A"])
    assert res.exit_code == 1 and "answers.yaml:" in res.output
    assert runner.invoke(cli, ["grade", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(cli, ["grade", str(EXAMPLE), "--parts", "X"]).exit_code == 2
    assert runner.invoke(cli, ["grade", str(EXAMPLE), "--batch"]).exit_code == 2


def test_batch_isolates_bad_submissions_and_is_byte_reproducible(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    copy_example(root, "alice")
    bob = copy_example(root, "bob")
    (bob / "student.yaml").unlink()
    (bob / "answers.yaml").write_text("q1: !!python/name:os.system\n")
    carol = copy_example(root, "carol")
    (carol / "student.yaml").unlink()
    (carol / "answers.yaml").write_text("q6: {derivative: 'sech(z)^2'}\nq1: {output: 0.57}\n")
    outputs = []
    for k in range(2):
        out = tmp_path / f"results{k}"
        rows = run_batch(root, out, OPTIONS_A, jobs=2)
        assert [r.status for r in rows] == ["graded", "invalid", "graded"]
        outputs.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*")
                        if p.is_file()})
    assert outputs[0] == outputs[1]
    rows = list(csv.DictReader((tmp_path / "results0" / "gradebook.csv").open()))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"]
    assert rows[0]["declared"] == "s2025-0042" and "declares id" in rows[0]["flags"]
    assert rows[0]["total"] == "50" and rows[1]["q1"] == "invalid"
    assert rows[2]["q6"] == "2.5" and rows[2]["q1"] == "1.5"
    assert (tmp_path / "results0" / "stats.csv").read_text().startswith("item,max,n,mean")
    assert not list((tmp_path / "results0").glob(".*"))  # no temporary files left


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
                     st.sampled_from(["1 - tanh(z)**2", r"\frac{\partial L}{\partial a}",
                                      r"\sigma(", "__import__('os')", "1e999", "0.5722",
                                      "9**9**9", "x" * 3000, r"\frac{}{}", "(((((", "e^"]))
_answers = st.dictionaries(
    st.sampled_from([f"q{k}" for k in range(0, 12)] + ["Q1", "x"]),
    st.one_of(_scalars, st.lists(_scalars, max_size=3),
              st.dictionaries(st.sampled_from(["z1", "output", "derivative", "dL_dw", "a",
                                               "w_new_neg", "bogus"]),
                              st.one_of(_scalars, st.lists(_scalars, max_size=2)),
                              max_size=5)),
    max_size=6)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_answers, raw=st.text(max_size=200))
def test_fuzzed_answers_yaml_never_crashes(tmp_path, data, raw):
    sub = tmp_path / "fuzz"
    sub.mkdir(exist_ok=True)
    for text in (yaml.safe_dump(data, allow_unicode=True), raw):
        (sub / "answers.yaml").write_text(text, encoding="utf-8")
        result = grade_submission(sub, OPTIONS_A)
        assert result.status in ("graded", "review", "invalid")
        assert 0 <= result.score <= 50
