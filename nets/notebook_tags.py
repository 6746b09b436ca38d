"""The Part B notebook's tag grammar, for the generator (nets/notebook.py) and the grader
(grader/notebook_file.py) alike: one reading of what marks an answer.

An answer region opens with a START line and closes with the matching END line: ``# STARTCODE``
... ``# ENDCODE`` around code, ``STARTTEXT`` ... ``ENDTEXT`` around markdown, with
``[TO COMPLETE]`` between them in the student notebook. The generator writes each region as one
cell whose first and last lines are its tags (`CODE_TAGS`, `TEXT_TAGS`). A submitted notebook is
read as editors and students leave it: a tag line may carry spaces and its ``#`` or not, a
region may span cells, and a cell with no tag line may carry its tags in ``metadata.tags``
(Jupyter's cell tags).

Only plain string comparisons of stripped lines, never a regular expression: reading stays
linear in the size of a hostile notebook.
"""

from __future__ import annotations

from collections.abc import Mapping

CODE_TAGS = ("# STARTCODE", "# ENDCODE")  # as the generator writes them
TEXT_TAGS = ("STARTTEXT", "ENDTEXT")
MARKERS = ("STARTCODE", "ENDCODE", "STARTTEXT", "ENDTEXT")  # as they are read
PLACEHOLDER = "[TO COMPLETE]"


def raw_source(cell: Mapping) -> str:
    """The cell's text as stored (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def source(cell: Mapping) -> str:
    """The cell's text, trailing spaces of each line and blank ends removed."""
    return "\n".join(line.rstrip() for line in raw_source(cell).strip().splitlines())


def tag(line: str) -> str | None:
    """The tag a line is, if it is one: `# STARTCODE`, `STARTTEXT` (spaces around allowed)."""
    s = line.strip()
    if s.startswith("#"):
        s = s[1:].strip()
    return s if s in MARKERS else None


def region_kind(marker: str) -> str:
    """CODE or TEXT: what a START or END tag delimits."""
    return marker.removeprefix("START").removeprefix("END")


def cell_tags(cell: Mapping) -> list[str]:
    """The tags of a cell, in order: its tag lines, else its metadata tags."""
    found = [t for line in source(cell).splitlines() if (t := tag(line))]
    if found:
        return found
    meta = cell.get("metadata")
    tags = meta.get("tags", []) if isinstance(meta, dict) else []
    return [t for t in tags if isinstance(t, str) and t in MARKERS] if isinstance(tags, list) \
        else []


def classify_cell(cell: Mapping) -> str:
    """"code-answer", "text-answer" or "fixed": an answer cell opens and closes its region
    (a code cell with CODE tags, any other with TEXT tags) on its first and last lines."""
    lines = source(cell).splitlines()
    kind = "CODE" if cell.get("cell_type") == "code" else "TEXT"
    if len(lines) >= 2 and tag(lines[0]) == f"START{kind}" and tag(lines[-1]) == f"END{kind}":
        return "code-answer" if kind == "CODE" else "text-answer"
    return "fixed"
