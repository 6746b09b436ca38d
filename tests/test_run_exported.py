"""The evaluation loop the grader runs in the sandbox (nets/run_exported.py): channels-last is a
speed choice only, so every exported program gives the outputs it gives as it came, whether it
takes images or not and whether its graph survives the layout or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nets.run_exported import outputs


class _ViewsConvOutput(nn.Module):
    """Flattens a convolution's output with .view: fine on contiguous memory, an error on
    channels-last (the layout must fall back to the model as it came)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        return self.fc(self.conv(x).view(x.shape[0], -1))


class _StridesMatter(nn.Module):
    """Reads a convolution's output through its raw memory order (as_strided over the storage
    as if contiguous): no error on channels-last, but other numbers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x):
        h = self.conv(x)
        return torch.as_strided(h, (h.shape[0], 12), (h.shape[1] * 28 * 28, 1))


class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


class _MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


def _exported(model: nn.Module, example: torch.Tensor, tmp_path) -> nn.Module:
    """`model` through torch.export's save and load, the way the grader receives it."""
    ep = torch.export.export(model.eval(), (example,),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, tmp_path / "m.pt2")
    return torch.export.load(str(tmp_path / "m.pt2")).module()


@pytest.mark.parametrize("make", [_CNN, _ViewsConvOutput, _StridesMatter])
def test_image_models_give_the_outputs_they_give_as_they_came(make, tmp_path):
    torch.manual_seed(0)
    model = make()
    images = (np.random.default_rng(0).random((70, 1, 28, 28)) * 255).astype(np.uint8)
    x = torch.from_numpy(images).float() / 255.0
    with torch.no_grad():
        expected = model.eval()(x).reshape(len(x), -1).numpy()
    got = outputs(_exported(model, x[:2], tmp_path), images, 32)  # 3 batches, a short last one
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_faster_layout_is_kept_where_it_changes_nothing(tmp_path):
    torch.manual_seed(0)
    images = (np.random.default_rng(1).random((40, 1, 28, 28)) * 255).astype(np.uint8)
    module = _exported(_CNN(), torch.zeros(2, 1, 28, 28), tmp_path)
    outputs(module, images, 16)
    conv = [p for p in module.parameters() if p.dim() == 4]
    assert conv and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv)
    viewing = _exported(_ViewsConvOutput(), torch.zeros(2, 1, 28, 28), tmp_path)
    outputs(viewing, images, 16)
    assert all(p.is_contiguous() for p in viewing.parameters())  # put back as it came


def test_models_of_values_are_untouched(tmp_path):
    torch.manual_seed(0)
    model = _MLP()
    x = torch.linspace(-3, 3, 50).reshape(-1, 1)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = outputs(_exported(model, x[:2], tmp_path), x.numpy(), 16)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


_FAULTS = """
import resource, sys
import numpy as np, torch
sys.path.insert(0, {nets!r})
import run_exported
if {reuse}:
    run_exported.reuse_memory()
torch.set_num_threads(1)
torch.manual_seed(0)
conv = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
                           torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.Flatten(),
                           torch.nn.Linear(32 * 28 * 28, 10)).eval()
x = (np.random.default_rng(0).random((2304, 1, 28, 28)) * 255).astype(np.uint8)
run_exported.outputs(conv, x, 256)  # the heap grown to what a run needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
y = run_exported.outputs(conv, x, 256)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
np.save(sys.argv[1], y)
"""


def test_batches_reuse_the_memory_the_previous_one_freed_with_the_same_outputs(tmp_path):
    """Each batch's activations (25 MB here) used to go back to the kernel and be faulted in
    again, zeroed, by the next batch: a fifth of a model's sandbox time in system time. Page
    faults counted, not seconds."""
    import subprocess
    import sys
    from pathlib import Path

    import nets.run_exported as runner

    faults = {}
    for reuse in (False, True):
        code = _FAULTS.format(nets=str(Path(runner.__file__).parent), reuse=reuse)
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{reuse}.npy")],
                             capture_output=True, text=True, check=True)
        faults[reuse] = int(out.stdout.split()[-1])
    # Without: every one of the 9 batches faults its activations in again. With: at most
    # what the heap still had to grow by (one activation, under a loaded machine's suite).
    assert faults[False] > 30_000 and faults[True] < faults[False] / 4, faults
    np.testing.assert_array_equal(np.load(tmp_path / "True.npy"), np.load(tmp_path / "False.npy"))
