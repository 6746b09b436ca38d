"""The reference solution's own metrics, kept as data in problems/references.yaml.

`dlhw references --runs runs/` copies them from the full reference runs. The grader quotes them
in its feedback, and the tests hold the rubric to them: the reference solution must earn full
marks on every metric item, so no bar is set above what the reference reaches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader

HEADER = """\
# Metrics of the reference solution, copied from the full runs by `dlhw references --runs runs/`.
# The grader quotes them in its feedback; the tests check that each reaches the rubric's
# full-mark bar. Regenerate after rerunning the studies; edit the rubric, not this file.
"""


class ReferencesError(DlhwError, ValueError):
    """A references file or run that cannot be read: the message names it."""


def collect(runs_dir: Path, ids: list[str], runs: Sequence[str] | None = None
            ) -> dict[str, float | bool]:
    """The value of each metric id, from whichever run folder under `runs_dir` holds it.

    `runs`: the run folders to read (the studies' names); None reads every folder there.
    """
    found: dict[str, float | bool] = {}
    files = sorted(Path(runs_dir).glob("*/metrics.json")) if runs is None else \
        [Path(runs_dir) / name / "metrics.json" for name in runs
         if (Path(runs_dir) / name / "metrics.json").is_file()]
    for metrics_file in files:
        try:
            metrics = json.loads(metrics_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReferencesError(f"{metrics_file}: cannot read: {exc}") from None
        found |= {k: metrics[k] for k in ids if k in metrics}
    missing = [k for k in ids if k not in found]
    if missing:
        raise ReferencesError(f"no run under {runs_dir} has {', '.join(missing)}: run the "
                             "studies first (dlhw run partb, dlhw run partc)")
    return {k: found[k] for k in ids}


def references_path() -> Path:
    """problems/references.yaml as in force: the course folder's, else the shipped one."""
    return resources.path("problems", "references.yaml")


def write_references(runs_dir: Path, ids: list[str], path: Path | None = None,
                     runs: Sequence[str] | None = None
                     ) -> tuple[Path, dict[str, float | bool]]:
    """Write the runs' values of `ids` to `path` (default: see _writable_references); return
    the file written and the values."""
    path = path or _writable_references()
    values = collect(runs_dir, ids, runs)
    rounded = {k: v if isinstance(v, bool) else round(float(v), 6) for k, v in values.items()}
    path.write_text(HEADER + yaml.safe_dump(rounded, sort_keys=True), encoding="utf-8")
    return path, rounded


def _writable_references() -> Path:
    """Where `dlhw references` writes: the course folder's problems/, else the checkout's (a
    wheel's files are not the instructor's to edit)."""
    course = resources.home()
    if course is not None:
        (course / "problems").mkdir(exist_ok=True)
        return course / "problems" / "references.yaml"
    path = resources.shipped("problems") / "references.yaml"
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        raise ReferencesError(f"{path} belongs to the installed package: give a course folder "
                              "(dlhw --course DIR references ...) to write the references there")
    return path


def load_references(path: Path | None = None) -> dict[str, float | bool]:
    """metric id → reference value; {} when the file does not exist yet."""
    path = path or references_path()
    if not path.is_file():
        return {}
    r = NodeReader(path, ReferencesError)
    out: dict[str, float | bool] = {}
    for key, node in r.mapping(r.load(), "").items():
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            out[key] = r.boolean(node, key)
        else:
            out[key] = float(r.number(node, key))
    return out
