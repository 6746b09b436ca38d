"""LaTeX-flavoured prose (a spec's captions, conventions and notes) as plain terminal text.

Shared by the presentation (solver.present) and the templates' `plain` filter (solver.render),
so neither imports the other.
"""

from __future__ import annotations

import re

_PLAIN_MACROS = {
    r"\sigma": "σ", r"\partial": "∂", r"\eta": "η", r"\alpha": "α", r"\delta": "δ",
    r"\beta": "β", r"\gamma": "γ", r"\epsilon": "ε", r"\theta": "θ", r"\lambda": "λ",
    r"\mu": "μ", r"\tau": "τ", r"\phi": "φ", r"\omega": "ω", r"\pi": "π",
    r"\leftarrow": "←", r"\rightarrow": "→", r"\to": "→", r"\geq": "≥", r"\leq": "≤",
    r"\ge": "≥", r"\le": "≤", r"\neq": "≠", r"\approx": "≈", r"\infty": "∞", r"\times": "×",
    r"\cdot": "·", r"\ldots": "…", r"\dots": "…", r"\in": "∈", r"\pm": "±", r"\lnot": "¬",
    r"\oplus": "⊕", r"\land": "∧", r"\lor": "∨", r"\mid": "|", r"\prime": "′",
    r"\tanh": "tanh", r"\sinh": "sinh", r"\cosh": "cosh", r"\max": "max", r"\min": "min",
    r"\log": "log", r"\ln": "ln", r"\exp": "exp", r"\hat{y}": "ŷ", r"\%": "%", r"\_": "_",
    r"\mathbf{1}": "𝟙", r"\left": "", r"\right": "", r"\big": "", r"\Big": "", r"\bigl": "",
    r"\bigr": "", r"\quad": "  ", r"\qquad": "   ", r"\,": " ", r"\;": " ", r"\!": "",
    r"\{": "{", r"\}": "}",
}
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_ATOM = r"(?:[A-Za-z0-9.′]|\\[A-Za-z]+)"


def _sub(m: re.Match) -> str:
    body = m[1]
    return body.translate(_SUB) if body.isdigit() else "_" + body


def _sup(m: re.Match) -> str:
    body = m[1]
    if re.fullmatch(r"-?\d+", body):
        return body.translate(_SUP)
    if re.fullmatch(_ATOM + "+", body) or re.fullmatch(r"\([^()]*\)", body):
        return "^" + body
    return f"^({body})"


def _frac(m: re.Match) -> str:
    num, den = m[1], m[2]
    # Bracketed only where a sign or space stands outside brackets: e^(-z) stays as it is.
    bare = [re.sub(r"\([^()]*\)", "", p) for p in (num, den)]
    wrap = [p if re.fullmatch(r"[^\s+\-]+", b) else f"({p})" for p, b in zip((num, den), bare)]
    return f"{wrap[0]}/{wrap[1]}"


def latex_to_plain(text: str) -> str:
    """Readable terminal text (Unicode math, no markup) from a spec's LaTeX-flavoured prose."""
    text = text.replace("``", "“").replace("''", "”").replace("\\partial ", "∂")
    text = re.sub(r"\\[bB]ig\|_\{([^{}]*)\}", r"|\1", text)
    for _ in range(4):  # innermost groups first, so nested commands unfold
        text = re.sub(r"\\(?:mathrm|text|textit|textbf|texttt|emph|operatorname|mathit|mathbb)"
                      r"\{([^{}]*)\}", r"\1", text)
        text = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", text)
        text = re.sub(r"\\[td]?frac\{([^{}]*)\}\{([^{}]*)\}", _frac, text)
        text = re.sub(r"\\(?:hat)\{y\}", "ŷ", text)
        text = re.sub(r"_\{([^{}]*)\}", _sub, text)
        text = re.sub(r"\^\{([^{}]*)\}", _sup, text)
    text = re.sub(r"_(\d)", lambda m: m[1].translate(_SUB), text).replace("^*", "*")
    text = re.sub(r"\^(\d)", lambda m: m[1].translate(_SUP), text)
    # A thin space between digits groups them (10\,000); elsewhere in math it is a product.
    text = re.sub(r"(?<=\d)\\,(?=\d)", " ", text)
    text = re.sub(r"\\,(?=\s*[^\s,.;:)\]}$])", "·", text)
    for macro, plain in sorted(_PLAIN_MACROS.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(macro, plain)
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)
    text = text.replace("$", "").replace("\\", "").replace("{", "").replace("}", "")
    text = text.replace("∂ ", "∂").replace("~", " ")
    return text
