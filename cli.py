"""dlhw: solve, implement and grade the CS4152 deep-learning homework.

A thin click layer: each command parses its options, calls library code in solver/, nets/ or
grader/, and prints. Heavy libraries (torch) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import DlhwError

if TYPE_CHECKING:
    from nets.studies import Study


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

class StudiesGroup(click.Group):
    """`dlhw run`: partb, partc and one command per Part C study (nets.studies.STUDIES).

    The study commands are built when asked for, so `import cli` (and `dlhw solve`) never
    imports torch; `dlhw run partb` does not either.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        from nets.studies import BY_NAME

        return sorted([*self.commands, *BY_NAME])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        from nets.studies import BY_NAME

        return _study_command(BY_NAME[name]) if name in BY_NAME else None


@cli.group(cls=StudiesGroup)
def run() -> None:
    """Run a Part B or Part C study; each writes metrics.json, config.json and figures."""


@run.command("partb")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of every random draw (initial weights, minibatch order).")
@click.option("--out", default="runs/partb", show_default=True,
              type=click.Path(file_okay=False), help="Run folder for metrics, config, figures.")
def run_partb(seed: int, out: str) -> None:
    """Part B in NumPy: perceptron, sigmoid neuron, 3-4-1 network, digits (softmax and MLP)."""
    import json

    from nets.partb import REQUIRED_IDS
    from nets.partb import run_partb as run_b

    result = run_b(seed=seed, out=out)
    for key in REQUIRED_IDS:
        click.echo(f"{key:<32} {json.dumps(result.metrics[key])}")  # as metrics.json has it
    click.echo(f"wrote {result.out}/metrics.json, config.json and {len(result.figures)} figures")


@cli.command()
@click.argument("part", type=click.Choice(["partb"]))
@click.option("--student", "edition", flag_value="student",
              help="Answer cells replaced by [TO COMPLETE] placeholders.")
@click.option("--solution", "edition", flag_value="solution", help="Answer cells filled in.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Notebook file to write  [default: PART_EDITION.ipynb].")
@click.option("--execute", is_flag=True, help="Run it (nbclient) so the file carries outputs.")
def notebook(part: str, edition: str | None, out: str | None, execute: bool) -> None:
    """Generate the PART notebook (student or solution edition) from the reference code."""
    from nets.notebook import write_notebook

    if edition is None:
        raise click.UsageError("give --student or --solution")
    path = write_notebook(out or f"{part}_{edition}.ipynb", student=edition == "student",
                          execute=execute)
    click.echo(f"wrote {path}")

# ------------------------------------------------------------------ Part C (PyTorch)

def _print_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, list) and len(value) > 10:
            continue  # the confusion matrix and the like: see metrics.json
        click.echo(f"{key:<52} {value:.6g}" if isinstance(value, float)
                   else f"{key:<52} {value}")


def _report(name: str, out: Path | str, metrics: dict) -> None:
    _print_metrics(metrics)
    click.echo(f"wrote {out}/metrics.json, config.json and figures")


_DATA_DIR = click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                         help="FashionMNIST IDX files  [default: $DLHW_DATA or "
                              "/usr/share/datasets/fashion-mnist].")
_DEVICE = click.option("--device", default="auto", show_default=True,
                       type=click.Choice(["auto", "cpu", "cuda"]),
                       help="Where to train (auto: CUDA when there is a GPU).")
_PRECISION = click.option("--precision", default="auto", show_default=True,
                          type=click.Choice(["auto", "fp32", "bf16"]),
                          help="Training precision (auto: the faster, timed on a few steps; "
                               "fp32 in a search, whose fits are never timed).")


