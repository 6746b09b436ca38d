"""dlhw: solve, implement and grade the CS4152 deep-learning homework.

A thin click layer: each command parses its options, calls library code in solver/, nets/ or
grader/, and prints. Heavy libraries (torch) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.errors import DlhwError
from nets.commands import notebook, run, search


class DlhwGroup(click.Group):
    """Turns the packages' own errors into one-line messages and exit code 1 (2 for usage)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DlhwError as exc:
            click.echo(f"dlhw: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=DlhwGroup)
@click.version_option(package_name="dlhw")
@click.option("--course", "course_dir", envvar="DLHW_HOME",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Course folder whose problems/ and templates/ override dlhw's own, file by "
                   "file, and whose course.yaml grading uses  [env: DLHW_HOME].")
def cli(course_dir: Path | None) -> None:
    """Instructor's toolkit for the CS4152 deep-learning homework."""
    from core import resources

    resources.set_home(course_dir)


# ------------------------------------------------------------------ Part A

@cli.command("list")
def list_questions() -> None:
    """List the Part A questions: id, title and marks."""
    from solver.spec import load_all

    specs = load_all()
    for spec in specs:
        click.echo(f"{spec.id:<4} {spec.title:<45} {spec.marks:>2} marks")
    click.echo(f"{'':<4} {'total':<45} {sum(s.marks for s in specs):>2} marks")


@cli.command()
@click.argument("question", required=False)
@click.option("--all", "all_", is_flag=True, help="Solve every question.")
@click.option("--latex", is_flag=True, help="Print a LaTeX fragment.")
@click.option("--markdown", is_flag=True, help="Print Markdown.")
@click.option("--json", "json_", is_flag=True, help="Print JSON (one object per question).")
@click.option("--standalone", is_flag=True, help="With --latex: a complete document for pdflatex.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Re-solve with another given value, e.g. --set x1=0.6 (repeatable).")
@click.option("--precision", default=4, show_default=True, type=click.IntRange(1, 30),
              help="Significant figures of printed numbers (given values are never rounded).")
@click.option("--student", metavar="ID", help="Solve this student's variant (needs --seed).")
@click.option("--seed", type=int, help="The course's variant seed (with --student).")
def solve(question: str | None, all_: bool, latex: bool, markdown: bool, json_: bool,
          standalone: bool, assignments: tuple[str, ...], precision: int, student: str | None,
          seed: int | None) -> None:
    """Solve a Part A QUESTION (q1 to q10) step by step."""
    from solver import render
    from solver.engine import parse_assignments
    from solver.engine import solve as solve_spec
    from solver.spec import find_spec, load_all
    from solver.variants import variant_given

    if all_ == bool(question):
        raise click.UsageError("give one QUESTION (e.g. q1) or --all")
    if latex + markdown + json_ > 1:
        raise click.UsageError("give at most one of --latex, --markdown and --json")
    form = "latex" if latex else "markdown" if markdown else "json" if json_ else None
    if standalone and form != "latex":
        raise click.UsageError("--standalone goes with --latex")
    if all_ and assignments:
        raise click.UsageError("--set applies to one question, not --all")
    if (student is None) != (seed is None):
        raise click.UsageError("--student and --seed go together")
    if student is not None and assignments:
        raise click.UsageError("--set and --student exclude each other")
    specs = load_all() if all_ or question is None else [find_spec(question)]
    overrides = parse_assignments(assignments)
    # Only JSON prints exact values; the other forms need the floats alone.
    solutions = [solve_spec(spec, overrides,
                            variant_given(spec, seed, student)
                            if student is not None and seed is not None else None,
                            exact=form == "json", sigfigs=precision)
                 for spec in specs]
    if form == "latex":
        click.echo(render.to_latex(solutions, precision, standalone), nl=False)
    elif form == "markdown":
        click.echo(render.to_markdown(solutions, precision), nl=False)
    elif form == "json":
        click.echo(render.to_json(solutions, precision))
    else:
        click.echo(render.to_text(solutions, precision), nl=False)


@cli.command()
@click.option("--roster", required=True, type=click.Path(dir_okay=False),
              help="CSV with an 'id' column (and optionally 'name').")
@click.option("--seed", required=True, type=int, help="The course's variant seed.")
@click.option("--out", default="variants", show_default=True, type=click.Path(file_okay=False),
              help="Folder for sheets/<id>.tex and key.csv.")
@click.option("--pdf", is_flag=True, help="Also compile every sheet with latexmk.")
def variants(roster: str, seed: int, out: str, pdf: bool) -> None:
    """Give every student in ROSTER their own Part A numbers: question sheets and an answer key."""
    from pathlib import Path

    from core.roster import load_roster
    from solver.sheets import write_variants
    from solver.spec import load_all

    counts = write_variants(load_all(), load_roster(roster), seed, Path(out), pdf)
    click.echo(f"wrote {counts['students']} question sheets to {out}/sheets/ and the answer key "
               f"to {out}/key.csv")


# ------------------------------------------------------------------ Parts B and C

cli.add_command(run)
cli.add_command(notebook)
cli.add_command(search)


# ------------------------------------------------------------------ grading

# (Grader commands: `grade`, `autograder`.)

@cli.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--batch", is_flag=True, help="PATH holds one submission folder per student.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="With --batch: where gradebook.csv, stats.csv and students/ go.")
@click.option("--format", "form", default="table", show_default=True, metavar="FORMAT",
              help="Output of a single submission: table, json or gradescope (the writers of "
                   "grader/writers/formats.py).")
