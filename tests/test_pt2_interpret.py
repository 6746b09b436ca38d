"""A validated .pt2 program run node by node (nets/pt2_interpret.py) gives the same bits as the
module `torch.export.load` builds, for every kind of plain model a student exports, in both
layouts; what it does not read it refuses (Unsupported), so the sandbox's runner hands those to
torch.export. Real torch.export archives, validated and rewritten by core.pt2 as the grader
does, and the real sandbox for the runner."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from core.pt2 import validate
from grader import sandbox
from grader.model_check import run_model
from nets import pt2_interpret
from tests.conftest import require
from tests.test_run_exported import _CNN, _MLP, _StridesMatter, _ViewsConvOutput


class _Assorted(nn.Module):
    """Arguments of every kind a plain model records: strings, keyword numbers, dtypes, a
    non-persistent buffer, a lifted constant, tied weights, an operator with several outputs
    (chunk), symbolic sizes (reshape by the batch), bf16 weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 5, stride=2)
        self.norm = nn.LayerNorm(6 * 12 * 12)
        self.fc = nn.Linear(6 * 12 * 12, 10)
        self.low = nn.Linear(5, 5).to(torch.bfloat16)
        self.tied = nn.Linear(10, 10, bias=False)
        self.back = nn.Linear(10, 10, bias=False)
        self.back.weight = self.tied.weight
        self.register_buffer("shift", torch.linspace(-1, 1, 10), persistent=False)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = nn.functional.gelu(self.conv(x), approximate="tanh").reshape(x.shape[0], -1)
        h = self.drop(self.norm(h))
        z = self.fc(h).clamp(min=-5.0, max=float("inf"))
        a, b = torch.chunk(z, 2, dim=1)
        b = self.low(b.to(torch.bfloat16)).to(torch.float32)
        z = torch.cat([a * torch.tensor(0.5), b], dim=1) + self.shift
        return torch.log_softmax(self.back(torch.tanh(self.tied(z))), dim=-1)


class _Recurrent(nn.Module):
    """Rows as a sequence through a GRU and self-attention: the GRU kernel's path depends on
    its weights' requires_grad even under no_grad (outputs 1e-7 apart at batches of 2 and 3),
    so the direct run must hold them as torch's loader does."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(28, 16, batch_first=True)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h, _ = self.gru(x.squeeze(1))
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.fc(a.mean(1))


class _TwoOut(nn.Module):
    def forward(self, x):
        return x.sum(1), x.mean(1)


class _TwoIn(nn.Module):
    def forward(self, x, y):
        return x + y


def _archive(model: nn.Module, example: torch.Tensor, tmp_path, dynamic: bool = True,
             decompose: bool = False):
    """`model` exported, saved, and validated and rewritten by the grader's check."""
    with warnings.catch_warnings():  # a GRU's flat weights: torch's note to its own authors
        warnings.filterwarnings("ignore", message="The tensor attributes")
        ep = torch.export.export(model.eval(), (example,), dynamic_shapes=(
            {0: torch.export.Dim("batch")},) if dynamic else None)
    torch.export.save(ep.run_decompositions() if decompose else ep, tmp_path / "raw.pt2")
    validate(tmp_path / "raw.pt2", tmp_path / "m.pt2")
    return str(tmp_path / "m.pt2")


def _images(n: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(n).random((n, 1, 28, 28), np.float32))


@pytest.mark.parametrize("make, x", [
    (_CNN, _images(37)), (_ViewsConvOutput, _images(9)), (_StridesMatter, _images(5)),
    (_Assorted, _images(33)), (_Recurrent, _images(3)), (_Recurrent, _images(2)),
    (_MLP, torch.linspace(-3, 3, 41).reshape(-1, 1))])
def test_the_same_bits_as_torch_export_in_both_layouts(make, x, tmp_path):
    torch.manual_seed(0)
    path = _archive(make(), x[:2], tmp_path)
    direct, built = pt2_interpret.load(path), torch.export.load(path).module()
    with torch.no_grad():
        assert torch.equal(direct(x), built(x))
        if x.dim() == 4 and make is not _ViewsConvOutput:  # the view fails both ways
            direct.to(memory_format=torch.channels_last)
            built.to(memory_format=torch.channels_last)
            xc = x.contiguous(memory_format=torch.channels_last)
            assert torch.equal(direct(xc), built(xc))
    assert len(direct.parameters()) == len(list(built.parameters()))


