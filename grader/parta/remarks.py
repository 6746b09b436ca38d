"""Remarks students add after an answer, and how to tell one from a second value.

A remark is prose: `1.8 (w increased)`, `-0.187 - negative, so w increases`, `0.5 (uniform:
U(-1.2247, 1.2247))`, `1 - a^2; chain rule`, `1 for z > 0, 0 otherwise`. It holds a word that is
no name of the question, no function and no arithmetic (`plus`, `or`), and it follows the
answer in brackets, after a dash or after a semicolon or comma. What has no such word
(`0.6365 (0.7)`, `0.57, 0.58`, `-0.3775 (p1 - 1)`) is a second value, never dropped; a hedge
(`0.5722 (or 0.55)`) is two answers. The text is length-capped before any regex runs, and the
regexes here cannot backtrack super-linearly.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from grader.parta.names import name_key
from solver.expr import MAX_LENGTH
from solver.functions import SPELLINGS

_WORD_RE = re.compile(r"[A-Za-z]+")
# A word, not a LaTeX command (`\\operatorname` is markup) nor part of a name (`dL_da`, `x1`).
_NAME_RE = re.compile(r"(?<![\\A-Za-z0-9_])[A-Za-z][A-Za-z0-9_]*")
# Words that make a "remark" a second value or a formula rather than a remark.
NOT_REMARKS = {"or", "and", "to", "plus", "minus", "times", "over", "nan", "inf", "infinity",
               "zoo", "oo", "e", "exp", "log", "ln", "sqrt", "tanh", "sigmoid", "sigma", "eta",
               "alpha", "beta", "lambda"}
# Words that offer another answer: `0.5722 (or 0.55)`, `0.4, maybe 0.5`.
HEDGES = {"or", "either", "maybe", "perhaps", "possibly", "probably"}
# Words of a branch (`1 for z > 0`): the branch is read, never dropped as a remark.
_BRANCH_WORDS = ("for", "if", "when", "on", "where")
_GREEK = {"eta", "alpha", "beta", "lambda", "gamma", "delta", "epsilon", "theta", "mu", "tau",
          "phi", "omega", "sigma"}
_DASHES = (" - ", " – ", " — ", " -- ")
_DASH_CHARS = ("-", "–", "—")
_WORDS_ONLY_RE = re.compile(r"[A-Za-z ]+")
_MAY_REMARK_RE = re.compile(r"\)$|[,;]| [-–—]")  # a cheap first look: where a remark may start


def prose_words(text: str, names: AbstractSet[str] = frozenset()) -> list[str]:
    """The words of `text` that are prose: three letters or more, none of the question's
    `names` nor several of them written together (`wx`), no function, Greek letter,
    arithmetic or LaTeX command."""
    return [w for w in _NAME_RE.findall(text[:MAX_LENGTH])
            if len(w) > 2 and w.isalpha() and w not in names and w.lower() not in SPELLINGS
            and w.lower() not in NOT_REMARKS and w.lower() not in _GREEK
            and not _names_together(w, names)]


def _names_together(word: str, names: AbstractSet[str]) -> bool:
    """`wxb`: the names w, x and b written together (at most 40 letters are tried)."""
    if not word or len(word) > 40:
        return not word
    return any(word[:end] in names and _names_together(word[end:], names)
               for end in range(len(word), 0, -1))


def hedged(text: str) -> bool:
    """Does `text` offer another answer (`or 0.55`, `maybe 0.5`)?"""
    return any(w.lower() in HEDGES for w in _WORD_RE.findall(text[:MAX_LENGTH]))


def is_remark(text: str, names: AbstractSet[str] = frozenset()) -> bool:
    """Is `text` (what follows an answer) a remark to drop? Prose and no hedge, and no branch
    stated (`(z < 0)` is read as the branch); or words only (`(unchanged)`, `units`)."""
    if hedged(text):
        return False
    if not prose_words(text, names):
        if any(c.isdigit() or c in "+-*/^=<>|" for c in text):
            return False
        words = _NAME_RE.findall(text)
        if not words or not all(len(w) > 1 and w.lower() not in NOT_REMARKS and w not in names
                                for w in words):
            return False
    key, branch = name_key(text.strip(" ,;"))
    return branch is None or key not in ("", *_BRANCH_WORDS)


def split_remark(text: str, names: AbstractSet[str] = frozenset()) -> tuple[str, str]:
    """`w (unchanged)` → ("w", "(unchanged)"), `1.8 - w increased` → ("1.8", "- w
    increased"), `1 - a^2; chain rule` → ("1 - a^2", "; chain rule"): the answer and a
    trailing remark, or (text, "") when nothing trailing is a remark."""
    text = text.strip()
    if len(text) > MAX_LENGTH or not _MAY_REMARK_RE.search(text):
        return text, ""
    head, bracket = split_brackets(text)
    if bracket and is_remark(bracket[1:-1], names):
        return head, bracket
    cuts = _separators(text)
    for k, at in enumerate(cuts):
        head, tail = text[:at].strip(), text[at:].strip()
        # After a dash, prose up to the next separator: `1 - a^2` is arithmetic, `1.8 -
        # negative` and `1.8 - w increased` remarks, `1 - tanh(z) if z else 0` no remark.
        chunk = (text[at:cuts[k + 1]] if k + 1 < len(cuts) else tail).lstrip("-–— ")
        if head and is_remark(tail.lstrip(",;-–— "), names) and (
                tail[0] in ",;" or prose_words(chunk.split()[0] if chunk else "", names) or
                prose_words(chunk, names) and _WORDS_ONLY_RE.fullmatch(chunk)):
            return head, tail
    return text, ""


def _separators(text: str) -> list[int]:
    """Where a remark may start, outside brackets: a semicolon, a comma, a spaced dash."""
    out: list[int] = []
    depth = 0
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if depth:
            continue
        if c in ",;" or (c == " " and text[i + 1:i + 2] in _DASH_CHARS and
                         any(text.startswith(d, i) for d in _DASHES)):
            out.append(i)
    return out


def split_brackets(text: str) -> tuple[str, str]:
    """`w (unchanged)` → ("w", "(unchanged)"): the last bracketed group, if the text ends
    with one and something comes before it."""
    if not text.endswith(")"):
        return text, ""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            head = text[:i].strip()
            return (head, text[i:]) if head else (text, "")
    return text, ""
