"""The class's results in a browser (issue 13, part 4): results/index.html and the students'
pages, opened from disk in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium), checked against gradebook.csv and stats.csv.

The class is graded for real from folders built from examples/submission: wrong answers of
known kinds (a sign error, the other convention, follow-through), a blank, answers the grader
cannot read, a student whose name, folder and answers are HTML and script, a tampered notebook
with a claim far from what its model measures (one sandboxed run), a refused model."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from grader import sandbox
from grader.batch import run_batch
from grader.context import RunContext
from grader.writers.formats import write_class
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "submission"
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")  # Debian's packages
DRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")

# Each tries to run a script or set window.__pwned; none may, and each must show as text.
PWN_NAME = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">'
PWN_A = '"><img src=x onerror=window.__pwned=3>'
PWN_Z = "</script><script>window.__pwned=4</script>"
PWN_FOLDER = 's004"><img src=x onerror=window.__pwned=5>'


def _submission(root: Path, folder: str, name: str, answers: dict[tuple[str, str], object],
                files: tuple[str, ...] = (), declared: str | None = None) -> Path:
    """examples/submission's answers with `answers` changed (None: removed), student.yaml
    naming the folder (or `declared`), and only the other `files` copied."""
    dest = root / folder
    dest.mkdir()
    data = yaml.safe_load((EXAMPLE / "answers.yaml").read_text())
    for (q, a), value in answers.items():
        if value is None:
            data[q].pop(a)
        else:
            data[q][a] = value
    (dest / "answers.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    (dest / "student.yaml").write_text(yaml.safe_dump({"id": declared or folder, "name": name},
                                                      allow_unicode=True))
    for f in files:
        if (EXAMPLE / f).is_dir():
            shutil.copytree(EXAMPLE / f, dest / f)
        else:
            (dest / f).parent.mkdir(exist_ok=True)
            shutil.copy(EXAMPLE / f, dest / f)
    return dest


def make_class(root: Path) -> None:
    _submission(root, "s001", "Ada Lovelace", {})
    _submission(root, "s002", "Alan Turing", {
        ("q1", "z1"): -0.56,  # a sign error
        ("q2", "dL_da"): -0.5374,  # the half_mse convention, the other answers in mse
        ("q6", "derivative"): "tanh(z)^2 - 1",  # a sign error in a formula
        ("q6", "dL_dw"): "dL_da*x*(tanh(z)**2 - 1)",  # follow-through from it
    })
    _submission(root, "s003", "Grace Hopper", {
        ("q1", "z1"): -0.56, ("q1", "h1"): 0.3635,  # follow-through from z1
        ("q3", "loss"): None,  # blank
        ("q6", "derivative"): "1 + tanh(z)**2",
    })
    _submission(root, PWN_FOLDER, PWN_NAME, {
        ("q1", "h1"): "about sixty percent", ("q2", "a"): PWN_A, ("q2", "z"): PWN_Z,
    })
    s5 = _submission(root, "s005", "Kurt Goedel", {}, ("partb.ipynb", "models/regression.pt2",
                                                       "metrics.yaml"))
    nb = json.loads((s5 / "partb.ipynb").read_text())
    nb["cells"][0]["source"] = "# My own notebook now\n"  # a fixed cell: the template broken
    (s5 / "partb.ipynb").write_text(json.dumps(nb))
    metrics = (s5 / "metrics.yaml").read_text()
    (s5 / "metrics.yaml").write_text(metrics.replace("regression.clean_mse: 0.00073",
                                                     "regression.clean_mse: 0.2"))
    s6 = _submission(root, "s006", "Emmy Noether", {}, declared="s001")
    (s6 / "models").mkdir()
    (s6 / "models" / "fashion.pt2").write_bytes(b"PK\x03\x04 not really a zip" * 40)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require(sandbox.unavailable_reason() is None,
            f"the sandbox cannot run: {sandbox.unavailable_reason()}")
    root = tmp_path_factory.mktemp("class")
    make_class(root)
    out = tmp_path_factory.mktemp("results")
    options = RunContext.build()
    rows = run_batch(root, out, options, jobs=1)
    return out, rows, options


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists() and DRIVER.exists(),
            "chromium missing: apt-get install chromium chromium-driver (scripts/setup.sh)")
    require(importlib.util.find_spec("selenium") is not None,
            "selenium missing: pip install -e '.[dev]'")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    yield driver
    driver.quit()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def table(driver, css: str) -> tuple[list[str], list[list[str]]]:
    """A table's header texts and its body's cell texts, as the browser shows them."""
    from selenium.webdriver.common.by import By

    t = driver.find_element(By.CSS_SELECTOR, css)
    heads = [th.text.rstrip(" ▲▼") for th in t.find_elements(By.CSS_SELECTOR, "thead th")]
    rows = driver.execute_script(
        "return Array.from(arguments[0].tBodies[0].rows, r => Array.from(r.cells, "
        "c => c.textContent.trim()));", t)
    return heads, rows


def test_pages_escape_student_text(graded):
    out, rows, _ = graded
    index = (out / "index.html").read_text(encoding="utf-8")
    pages = [out / "students" / f"{r.file}.html" for r in rows]
    assert all(p.is_file() for p in pages)
    hostile = next(p for p, r in zip(pages, rows) if r.folder == PWN_FOLDER)
    assert hostile.name.startswith("s004_img_src_x_onerror_window.__pwned_5-")
    for html in (index, hostile.read_text(encoding="utf-8")):
        assert html.count("<script") == 1 and html.count("</script>") == 1  # ours only
        assert "<img" not in html and "&lt;img src=x onerror=" in html
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
        assert "&lt;/script&gt;&lt;script&gt;window.__pwned=4&lt;/script&gt;" in html
        assert "&#34;&gt;&lt;img" in html  # the quote too: no attribute can be closed


def test_site_is_deterministic(graded, tmp_path):
    out, rows, options = graded
    write_class(rows, tmp_path, options)
    for page in ["index.html", *(f"students/{r.file}.html" for r in rows)]:
        assert (tmp_path / page).read_bytes() == (out / page).read_bytes(), page


def test_index_in_chromium(graded, browser, tmp_path):
    from selenium.webdriver.common.by import By

    out, rows, _ = graded
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser.get((out / "index.html").as_uri())
    browser.save_screenshot(str(shots / "index.png"))
    assert browser.execute_script("return window.__pwned") is None
    assert not browser.find_elements(By.TAG_NAME, "img")
    # The second wall: were markup ever to get in, its inline handlers would not run.
    # (the probe's own listener, added after the inline one, reports once both had their turn)
    assert browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.body.insertAdjacentHTML('beforeend', "
        "'<img id=\"probe\" src=\"x\" onerror=\"window.__csp = 1\">');"
        "document.getElementById('probe').addEventListener('error', () => "
        "setTimeout(() => done(window.__csp === undefined ? 'blocked' : 'ran'), 0));"
    ) == "blocked"

    # The students' table is gradebook.csv, cell for cell (the hostile name shown as text).
    book = read_csv(out / "gradebook.csv")
    heads, cells = table(browser, "#gradebook")
    items = [h for h in heads if h not in ("folder", "student", "name", "total", "status",
                                           "flags")]
    assert items == list(book[0])[4:-4]
    assert len(cells) == len(book)
    for got, want in zip(cells, book):
        row = dict(zip(heads, got))
        for k in ("folder", "student", "name", *items, "total", "status"):
            assert row[k] == want[k], (k, row[k], want[k])
        assert int(row["flags"]) == len([f for f in want["flags"].split("; ") if f])
    assert PWN_NAME in [c[2] for c in cells]

    # The per-item table is stats.csv, plus the share of full marks.
    stats = read_csv(out / "stats.csv")
    heads, cells = table(browser, "#stats")
    assert [c[0] for c in cells] == [s["item"] for s in stats]
    for got, want in zip(cells, stats):
        row = dict(zip(heads, got))
        for k, col in (("max", "max"), ("n", "n"), ("mean", "mean"), ("median", "median"),
                       ("min", "min"), ("max seen", "max_seen"), ("full", "full"),
                       ("zero", "zero"), ("statuses", "statuses"), ("pending", "pending")):
            assert row[k] == want[col], (want["item"], k)
        n, full = int(want["n"]), int(want["full"])
        assert row["full share"] == (f"{full / n:.0%}" if n else "")

    # The total's histogram counts every scored total once, each in its bin; a submission
    # with a mark pending review is left out, and counted (issue 24).
    bars = browser.find_elements(By.CSS_SELECTOR, "figure.histogram")[0] \
        .find_elements(By.CSS_SELECTOR, "rect.bar")
    counts = [int(b.get_attribute("data-count")) for b in bars]
    pending = {r.folder for r in rows if any(i.pending for i in r.items)}
    scored = [float(b["total"]) for b in book if b["total"] and b["folder"] not in pending]
    waiting = len(pending)
    assert (f"{waiting} pending review" in browser.find_element(
        By.CSS_SELECTOR, "figure.histogram figcaption").text) == bool(waiting)
    mx = float(book[0]["max"])
    want_counts = [0] * len(counts)
    for t in scored:
        want_counts[min(int(t / mx * len(counts)), len(counts) - 1)] += 1
    assert counts == want_counts
    caption = browser.find_element(By.CSS_SELECTOR, "figure.histogram figcaption")
    assert caption.find_element(By.CLASS_NAME, "mean").text == f"{statistics.fmean(scored):.3f}"
    assert caption.find_element(By.CLASS_NAME, "median").text == \
        f"{statistics.median(scored):.3f}"
    totals = [float(b["total"]) for b in book if b["total"]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure.histogram")) == 4  # total, A-C

    # Wrong answers: grouped, counted and diagnosed from the data.
    def groups(q: str, a: str) -> list[tuple[str, ...]]:
        """(answer given, count, most likely, as written) of each group of q.a"""
        body = browser.find_element(By.ID, f"wrong-{q}-{a}")
        return [tuple(r.find_element(By.CSS_SELECTOR, c).text for c in
                      ("td.given", "td.count", "td.diagnosis", "td.examples"))
                for r in body.find_elements(By.TAG_NAME, "tr")
                if not r.find_elements(By.CSS_SELECTOR, "td.none")]

    assert groups("q1", "z1") == [("-0.56", "2", "a sign error", "-0.56")]
    assert groups("q1", "h1") == [("0.364", "1", "follow-through from z1", "0.3635")]
    assert groups("q2", "dL_da")[0][2] == "the half_mse convention (the question's other " \
        "answers: mse)"
    assert sorted(groups("q6", "derivative")) == [
        ("1 + tanh(z)**2", "1", "unexplained", "1 + tanh(z)**2"),
        ("tanh(z)^2 - 1", "1", "a sign error", "tanh(z)^2 - 1")]
    assert groups("q6", "dL_dw")[0][1:3] == ("1", "follow-through from derivative")
    assert groups("q5", "xavier_var_hidden") == []
    assert browser.find_element(By.CSS_SELECTOR, "#wrong-q5-xavier_var_hidden td.none")

    # What waits for review, the hostile texts shown as written; the flagged submissions.
    _, review = table(browser, "#review-table")
    assert {(r[0], r[1], r[2], r[3]) for r in review} >= {
        (PWN_FOLDER, "q1", "h1", "about sixty percent"), (PWN_FOLDER, "q2", "a", PWN_A),
        (PWN_FOLDER, "q2", "z", PWN_Z)}
    _, flags = table(browser, "#flagged-table")
    why = {r[0]: r[2] for r in flags}
    assert "notebook tampered or refused: notebook: partb.ipynb invalid" in why["s005"]
    assert "claim far from measured: regression:" in why["s005"]
    assert "model refused: fashion: models/fashion.pt2 refused" in why["s006"]
    assert "student.yaml claims id 's001', the id of 's001'" in why["s006"]
    assert "s001" not in why and "s002" not in why and "s003" not in why

    # Sorting: a click on "total" sorts ascending, numerically; a second click descending.
    head = browser.find_element(By.XPATH, "//table[@id='gradebook']/thead//th[.='total']")
    col = heads_index = table(browser, "#gradebook")[0].index("total")
    head.click()
    assert head.get_attribute("aria-sort") == "ascending"
    shown = [float(r[col]) for r in table(browser, "#gradebook")[1] if r[col]]
    assert shown == sorted(totals) and len(shown) > 3
    browser.save_screenshot(str(shots / "sorted.png"))
    head.click()
    assert head.get_attribute("aria-sort") == "descending"
    assert [float(r[heads_index]) for r in table(browser, "#gradebook")[1] if r[col]] == \
        sorted(totals, reverse=True)

    # Through to a student: their page's marks are their gradebook row.
    browser.find_element(By.LINK_TEXT, "s002").click()
    assert browser.current_url.endswith("/students/s002.html")
    browser.save_screenshot(str(shots / "s002.png"))
    want = next(b for b in book if b["folder"] == "s002")
    assert browser.find_element(By.ID, "total").text == want["total"]
    heads, marks = table(browser, "#marks")
    assert {r[0]: r[3] for r in marks} == {i: want[i] for i in items}
    _, answers = table(browser, "#answers")
    z1 = next(r for r in answers if r[:2] == ["q1", "z1"])
    assert z1[2] == "-0.56" and z1[5] == "wrong"
    browser.find_element(By.LINK_TEXT, "← Class results").click()
    assert browser.current_url.endswith("/index.html")

    # The hostile student's page: every text shown as written, nothing run.
    browser.find_element(By.LINK_TEXT, PWN_FOLDER).click()
    browser.save_screenshot(str(shots / "hostile.png"))
    assert browser.execute_script("return window.__pwned") is None
    assert not browser.find_elements(By.TAG_NAME, "img")
    assert browser.find_element(By.TAG_NAME, "h1").text == PWN_FOLDER
    _, answers = table(browser, "#answers")
    shown = {(r[0], r[1]): r[2] for r in answers}
    assert shown["q2", "a"] == PWN_A and shown["q2", "z"] == PWN_Z
    assert all((shots / f).stat().st_size > 1000 for f in ("index.png", "sorted.png",
                                                            "s002.png", "hostile.png"))


def test_own_numbers_grouped_by_diagnosis(tmp_path):
    """With per-student variants (course.yaml) each wrong answer is diagnosed against the
    student's own numbers, and numbers that differ per student are grouped by that diagnosis."""
    from grader.course import load_course
    from grader.writers.site import load_settings, wrong_answers
    from solver.engine import solve
    from solver.spec import find_spec
    from solver.variants import variant_given

    root = tmp_path / "class"
    root.mkdir()
    (root / "roster.csv").write_text("id,name\nada,Ada\nbob,Bob\n")
    (root / "course.yaml").write_text("seed: 31\nroster: roster.csv\n")
    for sid in ("ada", "bob"):
        spec = find_spec("q1")
        own = solve(spec, given=variant_given(spec, 31, sid)).answers
        answers = {"q1": {k: float(f"{a.value:.6g}") for k, a in own.items()}}
        answers["q1"]["z1"] = -answers["q1"]["z1"]
        (root / sid).mkdir()
        (root / sid / "answers.yaml").write_text(yaml.safe_dump(answers))
    options = RunContext.build(parts="A", course=load_course(root / "course.yaml"))
    rows = run_batch(root, tmp_path / "out", options, jobs=1)
    z1 = next(w for w in wrong_answers(list(rows), options, load_settings())
              if (w.question, w.answer) == ("q1", "z1"))
    assert z1.reference == "each student's own" and z1.wrong == 2
    assert [(g.count, g.diagnosis) for g in z1.groups] == [(2, "a sign error")]
    assert (tmp_path / "out" / "index.html").is_file()


