"""Part B marked from what the student's notebook does: real notebooks, run in the real sandbox,
checked by the hidden checks; bugs, claims and attacks each mounted for real."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from core import resources
from grader import sandbox
from grader.context import RunContext
from grader.grade import grade_submission
from grader.kinds import Limits
from grader.kinds.notebook import template_notebook
from grader.notebook_file import NotebookError, check_notebook, read_notebook, structure
from grader.rubric import load_rubric
from tests.conftest import require

PARTB = ("activations", "layers", "perceptron", "xor_net", "digits_softmax", "digits_mlp",
         "notebook")
CLAIMS = ("perceptron.xor.converged: false\nxor_net.accuracy: 1.0\n"
          "digits.softmax.test_accuracy: 0.9722\ndigits.mlp.test_accuracy: 0.9889\n")


@pytest.fixture(scope="module", autouse=True)
def _needs_bwrap():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


@pytest.fixture(scope="module")
def solution() -> dict:
    from nets.notebook import build_notebook

    return json.loads(json.dumps(build_notebook(student=False)))


@pytest.fixture(scope="module")
def options() -> RunContext:
    return RunContext.build(parts="B", template=template_notebook())


@pytest.fixture(scope="module")
def quick(options) -> RunContext:
    """The same, with a 15 s limit on the notebook's run (for the attacks that hang)."""
    rubric = options.rubric
    items = tuple(dataclasses.replace(i, limits=Limits(15.0, i.limits.memory_limit_mb))
                  if i.kind == "notebook" else i
                  for i in rubric.items)
    return RunContext.build(rubric=dataclasses.replace(rubric, items=items), parts="B",
                   template=options.template)


def _region(nb: dict, answer: str) -> dict:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("dlhw", {}).get("answer")
                == answer)


def edited(nb: dict, answer: str, old: str, new: str) -> dict:
    """A copy of `nb` with `old` replaced by `new` in the answer region `answer`."""
    nb = copy.deepcopy(nb)
    cell = _region(nb, answer)
    text = "".join(cell["source"])
    assert old in text, (answer, old)
    cell["source"] = text.replace(old, new, 1)
    return nb


def appended(nb: dict, answer: str, code: str) -> dict:
    """A copy of `nb` with `code` run at the end of the answer region `answer`."""
    nb = copy.deepcopy(nb)
    cell = _region(nb, answer)
    text = "".join(cell["source"])
    cell["source"] = text.replace("\n# ENDCODE", "\n" + code.rstrip() + "\n# ENDCODE")
    return nb


def grade(tmp_path: Path, nb: dict | str | bytes, opts: RunContext, claims: str = CLAIMS,
          name: str = "s"):
    sub = tmp_path / name
    sub.mkdir()
    data = nb if isinstance(nb, bytes) else (nb if isinstance(nb, str) else json.dumps(nb))
    (sub / "partb.ipynb").write_bytes(data if isinstance(data, bytes) else data.encode())
    (sub / "metrics.yaml").write_text(claims)
    result = grade_submission(sub, opts)
    return result, {i.id: i for i in result.items}


def full(items: dict, iid: str) -> bool:
    return items[iid].score == items[iid].max_score


# ---------------------------------------------------------------- marks from the checks


def test_reference_solution_gets_full_marks(tmp_path, solution, options):
    result, items = grade(tmp_path, solution, options)
    for iid in PARTB:
        assert full(items, iid), (iid, items[iid].feedback)
        assert not items[iid].detail.get("flagged"), items[iid].feedback
    assert result.score == 25
    assert all(a.status == "passed" for a in items["activations"].answers)
    assert "as measured" in items["digits_mlp"].feedback
    again = grade_submission(tmp_path / "s", options)  # the same notebook, the same marks
    assert again == result


