"""What a student wrote, as tokens for the formula reader (grader.parta.reader).

The text is normalised first (Unicode as typed or pasted, `dL/da` as one name when the question
has it), then cut into tokens: in LaTeX a letter is a token (`xy` is x·y) and commands are
tokens of their own; in plain text a word is one. The text is length-capped before any regex
runs, and no regex here can backtrack super-linearly.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from solver.expr import MAX_LENGTH, ExprError
from solver.functions import SPELLINGS

Token = tuple[str, str]  # (kind, text): kind is num | let | word | cmd | op | end

EULER = "e"  # `e` is Euler's number unless the question uses it as a name

SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigl",
           "bigr", "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "middle"}
_BAR_CMDS = {"lvert", "rvert", "vert", "mid"}
_CMP_CMDS = {"geq": ">=", "ge": ">=", "leq": "<=", "le": "<=", "gt": ">", "lt": "<"}
SUBSCRIPTS = {chr(0x2080 + d): str(d) for d in range(10)}  # z₁ → z1
# Superscripts as typed or pasted: 10⁻¹, e⁻ᶻ, x²; a run of them is one exponent.
SUPERSCRIPTS = {**{c: str(d) for d, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")}, "⁻": "-", "⁺": "+",
                "ᶻ": "z", "ˣ": "x", "ʷ": "w", "ᵃ": "a", "ᵇ": "b", "ⁿ": "n", "ᵉ": "e"}
_SUPER_RUN_RE = re.compile("[" + "".join(SUPERSCRIPTS) + "]+")
# Unicode as typed or pasted, per reading mode.
UNICODE_PLAIN = {"σ": " sigma ", "η": " eta ", "α": " alpha ", "∂": "d", "√": " sqrt ",
                 "·": "*", "⋅": "*", "×": "*", "∗": "*", "−": "-",
                 "–": "-", "÷": "/", "≥": ">=", "≤": "<=", "’": "'", "′": "'", "𝟙": "1",
                 **SUBSCRIPTS}
_UNICODE_LATEX = {"σ": "\\sigma ", "η": "\\eta ", "α": "\\alpha ", "∂": "\\partial ",
                  "√": "\\sqrt ", "·": "\\cdot ", "⋅": "\\cdot ",
                  "×": "\\times ", "−": "-", "–": "-", "≥": "\\geq ", "≤": "\\leq ",
                  "’": "'", "′": "'", "𝟙": "1", **SUBSCRIPTS}
# dL/da, ∂L/∂a, \partial L / \partial a: one name (dL_da) when the question has it; not
# inside a name (the `da / dL` of `dL_da / dL/da`). Linear: no nested quantifiers, and the
# text is length-capped before any regex runs.
_SLASH_DERIV_RE = re.compile(r"(?<![A-Za-z_\\])(?:\\partial|d) ?([A-Za-z]) ?/ ?"
                             r"(?:\\partial|d) ?([A-Za-z][0-9]?)(?![A-Za-z])")
_LATEX_TOKEN_RE = re.compile(
    r"\\([A-Za-z]+|[,;:! {}|])|(\d+(?:\.\d*)?|\.\d+)|([A-Za-z]+)|(\*\*)|(\S)")
_PLAIN_TOKEN_RE = re.compile(
    r"(\*\*)|(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|([A-Za-z][A-Za-z0-9_]*)|(\S)")


def is_latex(text: str) -> bool:
    return "\\" in text or "{" in text


def unwrap_math(text: str) -> str:
    """`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]` → what is inside."""
    text = text.strip()
    for open_, close_ in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(text) >= 2 * len(open_) and text.startswith(open_) and text.endswith(close_):
            return text[len(open_):-len(close_)].strip()
    return text


def replace_all(text: str, table: dict[str, str]) -> str:
    text = superscripts(text)
    for k, v in table.items():
        if k in text:
            text = text.replace(k, v)
    return text


def superscripts(text: str, latex: bool = False) -> str:
    """`10⁻¹` → `10^(-1)`, `x²` → `x^2`: a run of superscripts is one exponent."""
    if not _SUPER_RUN_RE.search(text):
        return text

    def power(m: re.Match[str]) -> str:
        inner = "".join(SUPERSCRIPTS[c] for c in m[0])
        if len(inner) == 1:
            return f"^{inner}"
        return f"^{{{inner}}}" if latex else f"^({inner})"

    return _SUPER_RUN_RE.sub(power, text)


def normalise(text: str, names: AbstractSet[str]) -> tuple[str, bool]:
    """The text unwrapped from `$...$`, its Unicode spelled out for its mode and `dL/da` made
    one name; and whether it is LaTeX."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    text = unwrap_math(text)
    latex = is_latex(text)
    text = replace_all(superscripts(text, latex), _UNICODE_LATEX if latex else UNICODE_PLAIN)

    def slash_name(m: re.Match[str]) -> str:
        name = f"d{m[1]}_d{m[2].lower()}"
        return f" {name} " if name in names else m[0]

    return _SLASH_DERIV_RE.sub(slash_name, text), latex


