"""Render solutions through the Jinja templates in templates/: LaTeX, Markdown, terminal text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import jinja2

from core import resources
from core.numfmt import SIGFIGS
from solver.engine import Solution
from solver.plaintext import latex_to_plain
from solver.present import to_json_dict, view

_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: object) -> str:
    """Plain text made safe for LaTeX (for titles, labels and anything from runs or students)."""
    return re.sub(r"[&%$#_{}~^\\<>]", lambda m: _LATEX_SPECIAL[m[0]], str(text))


def math_text(text: str) -> str:
    """Text with $inline math$ as one math-mode string: \\text{...} around the prose parts."""
    parts = text.split("$")
    return "".join(p if i % 2 else rf"\text{{{p}}}" for i, p in enumerate(parts) if p)


def environment(kind: str) -> jinja2.Environment:
    """`latex` uses LaTeX-safe delimiters (\\VAR{}, \\BLOCK{}); the others Jinja's defaults.
    Templates come from the course folder first, then dlhw's own (core.resources)."""
    return _environment(kind, tuple(resources.search_path("templates")))


@cache
def _environment(kind: str, folders: tuple[Path, ...]) -> jinja2.Environment:
    options: dict = dict(loader=jinja2.FileSystemLoader(folders),
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
    env.filters["mathtext"] = math_text
    return env


def render_template(kind: str, name: str, **context: object) -> str:
    return environment(kind).get_template(name).render(**context)


def to_latex(solutions: Sequence[Solution], sigfigs: int = SIGFIGS,
             standalone: bool = False) -> str:
    views = [view(s, latex=True, sigfigs=sigfigs) for s in solutions]
    body = "\n".join(render_template("latex", "solution.tex.j2", q=v) for v in views)
    if not standalone:
        return body
    return render_template("latex", "standalone.tex.j2", body=body,
                           title="Part A worked solutions" if len(views) > 1
                           else f"Question {views[0]['id'][1:]}: {views[0]['title']}")


def to_markdown(solutions: Sequence[Solution], sigfigs: int = SIGFIGS) -> str:
    return "\n".join(render_template("markdown", "solution.md.j2", q=view(s, True, sigfigs))
                     for s in solutions)


def to_text(solutions: Sequence[Solution], sigfigs: int = SIGFIGS) -> str:
    return "\n".join(render_template("text", "solution.txt.j2", q=view(s, False, sigfigs))
                     for s in solutions)


def to_json(solutions: Sequence[Solution], sigfigs: int = SIGFIGS) -> str:
    data = [to_json_dict(s, sigfigs) for s in solutions]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)
