"""A class graded in parallel and resumably: results saved as each finishes, `--resume` reuses
exactly the unchanged ones (submission files and grading set-up), an interrupted batch loses
nothing, the gradebook's bytes do not depend on the number of workers or the order of
completion, and the progress bar counts what waits for review."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from click.testing import CliRunner

from cli import cli
from grader.batch import setup_fingerprint, submission_fingerprint
from grader.context import RunContext
from grader.journal import NAME, Journal
from grader.results import EXIT_GRADED, EXIT_PENDING

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "submission"


def _submission(folder: Path, changes: dict[str, dict[str, object]] | None = None) -> Path:
    folder.mkdir(parents=True)
    answers = yaml.safe_load((EXAMPLE / "answers.yaml").read_text())
    for qid, new in (changes or {}).items():
        answers[qid].update(new)
    (folder / "answers.yaml").write_text(yaml.safe_dump(answers, allow_unicode=True))
    return folder


def _class(root: Path, n: int = 4) -> Path:
    for k in range(n):
        _submission(root / f"s{k:03d}", {"q1": {"output": 0.5 + k / 100}} if k % 2 else
                    {"q6": {"derivative": "th^2(z)"}} if k == 2 else None)
    return root


def _grade(root: Path, out: Path, *extra: str) -> CliRunner:
    result = CliRunner().invoke(cli, ["grade", str(root), "--batch", "--out", str(out),
                                      "--parts", "A", *extra])
    # 4 (issue 24): the class's th^2(z) waits for review.
    assert result.exit_code in (EXIT_GRADED, EXIT_PENDING), result.output
    return result


def _saved(out: Path, student: str) -> dict:
    return Journal(out).records()[student]


def _edit_saved(out: Path, edit) -> None:
    """Every saved record through `edit(stem, result)`, as a hand edit of the file would."""
    path = out / NAME
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        edit(record["stem"], record["result"])
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))


def test_resume_reuses_exactly_the_unchanged_submissions(tmp_path):
    root, out = _class(tmp_path / "class"), tmp_path / "out"
    _grade(root, out, "--jobs", "2")
    assert sorted(Journal(out).records()) == [f"s{k:03d}" for k in range(4)]
    # Mark the saved rows: a reused row keeps the mark, a regraded one loses it.
    _edit_saved(out, lambda stem, result: result.update(name="FROM-SAVED"))
    answers = root / "s001" / "answers.yaml"
    answers.write_text(answers.read_text().replace("0.51", "0.5722"))
    _grade(root, out, "--resume")
    book = (out / "gradebook.csv").read_text()
    names = {line.split(",")[0]: line for line in book.splitlines()[1:]}
    assert "FROM-SAVED" not in names["s001"] and names["s001"].split(",")[4] == "5"
    assert all("FROM-SAVED" in names[s] for s in ("s000", "s002", "s003"))
    # Without --resume everything is graded again.
    _grade(root, out)
    assert "FROM-SAVED" not in (out / "gradebook.csv").read_text()


def test_a_changed_rubric_regrades_everyone(tmp_path):
    root, out = _class(tmp_path / "class", 2), tmp_path / "out"
    _grade(root, out)
    _edit_saved(out, lambda stem, result: result.update(name="FROM-SAVED"))
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text((ROOT / "problems" / "rubric.yaml").read_text() + "\n# edited\n")
    _grade(root, out, "--resume", "--rubric", str(rubric))
    assert "FROM-SAVED" not in (out / "gradebook.csv").read_text()


def test_gradebook_bytes_do_not_depend_on_workers(tmp_path):
    root = _class(tmp_path / "class", 6)
    _grade(root, tmp_path / "one", "--jobs", "1")
    _grade(root, tmp_path / "two", "--jobs", "2")
    for name in ("gradebook.csv", "stats.csv", "review.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_progress_bar_counts_submissions_and_reviews(tmp_path):
    root = _class(tmp_path / "class", 3)
    result = _grade(root, tmp_path / "out", "--jobs", "1")
    assert "3/3" in result.stderr and "1 to review" in result.stderr, result.stderr


def test_fingerprint_follows_no_link_and_sees_every_byte(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("one")
    sub = _submission(tmp_path / "s")
    (sub / "notes.txt").symlink_to(secret)
    setup = setup_fingerprint(RunContext.build(parts="A"))
    first = submission_fingerprint(sub, setup)
    secret.write_text("two")  # the link's target is not the student's file: not read
    assert submission_fingerprint(sub, setup) == first
    (sub / "answers.yaml").write_bytes((sub / "answers.yaml").read_bytes() + b" ")
    assert submission_fingerprint(sub, setup) != first
    assert submission_fingerprint(sub, setup + "x") != submission_fingerprint(sub, setup)


def test_interrupted_batch_loses_nothing(tmp_path):
    # Enough submissions that the signal lands while they are graded (30 took ~0.1 s after the
    # first three, about the polling interval, and the batch sometimes finished first).
    n = 150
    root, out = _class(tmp_path / "class", n), tmp_path / "out"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "grade", str(root), "--batch",
                             "--out", str(out), "--parts", "A", "--jobs", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / NAME).exists() and len(Journal(out).records()) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = Journal(out).records()
    if proc.returncode in (EXIT_GRADED, EXIT_PENDING):  # finished before the signal (4: an
        assert len(kept) == n                             # answer waits for review)
    else:
        assert proc.returncode == 130 and "run again with --resume" in err, err
        assert 3 <= len(kept) < n
    # Every line is a whole record: nothing half-written is left behind.
    assert len((out / NAME).read_text().splitlines()) == len(kept)
    _grade(root, out, "--resume")
    _grade(root, tmp_path / "fresh")
    assert (out / "gradebook.csv").read_bytes() == (tmp_path / "fresh" / "gradebook.csv"
                                                    ).read_bytes()


def test_outputs_written_in_forked_processes_are_the_same_bytes(tmp_path):
    from dataclasses import replace

    from grader.results import Result
    from grader.writers.formats import write_class

    root = _class(tmp_path / "class", 3)
    _grade(root, tmp_path / "out")
    records = Journal(tmp_path / "out").records()
    saved = [Result.from_data(records[f"s{k:03d}"]["result"]) for k in range(3)]
    rows = [replace(saved[k % 3], folder=f"t{k:04d}", student=f"t{k:04d}", file=f"t{k:04d}")
            for k in range(250)]  # enough for the pages and JSON files to be split over forks
    options = RunContext.build(parts="A")
    write_class(rows, tmp_path / "one", options, jobs=1)
    write_class(rows, tmp_path / "two", options, jobs=2)
    one = {p.relative_to(tmp_path / "one"): p.read_bytes()
           for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes()
           for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert len(one) == 3 + 2 * 250 + 1 and one == two  # 3 csv, json + html per student, index


def test_resume_tries_again_what_could_not_be_graded(tmp_path):
    root, out = _class(tmp_path / "class", 2), tmp_path / "out"
    _grade(root, out)
    # As a stopped worker leaves it.
    _edit_saved(out, lambda stem, result: result.update(status="error", name="FROM-SAVED")
                if stem == "s001" else None)
    _grade(root, out, "--resume")
    assert "FROM-SAVED" not in (out / "gradebook.csv").read_text()
    assert _saved(out, "s001")["result"]["status"] == "graded"


def test_a_saved_line_cut_short_is_ignored_and_the_next_starts_on_its_own(tmp_path):
    journal = Journal(tmp_path)
    with journal:
        journal.append("a", "fa", {"x": 1})
    with open(tmp_path / NAME, "a") as f:  # the machine stopped mid-write
        f.write('{"stem": "b", "fingerpri')
    with journal:
        journal.append("c", "fc", {"x": 3})
    assert journal.records() == {"a": {"fingerprint": "fa", "result": {"x": 1}},
                                 "c": {"fingerprint": "fc", "result": {"x": 3}}}


def test_output_files_are_shared_out_and_every_one_is_written(tmp_path):
    """A class's per-student files: each written once, by whichever process is free (this
    one after its own `first` task, the forks from the start); a failing fork is an error."""
    import pytest

    from grader.worker import in_parallel

    def write(k: int) -> None:
        with open(tmp_path / f"{k}.txt", "x") as f:  # "x": written twice would fail
            f.write(str(os.getpid()))

    in_parallel(write, 1000, 2, first=lambda: (tmp_path / "first").write_text(str(os.getpid())))
    done = {int(p.stem): p.read_text() for p in tmp_path.glob("*.txt")}
    assert sorted(done) == list(range(1000))
    assert len(set(done.values())) == 2  # both processes took chunks
    assert (tmp_path / "first").read_text() == str(os.getpid())

    def fails_in_a_fork(k: int) -> None:
        if os.getpid() != parent:
            raise OSError("disk full")

    parent = os.getpid()
    with pytest.raises(RuntimeError, match="child process"):
        # this process busy with `first` while the fork takes the first chunks
        in_parallel(fails_in_a_fork, 1000, 2, first=lambda: time.sleep(0.5))
