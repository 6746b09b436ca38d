"""Grading a course with per-student variants (course.yaml): own numbers right, copies wrong."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from cli import cli
from solver.engine import solve
from solver.spec import find_spec
from solver.variants import variant_given

SEED = 31
VARIED = ("q1", "q2", "q3", "q8")


def answers_for(student: str | None) -> dict:
    """Part A numeric answers computed with a student's numbers (None: the homework's)."""
    out = {}
    for qid in VARIED:
        spec = find_spec(qid)
        given = spec.given if student is None else variant_given(spec, SEED, student)
        out[qid] = {k: float(f"{a.value:.6g}") for k, a in solve(spec, given=given).answers.items()}
    return out


def make_class(root: Path) -> Path:
    root.mkdir()
    (root / "roster.csv").write_text("id,name\nada,Ada\nbob,Bob\n")
    (root / "course.yaml").write_text(f"seed: {SEED}\nroster: roster.csv\n")
    for sid, answers in (("ada", answers_for("ada")), ("bob", answers_for("ada")),
                         ("eve", answers_for("eve"))):
        folder = root / sid
        folder.mkdir()
        (folder / "answers.yaml").write_text(yaml.safe_dump(answers))
        (folder / "student.yaml").write_text(f"id: {sid}\nname: {sid.title()}\n")
    return root


def test_batch_marks_each_student_against_their_own_numbers(tmp_path):
    root = make_class(tmp_path / "class")
    result = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(tmp_path / "r"),
                                      "--parts", "A", "--jobs", "1"])
    assert result.exit_code == 1, result.output  # eve is not on the roster: invalid
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "r" / "gradebook.csv").open())}
    assert all(float(rows["ada"][q]) == 5 for q in VARIED)
    # bob handed in ada's numbers: wrong for every varied question.
    assert all(float(rows["bob"][q]) < 2 for q in VARIED)
    # eve is not on the roster: Part A cannot be marked against her numbers.
    assert rows["eve"]["status"] == "invalid"


def test_single_submission_finds_course_yaml_beside_it(tmp_path):
    root = make_class(tmp_path / "class")
    ok = CliRunner().invoke(cli, ["grade", str(root / "ada"), "--parts", "A", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["questions"]["q1"]["score"] == 5
    # Without the course, ada's own numbers are not the homework's.
    (root / "course.yaml").unlink()
    plain = CliRunner().invoke(cli, ["grade", str(root / "ada"), "--parts", "A",
                                     "--format", "json"])
    assert json.loads(plain.output)["questions"]["q1"]["score"] < 2


def test_bad_course_file_is_a_clear_error(tmp_path):
    root = make_class(tmp_path / "class")
    (root / "course.yaml").write_text("seed: many\nroster: roster.csv\n")
    result = CliRunner().invoke(cli, ["grade", str(root / "ada"), "--parts", "A"])
    assert result.exit_code == 1
    assert "course.yaml: seed: expected an integer" in result.output
