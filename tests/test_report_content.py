"""What the report's PDF holds and how it is laid out, read from the listings the sandbox brings
back (pdftotext's text, the .aux file, pdftohtml's runs): no TeX needed here, so every rule is
tried on small, exact inputs, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.report_content import Content, Section, analyse, read_aux
from grader.report_pdf import Format, check_pdf
from grader.rubric import RubricError, load_rubric

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (Section("regression", "Part 1", ("regression", "part 1")),
            Section("tuning", "Part 4", ("tuning", "cross valid")))
RULES = Content(sections=SECTIONS)
SENTENCES = ("We fit a small network to noisy samples of the sine on two periods.",
             "The held-out error approaches the noise floor after early stopping.",
             "Adam with a cosine schedule converged faster than plain gradient descent.",
             "Three folds of cross validation ranked twenty random configurations.",
             "The best learning rate was one thousandth with batches of one hundred.")


def toc(*entries: tuple[str, str, str] | tuple[str, str, str, str]) -> bytes:
    """An .aux file as LaTeX writes it: (list, kind, title[, number]) entries."""
    return "\n".join(f"\\@writefile{{{e[0]}}}{{\\contentsline {{{e[1]}}}{{\\numberline "
                     f"{{{e[3] if len(e) > 3 else '1'}}}{e[2]}}}{{1}}{{}}"
                     "\\protected@file@percent }" for e in entries).encode()


def test_sections_are_found_by_their_headings_and_their_bodies_counted():
    text = ("Report\nI. PART 1: R EGRESSION\n" + " ".join(SENTENCES[:3]) +
            "\nII. H YPERPARAMETER T UNING AND\nC ROSS -VALIDATION\n" + " ".join(SENTENCES[3:]))
    aux = toc(("toc", "section", "Part 1: Regression"),
              ("toc", "section", "Hyperparameter Tuning and Cross-Validation"))
    s = analyse(text.encode(), aux, RULES)
    assert [h.words for h in s.headings] == [35, 21]  # the wrapped heading found over 2 lines
    assert s.found["regression"].title == "Part 1: Regression"
    assert s.found["tuning"].words == 21
    assert s.words == 1 + 4 + 35 + 9 + 21  # the title and headings' words count too


def test_a_heading_holding_no_required_word_names_no_section():
    s = analyse(b"I. M ETHODS\n" + SENTENCES[0].encode(), toc(("toc", "section", "Methods")),
                RULES)
    assert s.found == {} and s.headings[0].words == 14


def test_a_heading_not_in_the_text_has_no_body():
    s = analyse(SENTENCES[0].encode(), toc(("toc", "section", "Regression")), RULES)
    assert s.headings[0].words is None and s.found["regression"].words is None


def test_a_repeated_passage_counts_once():
    once = analyse("\n".join(SENTENCES).encode(), b"", RULES).words
    assert once == 56
    assert analyse("\n".join(SENTENCES * 20).encode(), b"", RULES).words == once + 4  # the seam
    assert analyse(b"filler\n" * 500, b"", RULES).words == 5  # nothing new after five words
    assert analyse(b"0.91 0.92 | 12 13 14 --", b"", RULES).words == 0  # numbers are no words


def test_figures_and_tables_count_when_the_text_names_them_beside_the_caption():
    aux = toc(("lof", "figure", "Loss", "1"), ("lof", "figure", "Accuracy", "2"),
              ("lot", "table", "Layers", "I"))
    caption_only = b"Fig. 1. Loss.\nFig. 2. Accuracy.\nTABLE I\nLayers\n"
    assert analyse(caption_only, aux, RULES).figures == (2, 0)
    text = caption_only + b"Figure 2 shows the accuracy; Table I lists the layers, not Table II."
    s = analyse(text, aux, RULES)
    assert s.figures == (2, 1) and s.tables == (1, 1)


def test_aux_titles_lose_their_markup():
    headings, figures, tables = read_aux(toc(
        ("toc", "subsection", r"Tuning \& $k$-fold \emph{CV}"), ("lof", "figure", "x"))
        + b"\n\\newlabel{x}{{1}{1}}\n")
    assert headings == [(2, "Tuning & k-fold CV")] and figures == ["1"] and tables == []


# ---------------------------------------------------------------- the format, from pdftohtml


def layout(lines: list[tuple[int, int, int]], page_w: int = 612, font: str = "NimbusRomNo9L",
           size: int = 10, pages: int = 1) -> bytes:
    """pdftohtml -xml of `pages` pages, each holding the lines (top, left, width)."""
    out = ['<pdf2xml producer="poppler" version="22.12.0">']
    for p in range(1, pages + 1):
        out.append(f'<page number="{p}" position="absolute" top="0" left="0" height="792" '
                   f'width="{page_w}">')
        if p == 1:
            out.append(f'\t<fontspec id="0" size="{size}" family="ABCDEF+{font}-Regu" '
                       'color="#000000"/>')
        out += [f'<text top="{t}" left="{x}" width="{w}" height="9" font="0">text</text>'
                for t, x, w in lines]
        out.append("</page>")
    return "\n".join(out).encode()


TWO = [(100 + 12 * i, x, 251) for i in range(30) for x in (49, 312)]
ONE = [(100 + 12 * i, 72, 468) for i in range(30)]


def test_two_columns_are_judged_over_every_body_line():
    assert check_pdf(b"", layout(TWO), Format())["two columns"][0]
    one = check_pdf(b"", layout(ONE), Format())["two columns"]
    assert not one[0] and one[1].startswith("100% of the 30 lines")
    title = [(60, 150, 300)]  # a title across the middle: one line of 61 is allowed
    assert check_pdf(b"", layout(TWO + title), Format())["two columns"][0]


def test_too_few_lines_cannot_pass_as_two_columns():
    r = check_pdf(b"", layout([(100, 49, 40), (112, 49, 40)]), Format())["two columns"]
    assert r == (False, "2 lines of body text: too few to judge the columns (at least 20)")


def test_a_last_page_holding_only_the_left_column_is_not_judged():
    left_only = layout([(100 + 12 * i, 49, 251) for i in range(40)])
    both = layout(TWO).replace(b"</pdf2xml>", b"")
    page2 = left_only.split(b"<page ", 1)[1].replace(b'number="1"', b'number="2"')
    page2 = b"\n".join(ln for ln in page2.split(b"\n") if b"fontspec" not in ln)
    r = check_pdf(b"", both + b"\n<page " + page2, Format())["two columns"]
    assert r[0] and "of the 60 lines" in r[1]


def test_font_size_and_page_are_read():
    r = check_pdf(b"", layout(TWO, page_w=595, font="CMR12", size=12), Format())
    assert r["Times"][0] is False and r["10pt"] == (False, "body text at 12pt (expected 10pt)")
    assert r["page size"] == (False, "595 x 792 pt (expected letter or A4)")


# ---------------------------------------------------------------- the rubric


@pytest.mark.parametrize("edit, message", [
    (("shares: {sections: 0.35,", "shares: {sections: 0.45,"),
     r"partc\.report\.shares: expected shares summing to 1, got 1\.1"),
    (("    sections:\n      regression:", "    sectionz:\n      regression:"),
     r"partc\.report\.sectionz: unknown key"),
    (("words: [regression, function approx, part 1]", "words: ['--']"),
     r"partc\.report\.sections\.regression\.words: expected words with a letter or digit"),
])
def test_report_rubric_errors_name_the_field(tmp_path, edit, message):
    bad = tmp_path / "rubric.yaml"
    text = (ROOT / "problems" / "rubric.yaml").read_text()
    assert edit[0] in text
    bad.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(RubricError, match=message):
        load_rubric(bad)
