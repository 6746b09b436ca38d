"""Text that reaches any output from a student's bytes, made safe: whatever a student wrote (a
lone surrogate, an ESC sequence, a bidi override, a newline in a name), what is printed or
written is valid UTF-8 on one line and moves no terminal cursor (`clean`); spreadsheet cells go
through `csv_cell` (OWASP's formula-injection rule) and file names through `file_stem`."""

from __future__ import annotations

import hashlib
import math
import re
from typing import overload

# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile(f"{_CONTROL.pattern}|{_SURROGATE.pattern}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_STEM_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_STEM = 100


@overload
def clean(value: str) -> str: ...
@overload
def clean(value: list | tuple) -> list: ...
@overload
def clean(value: dict) -> dict: ...
@overload
def clean(value: object) -> object: ...


def clean(value: object) -> object:
    """`value` with every string (keys too) made printable: lone surrogates become U+FFFD,
    controls a space (tab, newline) or nothing."""
    if isinstance(value, str):
        if _UNSAFE.search(value) is None:  # nearly every string: no copy, no substitution
            return value if type(value) is str else str(value)
        return _SURROGATE.sub("\ufffd", _CONTROL.sub(_blank, value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf or nan
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _blank(m: re.Match[str]) -> str:
    return " " if m.group() in "\t\n\r\u2028\u2029" else ""


def csv_cell(value: object) -> object:
    """A gradebook cell that no spreadsheet evaluates: text starting with = + - @, a tab or a
    carriage return (after any spaces, which an import may trim) gets a leading apostrophe
    (OWASP), unless it is a plain number, such as a negative score, which stays a number."""
    if isinstance(value, str) and value.lstrip(" ").startswith(_FORMULA_START) and \
            not _NUMBER.fullmatch(value.strip(" ")):
        return "'" + value
    return value


def file_stem(folder: str, hashed: bool = False) -> str:
    """A safe, length-capped file name for a submission's own output files: the folder name if
    it is plain and short (and not `hashed`), else its plain characters plus a hash of its exact
    bytes. Unique within a class only through `unique_stems`."""
    if _STEM_OK.fullmatch(folder) and len(folder) <= MAX_STEM and not hashed:
        return folder
    digest = hashlib.sha256(folder.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", folder).strip("._-")[:MAX_STEM - 17] or "submission"
    return f"{plain}-{digest}"


def unique_stems(folders: list[str]) -> dict[str, str]:
    """One file stem per folder name, no two alike even on a case-insensitive disk: a folder
    whose stem another one's also gives (`José Ñ` and a folder named like its hash, `Ann` and
    `ann`) is hashed, then numbered if a third folder already bears that name."""
    base = {f: file_stem(f) for f in folders}
    count: dict[str, int] = {}
    for s in base.values():
        count[s.casefold()] = count.get(s.casefold(), 0) + 1
    taken: set[str] = set()
    stems: dict[str, str] = {}
    for f in sorted(folders, key=lambda f: (count[base[f].casefold()] > 1, f)):
        stem = base[f] if count[base[f].casefold()] == 1 else file_stem(f, hashed=True)
        n, candidate = 1, stem
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate.casefold())
        stems[f] = candidate
    return stems


def dash(x: object) -> str:
    """A number as printed in tables, an em dash where there is none."""
    return "—" if x is None else f"{x:g}"


def clip(text: str) -> str:
    """A student's text shortened for a message."""
    return text if len(text) <= 40 else text[:40] + "…"