def test_wrong_sigmoid_derivative_fails_that_check_only(tmp_path, solution, options):
    nb = edited(solution, "B1.1", "return s * (1.0 - s)", "return s * (1.0 - s) ** 2")
    _, items = grade(tmp_path, nb, options)
    checks = {a.id: a for a in items["activations"].answers}
    assert checks["sigmoid"].status == "failed"
    msg = checks["sigmoid"].feedback
    assert "sigmoid_grad" in msg and "expected" in msg and "got" in msg and "at z =" in msg
    assert len(msg) < 400  # truncated
    assert all(a.status == "passed" for k, a in checks.items() if k != "sigmoid")
    assert items["activations"].score == Fraction(5) * 7 / 8  # weights 1 x 6 + softmax 2
    for iid in PARTB[1:-1]:
        assert full(items, iid), (iid, items[iid].feedback)
    # The notebook item: B1.1 earns 2 of its 3 checks (sigmoid, tanh, relu), the rest in full.
    assert items["notebook"].score == Fraction(2) * (13 + Fraction(2, 3)) / 14


def test_perceptron_off_by_one_is_caught(tmp_path, solution, options):
    nb = edited(solution, "B3.1", "zip(X, y, strict=True)", "zip(X[:-1], y[:-1], strict=True)")
    _, items = grade(tmp_path, nb, options)
    checks = {a.id: a.status for a in items["perceptron"].answers}
    assert checks == {"perceptron_and": "failed", "perceptron_or": "passed",
                      "perceptron_xor": "failed"}
    why = next(a.feedback for a in items["perceptron"].answers if a.id == "perceptron_and")
    assert "on AND" in why and "w =" in why and "predicting [0, 0, 0, 0]" in why, why
    assert items["perceptron"].score == 1
    assert full(items, "digits_mlp") and full(items, "activations")


def test_softmax_without_max_subtraction_overflows(tmp_path, solution, options):
    nb = edited(solution, "B1.3", "np.exp(z - z.max(axis=axis, keepdims=True))", "np.exp(z)")
    _, items = grade(tmp_path, nb, options)
    checks = {a.id: a for a in items["activations"].answers}
    assert checks["softmax"].status == "failed" and "overflows" in checks["softmax"].feedback
    assert items["activations"].score == Fraction(5) * 6 / 8
    assert full(items, "digits_mlp")


def test_claimed_numbers_are_compared_never_used(tmp_path, solution, options):
    nb = edited(solution, "B5.2", "for _ in range(epochs):", "for _ in range(1):")
    claims = CLAIMS.replace("digits.mlp.test_accuracy: 0.9889", "digits.mlp.test_accuracy: 99")
    _, items = grade(tmp_path, nb, options, claims)
    mlp = items["digits_mlp"]
    measured = float(mlp.feedback.split("measured ")[1].split(":")[0])
    assert measured < 0.985
    assert mlp.detail["flagged"] and "FLAG: claimed" in mlp.feedback


def test_untouched_template_scores_nothing(tmp_path, options):
    _, items = grade(tmp_path, options.template, options)
    for iid in PARTB:
        assert items[iid].score == 0, (iid, items[iid].feedback)
    assert all("raised NotImplementedError: [TO COMPLETE]" in a.feedback
               for a in items["activations"].answers)


def test_text_answers_count_and_lol_code_does_not_run(tmp_path, solution, options):
    nb = copy.deepcopy(solution)
    _region(nb, "B1.2")["source"] = "# STARTCODE\nlol\n# ENDCODE"
    cell = _region(nb, "B3.2")
    cell["source"] = "STARTTEXT\n[TO COMPLETE]\nENDTEXT"
    _, items = grade(tmp_path, nb, options)
    fb = items["notebook"].feedback
    assert "B1.2: does not run: NameError" in fb and "B3.2: left blank" in fb
    assert items["notebook"].score == Fraction(2) * 12 / 14


def test_magics_and_shell_escapes_are_refused(tmp_path, solution, options):
    for i, line in enumerate(("!cat /etc/passwd", "%timeit sigmoid(1)",
                              "get_ipython().system('id')")):
        nb = appended(solution, "B1.1", line)
        _, items = grade(tmp_path, nb, options, name=f"m{i}")
        assert items["notebook"].status == "refused", items["notebook"].feedback
        assert "magics and shell escapes are not allowed" in items["notebook"].feedback
        assert items["activations"].score == 0 and "not run" in items["activations"].feedback


