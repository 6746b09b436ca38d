"""`dlhw check`: the example submission is ready; every kind of problem is named on one line with
its file and field; a right and a wrong answer file read the same but for the echoed values;
hostile folders are refused, not followed. Real files, real bubblewrap, real pdflatex."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from grader import parta, sandbox
from grader.check import Finding, check_submission, ready
from grader.rubric import load_rubric
from grader.submission import Number, Text
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "submission"
# Words that would say how an answer fares; none may appear in what the check prints.
JUDGING = re.compile(r"\b(correct|incorrect|wrong|right|score|marks?|points?|convention|"
                     r"follow-through|accepted|reference|imprecise)\b", re.IGNORECASE)


def _needs_sandbox() -> None:
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


def _needs_tex() -> None:
    _needs_sandbox()
    require(shutil.which("pdflatex") is not None and shutil.which("pdftohtml") is not None,
            "TeX Live or poppler-utils missing: bash scripts/setup.sh")


def run_check(folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", str(folder)])
    return result.exit_code, result.output


def folder_with(tmp_path: Path, files: dict[str, str | bytes], name: str = "sub") -> Path:
    sub = tmp_path / name
    sub.mkdir()
    for rel, data in files.items():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_bytes(data.encode() if isinstance(data, str) else data)
    return sub


def only(findings: list[Finding], file: str, field: str | None = None) -> list[Finding]:
    return [f for f in findings if f.file == file and (field is None or f.field == field)]


# ---------------------------------------------------------------- the example


def test_example_submission_is_ready():
    _needs_tex()
    code, out = run_check(EXAMPLE)
    assert code == 0, out
    assert "PROBLEM" not in out
    assert "answers.yaml: q6.derivative: read as 1 - tanh(z)**2" in out
    assert "answers.yaml: q1.z1: read as 0.56" in out
    assert "metrics.yaml: fashion.test_accuracy: read as 0.912" in out
    assert "partb.ipynb: tags: the template's tags and fixed cells are intact" in out
    assert "models/regression.pt2: loads in the sandbox and maps (N, 1) inputs to (N, 1)" in out
    assert "models/fashion.pt2: loads in the sandbox and maps (N, 1, 28, 28) inputs to logits " \
        "(N, 10)" in out
    for check in ("Times", "10pt", "page size", "two columns"):
        assert f"ok      report.tex: {check}: " in out
    assert out.splitlines()[-1].startswith("ready to submit: 0 problem(s)")
    assert not JUDGING.search(out.replace("nothing here says whether an answer is right", ""))


def test_usage_errors_exit_2(tmp_path):
    assert run_check(tmp_path / "absent")[0] == 2
    (tmp_path / "answers.yaml").write_text("q1: {}\n")
    assert run_check(tmp_path / "answers.yaml")[0] == 2


# ---------------------------------------------------------------- never judged


def _answer_texts(values: dict[str, dict[str, str]]) -> str:
    """answers.yaml with plain numbers unquoted (YAML numbers) and every other text quoted."""
    lines = []
    for qid, answers in values.items():
        lines.append(f"{qid}:")
        for aid, text in answers.items():
            plain = re.fullmatch(r"-?\d+(\.\d+)?", text)
            lines.append(f"  {aid}: {text if plain else json.dumps(text, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _shift_digits(text: str) -> str:
    """Every number's digits moved by one (0.5722 → 1.6833); digits inside names (h1) kept."""
    return re.sub(r"(?<![A-Za-z_\d.])\d+(?:\.\d+)?",
                  lambda m: "".join(str((int(c) + 1) % 10) if c.isdigit() else c
                                    for c in m.group()), text)


