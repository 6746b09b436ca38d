"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nets.hardware import prepare_env


def pytest_configure(config) -> None:
    """Thread policy (nets.hardware): the cores divided among the xdist workers.

    Runs in every worker before any test imports torch, so `pytest -n 2` on 2 cores gives each
    worker one OpenMP thread rather than two workers of two threads each on two cores.
    """
    # Not in xdist's controller: its environment would reach the workers before their own.
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", 0):
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
    """Every study's quick run, made once per test worker (the handout and grader read them)."""
    from nets.fashion_files import DEBIAN_DIR

    require(DEBIAN_DIR.is_dir() or bool(os.environ.get("DLHW_DATA")),
            "FashionMNIST missing: apt-get install dataset-fashion-mnist")
    from grader.handout import make_quick_runs

    runs = tmp_path_factory.mktemp("quick-runs")
    make_quick_runs(runs, seed=0)
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
