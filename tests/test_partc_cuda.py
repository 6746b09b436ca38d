"""Part C on a GPU (issue 15): the CUDA path runs the same recipe as the CPU path.

CI has no GPU, so these run only where torch sees one (bench/gpu_check.sh runs them on a lent
GPU machine); the CPU side of the device logic (auto -> cpu, cuda refused) is tested in
test_partc_hardware.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import require

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def _data():
    from tests.test_partc_runs import _have_data

    require(_have_data(), "FashionMNIST not installed (apt-get install dataset-fashion-mnist)")
    from nets import data as D

    fd = D.load_fashion()
    return D.subset(fd.x_train, fd.y_train, 2000, 0), D.subset(fd.x_test, fd.y_test, 2000, 0)


def test_quick_fashion_run_trains_on_cuda_and_exports_a_cpu_model(tmp_path):
    from cli import cli
    from grader.model_check import inspect_pt2

    _data()
    out = tmp_path / "fashion"
    res = CliRunner().invoke(cli, ["run", "fashion", "--quick", "--device", "cuda",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    config = json.loads((out / "config.json").read_text())
    m = json.loads((out / "metrics.json").read_text())
    assert config["train"]["resolved"]["device"] == "cuda"
    assert config["hardware"]["device"] == "cuda" and config["hardware"]["gpu"]
    assert all(v["device"] == "cuda" for v in config["variants_resolved"].values())
    assert m["fashion.test_accuracy"] > 0.6
    # The grader runs the export on the CPU: it must hold no CUDA tensors.
    inspect_pt2(out / "model.pt2")
    program = torch.export.load(str(out / "model.pt2")).module()
    assert program(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert abs(m["fashion.export.test_accuracy"] - m["fashion.test_accuracy"]) < 0.05


def test_cpu_and_cuda_reach_the_same_accuracy_with_the_same_recipe():
    """Same seed, same shuffles and augmentation draws (CPU generator): only rounding differs."""
    from nets.models import build_cnn
    from nets.studies.fashion import REFERENCE
    from nets.train import TrainConfig, evaluate, fit

    (x, y), (xt, yt) = _data()
    acc = {}
    for device in ("cpu", "cuda"):
        cfg = TrainConfig(**{**REFERENCE, "epochs": 3, "batch_size": 64, "lr": 0.05},
                          precision="fp32", device=device, seed=0)
        torch.manual_seed(0)
        model = build_cnn("reference")
        h = fit(model, x, y, cfg, progress=False)
        assert h.plan["device"] == device
        assert next(model.parameters()).device.type == "cpu"  # handed back on the CPU
        acc[device] = evaluate(model, xt, yt)["accuracy"]
    assert acc["cpu"] > 0.6
    assert abs(acc["cpu"] - acc["cuda"]) < 0.03, acc


def test_auto_precision_on_cuda_is_measured_with_bf16_among_the_candidates():
    from nets import hardware as H
    from nets import steps as S
    from nets import train as T
    from nets.models import build_cnn
    from nets.studies.fashion import REFERENCE

    (x, y), _ = _data()
    S._PLANS.clear()
    with H.session("auto", "auto"):
        cfg = T.TrainConfig(**{**REFERENCE, "epochs": 2, "batch_size": 64}, seed=0)
        h = T.fit(build_cnn("reference"), x, y, cfg, progress=False)
    assert h.plan["device"] == "cuda" and h.plan["how"] == "measured"
    assert {"fp32", "bf16"} <= {name.split("+")[0] for name in h.plan["timings"]}
    S._PLANS.clear()


def test_search_on_cuda_runs_its_fits_in_one_process(tmp_path):
    from nets import hardware as H
    from nets.search import default_jobs

    _data()
    with H.session("cuda"):
        assert default_jobs() == 1  # processes would fight over one card
    from cli import cli

    res = CliRunner().invoke(cli, ["run", "search", "--quick", "--device", "cuda",
                                   "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["hardware"]["device"] == "cuda"