def test_right_and_wrong_answers_read_the_same_but_for_the_values(tmp_path):
    """The check never reveals whether an answer is right: a right file, a wrong file (some of
    it follow-through) and a file in q1's alternative convention give the same findings, word
    for word, except for the values echoed as read; grading proves how differently they fare."""
    rubric = load_rubric()
    refs = parta.prepare(rubric)
    example = check_submission(EXAMPLE)
    right = {q: {} for q in refs}
    for f in example:
        if f.file == "answers.yaml" and f.message == "read as":
            qid, aid = f.field.split(".")
            right[qid][aid] = f.echo
    # Decorations are read too (and echoed with what was written), whatever the value.
    right["q2"]["a"] = "46.26%"
    right["q1"]["h1"] = "h1 = 0.6365"
    right["q8"]["p1"] = "≈ 0.6225"
    right["q1"]["output"] = "0.5722 (4 d.p.)"
    right["q4"]["w_new_neg"] = "w (unchanged)"
    right["q6"]["dL_dw"] = r"\frac{\partial L}{\partial a} \cdot (1 - a^2) \cdot x"
    wrong = {q: {aid: _shift_digits(t) if refs[q].spec.answers[aid].kind == "numeric" else
                 (r"2 \cdot (" if "\\" in t else "2*(") + _shift_digits(t) + ")"
                 for aid, t in answers.items()} for q, answers in right.items()}
    wrong["q4"]["w_new_neg"] = "2*w (unchanged)"  # the remark stays outside the formula
    other = {q: dict(a) for q, a in right.items()}
    alternative = refs["q1"].conventions[1]
    for aid in other["q1"]:
        other["q1"][aid] = f"{alternative.solution.answers[aid].value:.6g}"

    files = {"right": right, "wrong": wrong, "other": other}
    totals, statuses, seen = {}, {}, {}
    for name, values in files.items():
        folder = folder_with(tmp_path, {"answers.yaml": _answer_texts(values)}, name)
        marks = parta.grade_parta({q: {aid: Text(t, 1) for aid, t in a.items()}
                                   for q, a in values.items()}, {}, rubric)
        totals[name] = sum((m.score for m in marks), Fraction(0))
        statuses[name] = {a.status for m in marks for a in m.answers}
        findings = only(check_submission(folder), "answers.yaml")
        assert len(findings) == 1 + 59 and all(f.level == "ok" for f in findings), \
            [f.line() for f in findings if f.level != "ok"]
        seen[name] = findings
        code, out = run_check(folder)
        assert code == 1  # the other files are missing; the answers are not what fails it
        assert not JUDGING.search(out.replace("nothing here says whether an answer is right",
                                              "")), out
    # Shifted digits are wrong, and some are follow-through from the file's own wrong answers.
    assert totals["right"] == 50 and totals["wrong"] < 5 and totals["other"] == 50
    assert statuses["wrong"] == {"wrong", "follow-through"}
    assert "convention" in statuses["other"]

    def masked(findings: list[Finding]) -> list[tuple[str, str, str, str, str]]:
        return [(f.level, f.file, f.field, f.message, replace(f, echo="<echo>").line())
                for f in findings]

    assert masked(seen["right"]) == masked(seen["wrong"]) == masked(seen["other"])
    assert all(r.echo != w.echo for r, w in zip(seen["right"], seen["wrong"]) if r.echo)
    by_field = {f.field: f.echo for f in seen["right"]}
    assert by_field["q2.a"] == "0.4626 (from '46.26%')"
    assert by_field["q1.h1"] == "0.6365 (from 'h1 = 0.6365')"
    assert by_field["q4.w_new_neg"] == "w (from 'w (unchanged)')"
    assert by_field["q6.dL_dw"] == "dL_da * (1 - a**2) * x"
    assert {f.field: f.echo for f in seen["wrong"]}["q6.dL_dw"] == \
        "2 * (dL_da * (2 - a**3) * x)"


def test_read_answer_is_what_grading_reads():
    """parta.read_answer reads numbers and formulas as grading does, and judges nothing."""
    refs = parta.prepare(load_rubric())
    r = parta.read_answer(refs["q6"], "derivative", Text("sech²z", 1))
    assert (r.kind, r.read, r.error) == ("formula", "sech(z)**2", "")
    assert parta.read_answer(refs["q1"], "z1", Number("0.56", 1)).read == "0.56"
    assert parta.read_answer(refs["q1"], "z1", None).kind == "blank"
    assert "one value" in parta.read_answer(refs["q1"], "z1", Text("0.5 or 0.6", 1)).error


