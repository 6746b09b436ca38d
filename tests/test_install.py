"""dlhw installs and runs wherever an instructor puts it (issue 20).

A wheel built from this checkout is installed into a fresh virtual environment under /tmp (its
dependencies come from this interpreter's own folders through a .pth file, so nothing is
downloaded), then run from a folder with no checkout: it solves, grades Part B in full through
the sandbox (whose private /tmp once hid such an interpreter), and where a tool is missing it
never marks a student down: the items say `not run`, the submission is `incomplete`, the exit
status is 3 and --resume grades them again once the tool is back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core import resources
from grader import autograder, runtime, sandbox
from tests import gradescope_sim
from tests.conftest import require

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "submission"


def make_venv(env: Path, wheel: Path) -> Path:
    """A venv at `env` with dlhw's wheel installed, its dependencies this suite's own (a .pth
    file: nothing is downloaded)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    purelib = subprocess.run([str(env / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "suite.pth").write_text("\n".join(gradescope_sim.site_folders()) + "\n")
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    return env


@pytest.fixture(scope="module")
def wheel() -> Path:
    root = Path(tempfile.mkdtemp(prefix="dlhw-wheel-", dir="/tmp"))
    try:
        yield autograder.build_wheel(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def venv(wheel) -> Path:
    """A venv under /tmp holding dlhw's wheel (not the checkout) and nothing else of dlhw."""
    root = Path(tempfile.mkdtemp(prefix="dlhw-venv-", dir="/tmp"))
    try:
        yield make_venv(root / "venv", wheel)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def dlhw(env: Path, *args: str, cwd: Path, path: str | None = None,
         extra: dict | None = None) -> subprocess.CompletedProcess:
    environ = {"PATH": path or f"{env / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "HOME": str(cwd), "DLHW_PERTURB_SEED": "7", **(extra or {})}
    return subprocess.run([str(env / "bin" / "dlhw"), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600)


def test_the_wheel_carries_its_data_and_solves_without_a_checkout(venv, tmp_path):
    where = subprocess.run([str(venv / "bin" / "python"), "-I", "-c",
                            "import solver, core.resources as r; print(solver.__file__); "
                            "print(r.shipped('problems')); print(r.shipped('templates'))"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    for line in where.stdout.split():
        assert line.startswith(str(venv)), where.stdout  # the wheel's files, not the checkout's
    done = dlhw(venv, "solve", "q1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    mine = subprocess.run([sys.executable, "-m", "cli", "solve", "q1", "--json"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == json.loads(mine.stdout)
    done = dlhw(venv, "solve", "q6", "--latex", cwd=tmp_path)
    assert done.returncode == 0 and r"\tanh" in done.stdout, done.stderr


def test_reference_notebook_graded_from_a_venv_under_tmp_earns_part_b(venv, tmp_path):
    require(sandbox.unavailable_reason() is None, "grading Part B needs the sandbox")
    shutil.copytree(EXAMPLE, tmp_path / "s2025-0042")
    done = dlhw(venv, "grade", "s2025-0042", "--parts", "B", "--format", "json", cwd=tmp_path)
    row = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert row["status"] == "graded" and row["score"] == row["max_score"] == 25, row


def _without_bwrap(tmp_path: Path, env: Path) -> str:
    """A PATH on which everything of /usr/bin is found but bubblewrap."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for entry in os.scandir("/usr/bin"):
        if entry.name != "bwrap":
            (bin_ / entry.name).symlink_to(entry.path)
    return f"{env / 'bin'}:{bin_}"


def test_without_bubblewrap_nothing_is_marked_and_resume_grades_it_later(venv, tmp_path):
    require(sandbox.unavailable_reason() is None, "the second half grades in the sandbox")
    path = _without_bwrap(tmp_path, venv)
    subs = tmp_path / "subs"
    shutil.copytree(EXAMPLE, subs / "s2025-0042")
    # One submission: graded as far as it can be, exit 3, no item wrong for want of a tool.
    done = dlhw(venv, "grade", "subs/s2025-0042", "--format", "json", cwd=tmp_path, path=path)
    assert done.returncode == 3, done.stderr
    assert "bubblewrap is not installed" in done.stderr
    row = json.loads(done.stdout)
    assert row["status"] == "incomplete"
    parts = {q["part"]: [] for q in row["questions"].values()}
    for q in row["questions"].values():
        parts[q["part"]].append(q)
    assert all(q["status"] == "correct" for q in parts["A"])  # Part A needs no tool
    for q in parts["B"] + parts["C"]:
        if q["status"] != "unverified":  # a claim with nothing to measure is the student's
            assert q["status"] == "not run" and q["score"] is None, q
    # A batch refuses to start, in one line, unless told to grade what it can.
    out = tmp_path / "results"
    done = dlhw(venv, "grade", "subs", "--batch", "--out", "results", cwd=tmp_path, path=path)
    assert done.returncode == 3 and not out.exists()
    assert "no submission graded" in done.stderr
    done = dlhw(venv, "grade", "subs", "--batch", "--out", "results", "--allow-missing",
                cwd=tmp_path, path=path)
    assert done.returncode == 3 and "1 incomplete" in done.stdout, done.stdout + done.stderr
    # With the tool back, --resume grades the incomplete submission again: full marks.
    done = dlhw(venv, "grade", "subs", "--batch", "--out", "results", "--resume", cwd=tmp_path)
    assert done.returncode == 0 and "1 graded" in done.stdout, done.stdout + done.stderr
    student = json.loads((out / "students" / "s2025-0042.json").read_text())
    assert not [q for q in student["questions"].values() if q["status"] == "not run"]
    assert student["score"] == 100  # the example, its FashionMNIST model included


def test_a_sandbox_that_cannot_start_the_interpreter_is_the_graders_fault(monkeypatch, tmp_path):
    """The failure of issue 20 (a private /tmp hid the interpreter: 'setpriv: failed to
    execute'), mounted: every sandboxed item is `not run`, never `wrong`."""
    require(sandbox.unavailable_reason() is None, "needs the sandbox")
    from grader.context import RunContext
    from grader.grade import grade_submission

    broken = runtime.Runtime("/nonexistent/bin/python3", runtime.student().folders)
    monkeypatch.setattr(runtime, "student", lambda: broken)
    shutil.copytree(EXAMPLE, tmp_path / "s2025-0042")
    result = grade_submission(tmp_path / "s2025-0042", RunContext.build(parts="BC"))
    assert result.status == "incomplete"
    by_id = {i.id: i for i in result.items}
    for iid in ("activations", "notebook", "regression"):
        assert by_id[iid].status == "not run" and by_id[iid].score is None, by_id[iid]
        assert "did not start" in by_id[iid].feedback
    assert all(i.status not in ("wrong", "partial", "failed") for i in result.items)


def test_a_venv_other_users_cannot_read_grades_or_is_named_by_the_preflight(wheel, tmp_path):
    """A venv made in a 0700 folder (mktemp -d). Student code runs on the bare interpreter (-S:
    no venv's pyvenv.cfg read) and the sandbox opens the folders on its way, so the grader's
    venv may be closed. A students' interpreter ($DLHW_STUDENT_PYTHON) runs with its own site,
    so the sandbox's uid must read it: the preflight says so, never grades on another one."""
    require(sandbox.unavailable_reason() is None and os.geteuid() == 0,
            "the sandbox's own uid exists only when grading as root")
    env = make_venv(tmp_path / "closed", wheel)
    env.chmod(0o700)
    done = dlhw(env, "doctor", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    students = tmp_path / "students"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(students)], check=True)
    students.chmod(0o700)
    done = dlhw(env, "doctor", cwd=tmp_path,
                extra={"DLHW_STUDENT_PYTHON": str(students / "bin" / "python")})
    assert done.returncode == 1, done.stdout
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("python in the sandbox"))
    assert "FAILED" in line and str(students) in line and "chmod o+rx" in line, line


def test_doctor_proves_each_tool_and_names_the_fix(venv, tmp_path):
    require(sandbox.unavailable_reason() is None, "doctor's probes need the sandbox")
    done = dlhw(venv, "doctor", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("numpy in the sandbox", "torch in the sandbox", "pdflatex (IEEEtran)",
                 "poppler reads the PDF", "FashionMNIST test files"):
        assert any(ln.startswith(line) and " ok " in ln for ln in done.stdout.splitlines()), line
    done = dlhw(venv, "doctor", cwd=tmp_path, path=_without_bwrap(tmp_path, venv))
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "fix: apt-get install bubblewrap" in done.stdout


def test_a_course_folder_overrides_the_shipped_files(venv, tmp_path):
    course = tmp_path / "course"
    (course / "problems").mkdir(parents=True)
    (course / "templates").mkdir()
    q2 = resources.shipped("problems") / "q02_gradient.yaml"
    (course / "problems" / q2.name).write_text(q2.read_text().replace("x: 0.7", "x: 0.9"))
    txt = resources.shipped("templates") / "solution.txt.j2"
    (course / "templates" / txt.name).write_text("COURSE TEMPLATE\n" + txt.read_text())
    plain = dlhw(venv, "solve", "q2", "--json", cwd=tmp_path)
    for how in (["--course", str(course)], []):
        extra = {} if how else {"DLHW_HOME": str(course)}
        done = dlhw(venv, *how, "solve", "q2", "--json", cwd=tmp_path, extra=extra)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["answers"] != json.loads(plain.stdout)["answers"]
        text = dlhw(venv, *how, "solve", "q1", cwd=tmp_path, extra=extra)
        assert text.stdout.startswith("COURSE TEMPLATE"), text.stdout[:200]
    done = dlhw(venv, "--course", str(tmp_path / "nowhere"), "list", cwd=tmp_path)
    assert done.returncode == 2 and "nowhere" in done.stderr


def test_gradescope_setup_refuses_an_old_python_and_names_the_base_image(tmp_path):
    fake = tmp_path / "python3"  # answers like Ubuntu 22.04's Python 3.10
    fake.write_text("#!/bin/sh\ncase \"$*\" in *'< (3, 11)'*) exit 1;; esac\necho 3.10\n")
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(resources.path("templates", "autograder/setup.sh"))],
                          env={"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(tmp_path),
                               "DLHW_SKIP_APT": "1", "DLHW_PYTHON": str(fake)},
                          capture_output=True, text=True)
    assert done.returncode == 1 and not (tmp_path / "venv").exists()
    [line] = done.stderr.splitlines()
    assert "needs Python >= 3.11" in line and "is 3.10" in line and "Ubuntu 24.04" in line


def test_as_an_ordinary_user_grading_runs_in_user_namespaces():
    """The grader run by an unprivileged uid (nobody): its sandbox is bubblewrap's user
    namespace, not setpriv. The folders of this interpreter and checkout are made reachable to
    that uid in a mount namespace of their own (here they sit under /root, closed to others)."""
    require(gradescope_sim.available() is None, "needs root and bubblewrap to stage the user")
    require(sandbox.unavailable_reason() is None, "needs the sandbox")
    needed = runtime.cover([*runtime.current().folders, *gradescope_sim.site_folders(),
                            str(REPO)])
    shut = [p for p in needed if not os.stat(p).st_mode & 0o005]
    require(not shut, f"{', '.join(shut)}: closed to other users, so no ordinary user can run "
            "this interpreter (chmod o+rx)")
    closed = sorted({_closed_ancestor(p) for p in needed} - {None})
    stage = ["bwrap", "--dev-bind", "/", "/"]
    for top in closed:
        stage += ["--perms", "0755", "--tmpfs", top]
        for p in (p for p in needed if p.startswith(top + "/")):
            for parent in reversed(Path(p).parents):  # made 0755: bwrap copies 0700 modes
                if str(parent).startswith(top + "/"):
                    stage += ["--perms", "0755", "--dir", str(parent)]
            stage += ["--ro-bind", p, p]
    work = Path(tempfile.mkdtemp(prefix="dlhw-user-", dir="/tmp"))
    try:
        shutil.copytree(EXAMPLE, work / "s2025-0042")
        subprocess.run(["chmod", "-R", "a+rwX", str(work)], check=True)
        as_nobody = [*stage, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                     "--inh-caps=-all", sys.executable, "-m", "cli"]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work)}
        doctor = subprocess.run([*as_nobody, "doctor"], cwd=work, env=env, capture_output=True,
                                text=True, timeout=300)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        done = subprocess.run([*as_nobody, "grade", "s2025-0042", "--parts", "B", "--format",
                               "json"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        row = json.loads(done.stdout)
        assert done.returncode == 0 and row["score"] == row["max_score"] == 25, done.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _closed_ancestor(path: str) -> str | None:
    """The outermost folder above `path` that other users cannot enter, if any."""
    for parent in reversed(Path(path).parents):
        if str(parent) != "/" and not os.stat(parent).st_mode & 0o001:
            return str(parent)
    return None
