"""Part C building blocks, without FashionMNIST: data, training knobs, search, export."""

from __future__ import annotations

import json
import math
import pickle
import zipfile

import pytest

torch = pytest.importorskip("torch")

from nets.data import NOISE_STD, regression_data  # noqa: E402
from nets.models import MLP, CNNSpec, build_cnn, layer_table  # noqa: E402
from nets.train import (  # noqa: E402
    TrainConfig,
    augment_batch,
    evaluate,
    fit,
    init_weights,
    make_optimizer,
)


def test_regression_data_is_the_hint_and_seeded():
    a, b, c = regression_data(0), regression_data(0), regression_data(1)
    assert torch.equal(a.y_train, b.y_train) and not torch.equal(a.y_train, c.y_train)
    assert len(a.x_train) == 160 and len(a.x_test) == 40
    x = a.x_all.flatten().sort().values
    assert torch.allclose(x, torch.linspace(-2 * math.pi, 2 * math.pi, 200))
    noise = (a.y_all - torch.sin(a.x_all)).std().item()
    assert 0.7 * NOISE_STD < noise < 1.3 * NOISE_STD


def test_zero_init_keeps_hidden_units_identical():
    from nets.studies.init import distinct_units

    d = regression_data(0)
    cfg = TrainConfig(epochs=30, batch_size=32, optimizer="momentum", lr=0.05,
                      task="regression")
    units = {}
    for scheme in ("zero", "xavier"):
        model = init_weights(MLP((16, 16), "tanh"), scheme, seed=0)
        fit(model, d.x_train, d.y_train, cfg, progress=False)
        units[scheme] = distinct_units(model.net[0])
    assert units == {"zero": 1, "xavier": 16}


def test_early_stopping_restores_the_best_weights():
    d = regression_data(0)
    torch.manual_seed(0)
    model = MLP((64, 64), "relu")
    cfg = TrainConfig(epochs=400, batch_size=160, optimizer="adam", lr=0.03, early_stopping=5,
                      task="regression")
    h = fit(model, d.x_train, d.y_train, cfg, d.x_test, d.y_test, progress=False)
    assert h.stopped_epoch < 399  # it did stop early
    final = evaluate(model, d.x_test, d.y_test, "regression")["loss"]
    assert final == pytest.approx(min(h.val_loss), rel=1e-6)
    assert h.best_epoch == h.val_loss.index(min(h.val_loss))


def test_l1_shrinks_weights_and_l2_shrinks_norm():
    from nets.train import weight_tensors

    d = regression_data(0)

    def trained(**over):
        torch.manual_seed(0)
        model = MLP((32, 32), "tanh")
        fit(model, d.x_train, d.y_train, TrainConfig(epochs=200, batch_size=160, lr=1e-2,
                                                     task="regression", **over), progress=False)
        w = torch.cat([t.detach().flatten() for t in weight_tensors(model)])
        return w.abs().sum().item(), w.norm().item()

    none, l1, l2 = trained(), trained(l1=1e-3), trained(weight_decay=1e-1)
    assert l1[0] < 0.7 * none[0]
    assert l2[1] < 0.8 * none[1]


def test_evaluate_uses_eval_mode_and_restores_it():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    model.train()
    a, b = evaluate(model, x, y), evaluate(model, x, y)
    assert a == b  # dropout off: deterministic
    assert model.training


def test_augment_is_a_per_sample_shift_or_flip():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 1, 28, 28) * 2 - 1
    img[..., :3, :] = -1  # background rows, like FashionMNIST's
    out = augment_batch(img.repeat(32, 1, 1, 1), g)
    assert out.shape == (32, 1, 28, 28)
    pad = torch.nn.functional.pad(img, (2, 2, 2, 2), value=float(img.min()))
    candidates = [pad[..., dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)]
    candidates += [c.flip(3) for c in candidates]
    for o in out:
        assert any(torch.equal(o, c[0]) for c in candidates)
    assert len({o.numpy().tobytes() for o in out}) > 4  # not one shift for the whole batch


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad", [torch.zeros(1, requires_grad=True)], 0.1)


def test_layer_table_shapes():
    rows = {r["layer"]: r for r in layer_table(build_cnn("reference"))}
    assert rows["features.0.0"]["output"] == [32, 28, 28]
    assert rows["features.0.0"]["kernel_size"] == [3, 3]
    assert rows["features.1.6"]["output"] == [64, 7, 7]
    assert rows["classifier.2"]["output"] == [10]
    deep = layer_table(build_cnn(CNNSpec(widths=(8, 16), convs=(2, 2))))
    assert sum(r["type"] == "Conv2d" for r in deep) == 4