# ---------------------------------------------------------------- problems, one line each


def test_missing_files_are_named(tmp_path):
    sub = folder_with(tmp_path, {"answers.yaml": "q1:\n  z1: 0.56\n", "notes.txt": "hi"})
    findings = check_submission(sub)
    problems = {f.file: f.message for f in findings if f.level == "problem"}
    assert problems == {rel: "missing (every submission holds it)"
                        for rel in ("metrics.yaml", "partb.ipynb", "report.tex",
                                    "models/regression.pt2", "models/fashion.pt2")}
    warnings = {(f.file, f.field): f.message for f in findings if f.level == "warning"}
    assert warnings[("student.yaml", "")] == "not submitted (optional)"
    assert warnings[("notes.txt", "")].startswith("not expected in a submission: not read")
    assert warnings[("answers.yaml", "q2")] == "not answered"
    assert warnings[("answers.yaml", "q1.z2")] == "no answer given"
    assert not ready(findings)
    code, out = run_check(sub)
    assert code == 1
    assert "PROBLEM report.tex: missing (every submission holds it)" in out
    assert out.splitlines()[-1].startswith("not ready: 5 problem(s)")


def test_unparsable_yaml_names_file_and_line(tmp_path):
    sub = folder_with(tmp_path, {
        "answers.yaml": "q1:\n  z1: 0.56\n  z2: [0.5\n",
        "metrics.yaml": "fashion.test_accuracy: !!python/object:os.system 0.9\n",
        "student.yaml": "id: s1\nnickname: ada\n",
    })
    lines = {f.line() for f in check_submission(sub) if f.level == "problem"}
    assert any(ln.startswith("answers.yaml: line 4: not valid YAML") for ln in lines), lines
    assert "metrics.yaml: line 1: YAML tag 'tag:yaml.org,2002:python/object:os.system' is not " \
        "allowed (expected plain numbers, text, lists and mappings)" in lines
    assert "student.yaml: line 2: nickname: unknown field (expected id or name)" in lines
    # A file that failed to parse is not read further (no answer is echoed from it).
    assert not any(f.message == "read as" for f in check_submission(sub)
                   if f.file in ("answers.yaml", "metrics.yaml"))


def test_unknown_ids_are_named_with_the_closest(tmp_path):
    sub = folder_with(tmp_path, {
        "answers.yaml": "q1:\n  z_1: 0.56\n  output: 0.5722\nq11:\n  z: 1\n",
        "metrics.yaml": "fashion.test_acc: 0.9\nfashion.test_accuracy: 91.2\n",
    })
    findings = check_submission(sub)
    [z1] = only(findings, "answers.yaml", "q1.z_1")
    assert (z1.level, z1.message.split(" (")[0]) == \
        ("problem", "unknown answer id, not read: did you mean z1?")
    [q11] = only(findings, "answers.yaml", "q11")
    assert q11.level == "problem" and q11.message.startswith(
        "unknown question id, not read: did you mean q1")
    [acc] = only(findings, "metrics.yaml", "fashion.test_acc")
    assert (acc.level, acc.message) == ("warning", "not a graded id, not read: did you mean "
                                        "fashion.test_accuracy?")
    [pct] = only(findings, "metrics.yaml", "fashion.test_accuracy")
    assert (pct.level, pct.echo) == ("ok", "0.912 (from '91.2')")


