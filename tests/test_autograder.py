"""The Gradescope bundle, run as Gradescope runs it, without Gradescope.

A harness lays out Gradescope's tree (gradescope/autograder_samples, docs/specs.md: source/ holds
the unzipped bundle, run_autograder is copied beside it, submission/, results/ and
submission_metadata.json) in a temporary root, runs setup.sh (a fresh virtual environment; the
apt step skipped with DLHW_SKIP_APT=1, and --system-site-packages with PIP_NO_INDEX=1 so that
torch and the rest are already satisfied offline) and run_autograder on sample submissions, both
as root in a container stand-in (tests/gradescope_sim.py), and validates results.json against
Gradescope's documented schema.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema  # nbformat's dependency, so installed with dlhw[nets]
import pytest
from click.testing import CliRunner

from cli import cli
from grader import autograder, runtime, sandbox
from grader.context import RunContext
from grader.grade import grade_submission
from grader.writers.json import to_dict
from nets.fashion_files import DEBIAN_DIR
from tests import gradescope_sim
from tests.conftest import require

EXAMPLE = gradescope_sim.REPO / "examples" / "submission"
EMAIL = "s2025-0042@example.edu"  # the example's student.yaml declares s2025-0042

_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
# docs/specs.md "Output format": every documented key, nothing else.
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["score", "execution_time", "output", "tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FORMAT, "test_output_format": _FORMAT, "test_name_format": _FORMAT,
        "visibility": _VISIBILITY, "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["score", "max_score", "name", "status", "output", "visibility"],
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string"}, "name_format": _FORMAT,
                "number": {"type": "string"},
                "output": {"type": "string"}, "output_format": _FORMAT,
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": _VISIBILITY, "extra_data": {"type": "object"}}}},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"], "additionalProperties": False,
            "properties": {"name": {"type": "string"},
                           "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
}


class Gradescope:
    """Gradescope's autograder tree in `root`, the bundle set up in it."""

    def __init__(self, root: Path, work: Path):
        self.root = root
        # What lock_down closes, as copies here: the stand-in changes them, never this machine.
        self.datasets = work / "datasets"
        self.datasets.mkdir()
        # The FashionMNIST test files, as scripts/setup.sh installs them in the image (the
        # example's fashion model is measured on them).
        fashion = self.datasets / "fashion-mnist"
        fashion.mkdir()
        for f in DEBIAN_DIR.glob("t10k-*"):
            shutil.copy(f, fashion / f.name)
        self.sk_copy = work / "sklearn-data"
        self.sk_data = Path(autograder._sklearn_data()[0])
        shutil.copytree(self.sk_data, self.sk_copy)
        self.env = {"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "LANG": "C.UTF-8"}
        # The students' environment offline: a folder of only the homework's packages (links).
        self.site = work / "student-site"
        self.site.mkdir()
        for src, name in runtime._student_site():
            (self.site / name).symlink_to(src)

    def run(self, argv: list[str], env: dict | None = None,
            binds: list[str] | None = None) -> subprocess.CompletedProcess:
        # The root's parents (pytest's 0700 folders) open to the sandbox's uid, as /autograder
        # is on Gradescope: else its interpreter would start from another environment.
        parents = [a for p in reversed(self.root.parents) if str(p) not in ("/", "/tmp")
                   for a in ("--perms", "0755", "--dir", str(p))]
        binds = [*parents, "--bind", str(self.root), str(self.root),
                 "--bind", str(self.datasets), "/usr/share/datasets",
                 "--bind", str(self.sk_copy), str(self.sk_data), "--chdir", str(self.root),
                 "--ro-bind", str(self.site), str(self.site),
                 *(binds or [])]
        return subprocess.run(gradescope_sim.container(argv, binds), env=self.env | (env or {}),
                              capture_output=True, text=True, timeout=900)

    def install(self, bundle: Path) -> subprocess.CompletedProcess:
        """Unzip into source/ (keeping the members' modes), copy run_autograder beside it, run
        setup.sh: what Gradescope does when it builds the image."""
        source = self.root / "source"
        with zipfile.ZipFile(bundle) as z:
            for info in z.infolist():
                target = source / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
                target.chmod(stat.S_IMODE(info.external_attr >> 16) or 0o644)
        shutil.copy2(source / "run_autograder", self.root / "run_autograder")
        return self.run(["bash", str(source / "setup.sh")], {
            "DLHW_SKIP_APT": "1", "DLHW_PYTHON": sys.executable, "DLHW_VENV_ARGS": "--without-pip",
            "DLHW_SITE_PACKAGES": os.pathsep.join(gradescope_sim.site_folders()),
            "DLHW_STUDENT_SITE_PACKAGES": str(self.site), "PIP_NO_INDEX": "1"})

    def grade(self, files: dict[str, bytes | str | Path], email: str = EMAIL) -> dict:
        """Submit `files` (name → content, or a path copied; a Path value of a folder is copied
        whole), run run_autograder, validate and return results.json."""
        self.submit(files, email)
        done = self.run([str(self.root / "run_autograder")])
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        data = json.loads((self.root / "results" / "results.json").read_text(encoding="utf-8"))
        jsonschema.validate(data, SCHEMA)
        return data

    def submit(self, files: dict[str, bytes | str | Path], email: str | list[str] = EMAIL
               ) -> None:
        """Lay `files` out as Gradescope's upload, with its metadata; results/ empty."""
        sub, results = self.root / "submission", self.root / "results"
        for folder in (sub, results):
            shutil.rmtree(folder, ignore_errors=True)
        sub.mkdir()
        results.mkdir()
        for name, content in files.items():
            target = sub / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                if content.is_dir():
                    shutil.copytree(content, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(content, target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        (self.root / "submission_metadata.json").write_text(json.dumps({
            "id": 123456, "created_at": "2026-11-27T14:22:32.365935-08:00",
            "assignment": {"title": "Homework 1", "total_points": "100.0"},
            "submission_method": "upload",
            "users": [{"email": e, "id": 1234 + i, "name": "A Student"}
                      for i, e in enumerate([email] if isinstance(email, str) else email)],
            "previous_submissions": []}))


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory) -> Gradescope:
    require(gradescope_sim.available() is None, str(gradescope_sim.available()))
    require(sandbox.unavailable_reason() is None, "the bubblewrap baseline needs the sandbox")
    work = tmp_path_factory.mktemp("gradescope")
    bundle = work / "autograder.zip"
    autograder.build_bundle(bundle)
    gs = Gradescope(work / "autograder", work)
    gs.root.mkdir()
    done = gs.install(bundle)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "setup: dlhw installed" in done.stdout
    return gs


def by_item(data: dict) -> dict[str, dict]:
    return {t["name"].split(":")[0]: t for t in data["tests"]}


def test_bundle_follows_gradescopes_layout_and_is_reproducible(tmp_path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    names = autograder.build_bundle(a)
    autograder.build_bundle(b)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    with zipfile.ZipFile(a) as z:
        infos = {i.filename: i for i in z.infolist()}
        assert set(infos) == set(names)
        for script in ("setup.sh", "run_autograder"):  # at the zip's root, executable
            assert infos[script].external_attr >> 16 & 0o111
        wheel = next(n for n in names if n.endswith(".whl"))
        assert "/" not in wheel and wheel.startswith("dlhw-")
        with zipfile.ZipFile(z.open(wheel)) as w:
            inside = set(w.namelist())
        code = {n.split("/")[0] for n in inside}
        assert {"cli.py", "core", "solver", "grader", "nets", "handout"} <= code
        # The data travels in the wheel (core.resources), never tests, benchmarks or examples.
        assert {"problems/rubric.yaml", "problems/references.yaml", "problems/partb_checks.py",
                "templates/solution.txt.j2", "templates/site/sort.js"} <= inside
        assert not code & {"tests", "bench", "examples", "scripts"}
        assert not any(n.startswith(("problems/", "templates/")) for n in names)


def test_course_travels_in_the_bundle(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "class.csv").write_text("id,name\ns2025-0042,A Student\ns002,B\n")
    course = tmp_path / "course.yaml"
    course.write_text("seed: 2026\nroster: lists/class.csv\n")
    runner = CliRunner()
    done = runner.invoke(cli, ["autograder", "--out", str(tmp_path / "a.zip"),
                               "--course", str(course)])
    assert done.exit_code == 0 and "wrote" in done.output, done.output
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert {"course/course.yaml", "course/class.csv"} <= set(z.namelist())
        assert z.read("course/course.yaml") == b'seed: 2026\nroster: "class.csv"\n'
    course.write_text("seed: two\nroster: lists/class.csv\n")
    done = runner.invoke(cli, ["autograder", "--out", str(tmp_path / "b.zip"),
                               "--course", str(course)])
    assert done.exit_code == 1 and "seed: expected an integer" in done.output
    assert len(done.output.splitlines()) == 1 and not (tmp_path / "b.zip").exists()


def test_complete_submission_graded_in_the_container_as_bubblewrap_grades_it(gradescope):
    data = gradescope.grade({".": EXAMPLE})
    tests = by_item(data)
    # The same submission graded here, in bubblewrap: every item's mark the same.
    row = to_dict(grade_submission(EXAMPLE, RunContext.build(), "s2025-0042"))
    assert set(tests) == set(row["questions"])
    for iid, item in row["questions"].items():
        assert tests[iid]["score"] == (item["score"] or 0.0), (iid, tests[iid]["output"])
        assert tests[iid]["max_score"] == item["max_score"]
        assert tests[iid]["status"] == ("passed" if item["score"] == item["max_score"]
                                        else "failed")
    assert data["score"] == row["score"] == row["max_score"] == 100  # the example: full marks
    assert all(tests[f"q{k}"]["score"] == tests[f"q{k}"]["max_score"] for k in range(1, 11))
    ran = [t for t in data["tests"] if t["extra_data"]["status"] not in ("absent", "unverified")
           and "Part A" not in t["tags"]]
    assert ran and all(t["score"] > 0 for t in ran)  # the notebook, the model, the report ran
    assert data["extra_data"] == {"student": "s2025-0042", "status": "graded",
                                  "isolation": "container"}
    assert "Isolation of student code: container (Gradescope's container" in data["output"]
    assert all(t["extra_data"]["isolation"] == "container" for t in data["tests"]
               if "Part A" not in t["tags"])
    assert [e["name"] for e in data["leaderboard"]] == ["FashionMNIST test accuracy"]
    # What a student's code must not read was closed to other uids (on the stand-in's copies).
    for folder in (gradescope.root / "source", gradescope.root / "submission",
                   gradescope.datasets, gradescope.sk_copy):
        assert folder.stat().st_mode & 0o007 == 0, folder


def test_student_code_in_the_container_reads_nothing_of_dlhw(gradescope):
    """Issue 22's first row in Gradescope's container: a notebook importing dlhw's nets in every
    region, and listing the bundle and the grader's environment first. The students'
    interpreter holds no dlhw and the bundle is closed to its uid: nothing passes, nothing
    leaks."""
    from nets.notebook import build_notebook
    from tests.test_partb_checks import importing_nets

    probe = ("import os\nleaked = []\n"
             f"for p in {[str(gradescope.root / d) for d in ('source', 'venv', 'submission')]!r}:\n"
             "    try:\n        leaked += os.listdir(p)\n    except OSError:\n        pass\n"
             "if leaked:\n    raise RuntimeError('LEAKED ' + ' '.join(leaked))\n")
    nb = importing_nets(json.loads(json.dumps(build_notebook(student=False))), probe)
    data = gradescope.grade({"partb.ipynb": json.dumps(nb),
                             "answers.yaml": EXAMPLE / "answers.yaml"})
    tests = by_item(data)
    for iid in ("activations", "layers", "perceptron", "xor_net", "digits_softmax",
                "digits_mlp"):
        assert tests[iid]["score"] == 0, tests[iid]
    text = json.dumps(data)
    assert "LEAKED" not in text and "No module named 'nets'" in text


def test_part_a_only_zipped_in_a_folder(gradescope):
    data = gradescope.grade({"hw1/answers.yaml": EXAMPLE / "answers.yaml",
                             "__MACOSX/hw1/._answers.yaml": b"\x00\x05\x16\x07"},
                            email="s777@x.org")
    tests = by_item(data)
    assert data["extra_data"]["student"] == "s777"
    assert data["score"] == 50.0
    assert "graded the folder 'hw1' of the upload" in data["output"]
    assert all(t["status"] == "failed" and t["score"] == 0 for t in data["tests"]
               if "Part A" not in t["tags"])
    assert tests["q1"]["status"] == "passed"


def test_malformed_submission_still_gets_results(gradescope):
    data = gradescope.grade({"answers.yaml": "q1: [unclosed\n", "student.yaml": b"\xff\xfe\x00",
                             "partb.ipynb": "{not json"})
    assert data["extra_data"]["status"] == "invalid"
    assert "answers.yaml" in data["output"] and "student.yaml" in data["output"]
    assert data["score"] == 0
    assert "\x00" not in json.dumps(data)


def test_course_marks_each_student_against_their_own_numbers(gradescope, tmp_path):
    """The course travels in the bundle; the submitter (from the metadata's email) picks the
    numbers: ada's own answers right, bob's copy of them wrong, eve (not enrolled) invalid."""
    import yaml

    from tests.test_grade_variants import SEED, VARIED, answers_for

    (tmp_path / "roster.csv").write_text("id,name\nada,Ada\nbob,Bob\n")
    (tmp_path / "course.yaml").write_text(f"seed: {SEED}\nroster: roster.csv\n")
    autograder.build_bundle(tmp_path / "a.zip", tmp_path / "course.yaml")
    source = gradescope.root / "source"
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        for name in (n for n in z.namelist() if n.startswith("course/")):
            (source / name).parent.mkdir(exist_ok=True)
            (source / name).write_bytes(z.read(name))
    answers = {"answers.yaml": yaml.safe_dump(answers_for("ada"))}
    try:
        ada, bob, eve = (gradescope.grade(answers, email=f"{sid}@uni.example")
                         for sid in ("ada", "bob", "eve"))
        # ada's numbers uploaded by a group [ada, bob]: one score would serve both, so refused
        group = gradescope.grade(answers, email=["ada@uni.example", "bob@uni.example"])
    finally:
        shutil.rmtree(source / "course")
    assert ada["extra_data"]["student"] == "ada"
    assert all(by_item(ada)[q]["status"] == "passed" for q in VARIED)
    assert all(by_item(bob)[q]["score"] < 2 for q in VARIED)
    assert eve["extra_data"]["status"] == "invalid" and "not in the roster" in eve["output"]
    assert group["score"] == 0 and group["extra_data"]["status"] == "invalid"
    assert "a group submission (ada, bob) cannot be graded in this course" in group["output"]
    assert "Each member must submit alone" in group["output"]


def test_run_autograder_without_a_bundle_fails_without_results(gradescope, tmp_path):
    """A broken bundle is the instructor's fault: no results.json, so Gradescope reports an
    autograder error rather than a 0 for the student."""
    course = gradescope.root / "source" / "course"  # the bundle's course folder, overriding
    assert not course.exists()
    try:
        (course / "problems").mkdir(parents=True)
        (course / "problems" / "rubric.yaml").write_text("items: [\n")
        shutil.rmtree(gradescope.root / "results", ignore_errors=True)
        done = gradescope.run([str(gradescope.root / "run_autograder")])
        assert done.returncode == 1 and "dlhw autograder: error:" in done.stderr
        assert "course/problems/rubric.yaml" in done.stderr
        assert not (gradescope.root / "results" / "results.json").exists()
    finally:
        shutil.rmtree(course)


def test_a_tool_missing_in_the_container_is_no_mark_and_writes_no_results(gradescope):
    """pdflatex gone from the image: the report cannot be compiled, which is the grader's
    failure, so there is no results.json (Gradescope shows an autograder error to rerun, not a
    score) and the reason is on stderr."""
    gradescope.submit({".": EXAMPLE})
    done = gradescope.run([str(gradescope.root / "run_autograder")],
                          binds=["--ro-bind", "/dev/null", shutil.which("pdflatex")])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dlhw autograder: error: s2025-0042: incomplete:" in done.stderr
    assert "pdflatex" in done.stderr
    assert not (gradescope.root / "results" / "results.json").exists()


def test_submitter_is_the_metadata_email_up_to_the_at(tmp_path):
    meta = tmp_path / "submission_metadata.json"
    assert autograder.submitter_id(meta) is None  # absent: the folder's name is used
    for users, expected in (([{"email": "ada.l@uni.example"}], "ada.l"),
                            ([{"email": "ada@x"}, {"email": "bob@x"}], "ada"),
                            ([{"email": "../../etc@x"}], None), ([{"email": 7}], None),
                            ([], None), ({"email": "a@x"}, None)):
        meta.write_text(json.dumps({"users": users}))
        assert autograder.submitter_id(meta) == expected, users
    meta.write_bytes(b"\xff{")
    assert autograder.submitter_id(meta) is None
    meta.write_text(json.dumps({"users": [{"email": "ada@x"}, {"email": "../b@x"}]}))
    assert autograder.submitters(meta) == ["ada", None]


def test_a_group_is_graded_once_without_a_course_and_refused_with_one(tmp_path):
    from grader.course import load_course

    ctx = RunContext.build(parts="A")
    assert autograder.group_refused(["ada", "bob"], ctx) is None  # everyone's numbers alike
    (tmp_path / "roster.csv").write_text("id,name\nada,Ada\nbob,Bob\n")
    (tmp_path / "course.yaml").write_text("seed: 3\nroster: roster.csv\n")
    ctx = RunContext.build(parts="A", course=load_course(tmp_path / "course.yaml"))
    assert autograder.group_refused(["ada"], ctx) is None
    refused = autograder.group_refused(["bob", "ada"], ctx)
    assert refused is not None and refused.status == "invalid" and refused.score == 0
    assert "(bob, ada)" in refused.problems[0]