@click.option("--rubric", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rubric YAML (default: problems/rubric.yaml).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="FashionMNIST folder for re-evaluating models (default: $DLHW_DATA or "
                   "/usr/share/datasets/fashion-mnist).")
@click.option("--parts", default="ABC", show_default=True,
              help="Which parts to grade, e.g. A for Part A only.")
@click.option("--jobs", type=click.IntRange(1, 64),
              help="With --batch: parallel worker processes (default: one per core).")
@click.option("--resume", is_flag=True,
              help="With --batch: keep the results saved in --out for every submission whose "
                   "files and grading set-up are unchanged; grade the rest.")
@click.option("--time-limit", type=click.FloatRange(1, 86400),
              help="Wall-clock seconds for one submission, everything included, before it is "
                   "stopped with an error (default: the rubric's submission.time_limit_s).")
@click.option("--course", type=click.Path(exists=True, path_type=Path),
              help="course.yaml (variant seed and roster), or a course folder holding it (its "
                   "problems/ and templates/ then apply too): mark each student against their "
                   "own numbers. Default: a course.yaml beside the submission folders, else the "
                   "course folder's.")
@click.option("--overrides", "overrides_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Answers settled by hand (student, answer, points, reason). Default: an "
                   "overrides.yaml beside the submission folders.")
@click.option("--allow-missing", is_flag=True,
              help="With --batch: grade what can be graded when a tool grading needs is broken "
                   "here (its items are 'not run'; --resume grades them once it is fixed).")
def grade(path: Path, batch: bool, out: Path | None, form: str, rubric: Path | None,
          data_dir: Path | None, parts: str, jobs: int | None, resume: bool,
          time_limit: float | None, course: Path | None, overrides_path: Path | None,
          allow_missing: bool) -> None:
    """Grade the submission folder PATH (or, with --batch, every submission in it).

    Exit status: 0 every submission graded; 1 some submission invalid (a file problem); 2 usage
    error; 3 some submission incomplete or not graded, or a tool grading needs is broken here
    (the grader's side: see dlhw doctor, then run again, with --resume for a batch); 4 some
    answer or item waits for review (settle it in overrides.yaml: dlhw review).
    """
    from grader.batch import grade_one, run_batch, summary
    from grader.context import for_submissions
    from grader.overrides import OverrideError, report_overrides
    from grader.results import exit_status
    from grader.rubric import RubricError
    from grader.writers.formats import SINGLE, single
    from nets.hardware import cores, thread_count

    if form not in SINGLE:
        raise click.UsageError(f"--format: expected one of {', '.join(SINGLE)}")
    parts = parts.upper()
    if not parts or set(parts) - set("ABC"):
        raise click.UsageError("--parts takes letters from A, B, C (e.g. A or ABC)")
    if batch != (out is not None):
        raise click.UsageError("--batch and --out go together")
    if (jobs or resume) and not batch:
        raise click.UsageError("--jobs and --resume go with --batch")
    jobs = jobs or cores()
    try:
        ctx = for_submissions(path, batch=batch, rubric=rubric, data_dir=data_dir, parts=parts,
                              threads=thread_count(jobs if batch else 1), course=course,
                              overrides=overrides_path)
    except (RubricError, OverrideError) as exc:
        raise click.UsageError(str(exc)) from None
    _cannot_grade_here(ctx.missing, refused=batch and not allow_missing)
    if batch:
        assert out is not None
        try:
            results = run_batch(path, out, ctx, jobs, time_limit, resume, progress=True)
        except KeyboardInterrupt:
            click.echo(f"interrupted: every result that finished is kept in {out}; run again "
                       "with --resume to grade the rest", err=True)
            sys.exit(130)
        if resume:
            click.echo(results.reuse_summary())
        click.echo(f"{summary(results)}; wrote {out / 'gradebook.csv'}")
        for line in report_overrides(ctx.overrides, results):
            click.echo(line)
        sys.exit(exit_status([r.status for r in results]))
    result = grade_one(path, ctx, time_limit)
    click.echo(single(form, ctx)(result), nl=form != "table")
    if ctx.overrides.entries:
        for line in report_overrides(ctx.overrides, [result], single=True):
            click.echo(line, err=True)
    sys.exit(exit_status([result.status]))


