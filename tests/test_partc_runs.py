"""Part C studies end to end through the CLI, --quick, on real FashionMNIST (subsets).

They check the conclusions that are robust even on small subsets (the quick CNN beats chance
widely; zero initialization keeps hidden units identical; search reports mean +- std per
configuration; the exported model re-evaluates to the same accuracy), never wall-clock times.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require

torch = pytest.importorskip("torch")

from cli import cli  # noqa: E402
from nets.data import DataMissingError, fashion_root  # noqa: E402


def _have_data() -> bool:
    try:
        fashion_root()
        return True
    except DataMissingError:
        return False


def _metrics(run: Path) -> dict:
    """A quick run's metrics (conftest's quick_runs: `dlhw run partc --quick`, seed 0)."""
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 0 and config["quick"] is True
    return json.loads((run / "metrics.json").read_text())


def test_missing_data_is_one_clear_line(tmp_path):
    res = CliRunner().invoke(cli, ["run", "fashion", "--quick", "--out", str(tmp_path / "f"),
                                   "--data-dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "apt-get install dataset-fashion-mnist" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_fashion_data_shapes_counts_and_homework_transform():
    require(_have_data(), "FashionMNIST not installed (apt-get install dataset-fashion-mnist)")
    from torchvision import datasets

    from nets.data import homework_transform, load_fashion

    fd = load_fashion()
    assert fd.x_train.shape == (60000, 1, 28, 28) and fd.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(fd.y_test).tolist() == [1000] * 10
    ds = datasets.FashionMNIST(str(fd.root), train=False, download=False,
                               transform=homework_transform())
    for i in (0, 1234, 9999):
        img, label = ds[i]
        assert torch.equal(img, fd.x_test[i]) and label == fd.y_test[i]


def test_fashion_quick_beats_chance_and_export_round_trips(quick_runs):
    from grader.model_check import inspect_pt2

    out = quick_runs / "fashion"
    m = _metrics(out)
    assert m["fashion.test_accuracy"] > 0.6  # chance is 0.1
    cm = m["fashion.confusion_matrix"]
    assert sum(map(sum, cm)) == 2000 and len(cm) == 10
    assert {f"fashion.variants.{v}.test_accuracy" for v in ("shallow", "deep", "wide")} <= set(m)
    assert "MaxPool2d" in (out / "layers.txt").read_text()
    inspect_pt2(out / "model.pt2")  # the grader's own safety check
    # fashion.export.test_accuracy is evaluate_exported on all 10,000 test images; the quick
    # run's own metrics use a 2,000-image subset, so they agree only up to sampling noise.
    assert abs(m["fashion.export.test_accuracy"] - m["fashion.test_accuracy"]) < 0.05
    program = torch.export.load(str(out / "model.pt2")).module()
    x = torch.rand(3, 1, 28, 28)
    assert program(x).shape == (3, 10)
    # How it ran is recorded beside the recipe: the choice, its timings, the CPU.
    config = json.loads((out / "config.json").read_text())
    resolved = config["train"]["resolved"]
    assert resolved["precision"] in ("fp32", "bf16") and resolved["device"] in ("cpu", "cuda")
    assert resolved["how"] == "measured" and resolved["timings"]
    assert resolved["epochs"]["run"] == m["fashion.epochs"] == 3
    assert config["hardware"]["cpu"]["model_name"] and config["hardware"]["cpu"]["flags"]
    if not config["hardware"]["bf16_native"] and config["hardware"]["device"] == "cpu":
        assert resolved["precision"] == "fp32"  # emulated bf16 is never picked by auto
    # The plan is printed with the metrics: how the steps ran, their pace, the CPU.
    assert m["fashion.steps"].startswith(resolved["precision"]) and m["fashion.step_ms_run"] > 0
    assert m["fashion.cpu"].startswith(config["hardware"]["cpu"]["model_name"])
    assert m["fashion.time_budget"] == 0.0 and config["train"]["time_budget"] is None  # quick


def test_the_reference_run_is_on_a_budget_by_default():
    from nets.studies.fashion import TIME_BUDGET, budget_for

    assert budget_for(quick=False, time_budget=None) == TIME_BUDGET == 600.0
    assert budget_for(quick=True, time_budget=None) is None  # a few epochs of a subset
    assert budget_for(quick=False, time_budget=0) is None    # --time-budget 0: the recipe's
    assert budget_for(quick=True, time_budget=120.0) == 120.0


def test_cli_passes_device_precision_and_budget_to_the_studies(tmp_path, monkeypatch):
    import nets.studies

    calls = []
    monkeypatch.setattr(nets.studies, "run_study", lambda name, out, **kw: calls.append(
        (name, kw)) or {})
    res = CliRunner().invoke(cli, ["run", "fashion", "--out", str(tmp_path), "--device", "cpu",
                                   "--precision", "fp32", "--time-budget", "600"])
    assert res.exit_code == 0, res.output
    assert calls == [("fashion", {"seed": 0, "epochs": None, "quick": False, "data_dir": None,
                                  "device": "cpu", "precision": "fp32", "time_budget": 600.0})]
    res = CliRunner().invoke(cli, ["run", "viz", "--time-budget", "600"])
    assert res.exit_code == 2  # the budget is the reference CNN's: fashion and partc only


def test_every_study_is_a_run_command_and_a_handout_run():
    from handout.runs import RUNS
    from nets.studies import STUDIES

    names = [s.name for s in STUDIES]
    assert len(set(names)) == len(names)
    res = CliRunner().invoke(cli, ["run", "--help"])
    assert res.exit_code == 0
    listed = {line.split()[0] for line in res.output.split("Commands:")[1].splitlines()
              if line.strip()}
    assert listed == {"partb", "partc", *names}
    assert list(RUNS) == ["partb", *names]
    for study in STUDIES:  # --time-budget only where the study takes one
        res = CliRunner().invoke(cli, ["run", study.name, "--help"])
        assert study.help.split(":")[0] in res.output
        assert ("--time-budget" in res.output) == study.time_budget


def test_run_dir_holds_only_what_this_run_wrote(tmp_path):
    from nets.runinfo import make_run_dir

    outside = tmp_path / "outside"
    (outside / "kept").mkdir(parents=True)
    (outside / "secret.txt").write_text("keep me")
    run = make_run_dir(tmp_path / "run")
    (run / "stale.png").write_bytes(b"old figure")
    (run / "sub").mkdir()
    (run / "sub" / "to_outside").symlink_to(outside)
    (run / "link.txt").symlink_to(outside / "secret.txt")
    (run / "dirlink").symlink_to(outside / "kept")
    assert make_run_dir(run) == run
    assert [p.name for p in run.iterdir()] == [".dlhw-run"]
    # Links were removed as links: nothing outside the run folder was touched.
    assert (outside / "secret.txt").read_text() == "keep me" and (outside / "kept").is_dir()


def test_run_dir_refuses_folders_it_did_not_make(tmp_path):
    from nets.runinfo import RunDirError, make_run_dir

    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(RunDirError, match="not a dlhw run folder"):
        make_run_dir(home)
    assert (home / "thesis.tex").is_file()
    make_run_dir(tmp_path / "real")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    with pytest.raises(RunDirError, match="symbolic link"):
        make_run_dir(tmp_path / "linked")
    res = CliRunner().invoke(cli, ["run", "partb", "--out", str(home)])
    assert res.exit_code == 1 and "refusing to clear it" in res.output
    assert (home / "thesis.tex").is_file()


def test_an_xdist_worker_trains_on_one_torch_thread_whatever_the_cores():
    import os
    import subprocess
    import sys

    code = ("from types import SimpleNamespace\n"
            "from nets import hardware as H\n"
            "H.os.sched_getaffinity = lambda _pid: set(range(16))  # a 16-core machine\n"
            "from tests.conftest import pytest_configure\n"
            "pytest_configure(SimpleNamespace(option=SimpleNamespace(numprocesses=0)))\n"
            "import torch\n"
            "from nets.studies import run_study\n"
            "H.set_threads()  # what run_study does first\n"
            "print(torch.get_num_threads(), H.thread_count())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "PYTEST_XDIST"))}
    root = Path(__file__).resolve().parent.parent
    for worker, expected in (("gw0", "1 1"), (None, "16 16")):
        run_env = {**env, "PYTHONPATH": str(root),
                   **({"PYTEST_XDIST_WORKER": worker, "PYTEST_XDIST_WORKER_COUNT": "2"}
                      if worker else {})}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=run_env, cwd=root, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[-2:] == expected.split(), (worker, out.stdout)