def _partc_options(default_out: str):
    def deco(fn):
        for option in reversed([
            click.option("--seed", default=0, show_default=True, type=int,
                         help="Seed of every random draw (init, data order, splits)."),
            click.option("--epochs", default=None, type=click.IntRange(1),
                         help="Epochs of every training run  [default: the study's own]."),
            click.option("--quick", is_flag=True,
                         help="Small subsets and few epochs (what the tests run)."),
            click.option("--out", default=default_out, show_default=True,
                         type=click.Path(file_okay=False), help="Run folder."),
            _DATA_DIR, _DEVICE, _PRECISION,
        ]):
            fn = option(fn)
        return fn
    return deco


_TIME_BUDGET = click.option(
    "--time-budget", default=None, type=click.FloatRange(min=0), metavar="SECONDS",
    help="The reference CNN's training seconds: the epochs that fit at its measured speed; 0: "
         "the recipe's epochs, however long  [default: the study's, 600; none with --quick].")


def _storage(**kw):
    return click.option("--storage", metavar="URL", **kw,
                        help="Optuna storage the search's workers share: sqlite:///FILE or "
                             "postgresql://USER@HOST/DB  [run: sqlite:///OUT/search.db].")


_SEARCH_NAME = click.option("--study", "study", default="search", show_default=True,
                            help="The search's name; its studies are NAME.{task}.{strategy}.")
_SEARCH_OPTIONS = (
    _storage(default=None), _SEARCH_NAME,
    click.option("--workers", default=None, type=click.IntRange(1, 256),
                 help="Local worker processes  [default: one per core, or per GPU]."),
    click.option("--heartbeat", default=10, show_default=True, type=click.IntRange(1, 3600),
                 metavar="SECONDS", help="Seconds between a running trial's heartbeats; a "
                 "trial silent for three is failed and run again."),
    click.option("--prune", default="hopeless", show_default=True,
                 type=click.Choice(["hopeless", "median", "none"]),
                 help="Stop a configuration between folds (see nets.search_storage.pruner)."),
)
_SEARCH_KEYS = ("storage", "study", "workers", "heartbeat", "prune")


def _study_command(study: Study) -> click.Command:
    """`dlhw run NAME` for one nets.studies.Study."""
    def command(out: str, **options) -> None:
        from nets.studies import run_study

        if study.distributed:
            options["search"] = {k: options.pop(k) for k in _SEARCH_KEYS}
        _report(study.name, out, run_study(study.name, out, **options))

    command = _partc_options(f"runs/{study.name}")(command)
    if study.time_budget:
        command = _TIME_BUDGET(command)
    if study.distributed:
        for option in reversed(_SEARCH_OPTIONS):
            command = option(command)
    return click.command(study.name, help=study.help)(command)


@run.command("partc")
@_partc_options("runs")
@_TIME_BUDGET
def run_partc(out: str, **options) -> None:
    """Every Part C study, each into OUT/<study> (regression, optimizers, ..., viz)."""
    from nets.studies import run_all

    run_all(out, report=_report, **options)


@cli.group()
def search() -> None:
    """Part 4's search on a shared Optuna storage: join it from any machine, or watch it."""


@search.command("worker")
@_storage(required=True)
@_SEARCH_NAME
@_DATA_DIR
@_DEVICE
@_PRECISION
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Torch threads of this worker.")
@click.option("--wait", default=60.0, show_default=True, type=click.FloatRange(0),
              metavar="SECONDS", help="How long to wait for the search to be started.")
def search_worker(storage: str, study: str, data_dir: str | None, device: str,
                  precision: str, threads: int, wait: float) -> None:
    """Run trials of the search STUDY wherever work is left, until every one is done."""
    from nets.hardware import prepare_env

    prepare_env(threads)  # before torch is imported
    from nets.search_worker import work
    ran = work(storage, study, data_dir=data_dir, device=device, precision=precision,
               threads=threads, wait=wait)
    click.echo(f"search {study}: done; this worker ran {ran} trials")


@search.command("status")
@_storage(required=True)
@_SEARCH_NAME
def search_status(storage: str, study: str) -> None:
    """Every study of the search: its trials, their state and scores, the best so far."""
    from nets.search import status_text

    click.echo(status_text(storage, study))


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