def _cannot_grade_here(missing: dict[str, str], refused: bool) -> None:
    """Say what the preflight found broken; stop (exit 3) when that refuses the batch."""
    from grader.results import EXIT_INCOMPLETE

    for why in sorted(set(missing.values())):
        click.echo(f"dlhw: {'error' if refused else 'warning'}: cannot grade here: {why}",
                   err=True)
    if missing and refused:
        click.echo("dlhw: error: no submission graded: fix the above, or give --allow-missing "
                   "to grade what can be graded", err=True)
        sys.exit(EXIT_INCOMPLETE)


@cli.command()
@click.argument("queue", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The overrides file to add the entries to (kept as it is otherwise; "
                   "default: print them).")
def review(queue: Path, out: Path | None) -> None:
    """Write overrides.yaml entries for the review queue QUEUE (a batch's review.csv, or its
    --out folder): live where review.csv's points column is filled in, commented otherwise.

    Exit status: 0 written, 1 the queue or the overrides file cannot be read.
    """
    from grader.review import write_template

    text, live, commented = write_template(queue, out)
    if out is None:
        click.echo(text, nl=False)
    click.echo(f"{live} entr{'y' if live == 1 else 'ies'} settled, {commented} to decide "
               f"(commented){f'; added to {out}' if out else ''}", err=out is None)


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="FashionMNIST folder (default: $DLHW_DATA or Debian's).")
def doctor(data_dir: Path | None) -> None:
    """Prove that each tool grading needs works here: the sandbox starts this interpreter and
    imports numpy and torch, pdflatex compiles an IEEEtran document in it, poppler reads the
    PDF, the FashionMNIST test files are readable. Prints the fix for each failure.

    Exit status: 0 all work, 1 something failed.
    """
    from grader import preflight

    probes = preflight.run_probes(preflight.LABELS, data_dir)
    click.echo(preflight.table(probes))
    failed = [p for p in probes.values() if not p.ok]
    click.echo(f"{len(probes) - len(failed)} of {len(probes)} work here" +
               (": grading the parts listed beside a failure will say 'not run'" if failed
                else ": everything grading needs"))
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Check the submission folder PATH before handing it in: layout, files, how each answer
    is read, notebook tags, models, the report's sections, words and format. It never says
    whether an answer is right.

    Exit status: 0 ready to submit, 1 not ready (each problem on one line), 2 usage error.
    """
    from grader.check import iter_findings, render

    counts = {"ok": 0, "warning": 0, "problem": 0}
    for finding in iter_findings(path):
        counts[finding.level] += 1
        click.echo(render(finding))
    problems, warnings = counts["problem"], counts["warning"]
    click.echo(f"{'not ready' if problems else 'ready to submit'}: {problems} problem(s), "
               f"{warnings} warning(s), {counts['ok']} ok (nothing here says whether an answer "
               "is right)")
    sys.exit(1 if problems else 0)


@cli.command()
@click.option("--out", default="autograder.zip", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The bundle to write.")
@click.option("--course", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="course.yaml (variant seed and roster) to grade each student against their "
                   "own numbers; roster ids are the students' email addresses up to the @.")
def autograder(out: Path, course: Path | None) -> None:
    """Build Gradescope's autograder bundle: setup.sh, run_autograder, dlhw's wheel, problems/,
    templates/ (and course/)."""
    from grader.autograder import build_bundle

    members = build_bundle(out, course)
    click.echo(f"wrote {out} ({len(members)} files); upload it as the assignment's autograder")


@cli.command()
@click.option("--runs", "runs_dir", default="runs", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder holding the full reference runs.")
def references(runs_dir: Path) -> None:
    """Copy the reference runs' graded metrics into problems/references.yaml (the course
    folder's when one is given, else the checkout's)."""
    from grader.references import write_references
    from grader.rubric import load_rubric
    from nets.studies import STUDIES

    ids = [i.metric for i in load_rubric(references={}).items if i.metric]
    path, values = write_references(runs_dir, ids, runs=["partb", *(s.name for s in STUDIES)])
    for k, v in values.items():
        click.echo(f"{k:<36} {v}")
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--runs", "runs_dir", default="runs", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding the run folders (partb, regression, ..., viz).")
@click.option("--out", default="build/handout", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--pdf", is_flag=True, help="Also build handout.pdf with latexmk.")
@click.option("--quick", is_flag=True,
              help="First produce quick runs (small subsets) into --runs: a preview.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="FashionMNIST folder for --quick (default: $DLHW_DATA or Debian's).")
def handout(runs_dir: Path, out: Path, pdf: bool, quick: bool, data_dir: str | None) -> None:
    """Generate the full solution handout (IEEEtran, two columns, 10pt, Times)."""
    from handout.render import build_handout

    if quick:
        from nets.studies import run_all

        run_all(runs_dir, quick=True, partb=True, progress=False, data_dir=data_dir)
    click.echo(f"wrote {build_handout(runs_dir, out, quick=quick, pdf=pdf)}")


if __name__ == "__main__":
    cli()