def test_search_reports_mean_and_std_per_configuration():
    from nets.search import search

    d = regression_data(0)
    space = {"hidden": [8, 16], "activation": ["tanh"], "lr": [1e-2], "weight_decay": [0.0]}
    res = search("grid", "regression", d.x_train, d.y_train, space, k=3, epochs=60, n_jobs=2,
                 progress=False)
    assert res.n_fits == 6 and len(res.rows) == 2
    for r in res.rows:
        assert len(r["scores"]) == 3
        assert r["mean"] == pytest.approx(sum(r["scores"]) / 3)
        assert r["std"] > 0
    assert res.best["mean"] == min(r["mean"] for r in res.rows)
    rnd = search("random", "regression", d.x_train, d.y_train,
                 {"hidden": [8, 16], "activation": ["tanh", "relu"], "lr": [1e-2, 3e-3],
                  "weight_decay": [0.0]}, k=3, n_iter=3, epochs=30, n_jobs=1, progress=False)
    assert len(rnd.rows) == 3 and rnd.n_fits == 9 and rnd.wall_seconds > 0
    assert len({json.dumps(r["params"], sort_keys=True) for r in rnd.rows}) == 3


def test_export_round_trip_and_weights_only(tmp_path):
    from nets.export import UnsafeModel, export_model, inspect_pt2
    from nets.models import Normalized

    torch.manual_seed(0)
    model = build_cnn(CNNSpec(widths=(8, 16), convs=(1, 1), dropout=0.5)).eval()
    path = export_model(model, tmp_path / "m.pt2")
    program = torch.export.load(str(path)).module()
    for n in (1, 7):  # dynamic batch dimension
        x = torch.rand(n, 1, 28, 28)
        with torch.no_grad():
            assert torch.allclose(program(x), Normalized(model)(x), atol=1e-5)
    # Flip TTA inside the program: a mirrored image gets the same logits.
    tta = torch.export.load(str(export_model(model, tmp_path / "t.pt2", tta=True))).module()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(tta(x), tta(x.flip(3)), atol=1e-5)
        assert torch.allclose(tta(x), Normalized(model, tta=True)(x), atol=1e-5)
    # A code-running pickle planted in the archive must be refused.
    bad = tmp_path / "bad.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("m/data/extra.pkl", pickle.dumps(print, protocol=2))
    inspect_pt2(path)
    with pytest.raises(UnsafeModel, match="weights_only"):
        inspect_pt2(bad)


def test_saliency_is_zero_where_the_score_ignores_the_input():
    from nets.studies.viz import activation_maximization, saliency

    torch.manual_seed(0)
    lin = torch.nn.Linear(28 * 14, 10)
    class LeftHalf(torch.nn.Module):
        def forward(self, x):  # class scores read only the left half of the image
            return lin(x[..., :14].flatten(1))

    model = LeftHalf()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 5, 9])
    sal = saliency(model, x, y)
    assert sal.shape == (4, 28, 28)
    assert sal[..., 14:].abs().max() == 0 and sal[..., :14].abs().max() > 0
    imgs, before, after = activation_maximization(model, lambda z: model(z)[:, 2], 3, steps=30)
    assert (after > before).all() and imgs.abs().max() <= 1


def test_random_erasing_greys_one_rectangle_per_chosen_sample():
    from nets.train import erase_batch

    x = torch.ones(400, 1, 28, 28)
    out = erase_batch(x, torch.Generator().manual_seed(0), p=0.5)
    again = erase_batch(x, torch.Generator().manual_seed(0), p=0.5)
    assert torch.equal(out, again)  # seeded
    erased = (out == 0).flatten(1)
    hit = erased.any(1)
    assert 0.4 < hit.float().mean() < 0.6  # about p of the samples
    for img in out[hit][:20, 0]:  # one axis-aligned rectangle: rows x columns of zeros
        rows, cols = (img == 0).any(1), (img == 0).any(0)
        assert (img == 0).sum() == rows.sum() * cols.sum()
    assert erased.float().mean(1).max() <= 0.2 * 1.3  # at most ~20% of the image
    assert torch.equal(erase_batch(x, torch.Generator(), p=0.0), x)
