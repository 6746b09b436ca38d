"""dlhw: solve, implement and grade the CS4152 deep-learning homework.

A thin click layer: each command parses its options, calls library code in solver/, nets/ or
grader/, and prints. Heavy libraries (torch) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys

import click


class DlhwGroup(click.Group):
    """Turns the packages' own errors into one-line messages and exit code 1 (2 for usage)."""

    def invoke(self, ctx: click.Context):
        from solver.engine import SolveError
        from solver.expr import ExprError
        from solver.sheets import LatexError
        from solver.spec import SpecError
        from solver.variants import VariantError

        try:
            return super().invoke(ctx)
        except (SpecError, SolveError, ExprError, VariantError, LatexError) as exc:
            click.echo(f"dlhw: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=DlhwGroup)
@click.version_option(package_name="dlhw")
def cli() -> None:
    """Instructor's toolkit for the CS4152 deep-learning homework."""


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
@click.option("--latex", "form", flag_value="latex", help="Print a LaTeX fragment.")
@click.option("--markdown", "form", flag_value="markdown", help="Print Markdown.")
@click.option("--json", "form", flag_value="json", help="Print JSON (one object per question).")
@click.option("--standalone", is_flag=True, help="With --latex: a complete document for pdflatex.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Re-solve with another given value, e.g. --set x1=0.6 (repeatable).")
@click.option("--precision", default=4, show_default=True, type=click.IntRange(1, 15),
              help="Significant figures of printed numbers.")
@click.option("--student", metavar="ID", help="Solve this student's variant (needs --seed).")
@click.option("--seed", type=int, help="The course's variant seed (with --student).")
def solve(question: str | None, all_: bool, form: str | None, standalone: bool,
          assignments: tuple[str, ...], precision: int, student: str | None,
          seed: int | None) -> None:
    """Solve a Part A QUESTION (q1 ... q10) step by step."""
    from solver import render
    from solver.engine import parse_assignments
    from solver.engine import solve as solve_spec
    from solver.spec import find_spec, load_all
    from solver.variants import variant_given

    if all_ == bool(question):
        raise click.UsageError("give one QUESTION (e.g. q1) or --all")
    if standalone and form != "latex":
        raise click.UsageError("--standalone goes with --latex")
    if all_ and assignments:
        raise click.UsageError("--set applies to one question, not --all")
    if (student is None) != (seed is None):
        raise click.UsageError("--student and --seed go together")
    if student is not None and assignments:
        raise click.UsageError("--set and --student exclude each other")
    specs = load_all() if all_ else [find_spec(question)]
    overrides = parse_assignments(assignments)
    solutions = [solve_spec(spec, overrides,
                            variant_given(spec, seed, student) if student is not None else None)
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

    from solver.sheets import write_variants
    from solver.spec import load_all
    from solver.variants import load_roster

    counts = write_variants(load_all(), load_roster(roster), seed, Path(out), pdf)
    click.echo(f"wrote {counts['students']} question sheets to {out}/sheets/ and the answer key "
               f"to {out}/key.csv")


# ------------------------------------------------------------------ Parts B and C

@cli.group()
def run() -> None:
    """Run a Part B or Part C study; each writes metrics.json, config.json and figures."""


# (Part B commands: `run partb`, `notebook`.)

# (Part C commands: `run regression|optimizers|regularization|init|fashion|search|viz|partc`.)

# ------------------------------------------------------------------ grading

# (Grader commands: `grade`.)


if __name__ == "__main__":
    cli()