def tokenize(text: str, latex: bool) -> list[Token]:
    """The tokens of normalised text, `>` `=` joined into `>=`."""
    return tokenize_glued(text, latex)[0]


def tokenize_glued(text: str, latex: bool) -> tuple[list[Token], list[bool]]:
    """The tokens, and for each whether it follows the one before with no space between
    (`2z` is glued, `2 z` is not): where a product binds in `1/2z` and `e^-2z`."""
    toks, starts, ends = _latex_tokens(text) if latex else _plain_tokens(text)
    out: list[Token] = []
    glued: list[bool] = []
    for k, tok in enumerate(toks):
        if tok == ("op", "=") and out and out[-1] in (("op", ">"), ("op", "<")):
            out[-1] = ("op", out[-1][1] + "=")
        else:
            out.append(tok)
            glued.append(k > 0 and starts[k] == ends[k - 1])
    return out, glued


Spans = tuple[list[Token], list[int], list[int]]


def _latex_tokens(text: str) -> Spans:
    toks: list[Token] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _LATEX_TOKEN_RE.finditer(text):
        found: list[Token] = []
        if m[1] is not None:
            if m[1] in ("{", "}"):
                found.append(("op", m[1]))  # \{ \}: braces as brackets
            elif m[1] == "|" or m[1] in _BAR_CMDS:
                found.append(("op", "|"))
            elif m[1] in _CMP_CMDS:
                found.append(("op", _CMP_CMDS[m[1]]))
            elif m[1] not in SPACING:
                found.append(("cmd", m[1]))
        elif m[2] is not None:
            found.append(("num", m[2]))
        elif m[3] is not None:
            # LaTeX mixed with plain text (`sigmoid(z) \cdot x`): a function word stays one;
            # any other run of letters is a product of letters, as in LaTeX.
            if len(m[3]) > 1 and m[3].lower() in SPELLINGS:
                found.append(("word", m[3]))
            else:
                for k, c in enumerate(m[3]):  # the letters of a word are glued together
                    toks.append(("let", c))
                    starts.append(m.start() + k)
                    ends.append(m.start() + k + 1)
        elif m[4] is not None:
            found.append(("op", "^"))
        else:
            found.append(("op", m[5]))
        for tok in found:
            toks.append(tok)
            starts.append(m.start())
            ends.append(m.end())
    return toks, starts, ends


def _plain_tokens(text: str) -> Spans:
    toks: list[Token] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _PLAIN_TOKEN_RE.finditer(text):
        if m[1] is not None:
            toks.append(("op", "^"))
        elif m[2] is not None:
            toks.append(("num", m[2]))
        elif m[3] is not None:
            toks.append(("word", m[3]))
        else:
            toks.append(("op", m[4]))
        starts.append(m.start())
        ends.append(m.end())
    return toks, starts, ends
