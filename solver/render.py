"""Render solutions through the Jinja templates in templates/: LaTeX, Markdown, terminal text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache

import jinja2

from solver.engine import Solution
from solver.present import to_json_dict, view
from solver.spec import ROOT

TEMPLATES_DIR = ROOT / "templates"

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: object) -> str:
    """Plain text made safe for LaTeX (for titles, labels and anything from runs or students)."""
    return re.sub(r"[&%$#_{}~^\\<>]", lambda m: _LATEX_SPECIAL[m[0]], str(text))


_PLAIN_MACROS = {r"\sigma": "σ", r"\partial": "∂", r"\eta": "η", r"\alpha": "α", r"\delta": "δ",
                 r"\leftarrow": "←", r"\ge": "≥", r"\le": "≤", r"\to": "→", r"\infty": "∞",
                 r"\cdot": "·", r"\,": " ", r"\tanh": "tanh", r"\max": "max", r"\log": "log",
                 r"\hat{y}": "ŷ", r"\%": "%", r"\_": "_"}


def latex_to_plain(text: str) -> str:
    """Readable terminal text from a spec's LaTeX-flavoured prose."""
    text = re.sub(r"_\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\^\{([^{}]*)\}", r"^(\1)", text)
    text = re.sub(r"\\(?:mathrm|text|operatorname|mathbb)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    for macro, plain in _PLAIN_MACROS.items():
        text = text.replace(macro, plain)
    return text.replace("$", "").replace("\\", "")


@cache
def environment(kind: str) -> jinja2.Environment:
    """`latex` uses LaTeX-safe delimiters (\\VAR{}, \\BLOCK{}); the others Jinja's defaults."""
    options: dict = dict(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                         undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                         trim_blocks=True, lstrip_blocks=True, autoescape=False)
    if kind == "latex":
        options |= dict(block_start_string=r"\BLOCK{", block_end_string="}",
                        variable_start_string=r"\VAR{", variable_end_string="}",
                        comment_start_string=r"\#{", comment_end_string="}",
                        line_comment_prefix="%#")
    env = jinja2.Environment(**options)
    env.filters["e"] = latex_escape if kind == "latex" else (lambda s: s)
    env.filters["plain"] = latex_to_plain
    return env


def render_template(kind: str, name: str, **context: object) -> str:
    return environment(kind).get_template(name).render(**context)


def to_latex(solutions: Sequence[Solution], sig: int = 4, standalone: bool = False) -> str:
    views = [view(s, latex=True, sig=sig) for s in solutions]
    body = "\n".join(render_template("latex", "solution.tex.j2", q=v) for v in views)
    if not standalone:
        return body
    return render_template("latex", "standalone.tex.j2", body=body,
                           title="Part A worked solutions" if len(views) > 1
                           else f"Question {views[0]['id'][1:]}: {views[0]['title']}")


def to_markdown(solutions: Sequence[Solution], sig: int = 4) -> str:
    return "\n".join(render_template("markdown", "solution.md.j2", q=view(s, True, sig))
                     for s in solutions)


def to_text(solutions: Sequence[Solution], sig: int = 4) -> str:
    return "\n".join(render_template("text", "solution.txt.j2", q=view(s, False, sig))
                     for s in solutions)


def to_json(solutions: Sequence[Solution], sig: int = 4) -> str:
    data = [to_json_dict(s, sig) for s in solutions]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)
