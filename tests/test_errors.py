"""Every error a user can meet derives from DlhwError, the one base cli.py turns into a line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from core.errors import DlhwError

ROOT = Path(__file__).resolve().parent.parent
# Exceptions used for control flow inside one module, never shown to a user.
INTERNAL = {
    "grader.parta.evaluate.PointError",  # an expression has no real value at one random point
    "grader.parta.proof._Timeout",  # the SIGALRM budget of a proof ran out
    "grader.parta.proof._NotReal",
    "grader.notebook_judge.Mismatch",  # one hidden check failed: recorded, not raised on
    "problems.partb_checks.CheckTimeout",  # runs inside the sandbox, its answer says so
    "grader.channel.Closed",  # the sandboxed program stopped answering: the run says why
    "grader.channel.Broken",  # it broke the channel's rules: the run is void, with the reason
    "grader.notebook_run.Violation",  # an answer the runner did not write: the same
    "nets.pt2_interpret.Unsupported",  # in the sandbox: the program goes to torch.export
    "grader.warm._Broken",  # the warm server stopped answering: its run goes cold or unmarked
}
SKIP_MODULES = {"grader.model_harness", "problems.partb_good"}  # scripts for the sandbox


def _error_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    # Every package of the project, however it is split (a new package joins by itself).
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()
                      and p.name != "tests")
    assert {"solver", "grader", "nets"} <= set(packages)
    for package in packages:
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            name = info.name
            if name in SKIP_MODULES:
                continue
            module = importlib.import_module(name)
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == name:
                    found[f"{name}.{cls_name}"] = cls
    module = importlib.import_module("problems.partb_checks")
    found |= {f"{module.__name__}.{n}": c
              for n, c in inspect.getmembers(module, inspect.isclass)
              if issubclass(c, BaseException) and c.__module__ == module.__name__}
    return found


def test_every_user_facing_error_is_a_dlhw_error() -> None:
    classes = _error_classes()
    assert {"grader.rubric.RubricError", "grader.notebook_file.NotebookError",
            "solver.spec.SpecError"} <= classes.keys()  # the walk found the packages' errors
    outside = sorted(n for n, c in classes.items()
                     if n not in INTERNAL and not issubclass(c, DlhwError))
    assert outside == []
    assert INTERNAL <= classes.keys(), "an internal exception was renamed: update INTERNAL"


def test_a_bad_rubric_is_one_line_and_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "rubric.yaml"
    bad.write_text((ROOT / "problems" / "rubric.yaml").read_text().replace(
        "follow_through_share: 0.5", "follow_through_share: half"))
    submission = tmp_path / "s001"
    submission.mkdir()
    result = CliRunner().invoke(cli, ["grade", str(submission), "--rubric", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.output.splitlines() if "rubric.yaml" in ln]
    assert len(lines) == 1 and "parta.follow_through_share" in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("error", ["grader.rubric.RubricError", "grader.safeio.FileError",
                                   "grader.overrides.OverrideError"])
def test_the_cli_prints_any_dlhw_error_as_one_line(error: str, monkeypatch) -> None:
    """Wherever one escapes a command (not only where `grade` catches it), it is one line."""
    module, name = error.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)

    def fail(*_a, **_k):
        raise cls("problems/rubric.yaml:3: parta: expected a mapping")

    monkeypatch.setattr("solver.spec.load_all", fail)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 1
    assert result.output.strip() == "dlhw: error: problems/rubric.yaml:3: parta: expected a " \
        "mapping"


def test_a_rubric_item_id_that_cannot_name_a_file_is_refused(tmp_path: Path) -> None:
    from grader.rubric import RubricError, load_rubric

    bad = tmp_path / "rubric.yaml"
    bad.write_text((ROOT / "problems" / "rubric.yaml").read_text().replace(
        "\n  regression:\n", "\n  ../regression:\n"))
    with pytest.raises(RubricError, match=r"partc\.\.\./regression: expected an id of letters"):
        load_rubric(bad)