# ---------------------------------------------------------------- misbehaviour


def test_infinite_loop_is_stopped_and_the_next_submission_graded(tmp_path, solution, quick):
    _, items = grade(tmp_path, appended(solution, "B6.1", "while True:\n    pass"), quick,
                     name="loop")
    assert "stopped after 15 s" in items["notebook"].feedback
    assert "not run" in items["digits_mlp"].feedback and items["digits_mlp"].score == 0
    _, items = grade(tmp_path, solution, quick, name="after")
    assert all(full(items, iid) for iid in PARTB)


def test_fork_bomb_is_contained(tmp_path, solution, quick):
    marker = f"dlhw-forkbomb-{tmp_path.name}"
    code = f"import os\n_tag = {marker!r}\nwhile True:\n    os.fork()"
    _, items = grade(tmp_path, appended(solution, "B6.1", code), quick, name="fork")
    fb = items["notebook"].feedback
    # (On a machine busy with other work, the run may instead be given back: "too busy".)
    assert "B6.1" in fb and ("BlockingIOError" in fb or "stopped" in fb) or "too busy" in fb, fb
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""


def test_50_gb_allocation_is_refused(tmp_path, solution, options):
    _, items = grade(tmp_path, appended(solution, "B6.1", "x = bytearray(50 * 1024**3)"),
                     options)
    assert "B6.1: does not run: MemoryError" in items["notebook"].feedback
    assert full(items, "digits_mlp")  # the other checks still ran


def test_printing_1_gb_is_cut(tmp_path, solution, options):
    code = "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))"
    result, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    assert "B6.1: does not run: OSError: [Errno 27] File too large" in \
        items["notebook"].feedback  # the file-size limit cut it
    assert full(items, "digits_mlp")


def test_no_network(tmp_path, solution, options):
    code = ("import socket\n"
            "socket.create_connection(('93.184.216.34', 80), timeout=5).sendall(b'x')")
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    assert "B6.1: does not run: OSError" in items["notebook"].feedback


@pytest.mark.parametrize("target", ["/etc/passwd", "references", "other-student"])
def test_files_outside_are_invisible(tmp_path, solution, options, target):
    other = tmp_path / "other"
    other.mkdir()
    (other / "answers.yaml").write_text("secret: hunter2\n")
    path = {"/etc/passwd": "/etc/passwd",
            "references": str(resources.path("problems", "references.yaml")),
            "other-student": str(other / "answers.yaml")}[target]
    code = f"_stolen = open({path!r}).read()\nprint(_stolen)"
    result, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    fb = items["notebook"].feedback
    assert "B6.1: does not run: FileNotFoundError" in fb or \
        "B6.1: does not run: PermissionError" in fb, fb
    text = json.dumps([i.feedback for i in result.items])
    assert "hunter2" not in text and "root:" not in text and "fashion.test_accuracy" not in text


def test_digits_labels_cannot_be_looked_up(tmp_path, solution, options):
    """scikit-learn's copy of the digits is hidden in the sandbox: load_digits fails there."""
    code = "from sklearn.datasets import load_digits\n_d = load_digits()"
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    assert "B6.1: does not run: FileNotFoundError" in items["notebook"].feedback


def _test_set_table() -> dict[str, int]:
    """The digits' test labels by a hash of each test image: the memoriser's table."""
    from nets.partb import PartBConfig, load_split

    s = load_split(PartBConfig())
    return {bytes((s.X_test[i] * 16).round().astype("uint8")).hex(): int(s.y_test[i])
            for i in range(len(s.y_test))}