def test_declared_names_are_read_and_what_is_filed_elsewhere_is_named(tmp_path):
    """Issue 24: the check reads answers where grading finds them: an id the spec declares as
    a name of an answer is that answer; a near id, a value labelled for another answer, a
    question id that is none leave the answer they may be as a problem, with a suggestion."""
    sub = folder_with(tmp_path, {"answers.yaml": (
        "q1:\n  a1: 0.6365\nq3:\n  w: 1.8\n  y_pred: 1\n  dL_dw: 'dL/dw = -8, dL/db = -4'\n"
        "q01:\n  z1: 0.56\n")})
    findings = {f.field: f for f in only(check_submission(sub), "answers.yaml")}
    assert (findings["q1.a1"].level, findings["q1.a1"].message) == \
        ("warning", "read as h1, a name the question gives it: write h1")
    assert (findings["q1.h1"].level, findings["q1.h1"].echo) == ("ok", "0.6365")
    assert findings["q3.w_new"].level == "problem"
    assert "did you mean w_new?" in findings["q3.w_new"].message
    assert "found in q3.dL_dw's answer" in findings["q3.dL_db"].message
    assert findings["q3.dL_dw"].echo == "-8 (from 'dL/dw = -8, dL/db = -4')"
    assert "did you mean q1?" in findings["q1.z1"].message
    assert findings["q3.loss"].message == "no answer given"  # truly absent: blank


def test_unreadable_answers_say_why_and_how_to_write_them(tmp_path):
    sub = folder_with(tmp_path, {"answers.yaml": (
        "q1:\n  output: 0.5722 or 0.55\n  z1: [0.56]\n"
        "q6:\n  derivative: 'th^2(z)'\n  dL_dw: \"f'(z) x\"\n"
        "q2:\n  a: \"0.46\\e[31m26\"\n")})
    findings = {f.field: f for f in only(check_submission(sub), "answers.yaml")}
    out = findings["q1.output"]
    assert out.level == "problem"
    assert out.line() == ("answers.yaml: q1.output: cannot be read: more than one number in "
                          "'0.5722 or 0.55': one answer, one value; write one number, such as "
                          "0.1234, -2.5 or 1.5e-3")
    assert "expected a number, found a list" in findings["q1.z1"].message
    deriv = findings["q6.derivative"]
    assert deriv.level == "problem" and "unknown name 'th'" in deriv.message
    assert "write one formula in the names a, b, dL_da, eta, w, x, z and the functions exp " \
        "log ln sqrt sinh cosh tanh sech sigmoid abs max" in deriv.message
    assert findings["q6.dL_dw"].level == "problem"
    # A control sequence in an answer never reaches the terminal.
    code, text = run_check(sub)
    assert code == 1 and "\x1b" not in text


def test_a_bad_question_stays_local_and_a_checker_failure_is_one_line(tmp_path, monkeypatch):
    sub = folder_with(tmp_path, {"answers.yaml": "q1: 5\nq2:\n  z: -0.15\n"})
    findings = only(check_submission(sub), "answers.yaml")
    assert "answers.yaml: line 1: q1: expected a mapping" in {f.line() for f in findings}
    assert [f.echo for f in findings if f.field == "q2.z"] == ["-0.15"]

    def broken(*args: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(parta, "read_answer", broken)
    code, out = run_check(sub)
    assert code == 1 and "Traceback" not in out
    assert "PROBLEM answers.yaml: could not be checked: internal error (RecursionError: " \
        "maximum recursion depth exceeded); please report it" in out


# ---------------------------------------------------------------- the notebook


def _notebook() -> dict:
    return json.loads((EXAMPLE / "partb.ipynb").read_text())


def test_tampered_notebook_tag_is_a_problem(tmp_path):
    nb = _notebook()
    cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith("# STARTCODE"))
    cell["source"] = "".join(cell["source"]).replace("# STARTCODE\n", "", 1)
    sub = folder_with(tmp_path, {"partb.ipynb": json.dumps(nb)})
    [f] = only(check_submission(sub), "partb.ipynb", "tags")
    assert f.level == "problem"
    assert f.message.startswith("not as in the template: ")
    assert "start from `dlhw notebook partb --student`" in f.message


