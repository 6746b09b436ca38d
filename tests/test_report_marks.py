"""The report earns marks for what the homework asks it to hold (issue 23): each attack that
earned marks before is mounted for real (pdflatex and poppler in the sandbox, the whole grading
pipeline) and earns nothing; the example earns full marks, a short honest report partial marks
ranked above every attack."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader import sandbox
from grader.context import RunContext
from grader.grade import grade_submission
from grader.report_check import compile_and_check
from grader.results import ItemMark
from tests.conftest import require

pytestmark = pytest.mark.slow  # PDFs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "submission" / "report.tex"
HEADINGS = ("Part 1: Regression", "Part 2: Classification on FashionMNIST",
            "Part 3: Optimization and Regularization",
            "Part 4: Hyperparameter Tuning and Cross-Validation",
            "Part 5: Convolutional Neural Networks", "Part 6: Visualization and Interpretability",
            "Part 7: Workflow and Reproducibility")
IEEE = ("\\documentclass[conference]{IEEEtran}\n\\usepackage{amsmath}\n\\begin{document}\n"
        "\\title{Report}\n\\author{\\IEEEauthorblockN{M. Allory}}\n\\maketitle\n")
FILLER = "The network was trained carefully and the results were good, as the figures show. "


def weak_report() -> str:
    """A short honest report: the first paragraph of each of the example's Part sections, no
    figure, no table (about 480 words)."""
    body = EXAMPLE.read_text().split(r"\maketitle", 1)[1]
    out = []
    for part in re.split(r"(?=\\section\{)", body):
        if m := re.match(r"\\section\{(Part \d[^}]*)\}\n", part):
            out.append(f"\\section{{{m[1]}}}\n{part[m.end():].split(chr(10) * 2)[0]}\n")
    return IEEE + "\n".join(out) + "\\end{document}\n"


ATTACKS = {
    "one word, 10pt two-column Times": "\\documentclass[10pt,twocolumn]{article}\n"
    "\\usepackage{times}\n\\begin{document}\nWord\n\\end{document}\n",
    "IEEEtran inside \\iffalse, then a 12pt article": "\\iffalse\n\\documentclass{IEEEtran}\n"
    "\\fi\n\\documentclass[12pt]{article}\n\\begin{document}\nx\n\\end{document}\n",
    "headings only": IEEE + "".join(f"\\section{{{h}}}\n" for h in HEADINGS) + "\\end{document}\n",
    "headings padded with one repeated sentence": IEEE + "".join(
        f"\\section{{{h}}}\n{FILLER * 25}\n\n" for h in HEADINGS) + "\\end{document}\n",
    "headings padded with filler varied per section": IEEE + "".join(
        f"\\section{{{h}}}\n{('lorem ipsum dolor sit amet consectetur ' + h + ' ') * 30}\n\n"
        for h in HEADINGS) + "\\end{document}\n",
}


@pytest.fixture(scope="module")
def ctx() -> RunContext:
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    require(shutil.which("pdflatex") is not None and shutil.which("pdftohtml") is not None,
            "TeX Live or poppler-utils missing: bash scripts/setup.sh")
    return RunContext.build(parts="C", template=None)


def graded(ctx: RunContext, folder: Path, files: dict[str, str | bytes]) -> ItemMark:
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return next(i for i in grade_submission(folder, ctx).items if i.id == "report")


@pytest.fixture(scope="module")
def marks(ctx, tmp_path_factory) -> dict[str, ItemMark]:
    """Every attack, the example and the weak report, graded once."""
    tmp = tmp_path_factory.mktemp("reports")
    subs = {**ATTACKS, "example": EXAMPLE.read_text(), "weak": weak_report()}
    return {name: graded(ctx, tmp / f"s{i}", {"report.tex": tex})
            for i, (name, tex) in enumerate(subs.items())}


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_earns_nothing_and_says_why(marks, attack):
    m = marks[attack]
    assert m.score == 0, m.feedback
    assert "near-empty: 0 marks" in m.feedback and "format not judged" in m.feedback
    assert re.search(r"\d+ words? of body text \(fewer than 150; 1200 asked\)", m.feedback)


def test_headings_alone_are_found_but_too_short(marks):
    m = marks["headings only"]
    assert "too short: Part 1 (regression) (0 words)" in m.feedback
    assert m.detail["sections"]["cnn"] == 0


def test_a_near_empty_report_names_the_missing_sections(marks):
    m = marks["one word, 10pt two-column Times"]
    assert "1 word of body text" in m.feedback
    assert "missing: Part 1 (regression), Part 2 (classification)" in m.feedback


def test_example_full_weak_partial_ranked_above_every_attack(marks):
    example, weak = marks["example"], marks["weak"]
    assert example.score == example.max_score == 6, example.feedback
    assert "sections: 7 of 7" in example.feedback and "body font NimbusRomNo9L" in \
        example.feedback
    assert 1 < weak.score < 4, weak.feedback
    assert "figures referenced: 0 of 2 asked" in weak.feedback
    assert weak.score > max(marks[a].score for a in ATTACKS)


def test_stale_pdf_beside_a_broken_report_earns_nothing(ctx, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(EXAMPLE, good / "report.tex")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "report.tex"], cwd=good,
                   capture_output=True, check=True)
    broken = EXAMPLE.read_text().replace(r"\section{Part 1", "\\nosuchmacro\n\\section{Part 1")
    m = graded(ctx, tmp_path / "s", {"report.tex": broken,
                                     "report.pdf": (good / "report.pdf").read_bytes()})
    assert m.score == 0 and "does not compile" in m.feedback, m.feedback
    assert "Undefined control sequence" in m.feedback


def config(ctx: RunContext):
    return next(i for i in ctx.items if i.id == "report").config


def test_an_error_in_the_second_run_is_not_compiled_though_a_pdf_is_there(ctx, tmp_path):
    # The first run writes the PDF and asks for a second (cross references), which stops at an
    # error before writing a page: the first run's PDF stays, and still it is not compiled.
    tex = EXAMPLE.read_text().replace(r"\maketitle", "\\maketitle\n"
                                      "\\IfFileExists{ran.tex}{\\nosuchmacro}{}\n").replace(
        r"\end{document}", "\\newwrite\\ran\\immediate\\openout\\ran=ran.tex\n"
        "\\immediate\\closeout\\ran\n\\end{document}")
    (tmp_path / "report.tex").write_text(tex)
    r = compile_and_check(tmp_path / "report.tex", config(ctx).format, config(ctx).content)
    assert "layout.xml" in r.returned  # a PDF was listed
    assert not r.compiled and r.error.startswith(
        "pdflatex stopped with an error (exit status 1, 1 error(s) in its log): ! Undefined "
        "control sequence.")


def test_a_submitted_pdf_or_aux_never_reaches_the_compilation(ctx, marks, tmp_path):
    forged = "\n".join(f"\\@writefile{{toc}}{{\\contentsline {{section}}{{\\numberline {{1}}"
                       f"Forged {h}}}{{1}}{{}}}}" for h in HEADINGS)
    tex = EXAMPLE.read_text().replace(r"\section{Conclusion}", "\\section{Conclusion}\n"
                                      "\\IfFileExists{report.pdf}{A stale PDF is here.}{}\n")
    (tmp_path / "report.tex").write_text(tex)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.5 stale")
    (tmp_path / "dlhw-compiled.aux").write_text(forged)
    r = compile_and_check(tmp_path / "report.tex", config(ctx).format, config(ctx).content)
    assert r.compiled and r.substance is not None
    assert not any(h.title.startswith("Forged") for h in r.substance.headings)
    assert r.substance.words == marks["example"].detail["words"]  # no "A stale PDF is here."
