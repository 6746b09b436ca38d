"""The names students write for an answer, left of `=`: `f'(z) = ...`, `w_new = ...`,
`\\frac{\\partial L}{\\partial w}\\Big|_{z>0} = ...`, and the branch a name or value states.

A name is reduced to a key (no spacing, brackets or markup, lower case) and compared with what
the answer may be called: its id, the question's own symbol, the spec's `aliases:`, and the
usual forms of a derivative, a gradient or an update.
"""

from __future__ import annotations

import re

from grader.parta.tokens import SUBSCRIPTS
from solver.expr import MAX_LENGTH

# Separators between an answer's name and its value: `f'(z) = ...`, `w ← w - ...`, `w := ...`.
_ASSIGN = ("\\leftarrow", "\\gets", "\\approx", ":=", "←", "≈", "=")


def split_equation(text: str) -> list[str]:
    """`f'(z) = 1 - a^2` → ["f'(z)", "1 - a^2"]; a chain `x = y = z` gives every part. An `=`
    inside brackets, or that belongs to <=, >=, == or !=, does not split."""
    if len(text) > MAX_LENGTH or not any(sep in text for sep in _ASSIGN):
        return [text]
    parts: list[str] = []
    start = i = depth = 0
    while i < len(text):
        depth += (text[i] in "([{") - (text[i] in ")]}")
        sep = next((s for s in _ASSIGN if text.startswith(s, i)), None) \
            if text[i] in "\\:←≈=" and depth <= 0 else None  # not inside brackets: 0.5 (=2/4)
        if sep == "=" and ((i > 0 and text[i - 1] in "<>!=:") or text.startswith("==", i)):
            sep = None
        if sep is None:
            i += 1
            continue
        parts.append(text[start:i])
        i += len(sep)
        start = i
    parts.append(text[start:])
    return [p.strip() for p in parts]


_KEY_DROP_CMDS = ("\\left", "\\right", "\\bigl", "\\bigr", "\\big", "\\Big", "\\displaystyle",
                  "\\mathrm", "\\operatorname", "\\textrm", "\\text", "\\mathit", "\\mathbf",
                  "\\boldsymbol", "\\hat", "\\dfrac", "\\tfrac", "\\frac", "\\limits",
                  "\\quad", "\\qquad")
_KEY_CMP = (("\\geq", ">="), ("\\leq", "<="), ("\\ge", ">="), ("\\le", "<="), ("\\gt", ">"),
            ("\\lt", "<"), ("≥", ">="), ("≤", "<="), ("\\partial", "d"), ("∂", "d"),
            ("\\nabla", "grad"), ("\\sigma", "σ"), ("\\varphi", "φ"), ("\\phi", "φ"),
            ("’", "'"), ("′", "'"), ("^{\\prime}", "'"), ("\\prime", "'"), ("²", "2"),
            *SUBSCRIPTS.items())
_KEY_DROP_CHARS = str.maketrans("", "", " \t{}()[]_$*/\\·^,.:;!")
_BRANCH_RE = re.compile(r"(?:\||for|if|when|on|where)?(z)(>=|<=|>|<)(0)$")


def name_key(text: str) -> tuple[str, str | None]:
    """A written name reduced to a comparable key, and the branch it states if any:
    `\\frac{\\partial L}{\\partial w}\\Big|_{z>0}` → ("dldw", "z > 0")."""
    t = text[:200].replace("\\left", "").replace("\\right", "")
    for a, b in _KEY_CMP:
        t = t.replace(a, b)
    for cmd in _KEY_DROP_CMDS:
        t = t.replace(cmd, "")
    t = t.translate(_KEY_DROP_CHARS).lower()
    m = _BRANCH_RE.search(t)
    if m:
        return t[:m.start()], f"{m[1]} {m[2]} {m[3]}"
    return t, None


def strip_branch(text: str) -> tuple[str, str | None]:
    """`1 for z > 0`, `1 (z>0)`, `1, z > 0`, `1 \\big|_{z>0}` → ("1", "z > 0"): a branch
    answer may state its branch after the value."""
    for sep in (",", ";", "(", " for ", " if ", " when ", "\\text", "\\quad", "\\big",
                "\\Big", "|"):
        idx = text.rfind(sep)
        if idx > 0:
            key, branch = name_key(text[idx:])
            if branch is not None and key == "":
                return text[:idx].strip(), branch
    return text, None


_DERIV_KEY_RE = re.compile(r"[a-zσφ]+'+z?|d[a-zσφ]*z?dz|ddz[a-zσφ]*z?")
_PARTIAL_ID_RE = re.compile(r"d([A-Za-z]\w*?)_d([A-Za-z]\w*)")


def is_answer_name(key: str, aid: str, aliases: set[str]) -> bool:
    """Is `key` (from name_key) a name for answer `aid`? Its id, the question's own symbol and
    the spec's `aliases` (already keys), f'(z) and d/dz forms for a derivative,
    dL/dw and ∇_w L for a gradient, w', w_new, w for an update."""
    if key in aliases or key == name_key(aid)[0]:
        return True
    if aid.startswith("derivative"):
        return bool(_DERIV_KEY_RE.fullmatch(key))
    m = _PARTIAL_ID_RE.fullmatch(aid.split("_pos")[0].split("_neg")[0])
    if m:
        return key in (f"d{m[1]}d{m[2]}".lower(), f"grad{m[2]}{m[1]}".lower())
    base = aid.split("_new")[0]
    if base != aid:
        return key in (base, f"{base}new", f"{base}'", f"{base}+", f"{base}t+1")
    return False