@pytest.mark.parametrize("tta", [False, True])
def test_the_reference_export_gives_the_same_bits(tta, tmp_path):
    """The reference CNN as `nets.export` writes it: batch norm folded, weights stored
    channels-last (strided), a bounded batch dimension, flip TTA inside the graph or not."""
    from nets.export import export_model
    from nets.models import build_cnn

    torch.manual_seed(0)
    export_model(build_cnn("reference"), tmp_path / "raw.pt2", tta=tta)
    validate(tmp_path / "raw.pt2", tmp_path / "m.pt2")
    path, x = str(tmp_path / "m.pt2"), _images(19).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(pt2_interpret.load(path)(x), torch.export.load(path).module()(x))


@pytest.mark.parametrize("make, x, decompose", [
    (_TwoOut, torch.zeros(2, 3), False), (_CNN, _images(2), True)])
def test_what_it_does_not_read_it_refuses(make, x, decompose, tmp_path):
    path = _archive(make(), x, tmp_path, decompose=decompose)
    with pytest.raises(pt2_interpret.Unsupported):
        pt2_interpret.load(path)


def test_an_input_outside_the_exported_shape_is_left_to_torch(tmp_path):
    path = _archive(_CNN(), _images(4), tmp_path, dynamic=False)  # a batch of 4 only
    program = pt2_interpret.load(path)
    with torch.no_grad():
        program(_images(4))
        for wrong in (_images(5), torch.zeros(4, 1, 28, 27), torch.zeros(4, 28, 28)):
            with pytest.raises(pt2_interpret.Unsupported):
                program(wrong)


def test_parameters_declared_plain_tensors_are_refused(tmp_path):
    """torch's module refuses a parameter whose entry says `is_param: false` (a hand-edited
    archive the validator passes): so does the direct run, which hands it to torch."""
    import json
    import zipfile

    raw = _archive(_MLP(), torch.zeros(2, 1), tmp_path)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(tmp_path / "edit.pt2", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                for entry in config["config"].values():
                    entry["is_param"] = False
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    validate(tmp_path / "edit.pt2", tmp_path / "clean.pt2")
    with pytest.raises(Exception, match="not an instance of torch.nn.Parameter"):
        torch.export.load(str(tmp_path / "clean.pt2")).module()
    with pytest.raises(pt2_interpret.Unsupported):
        pt2_interpret.load(str(tmp_path / "clean.pt2"))


def test_two_inputs_are_refused(tmp_path):
    torch.manual_seed(0)
    ep = torch.export.export(_TwoIn(), (torch.zeros(2, 3), torch.zeros(2, 3)))
    torch.export.save(ep, tmp_path / "raw.pt2")
    validate(tmp_path / "raw.pt2", tmp_path / "m.pt2")
    with pytest.raises(pt2_interpret.Unsupported):
        pt2_interpret.load(str(tmp_path / "m.pt2"))


def test_the_sandboxed_runner_runs_plain_programs_directly_and_hands_the_rest_to_torch(
        tmp_path):
    require(sandbox.unavailable_reason() is None, str(sandbox.unavailable_reason()))
    torch.manual_seed(0)
    model, x = _CNN(), _images(300)
    for sub in ("plain", "aten", "static"):
        (tmp_path / sub).mkdir()
    plain = _archive(model, x[:2], tmp_path / "plain")
    decomposed = _archive(model, x[:2], tmp_path / "aten", decompose=True)
    static = _archive(model, x[:256], tmp_path / "static", dynamic=False)  # 300 = 256 + 44
    images = (x.numpy() * 255).astype(np.uint8)
    with torch.no_grad():
        want = torch.export.load(plain).module()(torch.from_numpy(images).float() / 255)
    for path, loader in ((plain, "graph"), (decomposed, "torch.export")):
        ran = run_model(path, images, time_limit_s=60, memory_limit_mb=4096)
        assert ran.ok and ran.timing["loader"] == loader, ran
        np.testing.assert_allclose(ran.outputs, want.numpy(), rtol=1e-4, atol=1e-5)
    # torch refuses the short last batch of a static export: so does the runner, with torch's
    # message, after the direct run handed it over
    ran = run_model(static, images, time_limit_s=60, memory_limit_mb=4096)
    assert ran.status == "failed" and "equal to 256, but got 44" in ran.reason, ran