def test_notebook_magic_and_broken_json_are_problems(tmp_path):
    nb = _notebook()
    cell = next(c for c in nb["cells"] if "".join(c["source"]).startswith("# STARTCODE"))
    cell["source"] = "".join(cell["source"]).replace("# STARTCODE\n", "# STARTCODE\n!ls /\n", 1)
    sub = folder_with(tmp_path, {"partb.ipynb": json.dumps(nb)}, "magic")
    [f] = [f for f in only(check_submission(sub), "partb.ipynb") if f.level == "problem"]
    assert "IPython magics and shell escapes are not allowed ('!ls /')" in f.message
    sub = folder_with(tmp_path, {"partb.ipynb": '{"cells": [}'}, "broken")
    [f] = [f for f in only(check_submission(sub), "partb.ipynb") if f.level == "problem"]
    assert f.message.startswith("not a notebook (JSON)")


def test_untouched_template_is_intact_with_each_region_named(tmp_path):
    from grader.kinds.notebook import template_notebook

    sub = folder_with(tmp_path, {"partb.ipynb": json.dumps(template_notebook())})
    findings = only(check_submission(sub), "partb.ipynb")
    assert [f.level for f in findings if f.field == "tags"] == ["ok"]
    left = [f for f in findings if f.level == "warning"]
    assert len(left) == 14 and left[0].field == "B1.1"
    assert left[0].message == "left as in the template"


# ---------------------------------------------------------------- models, in the sandbox


def _export(model, example_shape: tuple[int, ...], path: Path, dynamic: bool = True) -> bytes:
    import torch

    shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic else None
    program = torch.export.export(model.eval(), (torch.rand(*example_shape),),
                                  dynamic_shapes=shapes)
    torch.export.save(program, path)
    return path.read_bytes()


def test_models_with_wrong_shapes_are_problems(tmp_path):
    """A FashionMNIST model returning 7 values per image, and a regression model exported with
    its batch fixed at 2, each caught in the sandbox on random inputs; an archive that is not
    one is refused before anything loads it."""
    _needs_sandbox()
    import torch
    from torch import nn

    torch.manual_seed(0)
    seven = _export(nn.Sequential(nn.Flatten(), nn.Linear(784, 7)), (2, 1, 28, 28),
                    tmp_path / "seven.pt2")
    fixed = _export(nn.Linear(1, 1), (2, 1), tmp_path / "fixed.pt2", dynamic=False)
    sub = folder_with(tmp_path, {"models/fashion.pt2": seven, "models/regression.pt2": fixed})
    findings = check_submission(sub)
    [f] = only(findings, "models/fashion.pt2", "output")
    assert (f.level, f.message) == ("problem", "7 value(s) per input, expected logits (N, 10)")
    [r] = [f for f in only(findings, "models/regression.pt2") if f.level == "problem"]
    assert r.message.startswith("does not run on float32 (1,) inputs in batches of 3 and 2: ")
    assert r.message.endswith("(export it with a dynamic batch dimension)")

    good = _export(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (2, 1, 28, 28),
                   tmp_path / "good.pt2")
    sub = folder_with(tmp_path, {"models/fashion.pt2": good,
                                 "models/regression.pt2": b"PK\x03\x04 not a zip"}, "sub2")
    findings = check_submission(sub)
    [f] = only(findings, "models/fashion.pt2", "")[1:]  # after "present"
    assert (f.level, f.message) == ("ok", "loads in the sandbox and maps (N, 1, 28, 28) inputs "
                                    "to logits (N, 10)")
    [r] = [f for f in only(findings, "models/regression.pt2") if f.level == "problem"]
    assert r.message.startswith("refused, not loaded: ")


# ---------------------------------------------------------------- the report


