"""Text that reaches any output from a student's bytes, made safe: whatever a student wrote (a
lone surrogate, an ESC sequence, a bidi override, a newline in a name), what is printed or
written is valid UTF-8 on one line and moves no terminal cursor (`clean`); spreadsheet cells go
through `csv_cell` (OWASP's formula-injection rule) and file names through `file_stem`."""

from __future__ import annotations

import hashlib
import math
import re

# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings, overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_STEM_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_STEM = 100


def clean(value: object) -> object:
    """`value` with every string (keys too) made printable: lone surrogates become U+FFFD,
    controls a space (tab, newline) or nothing."""
    if isinstance(value, str):
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


def file_stem(folder: str) -> str:
    """A safe, unique, length-capped file name for a submission's own output files: the folder
    name if it is plain and short, else its plain characters plus a hash of its exact bytes."""
    if _STEM_OK.fullmatch(folder) and len(folder) <= MAX_STEM:
        return folder
    digest = hashlib.sha256(folder.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", folder).strip("._-")[:MAX_STEM - 13] or "submission"
    return f"{plain}-{digest}"


def dash(x: object) -> str:
    """A number as printed in tables, an em dash where there is none."""
    return "—" if x is None else f"{x:g}"


def clip(text: str) -> str:
    """A student's text shortened for a message."""
    return text if len(text) <= 40 else text[:40] + "…"