def test_a_memorised_test_set_is_flagged(tmp_path, solution, options):
    """A predict that looks the exact test images up (here from a table the notebook carries)
    and guesses otherwise scores 100% on them, but collapses on the noisy ones: review, marked
    from those (0 marks)."""
    table = _test_set_table()
    code = (f"_TABLE = {table!r}\n"
            "_predict = MLP.predict\n"
            "def _lookup(self, X):\n"
            "    out = _predict(self, X)\n"
            "    if X.shape[1] != 64:\n"
            "        return out\n"
            "    keys = [bytes((x * 16).round().astype('uint8')).hex() for x in X]\n"
            "    return np.array([_TABLE.get(k, 0) for k in keys])\n"
            "MLP.predict = _lookup\n")
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    mlp = items["digits_mlp"]
    assert mlp.status == "review" and "looked up" in mlp.feedback, mlp.feedback
    assert mlp.score == 0 and "1.0000 on 18 exact" in mlp.feedback, mlp.feedback


def test_the_twin_lookup_falls_on_the_noisy_images(tmp_path, solution, options):
    """The issue's row: train_sgd does nothing; predict looks the exact test images up in a
    table the notebook carries and gives every other image the label of the nearest exact one
    shown (its clean twin, when the grader showed both). Each test image is now shown once:
    the noisy ones have no twin there, so the table falls on them and the check goes to
    review, marked from the noisy images."""
    table = _test_set_table()
    code = (f"_TABLE = {table!r}\n"
            "def train_sgd(model, X, y, rng, *args, **kwargs):\n"
            "    return None\n"
            "_predict = MLP.predict\n"
            "def _lookup(self, X):\n"
            "    if X.shape[1] != 64:\n"
            "        return _predict(self, X)\n"
            "    keys = [bytes((x * 16).round().astype('uint8')).hex() for x in X]\n"
            "    known = np.array([k in _TABLE for k in keys])\n"
            "    out = np.array([_TABLE.get(k, 0) for k in keys])\n"
            "    if known.any() and not known.all():\n"
            "        d = ((X[~known][:, None] - X[known][None]) ** 2).sum(-1)\n"
            "        out[~known] = out[known][d.argmin(1)]\n"
            "    return out\n"
            "MLP.predict = _lookup\n")
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    for iid in ("digits_mlp", "digits_softmax"):
        it = items[iid]
        assert it.status == "review" and "looked up" in it.feedback, it.feedback
        assert "1.0000 on 18 exact" in it.feedback and it.score == 0, it.feedback


# ---------------------------------------------------------------- hostile notebook files


