"""`dlhw handout`: the full solution handout, in the format the homework asks of its report.

One IEEEtran document (two columns, 10pt, Times): the ten Part A worked solutions, rendered by
the same template as `dlhw solve --latex`; the Part B and Part C results; and a written answer to
every question of Parts 1-7 whose numbers come from the runs in `runs/`. The prose lives in
templates/handout.tex.j2, which only places what handout.prose decides from the runs
`handout.runs` loads (every comparison is a rule in handout.rules and handout.rules_models);
this module fills the figures' captions, renders the template and builds the PDF.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.latex import build_pdf
from core.numfmt import SIGFIGS
from handout.prose import caption, prose
from handout.runs import FIGURES, RUNS, HandoutError, Metrics, Run, load_runs
from handout.wording import count
from solver.engine import Solution, solve
from solver.present import view
from solver.render import render_template
from solver.spec import load_all


def _figures(runs: dict[str, Run], out: Path) -> list[dict[str, Any]]:
    missing = [f"{runs[r].dir / f.file}" for r, f in FIGURES
               if not (runs[r].dir / f.file).is_file()]
    if missing:
        raise HandoutError(f"missing figure(s): {', '.join(missing)}: rerun those studies")
    figs = []
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for run, f in FIGURES:
        target = out / "figures" / f"{run}-{f.file}"
        shutil.copyfile(runs[run].dir / f.file, target)
        figs.append({"path": f"figures/{run}-{f.file}", "caption": caption(f.caption, runs[run]),
                     "wide": f.wide, "label": f"fig:{run}-{f.file[:-4]}",
                     "key": f"{run}/{f.file}"})
    return figs


def layer_rows(layers: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Table I's rows from the fashion run's layer table: 3x3/1/1 as $3\\times 3$/1/1."""
    def first(v: Any) -> Any:
        return v[0] if isinstance(v, list) else v

    rows = []
    for r in layers:
        geo = ""
        if "kernel_size" in r:
            k = r["kernel_size"]
            k = "\\times ".join(map(str, k)) if isinstance(k, list) else f"{k}\\times {k}"
            geo = f"${k}$/{first(r['stride'])}/{first(r['padding'])}"
        rows.append({"type": r["type"], "geometry": geo, "params": count(r["params"]),
                     "output": "$\\times$".join(map(str, r["output"]))})
    return rows


def _answer(sol: Solution, answer: str) -> float:
    """A Part A answer's value as the solver computed it (exact, then to a float)."""
    number = sol.answers[answer].number
    if number is None:
        raise HandoutError(f"Part A {sol.spec.id}: answer {answer!r} is symbolic, not a number")
    return float(number)


def render_handout(runs: dict[str, Run], out: Path, commands: list[str]) -> Path:
    """Write out/handout.tex (and out/figures/); returns the .tex path."""
    out.mkdir(parents=True, exist_ok=True)
    solved = {s.id: solve(s) for s in load_all()}
    parta = [render_template("latex", "solution.tex.j2", q=view(sol, latex=True, sigfigs=SIGFIGS),
                             heading="subsection") for sol in solved.values()]
    figures = _figures(runs, out)
    fig: Callable[[str], dict[str, Any]] = {f["key"]: f for f in figures}.__getitem__
    tex = render_template(
        "latex", "handout.tex.j2", parta=parta, m=Metrics(runs), fig=fig, figures=figures,
        p=prose(runs, _answer(solved["q2"], "dL_dw"), SIGFIGS),
        layer_rows=layer_rows(runs["fashion"].config["layers"]), runs=runs, commands=commands,
        quick=any(r.config.get("quick") for r in runs.values()))
    path = out / "handout.tex"
    path.write_text(tex, encoding="utf-8")
    return path


def build_handout(runs_dir: Path, out: Path, quick: bool = False, pdf: bool = False) -> Path:
    """The handout from the runs in `runs_dir`; returns the .tex or the .pdf.

    `quick`: the runs were made by `dlhw handout --quick` (the appendix names that command).
    """
    commands = ["dlhw handout" + (" --quick" if quick else "") + (" --pdf" if pdf else "")]
    if not quick:
        commands = [f"{RUNS[n]} --out {runs_dir / n}" for n in RUNS] + commands
    tex = render_handout(load_runs(runs_dir), out, commands)
    return build_pdf(tex, clean=False) if pdf else tex
