"""The command line of Parts B and C: `dlhw run` (Part B, each Part C study, all of Part C),
`dlhw notebook` and `dlhw search` (Part 4's workers and status), registered by cli.py.

Parse, call nets/, print, as cli.py does; torch is imported only inside the commands that
need it, so `import cli` never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from nets.studies import Study


# ------------------------------------------------------------------ Part B

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


@click.group(cls=StudiesGroup)
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


@click.command()
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


@click.group()
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
