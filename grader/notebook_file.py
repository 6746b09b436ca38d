"""A submitted Part B notebook as data: read (bounded), compared with the template (tags, fixed
cells), split into its answer regions, and turned into the list of cells to execute.

Nothing here runs the student's code. The tags are read by the notebook's own grammar
(nets/notebook_tags.py, shared with the generator), which compares stripped lines and never
uses a regular expression that could backtrack.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from core.errors import DlhwError
from nets.notebook_tags import PLACEHOLDER, cell_tags, raw_source, region_kind, source, tag

MAX_CELLS = 2000


class NotebookError(DlhwError, ValueError):
    """A notebook that cannot be read or run: one line for the student."""


# ---------------------------------------------------------------- reading


def read_notebook(data: bytes) -> dict:
    """The notebook's JSON, with every cell checked to be a cell (type and text source)."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotebookError(f"partb.ipynb: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise NotebookError("partb.ipynb: JSON nested too deeply") from None
    except ValueError as exc:
        raise NotebookError(f"partb.ipynb: not a notebook (JSON): {str(exc)[:120]}") from None
    if not isinstance(nb, dict):
        raise NotebookError("partb.ipynb: expected a notebook object at the top level")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("partb.ipynb: cells: expected a list of cells")
    if len(cells) > MAX_CELLS:
        raise NotebookError(f"partb.ipynb: {len(cells)} cells, expected at most {MAX_CELLS}")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotebookError(f"partb.ipynb: cell {i}: expected a cell object")
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(f"partb.ipynb: cell {i}: cell_type: expected code, markdown or "
                                "raw")
        src = cell.get("source", "")
        if not (isinstance(src, str) or isinstance(src, list)
                and all(isinstance(s, str) for s in src)):
            raise NotebookError(f"partb.ipynb: cell {i}: source: expected text or a list of "
                                "text lines")
    return nb


# ---------------------------------------------------------------- structure


@dataclass(frozen=True)
class Region:
    kind: str  # CODE | TEXT
    cells: tuple[int, ...]  # from the opening tag's cell to the closing tag's, inclusive
    digest: str  # hash of the answer content


@dataclass(frozen=True)
class Structure:
    markers: list[tuple[str, int]]  # tag, cell index
    fixed: list[tuple[int, str]]  # cell index, hash of a cell outside the answer regions
    regions: list[Region]
    error: str = ""


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def structure(nb: dict) -> Structure:
    """Marker sequence, hashed fixed cells (order included) and answer regions of a notebook."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return Structure([], [], [], "no cells")
    markers: list[tuple[str, int]] = []
    fixed: list[tuple[int, str]] = []
    regions: list[Region] = []
    open_: tuple[str, int] | None = None
    content: list[str] = []
    error = ""
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            return Structure(markers, fixed, regions, f"cell {i} is not a cell")
        kind = str(cell.get("cell_type", ""))
        toks = cell_tags(cell)
        if not toks:
            if open_ is None:
                fixed.append((i, _hash(kind, source(cell))))
            else:
                content.append(_hash(kind, source(cell)))
            continue
        inline = len(toks) >= 2 and toks[0].startswith("START") and toks[-1].startswith("END")
        for t in toks:
            markers.append((t, i))
            if t.startswith("START"):
                if open_ is not None and not error:
                    error = f"{t} at cell {i} inside the {open_[0]} region opened at cell " \
                            f"{open_[1]}"
                open_, content = (t, i), []
            else:
                if (open_ is None or region_kind(open_[0]) != region_kind(t)) and not error:
                    error = f"{t} at cell {i} has no matching START{region_kind(t)}"
                if open_ is not None:
                    body = [_hash(kind, source(cell))] if inline else []
                    regions.append(Region(region_kind(open_[0]), tuple(range(open_[1], i + 1)),
                                          _hash(*content, *body)))
                open_, content = None, []
        if not inline:
            fixed.append((i, _hash(kind, source(cell))))
    if open_ is not None and not error:
        error = f"{open_[0]} at cell {open_[1]} is never closed"
    return Structure(markers, fixed, regions, error)


def check_notebook(submitted: dict, template: dict) -> tuple[str, str, int, int]:
    """(status, message, edited regions, total regions): status is `valid` or `invalid`."""
    t, s = structure(template), structure(submitted)
    if t.error:
        raise ValueError(f"template notebook: {t.error}")
    if s.error:
        return "invalid", s.error, 0, len(t.regions)
    for k, (want, got) in enumerate(zip(t.markers + [None], s.markers + [None])):
        if want != got and (want is None or got is None or want[0] != got[0]):
            if want is None:
                assert got is not None  # want != got
                return "invalid", f"extra {got[0]} tag at cell {got[1]}", 0, len(t.regions)
            where = f"cell {got[1]}" if got else "the end"
            return "invalid", (f"{want[0]} tag #{k + 1} (cell {want[1]} of the template) "
                               f"missing or moved: found {got[0] if got else 'nothing'} at "
                               f"{where}"), 0, len(t.regions)
    for (ti, th), (si, sh) in zip(t.fixed, s.fixed):
        if th != sh:
            return "invalid", (f"cell {si} (outside the answer regions; cell {ti} of the "
                               "template) differs from the template"), 0, len(t.regions)
    if len(t.fixed) != len(s.fixed):
        extra = s.fixed[len(t.fixed)][0] if len(s.fixed) > len(t.fixed) else None
        msg = f"cell {extra} added outside the answer regions" if extra is not None else \
            f"cell {t.fixed[len(s.fixed)][0]} of the template removed"
        return "invalid", msg, 0, len(t.regions)
    edited = sum(1 for tr, sr in zip(t.regions, s.regions) if tr.digest != sr.digest)
    return "valid", "", edited, len(t.regions)


# ---------------------------------------------------------------- what runs


@dataclass(frozen=True)
class RunCell:
    index: int  # cell index in the submitted notebook
    source: str
    region: int | None  # index of its answer region, None for a fixed cell


@dataclass(frozen=True)
class Answer:
    """One answer region of a valid submission, beside the template's."""

    number: int
    kind: str  # CODE | TEXT
    cells: tuple[int, ...]
    label: str  # "B1.1" from the template's metadata, else "region 3"
    edited: bool
    text: str  # a text region's answer, tags and placeholder removed


