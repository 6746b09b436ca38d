"""A batch survives its workers (issue 9, items 2 and 6) and knows who submitted (item 10).

The grading processes here are real: the tests find the grader's child processes through /proc
and kill or freeze them, as the OOM killer, a crash or a hang would."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from click.testing import CliRunner

from cli import cli
from core import resources
from grader import sandbox
from grader.results import exit_status
from grader.worker import run_each
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "submission"


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def grader(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "grade", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_children(proc: subprocess.Popen, signals: list[signal.Signals]) -> bool:
    """Send each signal to a different grading child of `proc`, as they appear; False if `proc`
    ended first."""
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while signals and proc.poll() is None and time.monotonic() < deadline:
        for child in children(proc.pid):
            if child not in seen:
                seen.add(child)
                try:
                    os.kill(child, signals[0])
                    signals.pop(0)
                except ProcessLookupError:
                    pass
                break
    return not signals


def test_killed_and_hung_workers_become_error_rows_and_the_batch_goes_on(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    n = 30
    for k in range(n):
        shutil.copytree(EXAMPLE, root / f"s{k:02d}")
        (root / f"s{k:02d}" / "student.yaml").unlink()
    proc = grader(str(root), "--batch", "--out", str(tmp_path / "out"), "--parts", "A",
                  "--jobs", "2", "--time-limit", "8")
    assert signal_children(proc, [signal.SIGKILL, signal.SIGSTOP])  # one dies, one hangs
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err  # rows not graded: run again with --resume
    rows = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert len(rows) == n
    errors = [r for r in rows if r["status"] == "error"]
    assert len(errors) == 2 and all(r["total"] == "" for r in errors)
    assert sum(r["status"] == "graded" and r["total"] == "50" for r in rows) == n - 2
    problems = sorted(json.loads((tmp_path / "out" / "students" / f"{r['folder']}.json")
                                 .read_text())["problems"][0] for r in errors)
    assert problems == ["grading took longer than the 8 s wall-clock limit for one submission: "
                        "stopped", "the grading process died (SIGKILL): stopped"]
    assert f"{n} submissions (2 error, {n - 2} graded)" in out
    # No worker outlives the batch, the frozen one included.
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and
                str(tmp_path / "out") in _cmdline(p)]


def test_single_mode_has_a_wall_clock_limit(tmp_path):
    sub = tmp_path / "s1"
    shutil.copytree(EXAMPLE, sub)
    for _ in range(5):  # the one grading child may finish before the test sees it: try again
        proc = grader(str(sub), "--parts", "A", "--time-limit", "2", "--format", "json")
        hung = signal_children(proc, [signal.SIGSTOP])  # the grading hangs
        out, _ = proc.communicate(timeout=120)
        if hung:
            break
    assert hung
    assert proc.returncode == 3  # not graded: the grader's side
    row = json.loads(out)
    assert row["status"] == "error" and row["problems"] == [
        "grading took longer than the 2 s wall-clock limit for one submission: stopped"]


def test_the_limit_comes_from_the_rubric(tmp_path):
    text = resources.path("problems", "rubric.yaml").read_text()
    assert "submission:\n  time_limit_s: 900\n" in text
    bad = tmp_path / "rubric.yaml"
    bad.write_text(text.replace("submission:\n  time_limit_s: 900",
                                "submission:\n  time_limit_s: 100"))
    res = CliRunner().invoke(cli, ["grade", str(EXAMPLE), "--rubric", str(bad)])
    assert res.exit_code == 2
    assert "submission.time_limit_s: expected more than 360, the sum of the time limits it " \
        "includes" in res.output


def test_killing_a_grading_child_kills_its_sandboxed_processes():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    marker = "31.4159"  # a sleep nothing else runs

    def slow(_: int) -> dict[str, object]:
        out = sandbox.run(["/bin/sleep", marker], limits=sandbox.Limits(wall_s=100, cpu_s=100))
        return {"status": out.status}

    [(row, error)] = run_each(slow, [0], limit=3)
    assert row is None and "wall-clock limit" in str(error)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and
                marker in _cmdline(p)]
        if not left:
            break
        time.sleep(0.2)
    assert not left, "a sandboxed process outlived the grading child"


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------- identity


def course_class(root: Path) -> None:
    from tests.test_grade_variants import answers_for, make_class

    make_class(root)  # ada, bob (ada's numbers), eve (not on the roster); seed 31
    shutil.rmtree(root / "bob")
    bob = root / "bob"  # bob hands in ada's answers and claims to be ada
    bob.mkdir()
    (bob / "answers.yaml").write_text(yaml.safe_dump(answers_for("ada")))
    (bob / "student.yaml").write_text("id: ada\nname: Ada\n")


def test_course_mode_a_borrowed_id_is_invalid_and_only_the_borrower_is_flagged(tmp_path):
    root = tmp_path / "class"
    course_class(root)
    res = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(tmp_path / "r"),
                                   "--parts", "A", "--jobs", "2"])
    assert res.exit_code == 1, res.output  # an invalid submission (bob's borrowed id)
    rows = {r["folder"]: r for r in csv.DictReader((tmp_path / "r" / "gradebook.csv").open())}
    assert rows["ada"]["status"] == "graded" and float(rows["ada"]["q1"]) == 5
    bob = rows["bob"]
    assert bob["student"] == "bob" and bob["declared"] == "ada" and bob["status"] == "invalid"
    assert float(bob["q1"] or 0) < 2  # marked against bob's own numbers, not ada's
    assert rows["ada"]["flags"] == ""  # bob's file cannot flag ada's row
    assert "claims id 'ada', the id of 'ada'" in bob["flags"]
    assert "declares id 'ada'" in bob["flags"]
    assert "student.yaml: id: 'ada' is not the submitter 'bob'" in json.loads(
        (tmp_path / "r" / "students" / "bob.json").read_text())["problems"][0]
    single = CliRunner().invoke(cli, ["grade", str(root / "bob"), "--parts", "A"])
    assert single.exit_code == 1 and "is not the submitter 'bob'" in single.output


def test_without_a_course_a_borrowed_id_is_flagged_not_adopted(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    for name in ("ann", "ben"):
        shutil.copytree(EXAMPLE, root / name)
        (root / name / "student.yaml").write_text(f"id: {name}\n")
    (root / "ben" / "student.yaml").write_text("id: ANN\nname: Ann\n")  # ben claims ann's id
    (root / "cid").mkdir()
    (root / "cid" / "student.yaml").write_text("id: dan\n")
    (root / "dan").mkdir()  # dan's folder, no student.yaml: claims "dan" by its name
    res = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(tmp_path / "r"),
                                   "--parts", "A", "--jobs", "2"])
    rows = {r["folder"]: r for r in csv.DictReader((tmp_path / "r" / "gradebook.csv").open())}
    assert res.exit_code == exit_status([r["status"] for r in rows.values()]), res.output
    assert [r["student"] for r in rows.values()] == ["ann", "ben", "cid", "dan"]
    assert rows["ben"]["status"] == "graded" and rows["ben"]["declared"] == "ANN"
    assert "declares id 'ANN'" in rows["ben"]["flags"]
    assert rows["ann"]["flags"] == "" and rows["dan"]["flags"] == ""
    assert "claims id 'ANN', the id of 'ann'" in rows["ben"]["flags"]
    assert "claims id 'dan', the id of 'dan'" in rows["cid"]["flags"]