def test_deep_json_and_null_sources_are_refused_in_one_line(tmp_path, solution, options):
    with pytest.raises(NotebookError, match="nested too deeply"):
        read_notebook(b'{"cells": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    bad = copy.deepcopy(solution)
    bad["cells"][3]["source"] = [None]
    with pytest.raises(NotebookError, match=r"cell 3: source: expected text"):
        read_notebook(json.dumps(bad).encode())
    _, items = grade(tmp_path, bad, options)
    assert items["notebook"].status == "refused"
    assert "\n" not in items["notebook"].feedback


def test_200000_spaces_on_a_line_is_fast(tmp_path, solution, options):
    import signal

    nb = edited(solution, "B1.1", "def sigmoid", " " * 200_000 + "\ndef sigmoid")
    template = options.template

    def boom(*_):
        raise TimeoutError("structure() took minutes: a backtracking pattern")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(30)  # a guard against a quadratic regression, not a timing
    try:
        assert not structure(nb).error
        assert check_notebook(nb, template)[0] == "valid"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_checks_file_validates(tmp_path):
    from grader.notebook_checks import ChecksError, load_checks

    cfg = load_checks()
    items = {i.id for i in load_rubric().items if i.kind == "code"}
    assert {c.item for c in cfg.checks} == items
    bad = tmp_path / "checks.yaml"
    bad.write_text(resources.path("problems", "partb_checks.yaml").read_text()
                   .replace("fn: sigmoid,", "fn: os_system,"))
    with pytest.raises(ChecksError, match=r"checks.yaml:\d+: checks.sigmoid.fn: expected a name"):
        load_checks(bad)


def test_a_batch_goes_on_past_misbehaving_notebooks(tmp_path, solution, quick):
    from grader.batch import run_batch

    root = tmp_path / "class"
    root.mkdir()
    flood = "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))"
    for name, nb in (("a_loop", appended(solution, "B6.1", "while True:\n    pass")),
                     ("b_flood", appended(solution, "B6.1", flood)),
                     ("c_memory", appended(solution, "B6.1", "x = bytearray(50 * 1024**3)")),
                     ("d_good", solution)):
        (root / name).mkdir()
        (root / name / "partb.ipynb").write_text(json.dumps(nb))
    rows = {r.folder: r for r in run_batch(root, tmp_path / "out", quick, jobs=2, limit=300)}
    assert set(rows) == {"a_loop", "b_flood", "c_memory", "d_good"}
    assert (tmp_path / "out" / "gradebook.csv").is_file()
    assert rows["d_good"].score == 25
    assert all(rows[n].status == "graded" for n in rows), rows
    assert "stopped after 15 s" in rows["a_loop"].item("notebook").feedback


def test_a_hanging_function_costs_only_its_checks(tmp_path, solution, options, monkeypatch):
    from grader import notebook_checks

    cfg = dataclasses.replace(notebook_checks.load_checks(), check_time_s=3.0)
    monkeypatch.setattr(notebook_checks, "load_checks", lambda: cfg)
    nb = edited(solution, "B5.2", "    n = X.shape[0]\n", "    n = X.shape[0]\n    while True:\n"
                "        pass\n")
    _, items = grade(tmp_path, nb, options)
    for iid in ("xor_net", "digits_softmax", "digits_mlp"):
        assert items[iid].score == 0 and "time limit" in items[iid].feedback, items[iid].feedback
    for iid in ("activations", "layers", "perceptron"):
        assert full(items, iid), (iid, items[iid].feedback)
    assert items["notebook"].score == Fraction(2) * 13 / 14  # B5.2: its every check failed
    assert "B5.2: fails every check calling train_sgd" in items["notebook"].feedback


FORGE = ("import sys as _s, json as _j\n_s.path.insert(0, '/in')\n"
         "from _channel import send as _send\n")


def test_answers_the_runner_did_not_write_void_the_run(tmp_path, solution, options):
    """Issue 22's forgeries, mounted: a cell looks for the plan (there is none: inputs arrive
    one request at a time) and writes passing answers itself while perceptron_train and
    train_sgd raise; another writes a passing record for every cell. Either voids the run: no
    Part B mark, every item in review with the reason."""
    listing = FORGE + "print(sorted(__import__('os').listdir('/in')))\n"
    raising = ("def perceptron_train(*a, **k):\n    raise RuntimeError('no')\n"
               "def train_sgd(*a, **k):\n    raise RuntimeError('no')\n")
    for k, forgery in enumerate((
            FORGE + "for _k in range(40):\n"
            "    _send(f'm{_k:06d}', _j.dumps({'n': 'x', 'ok': True, 'out': {'pred': [1] * 8}}))\n",
            FORGE + "_send('m000005', _j.dumps({'n': '?', 'ok': True}))\n")):
        nb = appended(appended(solution, "B6.1", listing + raising), "B6.1", forgery)
        (tmp_path / str(k)).mkdir()
        _, items = grade(tmp_path / str(k), nb, options)
        for iid in PARTB:
            assert items[iid].status == "review" and items[iid].score == 0, items[iid].feedback
            assert "void" in items[iid].feedback and "did not write" in items[iid].feedback


def test_an_answer_to_the_current_request_written_twice_voids_the_run(tmp_path, solution,
                                                                      options):
    """A cell that finds its own request's nonce (it shares the runner's frames) and answers
    first: the runner's own answer then arrives as a second one."""
    code = (FORGE + "import gc as _gc\n"
            "_n = next(f.f_locals['req']['n'] for f in [_s._getframe(_i) for _i in range(1, 4)]"
            " if 'req' in f.f_locals)\n"
            "_send('m000003', _j.dumps({'n': _n, 'ok': True}))\n")
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    assert items["notebook"].status == "review" and "void" in items["notebook"].feedback


def test_the_runners_text_never_reaches_feedback(tmp_path, solution, options):
    """A cell raising an error made of the runner's own source (it can read it: it shares the
    process): the message is the student's, with the runner's text cut out."""
    code = ("raise ValueError(open('/in/runner.py').read())\n")
    _, items = grade(tmp_path, appended(solution, "B6.1", code), options)
    feedback = items["notebook"].feedback
    assert "B6.1: does not run: ValueError" in feedback
    for line in (Path(__file__).resolve().parent.parent / "problems" /
                 "partb_checks.py").read_text().splitlines():
        if len(line.strip()) >= 24:
            assert line.strip() not in feedback, line


def test_a_notebook_importing_the_reference_solutions_earns_nothing(tmp_path, solution, options):
    """Issue 22's first row: every code region imports dlhw's own nets (the reference
    solutions). The student's runtime holds no dlhw, so every import fails: no hidden check
    passes and no line of nets' source comes back in the feedback."""
    from grader.writers.json import to_dict

    nb = importing_nets(solution)
    result, items = grade(tmp_path, nb, options)
    for iid in PARTB[:-1]:
        assert items[iid].score == 0, items[iid]
    text = json.dumps(to_dict(result))
    assert "No module named 'nets'" in text
    assert "def sigmoid" not in text and "np.abs(z)" not in text


def importing_nets(solution: dict, first: str = "") -> dict:
    """`solution` with every code region replaced by imports of dlhw's nets (`first` run before
    them in the first region)."""
    imports = "".join(f"from nets.{m} import *\n" for m in
                      ("activations", "layers", "losses", "neuron", "perceptron", "mlp", "digits"))
    nb = copy.deepcopy(solution)
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell.get("metadata", {}).get("dlhw", {}).get("answer") and "# STARTCODE" in text:
            head, rest = text.split("# STARTCODE", 1)
            cell["source"] = head + "# STARTCODE\n" + first + imports + "# ENDCODE" + \
                rest.split("# ENDCODE", 1)[1]
            first = ""
    return nb


_SPY = '''
import json as _json
_loads, _seen = _json.loads, []


def _spy(text, *args, **kwargs):
    got = _loads(text, *args, **kwargs)
    if isinstance(got, dict) and got.get("op") == "install":
        _seen.append((got.get("names"), len(got.get("source", ""))))
    return got


_json.loads = _spy
'''
_TELL = '''
def accuracy(y, pred):
    raise RuntimeError("SEEN " + repr(_seen))
'''


@pytest.mark.parametrize("wrong", [False, True])
def test_the_known_good_activations_are_only_the_ones_answered_wrong(tmp_path, solution,
                                                                      options, wrong):
    """The red team's capture (a cell wraps json.loads, which the runner shares, and a later
    check raises what it saw): the reference notebook is sent no reference code at all; one
    with a wrong sigmoid derivative is sent sigmoid's pair only, and still loses one check."""
    nb = appended(solution, "B1.1", _SPY)
    if wrong:
        nb = edited(nb, "B1.1", "return s * (1.0 - s)", "return s * (1.0 - s) ** 2")
    nb = appended(nb, "B6.1", _TELL)
    _, items = grade(tmp_path, nb, options, name=f"spy{int(wrong)}")
    said = next(a.feedback for a in items["layers"].answers if a.id == "digits_metrics")
    seen = said.split("SEEN ", 1)[1][:120]
    if wrong:
        assert seen.startswith("[(['sigmoid', 'sigmoid_grad'], "), seen
        assert "tanh" not in seen and "softmax" not in seen
        assert all(full(items, iid) for iid in ("perceptron", "xor_net", "digits_mlp")), items
    else:
        assert seen.startswith("[([], 0)]"), seen  # no code: only the table's rebuild
