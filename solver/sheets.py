"""Write a class's variant question sheets (LaTeX, optionally PDF) and its answer key (CSV)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.fileio import atomic_write
from core.latex import build_pdf
from core.roster import Student
from solver.engine import solve
from solver.render import render_template
from solver.spec import Spec, decimal_text
from solver.variants import variant_given


def sheet_tex(specs: Sequence[Spec], student: Student, seed: int) -> str:
    """One student's Part A question sheet."""
    questions = [{"id": s.id, "title": s.title, "marks": s.marks,
                  "text": s.question_text(variant_given(s, seed, student.id))} for s in specs]
    return render_template("latex", "sheet.tex.j2", student=student, questions=questions,
                           seed=seed)


def key_rows(specs: Sequence[Spec], students: Sequence[Student], seed: int
             ) -> tuple[list[str], list[list[str]]]:
    """The class answer key: one row per student, given values and answers in every convention."""
    header = ["student_id", "name"]
    rows: list[list[str]] = []
    for n, student in enumerate(students):
        row = [student.id, student.name]
        for spec in specs:
            given = variant_given(spec, seed, student.id)
            sol = solve(spec, given=given)
            cells = [(f"{spec.id}.given.{k}", decimal_text(v)) for k, v in given.items()
                     if k in spec.variants]
            cells += [(f"{spec.id}.{k}", repr(a.value)) for k, a in sol.answers.items()]
            for name, alt in sol.alternatives.items():
                cells += [(f"{spec.id}.{name}.{k}", repr(a.value)) for k, a in alt.answers.items()]
            if n == 0:
                header += [c for c, _ in cells]
            row += [v for _, v in cells]
        rows.append(row)
    return header, rows


def write_variants(specs: Sequence[Spec], students: Sequence[Student], seed: int, out: Path,
                   pdf: bool = False) -> dict[str, int]:
    """Write out/sheets/<id>.tex (and .pdf) and out/key.csv; returns counts for the summary."""
    sheets = out / "sheets"
    sheets.mkdir(parents=True, exist_ok=True)
    for student in students:
        atomic_write(sheets / f"{student.id}.tex", sheet_tex(specs, student, seed))
    header, rows = key_rows([s for s in specs if s.variants], students, seed)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(out / "key.csv", buf.getvalue())
    if pdf:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda s: build_pdf(sheets / f"{s.id}.tex"), students))
    return {"students": len(students), "questions": len(specs)}
