"""Models measured in the sandbox and scored by the grader: a forged mark, a zip bomb, a
memorising model, the regression model. Real archives, real bubblewrap, real FashionMNIST."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.pt2 import UnsafeModel
from grader import sandbox
from grader.context import RunContext
from grader.grade import grade_submission
from grader.kinds import Limits
from grader.kinds.model import measure as measure_in
from grader.kinds.tasks import DATASETS
from grader.memorisation import draw_split, jitter_images
from grader.model_check import run_model
from grader.rubric import load_rubric
from nets.fashion_files import DEBIAN_DIR
from tests.conftest import require
from tests.test_model_pt2 import _member, _rebuild, export_small

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REGRESSION = ROOT / "examples" / "submission" / "models" / "regression.pt2"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    return export_small(tmp_path_factory.mktemp("real") / "fashion.pt2")


@pytest.fixture(scope="module")
def items():
    return {i.id: i for i in load_rubric().items}


def measure(item, path):
    """The model measured alone on its item's task, with a fixed seed."""
    return measure_in(item, path, RunContext.build(parts="C", seed=12345, template=None))


def _needs_sandbox():
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))


def _needs_fashion():
    require((DEBIAN_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
            "FashionMNIST test set not installed (apt-get install dataset-fashion-mnist)")


def _submission(tmp_path: Path, models: dict[str, Path], metrics: str = "") -> Path:
    sub = tmp_path / "sub"
    (sub / "models").mkdir(parents=True)
    for name, src in models.items():
        (sub / "models" / f"{name}.pt2").write_bytes(src.read_bytes())
    if metrics:
        (sub / "metrics.yaml").write_text(metrics)
    return sub


# ---------------------------------------------------------------- the forged mark


class _Forger:
    """The issue's payload: print the mark the old grader read from stdout, and exit."""

    def __reduce__(self):
        return (exec, ("import os; print('{\"accuracy\": 0.99, \"n\": 10000}', flush=True); "
                       "os._exit(0)",))


def test_forged_accuracy_payload_gets_nothing(tmp_path, exported):
    import io

    buf = io.BytesIO()
    torch.save({"x": _Forger()}, buf)
    _rebuild(exported, tmp_path / "forger.pt2", {"data/sample_inputs/model.pt": buf.getvalue()})
    # Control: torch.export.load itself runs it and prints the forged mark.
    probe = subprocess.run([sys.executable, "-c", "import torch, sys; "
                            "torch.export.load(sys.argv[1])", str(tmp_path / "forger.pt2")],
                           capture_output=True, text=True, timeout=120)
    assert '{"accuracy": 0.99' in probe.stdout
    sub = _submission(tmp_path, {"fashion": tmp_path / "forger.pt2"},
                      "fashion.test_accuracy: 0.99\n")
    result = grade_submission(sub, RunContext.build(parts="C"))
    fashion = next(i for i in result.items if i.id == "fashion")
    assert fashion.status == "invalid" and not fashion.score
    assert "exec (only tensor-rebuilding globals" in fashion.feedback


def test_untrained_model_is_measured_whatever_it_claims(tmp_path, exported):
    _needs_sandbox()
    _needs_fashion()
    sub = _submission(tmp_path, {"fashion": exported}, "fashion.test_accuracy: 0.99\n")
    fashion = next(i for i in grade_submission(sub, RunContext.build(parts="C")).items
                   if i.id == "fashion")
    assert fashion.status == "wrong" and fashion.score == 0, fashion.feedback
    assert fashion.detail["measured"] < 0.5 and fashion.detail["flagged"]


# ---------------------------------------------------------------- resources


_RSS = """
import json, resource, sys
from pathlib import Path
from grader.context import RunContext
from grader.grade import grade_submission
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fashion = next(i for i in grade_submission(Path(sys.argv[1]), RunContext.build(parts="C")).items
               if i.id == "fashion")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"status": fashion.status, "feedback": fashion.feedback,
                  "grew_mb": (after - before) / 1024}))
"""


def _bomb(src: Path, dst: Path, declared: int | None) -> Path:
    """weight_0 replaced by 1 GiB of zeros, deflated (about 1 MB); `declared`: the size the
    central directory claims (None: the true size)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data/weights/weight_0"):
                zout.writestr(info.filename, zin.read(info))
                continue
            name = info.filename
            zi = zipfile.ZipInfo(name)
            zi.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(zi, "w") as f:
                chunk = b"\0" * (1 << 20)
                for _ in range(1024):
                    f.write(chunk)
    if declared is not None:  # lie in the member's central directory entry
        data = bytearray(dst.read_bytes())
        at = data.find(b"PK\x01\x02")
        while struct.unpack_from("<H", data, at + 28)[0] != len(name) or \
                data[at + 46:at + 46 + len(name)] != name.encode():
            at = data.find(b"PK\x01\x02", at + 1)
        struct.pack_into("<I", data, at + 24, declared)
        dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("declared", [None, 200 * 1024 * 1024])
def test_zip_bomb_refused_without_the_grader_growing(tmp_path, exported, declared):
    bomb = tmp_path / "bomb.pt2"
    _bomb(exported, bomb, declared)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    sub = _submission(tmp_path, {"fashion": bomb})
    out = subprocess.run([sys.executable, "-c", _RSS, str(sub)], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                                "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "invalid", got
    assert "\n" not in got["feedback"]
    assert ("expands" if declared else "declares 1073741824 bytes") in got["feedback"], got
    assert got["grew_mb"] < 64, got  # 1 GiB never reached memory


# ---------------------------------------------------------------- memorisation


class Lookup(nn.Module):
    """The issue's attack: an exact-match table of public test images (a one-hot matmul: an
    image within a hair of a stored one gets its label, any other image class 0). Pure torch
    ops, exported for real."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        super().__init__()
        keys = images.flatten(1)
        self.register_buffer("keys", keys)
        self.register_buffer("norms", (keys * keys).sum(1))
        self.register_buffer("answers", nn.functional.one_hot(labels, 10).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.flatten(1)
        d = self.norms - 2 * q @ self.keys.T + (q * q).sum(1, keepdim=True)
        return torch.relu(1 - d / 0.5) @ self.answers  # 1 on a match, else 0


def export_lookup(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    model = Lookup(torch.from_numpy(x.copy()).float() / 255, torch.from_numpy(y.copy())).eval()
    batch = torch.export.Dim("batch", min=1, max=65536)
    ep = torch.export.export(model, (torch.rand(2, 1, 28, 28),), dynamic_shapes=({0: batch},))
    torch.export.save(ep, str(path))
    return path


def fashion_subset(folder: Path, n: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """The first `n` real test images as IDX files: the grader told to use only those."""
    x, y = DATASETS["fashion-mnist"](DEBIAN_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03" + struct.pack(">III", n, 28, 28) + x[:n].tobytes())
    (folder / "t10k-labels-idx1-ubyte").write_bytes(
        b"\x00\x00\x08\x01" + struct.pack(">I", n) + y[:n].astype(np.uint8).tobytes())
    return folder, x[:n], y[:n]


def train_reference_cnn(path: Path, n: int = 10_000, epochs: int = 2) -> Path:
    """The reference CNN and recipe (shift and flip augmentation), on a subset: seconds."""
    from nets import data as D
    from nets.export import export_model
    from nets.models import build_cnn
    from nets.studies.fashion import REFERENCE
    from nets.train import TrainConfig, fit

    fd = D.load_fashion(None)
    x, y = D.subset(fd.x_train, fd.y_train, n, 0)
    torch.manual_seed(0)
    model = build_cnn("reference")
    fit(model, x, y, TrainConfig(**{**REFERENCE, "epochs": epochs}, seed=0), progress=False)
    return export_model(model, path)


def test_jitter_is_seeded_sub_pixel_and_leaves_no_exact_copy():
    _needs_fashion()
    x = DATASETS["fashion-mnist"](DEBIAN_DIR)[0][:200]
    a = jitter_images(x, np.random.default_rng(3), (0.5, 1.0), 5)
    assert np.array_equal(a, jitter_images(x, np.random.default_rng(3), (0.5, 1.0), 5))
    assert np.array_equal(jitter_images(x, np.random.default_rng(3), (0, 0), 0), x)
    # No exact copy, nor an integer shift of one (the old lookup matched all nine).
    for i in range(len(x)):
        assert not any(np.array_equal(a[i], np.roll(x[i], (dy, dx), (-2, -1)))
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    # Still the same garment: far closer to its original than to another image.
    def flat(v):
        return v.reshape(len(v), -1).astype(float)

    own = np.linalg.norm(flat(a) - flat(x), axis=1)
    other = np.linalg.norm(flat(a) - flat(np.roll(x, 1, 0)), axis=1)
    assert np.median(own) < 0.5 * np.median(other)


def test_split_shows_each_image_once_in_a_secret_order():
    s = draw_split(1000, 0.3, np.random.default_rng(7))
    assert sorted(s.index.tolist()) == list(range(1000)) and s.perturbed.sum() == 300
    assert not np.array_equal(s.index, draw_split(1000, 0.3, np.random.default_rng(8)).index)
    assert draw_split(10, 1.0, np.random.default_rng(7)).perturbed.sum() == 9  # one exact


def test_lookup_table_falls_on_the_perturbed_images_and_the_reference_does_not(
        tmp_path, items, monkeypatch):
    """An exact table of the public test images scores 100% on those shown exact and ~10% on
    the shifted and rotated others: review, marked from the latter (0 marks). The reference
    CNN recipe is not flagged. On the first 1,000 test images (the table's 3 MB)."""
    _needs_sandbox()
    _needs_fashion()
    monkeypatch.setenv("DLHW_PERTURB_SEED", "12345")
    data, x, y = fashion_subset(tmp_path / "data", 1000)
    ctx = RunContext.build(parts="C", data_dir=data)
    ref = measure_in(items["fashion"], train_reference_cnn(tmp_path / "ref.pt2"), ctx)
    assert ref.ok, ref.error
    # Two epochs on 10k images: well above chance (0.1), short of the full run's 0.93.
    assert ref.value > 0.75 and not ref.review, ref
    assert ref.value == ref.detail["accuracy_shown"]
    sub = _submission(tmp_path, {"fashion": export_lookup(tmp_path / "table.pt2", x, y)},
                      "fashion.test_accuracy: 1.0\n")
    fashion = next(i for i in grade_submission(sub, ctx).items if i.id == "fashion")
    d = fashion.detail
    assert d["clean_accuracy"] == 1.0 and d["perturbed_accuracy"] < 0.2, fashion.feedback
    assert fashion.status == "review" and fashion.score == 0, (fashion.status, fashion.feedback)
    assert "looked up" in fashion.feedback and "1.0000 on 800 exact" in fashion.feedback
    assert "12345" not in fashion.feedback + json.dumps(fashion.detail, default=str)


# ---------------------------------------------------------------- regression


class _Const(nn.Module):
    def __init__(self, width: int = 1):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, width))

    def forward(self, x):
        return x * self.w


def _export_mlp(model: nn.Module, path: Path) -> Path:
    from nets.export import export_regression

    return export_regression(model, path)


def test_reference_regression_model_earns_full_marks(tmp_path, items):
    _needs_sandbox()
    m = measure(items["regression"], EXAMPLE_REGRESSION)
    assert m.ok, m.error
    assert m.value < items["regression"].full.value and m.n == items["regression"].config.points
    sub = _submission(tmp_path, {"regression": EXAMPLE_REGRESSION},
                      "regression.clean_mse: 0.5\n")
    reg = next(i for i in grade_submission(sub, RunContext.build(parts="C")).items
               if i.id == "regression")
    assert reg.status == "correct" and reg.score == 8, reg.feedback
    assert reg.detail["flagged"]  # the claim is compared, never used


def test_regression_measured_against_sin_on_the_graders_grid(tmp_path, items):
    _needs_sandbox()
    zero = measure(items["regression"], _export_mlp(_Const(), tmp_path / "zero.pt2"))
    assert zero.ok and abs(zero.value - 0.5) < 0.01  # mean of sin² over whole periods
    wide = measure(items["regression"], _export_mlp(_Const(2), tmp_path / "wide.pt2"))
    assert not wide.ok and "expected (N, 1)" in wide.error


class _Sin(nn.Module):
    """The issue's row: torch.sin, no parameters, no training (MSE 2e-16)."""

    def forward(self, x):
        return torch.sin(x)


class _Ignores(nn.Module):
    """torch.sin beside 64 parameters the output ignores."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(64))

    def forward(self, x):
        return torch.sin(x) + 0 * self.w.sum()


@pytest.mark.parametrize("model, evidence", [
    (_Sin, "0 learned parameters in the archive"),
    (_Ignores, "output unchanged when its 64 parameters are perturbed")])
def test_a_closed_form_earns_nothing_and_goes_to_review(tmp_path, model, evidence):
    _needs_sandbox()
    sub = _submission(tmp_path, {"regression": _export_mlp(model(), tmp_path / "r.pt2")},
                      "regression.clean_mse: 0.0\n")
    reg = next(i for i in grade_submission(sub, RunContext.build(parts="C")).items
               if i.id == "regression")
    assert reg.score == 0 and reg.status == "review", (reg.status, reg.feedback)
    assert evidence in reg.feedback and "earns nothing" in reg.feedback, reg.feedback
    assert reg.detail["measured"] < 1e-10  # the fit itself is perfect: that is not the point


class _Slow(nn.Module):
    """About 200 GFLOP per batch of 256 images: minutes of work for 10,000 of them."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2048, 2048) / 45)

    def forward(self, x):
        h = x.flatten(1)[:, :1] * torch.ones(1, 2048)
        for _ in range(100):
            h = torch.tanh(h @ self.w)
        return h[:, :10]


def test_model_past_its_time_limit_is_stopped(tmp_path, items, monkeypatch):
    _needs_sandbox()
    slow_cnn = tmp_path / "slow.pt2"
    torch.export.save(torch.export.export(_Slow().eval(), (torch.zeros(2, 1, 28, 28),),
                                          dynamic_shapes=({0: torch.export.Dim("n")},)),
                      slow_cnn)
    # Ample time for the runner to start (torch imported: it says it is ready), far too little
    # for the model's work: the model, not the start, runs past the limit.
    ran = run_model(slow_cnn, np.zeros((10_000, 1, 28, 28), np.uint8), time_limit_s=20,
                    memory_limit_mb=4096)
    assert ran.status in ("timeout", "killed") and not ran.ok, ran
    # Cold, torch's import counts against the limit: 1 s is too little. Warm (grader.warm), a
    # run's clocks start at its fork, after the import: the same model is measured.
    item = replace(items["regression"], limits=Limits(1, 4096))
    assert measure(item, EXAMPLE_REGRESSION).ok
    monkeypatch.setenv("DLHW_WARM", "0")
    slow = measure(item, EXAMPLE_REGRESSION)
    assert not slow.ok and ("wall-clock" in slow.error or "CPU" in slow.error), slow


def test_refused_before_the_sandbox(tmp_path, exported):
    bad = _rebuild(exported, tmp_path / "x.pt2", {"archive_format": b"pt3"})
    with pytest.raises(UnsafeModel, match="archive_format"):
        run_model(bad, np.zeros((1, 1, 28, 28), np.uint8), time_limit_s=5, memory_limit_mb=512)
    assert _member(exported, "archive_format") == b"pt2"


def test_regression_study_exports_the_model_the_grader_measures(tmp_path, items):
    """`dlhw run regression` (and partc) writes runs/regression/model.pt2 in the contract."""
    _needs_sandbox()
    from nets.studies import regression

    regression.run(tmp_path / "reg", epochs=30, quick=True, progress=False)
    path = tmp_path / "reg" / "model.pt2"
    m = measure(items["regression"], path)
    assert m.ok and m.n == items["regression"].config.points and 0 <= m.value < 1, m