@functools.lru_cache(maxsize=1)
def demonstration_sources() -> frozenset[str]:
    """The template's fixed cells that only call, print and plot (nets.notebook `Code` cells
    other than the imports): the checks do their work on the grader's own inputs, and they read
    the digits' test labels, which the sandbox hides."""
    from nets.notebook import Code, cells

    return frozenset(source({"source": c.text})
                     for c in cells() if isinstance(c, Code) and "{imports}" not in c.text)


def answers(submitted: dict, template: dict) -> list[Answer]:
    """The answer regions of a valid submission (check_notebook said so)."""
    t, s = structure(template), structure(submitted)
    out = []
    for k, (tr, sr) in enumerate(zip(t.regions, s.regions)):
        meta = template["cells"][tr.cells[0]].get("metadata", {})
        label = meta.get("dlhw", {}).get("answer", f"region {k + 1}")
        text = ""
        if sr.kind == "TEXT":
            lines = [ln for i in sr.cells for ln in source(submitted["cells"][i]).splitlines()
                     if tag(ln) is None]
            text = "\n".join(lines).replace(PLACEHOLDER, "").strip()
        out.append(Answer(k, sr.kind, sr.cells, label, tr.digest != sr.digest, text))
    return out


def region_code(submitted: dict, template: dict) -> list[tuple[str, str]]:
    """Each answer region's code as submitted and as in the template (its code cells joined;
    "" for a text region), for reading what it defines (never for running)."""
    def code(nb: dict, r: Region) -> str:
        return "\n".join(raw_source(nb["cells"][i]) for i in r.cells
                         if nb["cells"][i].get("cell_type") == "code")

    return [(code(submitted, sr), code(template, tr)) for tr, sr in
            zip(structure(template).regions, structure(submitted).regions)]


def cells_to_run(submitted: dict, regions: list[Answer]) -> list[RunCell]:
    """The code cells to execute, in order: the answer regions and the fixed definition cells.

    Refuses (NotebookError) IPython magics and shell escapes: the notebook runs as plain Python.
    """
    demo = demonstration_sources()
    region_of = {i: a.number for a in regions if a.kind == "CODE" for i in a.cells}
    run: list[RunCell] = []
    for i, cell in enumerate(submitted["cells"]):
        if cell.get("cell_type") != "code":
            continue
        text = raw_source(cell)
        if i not in region_of and source(cell) in demo:
            continue
        _refuse_magic(i, text)
        run.append(RunCell(i, text, region_of.get(i)))
    return run


def _refuse_magic(index: int, text: str) -> None:
    for n, line in enumerate(text.splitlines(), 1):
        s = line.lstrip()
        if s.startswith(("%", "!")) or "get_ipython" in s:
            shown = " ".join(s.split())[:40]
            raise NotebookError(f"partb.ipynb: cell {index}, line {n}: IPython magics and shell "
                                f"escapes are not allowed ({shown!r}); the notebook runs as "
                                "plain Python")
