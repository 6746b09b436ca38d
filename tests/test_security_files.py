"""Attacks through the submission's files (issue 9, items 5 and 7): links to other students'
answers and to secrets, special files, /proc, deep nesting. Each is refused with one line naming
the file, nothing of the target reaches any output, and the rest of the class is graded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from grader.context import RunContext
from grader.grade import grade_submission
from grader.results import exit_status
from grader.safeio import FileError, Folder

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission"
OPTIONS_A = RunContext.build(parts="A")
SECRET = "TOPSECRET-7f3a9c"


def make_class(root: Path) -> dict[str, Path]:
    """alice: a perfect Part A; mallory: only her own folder; a secrets file beside the class."""
    root.mkdir()
    alice = root / "alice"
    shutil.copytree(EXAMPLE, alice)
    (alice / "student.yaml").write_text("id: alice\nname: Alice\n")
    mallory = root / "mallory"
    mallory.mkdir()
    secret = root.parent / "secrets.yaml"
    secret.write_text(f"token: {SECRET}\n{SECRET}: 1\n")
    return {"alice": alice, "mallory": mallory, "secret": secret}


def batch(root: Path, out: Path, *extra: str) -> tuple[dict[str, dict[str, str]], str]:
    res = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(out), "--parts",
                                   "A", "--jobs", "2", *extra])
    import csv
    rows = {r["folder"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    # 1 when a submission is invalid (a refused file), else 0: never a crash.
    assert res.exit_code == exit_status([r["status"] for r in rows.values()]), res.output
    everything = res.output + "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    return rows, everything


@pytest.mark.parametrize("target", ["answers", "secret"])
@pytest.mark.parametrize("fname", ["answers.yaml", "metrics.yaml", "student.yaml"])
def test_symlinked_yaml_is_refused_and_its_target_never_shown(tmp_path, fname, target):
    c = make_class(tmp_path / "class")
    dest = c["alice"] / fname if target == "answers" else c["secret"]
    (c["mallory"] / fname).symlink_to(dest)
    rows, everything = batch(tmp_path / "class", tmp_path / "out")
    m = rows["mallory"]
    assert m["status"] == "invalid" and m["total"] in ("0", "")
    assert rows["alice"]["status"] == "graded" and rows["alice"]["total"] == "50"
    assert SECRET not in everything
    js = json.loads((tmp_path / "out" / "students" / "mallory.json").read_text())
    assert any(p.startswith(f"{fname}: a symbolic link") and "\n" not in p
               for p in js["problems"]), js["problems"]
    assert js["score"] == 0 and js["declared"] is None  # alice's student.yaml was not read


def test_symlinked_models_folder_and_parent_folders_are_refused(tmp_path):
    c = make_class(tmp_path / "class")
    other = tmp_path / "elsewhere" / "models"
    other.mkdir(parents=True)
    (other / "fashion.pt2").write_bytes(b"PK\x03\x04 someone else's model")
    (c["mallory"] / "models").symlink_to(other)
    sub = grade_submission(c["mallory"], RunContext.build(parts="C"))
    assert sub.status == "invalid"
    assert any(p.startswith("models: a symbolic link") for p in sub.problems), sub.problems
    fashion = next(i for i in sub.items if i.id == "fashion")
    # The linked model was not taken: mallory has no model (and no metrics.yaml).
    assert fashion.status == "absent" and fashion.feedback.startswith(
        "models/fashion.pt2 not submitted"), fashion


def test_symlinked_submission_folder_is_refused(tmp_path):
    c = make_class(tmp_path / "class")
    c["mallory"].rmdir()
    c["mallory"].symlink_to(c["alice"])  # mallory's "submission" is alice's folder
    rows, everything = batch(tmp_path / "class", tmp_path / "out")
    assert rows["mallory"]["status"] == "invalid" and rows["mallory"]["total"] == "0"
    assert rows["alice"]["total"] == "50"
    js = json.loads((tmp_path / "out" / "students" / "mallory.json").read_text())
    assert js["problems"] == ["mallory: the submission folder is a symbolic link (links are "
                              "never followed: submit the file itself)"]
    single = CliRunner().invoke(cli, ["grade", str(c["mallory"]), "--parts", "A"])
    assert single.exit_code == 1 and "symbolic link" in single.output
    assert "Ada Lovelace" not in single.output  # alice's example name


def test_proc_mem_and_secrets_behind_links_are_refused(tmp_path):
    c = make_class(tmp_path / "class")
    (c["mallory"] / "answers.yaml").symlink_to("/proc/self/mem")
    (c["mallory"] / "report.tex").symlink_to("/proc/self/environ")
    (c["mallory"] / "extra").mkdir()
    (c["mallory"] / "extra" / "key").symlink_to(c["secret"])
    result = grade_submission(c["mallory"], RunContext.build(parts="AC"))
    assert result.status == "invalid"
    lines = "\n".join(result.problems)
    assert "answers.yaml: a symbolic link" in lines and "report.tex: a symbolic link" in lines
    assert "extra/key: a symbolic link (links are never followed: submit the file itself), " \
           "not allowed in a submission" in lines
    report = next(i for i in result.items if i.id == "report")
    assert report.status == "absent"


def test_proc_files_are_capped_by_what_is_read_not_by_st_size():
    proc = Folder(Path(f"/proc/{os.getpid()}"))  # st_size of its files is 0
    assert os.stat(f"/proc/{os.getpid()}/status").st_size == 0
    with pytest.raises(FileError, match="status: more than 100 bytes"):
        proc.read("status", 100)
    proc.close()


def test_fifo_directory_and_oversized_files_are_refused_without_hanging(tmp_path):
    c = make_class(tmp_path / "class")
    os.mkfifo(c["mallory"] / "answers.yaml")  # opening it blocking would wait for a writer
    (c["mallory"] / "metrics.yaml").mkdir()
    (c["mallory"] / "student.yaml").write_text("name: " + "x" * 20_000 + "\n")
    result = grade_submission(c["mallory"], RunContext.build(parts="AB", template=None))
    assert result.status == "invalid"
    text = "\n".join(result.problems)
    assert "answers.yaml: a named pipe" in text
    assert "metrics.yaml: a folder, expected a plain file" in text
    assert "student.yaml: more than 16384 bytes" in text


@pytest.mark.parametrize("fname", ["answers.yaml", "metrics.yaml", "student.yaml"])
@pytest.mark.parametrize("style", ["block", "flow-list", "flow-map"])
def test_yaml_nested_hundreds_deep_is_one_line(tmp_path, fname, style):
    c = make_class(tmp_path / "class")
    # Deep enough to overflow PyYAML's recursive composer before (a RecursionError traceback);
    # a block-style student.yaml that deep exceeds its 16 KB cap, so it is checked shallower.
    depth = 1000 if style != "block" else 160 if fname == "student.yaml" else 700
    text = {"flow-list": "[" * depth + "]" * depth,
            "flow-map": "{a: " * depth + "1" + "}" * depth,
            "block": "".join(" " * k + "k:\n" for k in range(depth)) + " " * depth + "v\n"}[style]
    (c["mallory"] / fname).write_text(text)
    result = grade_submission(c["mallory"], RunContext.build(parts="AB", template=None))
    assert result.status == "invalid"
    mine = [p for p in result.problems if p.startswith(fname)]
    assert len(mine) == 1 and "nested more than 16 deep" in mine[0], result.problems
    rows, _ = batch(tmp_path / "class", tmp_path / "out")
    assert rows["alice"]["total"] == "50" and rows["mallory"]["status"] == "invalid"


def test_special_files_anywhere_in_the_submission_are_named(tmp_path):
    c = make_class(tmp_path / "class")
    deep = c["mallory"]
    for k in range(14):
        deep = deep / f"d{k}"
    deep.mkdir(parents=True)
    os.mkfifo(c["mallory"] / "d0" / "pipe")
    result = grade_submission(c["mallory"], OPTIONS_A)
    text = "\n".join(result.problems)
    assert "d0/pipe: a named pipe, not allowed in a submission" in text
    assert "folders nested more than 12 deep" in text
    assert result.status == "invalid"