def test_diagnoses_from_statuses_and_values(tmp_path):
    """The other diagnoses, on a Part A class graded for real: a whole question in the other
    convention, too few figures, another answer's value."""
    from grader.writers.site import load_settings, wrong_answers
    from solver.engine import solve
    from solver.spec import find_spec

    root = tmp_path / "class"
    root.mkdir()
    spec = find_spec("q1")
    other = solve(spec).alternatives["row_per_neuron"].answers
    _submission(root, "t1", "Row", {("q1", k): float(f"{a.value:.6g}") for k, a in other.items()})
    _submission(root, "t2", "Rough", {("q1", "h1"): 0.64})
    _submission(root, "t3", "Mixed up", {("q8", "p2"): 0.6225})
    options = RunContext.build(parts="A")
    rows = run_batch(root, tmp_path / "out", options, jobs=1)
    found = {(w.question, w.answer): [(g.shown, g.count, g.diagnosis) for g in w.groups]
             for w in wrong_answers(list(rows), options, load_settings())}
    assert found["q1", "output"] == [("0.554", 1, "the row_per_neuron convention")]
    assert found["q1", "h1"] == [("0.594", 1, "the row_per_neuron convention"),
                                 ("0.64", 1, "too few significant figures")]
    assert found["q8", "p2"] == [("0.623", 1, "the value of p1")]
    assert found["q2", "z"] == []
