"""Per-student variants: deterministic, distinct, well posed, and consistent with the key."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from core.roster import RosterError, load_roster
from solver.engine import solve
from solver.spec import find_spec, load_all
from solver.variants import constraint_failures, variant_given
from tests.conftest import require

VARIED = ["q1", "q2", "q3", "q8"]
ROOT = Path(__file__).resolve().parent.parent


def test_the_questions_with_numbers_are_the_varied_ones():
    assert [s.id for s in load_all() if s.variants] == VARIED


@pytest.mark.parametrize("qid", VARIED)
def test_variants_respect_ranges_grid_and_constraints(qid):
    spec = find_spec(qid)
    for i in range(200):
        given = variant_given(spec, 11, f"s{i:03d}")
        assert not constraint_failures(spec, given)
        for name, var in spec.variants.items():
            v = given[name]
            assert var.min <= v <= var.max
            assert ((v - var.min) / var.step).is_integer


@pytest.mark.parametrize("qid", VARIED)
def test_variants_differ_between_students_and_seeds(qid):
    spec = find_spec(qid)
    draws = [tuple(variant_given(spec, 11, f"s{i:03d}").values()) for i in range(50)]
    assert len(set(draws)) >= 45
    assert variant_given(spec, 11, "s001") != variant_given(spec, 12, "s001")


def test_homework_constraints_hold_for_the_original_numbers():
    for spec in load_all():
        assert not constraint_failures(spec, spec.given), spec.id


def test_question_text_with_the_homework_numbers_is_the_homework_text():
    homework = ROOT.parent / "shared" / "homework.md"
    require(homework.exists(), f"{homework} missing (the assignment text beside the checkout)")
    flat = " ".join(homework.read_text().replace("**", "").split())
    for qid in ("q2", "q3", "q6", "q8", "q9", "q10"):
        assert " ".join(find_spec(qid).question_text().split()) in flat, qid


def _key(tmp_path: Path, env: dict[str, str] | None = None) -> bytes:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"s{i:03d},Student {i}\n" for i in range(20)))
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    subprocess.run([sys.executable, "-m", "cli", "variants", "--roster", str(roster), "--seed", "5",
                    "--out", str(out)], check=True, cwd=ROOT, env=env, capture_output=True)
    return (out / "key.csv").read_bytes()


def test_same_seed_same_bytes_in_fresh_processes(tmp_path):
    a = _key(tmp_path, {**os.environ, "PYTHONHASHSEED": "1"})
    b = _key(tmp_path, {**os.environ, "PYTHONHASHSEED": "2"})
    assert a == b and len(a.splitlines()) == 21


def test_key_sheet_and_student_solution_agree(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nada,Ada L\nbob,\n")
    result = CliRunner().invoke(cli, ["variants", "--roster", str(roster), "--seed", "9",
                                      "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "v" / "key.csv").open())}
    assert set(rows) == {"ada", "bob"}
    sheet = (tmp_path / "v" / "sheets" / "ada.tex").read_text()
    assert f"$x_1 = {rows['ada']['q1.given.x1']}$" in sheet and "Ada L" in sheet
    sol = solve(find_spec("q1"), given=variant_given(find_spec("q1"), 9, "ada"))
    assert float(rows["ada"]["q1.output"]) == sol.answers["output"].value
    out = CliRunner().invoke(cli, ["solve", "q1", "--student", "ada", "--seed", "9"]).output
    assert f"{sol.answers['output'].value:.4g}" in out


@pytest.mark.parametrize("content,message", [
    ("name\nAda\n", "expected a CSV header with an 'id' column"),
    ("id\nada\nada\n", ":3: id: duplicate student id 'ada'"),
    ("id\n../etc\n", ":2: id: expected letters"),
    ("", "expected a CSV header"),
])
def test_bad_rosters_are_one_line_errors(tmp_path, content, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(content)
    with pytest.raises(RosterError, match=re.escape(message)):
        load_roster(roster)
    result = CliRunner().invoke(cli, ["variants", "--roster", str(roster), "--seed", "1",
                                      "--out", str(tmp_path / "v")])
    assert result.exit_code == 1 and message in result.output


def test_missing_roster_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["variants", "--roster", str(tmp_path / "no.csv"),
                                      "--seed", "1"])
    assert result.exit_code == 1 and "cannot read roster" in result.output


def test_student_needs_seed():
    result = CliRunner().invoke(cli, ["solve", "q1", "--student", "ada"])
    assert result.exit_code == 2 and "--student and --seed go together" in result.output


@pytest.mark.slow
def test_sheet_compiles_to_pdf(tmp_path):
    require(shutil.which("latexmk") is not None, "latexmk missing: run scripts/setup.sh")
    roster = tmp_path / "roster.csv"
    roster.write_text("id\ns1\n")
    result = CliRunner().invoke(cli, ["variants", "--roster", str(roster), "--seed", "3",
                                      "--out", str(tmp_path / "v"), "--pdf"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v" / "sheets" / "s1.pdf").stat().st_size > 1000
