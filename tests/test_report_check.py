"""The report is compiled in the sandbox and its PDF's format read: real pdflatex, real poppler,
real attacks on the sandbox (what the report must hold, and the marks: test_report_marks.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import sandbox
from grader.context import RunContext
from grader.grade import grade_submission
from grader.report_check import Format, compile_and_check
from tests.conftest import require

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission" / "report.tex"
BODY = EXAMPLE.read_text().split(r"\maketitle", 1)[1]  # sections of real text
FMT = Format(time_limit_s=30)


@pytest.fixture(scope="module", autouse=True)
def _needs_tools():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    require(shutil.which("pdflatex") is not None and shutil.which("pdftohtml") is not None,
            "TeX Live or poppler-utils missing: bash scripts/setup.sh")


def check(tmp_path: Path, tex: str | bytes, fmt: Format = FMT):
    path = tmp_path / "report.tex"
    path.write_bytes(tex.encode() if isinstance(tex, str) else tex)
    return compile_and_check(path, fmt)


def article(options: str, preamble: str = "") -> str:
    return (rf"\documentclass[{options}]{{article}}" "\n" + preamble + "\n"
            r"\begin{document}" "\n" + BODY.replace(r"\begin{abstract}", "")
            .replace(r"\end{abstract}", ""))


def test_ieeetran_inside_iffalse_changes_nothing(tmp_path):
    r = check(tmp_path, "\\iffalse\n\\documentclass{IEEEtran}\n\\fi\n")
    assert not r.compiled and "does not" not in r.error  # the message is the log's
    tricked = check(tmp_path, "\\iffalse\n\\documentclass{IEEEtran}\n\\fi\n" + article("10pt"))
    plain = check(tmp_path, article("10pt"))
    assert tricked.checks == plain.checks  # the comment earns nothing
    assert not tricked.checks["Times"][0] and not tricked.checks["two columns"][0]


def test_one_column_is_caught(tmp_path):
    ieee = EXAMPLE.read_text().replace("[conference]", "[conference,onecolumn]")
    r = check(tmp_path, ieee)
    assert r.compiled and not r.checks["two columns"][0]
    assert r.checks["Times"][0] and r.checks["10pt"][0]


def test_12pt_is_caught(tmp_path):
    r = check(tmp_path, article("12pt,twocolumn", r"\usepackage{times}"))
    assert r.compiled
    assert r.checks["10pt"] == (False, "body text at 12pt (expected 10pt)")
    assert r.checks["Times"][0] and r.checks["two columns"][0]


def test_computer_modern_is_caught(tmp_path):
    r = check(tmp_path, article("10pt,twocolumn"))
    assert r.compiled and not r.checks["Times"][0] and "CMR10" in r.checks["Times"][1]
    assert r.checks["10pt"][0] and r.checks["two columns"][0]


def test_a4_passes_and_a5_does_not(tmp_path):
    assert check(tmp_path, article("10pt,twocolumn,a4paper", r"\usepackage{times}")) \
        .checks["page size"] == (True, "A4 paper")
    a5 = check(tmp_path, article("10pt,twocolumn", "\\usepackage{times}\n"
                                 "\\usepackage[a5paper]{geometry}"))
    assert not a5.checks["page size"][0] and "595 pt (expected letter or A4)" in \
        a5.checks["page size"][1]


def test_input_of_etc_passwd_is_refused(tmp_path):
    tex = "\\documentclass{article}\n\\begin{document}\n\\input{/etc/passwd}\n\\end{document}\n"
    r = check(tmp_path, tex)
    assert not r.compiled and "/etc/passwd" in r.error and "root:" not in r.error


def test_shell_escape_and_absolute_writes_are_harmless(tmp_path):
    tex = ("\\documentclass{article}\n\\begin{document}\n"
           "\\immediate\\write18{echo pwned > /out/pwned}\n"
           "\\newwrite\\leak\\immediate\\openout\\leak=/out/leak.txt\n"
           "\\immediate\\write\\leak{x}\\immediate\\closeout\\leak\n"
           "Hello.\n\\end{document}\n")
    r = check(tmp_path, tex)
    assert "pwned" not in r.returned and "leak.txt" not in r.returned, r.returned


def test_infinite_loop_is_stopped(tmp_path):
    tex = "\\documentclass{article}\n\\begin{document}\n\\loop\\iftrue\\repeat\n\\end{document}\n"
    r = check(tmp_path, tex, Format(time_limit_s=5))
    assert not r.compiled and "stopped after 5 s" in r.error


def test_documentclass_and_2_mb_of_spaces_fails_in_one_line(tmp_path):
    r = check(tmp_path, b"\\documentclass" + b" " * 2_000_000)
    assert not r.compiled and "Unable to read an entire line" in r.error
    assert "\n" not in r.error


def test_missing_report_message(tmp_path):
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\foo\n")
    item = next(i for i in grade_submission(sub, RunContext.build(parts="C", template=None)).items
                if i.id == "report")
    assert item.score == 0 and "Undefined control sequence" in item.feedback
    assert "line 3" in item.feedback


def test_figures_beside_the_report_are_used_and_links_are_not(tmp_path):
    import subprocess

    sub = tmp_path / "s"
    sub.mkdir()
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-jobname", "fig",
                    r"\documentclass{article}\pagestyle{empty}\begin{document}x\end{document}"],
                   capture_output=True, check=True, cwd=tmp_path)
    shutil.copy(tmp_path / "fig.pdf", sub / "figure.pdf")
    (tmp_path / "outside.tex").write_text("\\undefinedmacroxyz\n")  # breaks it if followed
    (sub / "secret.tex").symlink_to(tmp_path / "outside.tex")
    tex = EXAMPLE.read_text().replace(
        r"\section{Conclusion}", "\\section{Conclusion}\n\\includegraphics[width=2cm]{figure}\n"
        "\\IfFileExists{secret.tex}{\\input{secret.tex}}{}\n").replace(
        r"\usepackage{amsmath}", r"\usepackage{amsmath,graphicx}")
    (sub / "report.tex").write_text(tex)
    r = compile_and_check(sub / "report.tex", FMT, assets=sub)
    assert r.compiled, r.error
    assert all(ok for ok, _ in r.checks.values()), r.checks
