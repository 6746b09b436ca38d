"""What the report says, read from the PDF compiled in the sandbox: its words, its sections and
its figures and tables (grader/report_check.py makes the listings this module reads).

- Words are tokens holding a letter of `pdftotext -raw`'s text (in the order LaTeX typeset it,
  column by column, where pdftotext's reading order can put a short right-hand block first); a
  word counts once the five words ending with it have not appeared before, so a repeated passage
  (filler, a paragraph pasted twice) counts once and a number or a table cell never counts.
- Headings are the \\section, \\subsection and \\subsubsection titles LaTeX writes to the .aux
  file (its `toc` entries), located in the text in order: a line (or up to three) reading the
  title, after an optional number (`III.`, `A.`, `2`). A section's body is the words between
  its heading and the next heading of its level or above. A required section is present when a
  heading holds one of its words at a word's start (lowercase, punctuation as spaces:
  `cross valid` matches "Cross-Validation", `optimi` "Optimisation").
- Figures and tables are the captions LaTeX lists in the .aux file (`lof`, `lot`); one is
  referenced when the text names it ("Fig. 3", "Figure 3", "Table II") besides its caption.

The student's LaTeX is never parsed; the .aux and the text are read with linear scans of capped
lines.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

MAX_LINES = 20_000  # of the PDF's text: 30 pages of two columns hold about 4,000
MAX_HEADINGS = 200
MAX_AUX_LINES = 20_000
NGRAM = 5  # words in the passage whose repetition is not counted again
_FIT_LINES = 3  # a heading may wrap over this many lines of text


@dataclass(frozen=True)
class Section:
    """A section the homework asks for: `words` identify its heading (normalised phrases)."""

    id: str
    title: str  # how the feedback names it
    words: tuple[str, ...]


@dataclass(frozen=True)
class Content:
    """What the report must hold (the rubric's report item)."""

    sections: tuple[Section, ...] = ()
    section_words: int = 60  # body words under a heading for its section to count
    min_words: int = 1200  # body words of the whole report for the length's full share
    empty_words: int = 150  # fewer: the report is near-empty and earns nothing
    min_figures: int = 2  # referenced figures for the figures' full share
    min_tables: int = 1  # referenced tables for the tables' full share


@dataclass(frozen=True)
class Heading:
    level: int  # 1 section, 2 subsection, 3 subsubsection
    title: str  # as plain text
    words: int | None  # its body's words; None where the title was not found in the text


@dataclass(frozen=True)
class Substance:
    """What the report holds: counted words, headings, figures and tables."""

    words: int
    headings: tuple[Heading, ...]
    found: dict[str, Heading] = field(default_factory=dict)  # section id → its best heading
    figures: tuple[int, int] = (0, 0)  # (captioned, referenced)
    tables: tuple[int, int] = (0, 0)


def phrase(text: str) -> str:
    """`cross valid` from `Cross-Valid`: lowercase ASCII letters and digits, one space between."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", _ascii(text).lower()).split())


def _ascii(text: str) -> str:
    """Accents dropped, ligatures split (NFKD), the rest as is."""
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def _key(text: str) -> str:
    """The letters of `text`, lowercase: what a heading and a line of text are compared by."""
    return re.sub(r"[^a-z]+", "", _ascii(text).lower())


def _group(s: str, i: int) -> tuple[str, int]:
    """The text of the brace group opening at s[i] (`{`) and the index after it."""
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 1  # an escaped character: \{ is no brace
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
        j += 1
    return s[i + 1:], len(s)


def plain(tex: str) -> str:
    """A title's TeX as text: control words dropped, braces, `$` and `~` gone."""
    text = re.sub(r"\\(?:[A-Za-z@]{1,40}\*?|.)", lambda m: {"\\&": "&", "\\%": "%", "\\_": "_"}
                  .get(m[0], " "), tex[:2000])
    return " ".join(text.replace("{", "").replace("}", "").replace("$", "")
                    .replace("~", " ").split())


_ENTRY = re.compile(r"\\@writefile\{(toc|lof|lot)\}\{\\contentsline \{(\w{1,20})\}\{")
_LEVELS = {"section": 1, "subsection": 2, "subsubsection": 3}


def read_aux(aux: bytes) -> tuple[list[tuple[int, str]], list[str], list[str]]:
    """The headings (level, plain title) and the numbers of the captioned figures and tables
    that LaTeX wrote to the .aux file, in order."""
    headings: list[tuple[int, str]] = []
    floats: dict[str, list[str]] = {"lof": [], "lot": []}
    for line in aux.decode("utf-8", "replace").splitlines()[:MAX_AUX_LINES]:
        m = _ENTRY.match(line[:4000])
        if not m:
            continue
        title, _ = _group(line[:4000], m.end() - 1)
        number = ""
        if (k := title.find("\\numberline")) >= 0 and (b := title.find("{", k)) >= 0:
            number, end = _group(title, b)
            title = title[:k] + title[end:]
        if m[1] == "toc" and m[2] in _LEVELS:
            headings.append((_LEVELS[m[2]], plain(title)))
        elif m[1] != "toc":
            floats[m[1]].append(plain(number).replace(" ", ""))
    return headings, floats["lof"], floats["lot"]


def _counted(lines: list[str]) -> list[int]:
    """Per line, its words that count: tokens with a letter whose passage of NGRAM words
    ending there is new."""
    seen: set[tuple[str, ...]] = set()
    recent: list[str] = []
    out = []
    for line in lines:
        n = 0
        for token in line.split():
            if not any(c.isalpha() for c in token):
                continue
            recent = (recent + [_ascii(token).lower().strip(".,;:!?()[]\"'")])[-NGRAM:]
            gram = tuple(recent)
            if gram not in seen:
                seen.add(gram)
                n += 1
        out.append(n)
    return out


def counted_words(text: str) -> int:
    """The words of `text` that count (see `_counted`): a written answer's prose."""
    return sum(_counted(text[:MAX_LINES * 200].splitlines()[:MAX_LINES]))


_PREFIX = re.compile(r"(?:[ivxlcdm]{1,7})?[a-z]?")  # `III.`, `A.`, `I-A` (digits are gone)
_TRIES = 2000  # places a title's letters are tried at, per heading


class _Text:
    """The letters of each line of text, run together, to find headings in (str.find)."""

    def __init__(self, lines: list[str]):
        self.keys = [_key(ln) for ln in lines]
        self.starts = list(itertools.accumulate((len(k) for k in self.keys), initial=0))[:-1]
        self.flat = "".join(self.keys)

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def locate(self, title: str, first: int) -> tuple[int, int] | None:
        """The first lines from line `first` that read `title` alone after a number, else
        that begin with it (a run-in heading): (index, how many lines), or None."""
        if len(title) < 3 or first >= len(self.keys):
            return None
        for exact in (True, False):
            pos = self.starts[first]
            for _ in range(_TRIES):
                k = self.flat.find(title, pos)
                if k < 0:
                    break
                i, j = self.line(k), self.line(k + len(title) - 1)
                end = self.starts[j] + len(self.keys[j])
                if j - i < _FIT_LINES and _PREFIX.fullmatch(self.flat[self.starts[i]:k]) and (
                        not exact or k + len(title) == end):
                    return i, j - i + 1
                pos = k + 1
        return None


def analyse(text: bytes, aux: bytes, rules: Content) -> Substance:
    """The report's counted words, its headings with their bodies' words, the required
    sections found and its figures and tables, referenced or not."""
    lines = [ln[:2000] for ln in text.decode("utf-8", "replace").splitlines()[:MAX_LINES]]
    counted = _counted(lines)
    toc, figures, tables = read_aux(aux)
    toc = toc[:MAX_HEADINGS]
    found = _Text(lines)
    placed: dict[int, tuple[int, int]] = {}  # toc index → (first line, lines)
    first = 0
    for t, (_, title) in enumerate(toc):
        if (at := found.locate(_key(title), first)) is not None:
            placed[t] = at
            first = at[0] + at[1]
    taken = {i + k for i, n in placed.values() for k in range(n)}
    headings = []
    for t, (level, title) in enumerate(toc):
        if t not in placed:
            headings.append(Heading(level, title, None))
            continue
        i, n = placed[t]
        end = next((placed[u][0] for u in sorted(placed) if u > t and toc[u][0] <= level),
                   len(lines))
        headings.append(Heading(level, title, sum(counted[k] for k in range(i + n, end)
                                                  if k not in taken)))
    full = "\n".join(lines)
    return Substance(sum(counted), tuple(headings), _sections(headings, rules.sections),
                     _referenced(full, figures, r"fig(?:ure)?s?\.?"),
                     _referenced(full, tables, r"tab(?:le)?s?\.?"))


def _sections(headings: list[Heading], sections: tuple[Section, ...]) -> dict[str, Heading]:
    """Each required section's heading with the most words among those naming it."""
    found: dict[str, Heading] = {}
    for h in headings:
        text = " " + phrase(h.title)
        for s in sections:
            if any(f" {w}" in text for w in s.words):
                best = found.get(s.id)
                if best is None or (h.words or 0) > (best.words or 0):
                    found[s.id] = h
    return found


def _referenced(text: str, numbers: list[str], name: str) -> tuple[int, int]:
    """(captioned, referenced): a float is referenced when the text names it twice (its
    caption once, the text at least once). One pass over the text counts every mention."""
    mention = re.compile(rf"(?<![A-Za-z]){name}\s{{0,2}}([0-9]{{1,4}}|[IVXLCDM]{{1,8}})"
                         r"(?![A-Za-z0-9])", re.IGNORECASE)
    said = Counter(m[1].upper() for m in mention.finditer(text))
    return len(numbers), sum(said[n.upper()] >= 2 for n in dict.fromkeys(numbers) if n)
