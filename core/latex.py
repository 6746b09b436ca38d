"""Build a PDF from a .tex file with latexmk and pdflatex, reporting the log's first error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.errors import DlhwError


class LatexError(DlhwError, RuntimeError):
    """pdflatex failed; the message carries the log's first error."""


def build_pdf(tex: Path, clean: bool = True) -> Path:
    """Compile `tex` with latexmk (pdflatex) in its folder; LatexError with the first error.

    `clean` removes the auxiliary files afterwards (keep them to inspect the .aux or .log)."""
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-quiet", tex.name]
    try:
        run = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise LatexError("latexmk not found: run scripts/setup.sh (installs TeX Live)") from None
    if run.returncode != 0:
        log = tex.with_suffix(".log")
        text = log.read_text(errors="replace") if log.exists() else run.stdout
        first = next((ln for ln in text.splitlines() if ln.startswith("!")), "unknown error")
        raise LatexError(f"{tex}: LaTeX failed: {first}")
    if clean:
        subprocess.run(["latexmk", "-c", tex.name], cwd=tex.parent, capture_output=True)
    return tex.with_suffix(".pdf")

