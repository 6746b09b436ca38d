"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nets.hardware import prepare_env


def pytest_configure(config) -> None:
    """Thread policy (nets.hardware): one torch thread per xdist worker.

    Runs in every worker before any test imports torch. Workers already share the cores, and
    the machine is often shared too: more threads per worker only oversubscribe it. Without
    xdist the process gets the cores it may run on.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        prepare_env(threads=1)
    # Not in xdist's controller: its environment would reach the workers before their own.
    elif not getattr(config.option, "numprocesses", 0):
        prepare_env()


def require(condition: bool, why: str) -> None:
    """Skip when a real dataset or tool is missing, but fail under DLHW_REQUIRE_DATA=1 (CI)."""
    if condition:
        return
    if os.environ.get("DLHW_REQUIRE_DATA") == "1":
        pytest.fail(f"required by DLHW_REQUIRE_DATA=1: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory):
    """Part B's run and every Part C study's quick run, made once per test session.

    Made as a user previews the handout (`dlhw handout --quick`: the runs, then handout.tex);
    the study tests, the handout and the grader read them, and must not write into them.
    Under xdist the workers share one copy: the first to ask makes it under a file lock.
    """
    from nets.fashion_files import DEBIAN_DIR

    require(DEBIAN_DIR.is_dir() or bool(os.environ.get("DLHW_DATA")),
            "FashionMNIST missing: apt-get install dataset-fashion-mnist")
    from click.testing import CliRunner
    from filelock import FileLock

    from cli import cli

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's folder, above each worker's own
    runs, done = shared / "quick-runs", shared / "quick-runs.done"
    with FileLock(str(shared / "quick-runs.lock")):
        if not done.is_file():
            res = CliRunner().invoke(cli, ["handout", "--quick", "--runs", str(runs),
                                           "--out", str(shared / "quick-handout")])
            assert res.exit_code == 0, res.output + repr(res.exception)
            assert (shared / "quick-handout" / "handout.tex").is_file()
            done.touch()
    return runs


# ---------------------------------------------------------------- Part B's reference run (issue 14)


@pytest.fixture(scope="session")
def partb_run(tmp_path_factory) -> Path:
    """`dlhw run partb --seed 0` made once per test worker: metrics.json, config.json and the
    figures, for every test that reads the reference Part B run."""
    from click.testing import CliRunner

    from cli import cli

    out = tmp_path_factory.mktemp("partb-run")
    result = CliRunner().invoke(cli, ["run", "partb", "--seed", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "digits.mlp.test_accuracy" in result.output
    return out