def test_report_in_the_wrong_format_is_a_problem(tmp_path):
    _needs_tex()
    body = (EXAMPLE / "report.tex").read_text().split(r"\maketitle", 1)[1]
    article = (r"\documentclass[12pt]{article}" "\n" r"\begin{document}" "\n"
               + body.replace(r"\begin{abstract}", "").replace(r"\end{abstract}", ""))
    sub = folder_with(tmp_path, {"report.tex": article})
    findings = only(check_submission(sub), "report.tex")
    levels = {f.field: f.level for f in findings}
    assert levels == {"": "ok", "sections": "ok", "words": "ok", "figures": "ok", "tables": "ok",
                      "Times": "problem", "10pt": "problem", "page size": "ok",
                      "two columns": "problem"}
    assert any(f.line().startswith("report.tex: 10pt: body text at 12pt (expected 10pt)")
               for f in findings)
    sub = folder_with(tmp_path, {"report.tex": article.replace(r"\section", r"\nosuchmacro", 1)},
                      "broken")
    [f] = [f for f in only(check_submission(sub), "report.tex") if f.level == "problem"]
    assert f.message.startswith("does not compile: pdflatex stopped with an error (exit status 1")
    assert "Undefined control sequence" in f.message


def test_report_substance_is_reported_never_marked(tmp_path):
    _needs_tex()
    tex = ("\\documentclass[conference]{IEEEtran}\n\\begin{document}\n"
           "\\section{Part 1: Regression}\nWe fit a sine.\n\\end{document}\n")
    sub = folder_with(tmp_path, {"report.tex": tex, "report.pdf": b"%PDF-1.5 stale"})
    lines = [f.line() for f in check_submission(sub)]
    assert "report.pdf: not given to report.tex: an output of report.tex: the grader compiles " \
        "its own" in lines
    assert 'report.tex: sections: Part 1 (regression): "Part 1: Regression" holds 4 words (at ' \
        "least 60 asked)" in lines
    assert "report.tex: sections: Part 5 (CNNs): no heading names it (a numbered \\section or " \
        "\\subsection holding one of: convolution, cnn, part 5)" in lines
    assert "report.tex: words: 7 words of body text, a repeated passage counted once (1200 " \
        "asked)" in lines
    assert not any(re.search(r"\bmarks?\b|/ ?6\b", ln) for ln in lines if "report" in ln)


# ---------------------------------------------------------------- hostile folders


def test_symlinks_are_refused_not_followed(tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("q1:\n  z1: SECRET-4242\n")
    sub = folder_with(tmp_path, {"metrics.yaml": "xor_net.accuracy: 1.0\n"})
    (sub / "answers.yaml").symlink_to(secret)
    (sub / "models").symlink_to(tmp_path)
    findings = check_submission(sub)
    code, out = run_check(sub)
    assert code == 1 and "SECRET" not in out
    lines = {f.line() for f in findings if f.level == "problem"}
    assert "answers.yaml: a symbolic link (links are never followed: submit the file itself), " \
        "not allowed in a submission" in lines
    assert any(ln.startswith("models: a symbolic link") for ln in lines), lines
    assert not only(findings, "answers.yaml", "q1.z1")
    link = tmp_path / "linked"
    link.symlink_to(EXAMPLE)
    code, out = run_check(link)
    assert code == 1 and "the submission folder is a symbolic link" in out
    assert "read as" not in out


def test_huge_file_is_refused_unread(tmp_path):
    sub = folder_with(tmp_path, {"answers.yaml": "q1:\n  z1: 0.56\n" + "#" * 300_000 + "\n"})
    [f] = [f for f in check_submission(sub) if f.file == "answers.yaml" and f.level == "problem"]
    assert f.message == "more than 262144 bytes, expected at most 262144"
    assert not only(check_submission(sub), "answers.yaml", "q1.z1")


@pytest.mark.parametrize("name", ["pipe", "deep"])
def test_special_files_and_deep_folders_are_problems(tmp_path, name):
    import os

    sub = folder_with(tmp_path, {"answers.yaml": "q1:\n  z1: 0.56\n"})
    if name == "pipe":
        os.mkfifo(sub / "report.tex")
        expected = "report.tex: a named pipe, not allowed in a submission"
    else:
        (sub / ("d/" * 13)).mkdir(parents=True)
        expected = "d/d/d/d/d/d/d/d/d/d/d/d/: folders nested more than 12 deep"
    lines = {f.line() for f in check_submission(sub) if f.level == "problem"}
    assert expected in lines, lines
