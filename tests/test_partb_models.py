"""Part B models and the `dlhw run partb` command: perceptron, sigmoid neuron, MLP, digits."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from nets.digits import (
    accuracy,
    confusion_matrix,
    load_digits_split,
    per_class_accuracy,
    shift_augment,
)
from nets.gradcheck import numeric_gradient, rel_error
from nets.mlp import MLP, sgd_momentum_step
from nets.neuron import neuron_gradients, neuron_step, train_neuron
from nets.partb import (
    REQUIRED_IDS,
    PartBConfig,
    make_config,
    run_partb,
    xor_net_data,
    xor_net_experiment,
)
from nets.perceptron import LOGIC_GATES, perceptron_predict, perceptron_train
from solver.engine import solve
from solver.spec import find_spec

# ------------------------------------------------------------------ perceptron


@pytest.mark.parametrize("gate", ["and", "or"])
def test_perceptron_converges_on_separable_gates(gate: str) -> None:
    X, y = LOGIC_GATES[gate]
    r = perceptron_train(X, y, max_epochs=100)
    assert r.converged
    assert r.mistakes[-1] == 0 and all(m > 0 for m in r.mistakes[:-1])
    assert r.epochs == len(r.mistakes) < 100
    np.testing.assert_array_equal(perceptron_predict(X, r.w, r.b), y)


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_perceptron_on_xor_stops_at_the_limit_and_says_so(limit: int) -> None:
    X, y = LOGIC_GATES["xor"]
    r = perceptron_train(X, y, max_epochs=limit)
    assert r.converged is False
    assert r.epochs == len(r.mistakes) == limit  # it ran to the limit, whatever the limit
    assert min(r.mistakes) >= 1  # no epoch is ever mistake-free
    assert np.mean(perceptron_predict(X, r.w, r.b) == y) < 1.0


def test_perceptron_on_xor_reports_the_epoch_its_state_first_repeats() -> None:
    """`cycle_epoch` is the first epoch ending in a (w, b) seen at the end of an earlier one:
    replay the epochs one by one and find it independently."""
    X, y = LOGIC_GATES["xor"]
    r = perceptron_train(X, y, max_epochs=100)
    states = []
    for k in range(1, 101):
        s = perceptron_train(X, y, max_epochs=k)
        state = (*s.w.tolist(), s.b)
        if state in states:
            assert r.cycle_epoch == k
            break
        states.append(state)
    else:
        raise AssertionError("no state repeated within 100 epochs")


# ------------------------------------------------------------------ sigmoid neuron


def test_neuron_step_matches_part_a_q2() -> None:
    spec = find_spec("q2")
    answers = solve(spec).answers
    given = {k: float(v) for k, v in spec.given.items()}
    step = neuron_step(given["x"], given["y"], given["w"], given["b"], lr=0.1)
    for name in ("z", "a", "dL_da", "da_dz", "dL_dw", "dL_db"):
        assert float(getattr(step, name)) == pytest.approx(answers[name].value, rel=1e-12), name
    assert float(step.w_new) == pytest.approx(given["w"] - 0.1 * answers["dL_dw"].value)


def test_neuron_batch_gradients_agree_with_the_step() -> None:
    step = neuron_step(np.array([0.7, -1.2]), 1.0, np.array([-0.5, 0.3]), 0.2, lr=0.1)
    loss, dw, db = neuron_gradients(np.array([[0.7, -1.2]]), np.array([1.0]),
                                    np.array([-0.5, 0.3]), 0.2)
    assert loss == pytest.approx(step.loss, rel=1e-14)
    np.testing.assert_allclose(dw, step.dL_dw, rtol=1e-14)
    assert db == pytest.approx(step.dL_db, rel=1e-14)


def test_neuron_gradients_numerically() -> None:
    rng = np.random.default_rng(0)
    X, y, w, b = rng.normal(size=(6, 3)), rng.integers(0, 2, 6).astype(float), \
        rng.normal(size=3), np.array([0.3])
    _, dw, db = neuron_gradients(X, y, w, float(b[0]))
    assert rel_error(dw, numeric_gradient(lambda: neuron_gradients(X, y, w, b[0])[0], w)) < 1e-6
    assert rel_error(db, numeric_gradient(lambda: neuron_gradients(X, y, w, b[0])[0], b)) < 1e-6


def test_train_neuron_learns_and() -> None:
    X, y = LOGIC_GATES["and"]
    w, b, losses = train_neuron(X, y.astype(float), np.zeros(2), 0.0, lr=2.0, epochs=500)
    assert losses[0] == pytest.approx(0.25)  # σ(0) = 1/2 for every sample
    assert all(b_ <= a_ for a_, b_ in zip(losses, losses[1:], strict=False))
    np.testing.assert_array_equal((X @ w + b > 0).astype(int), y)


# ------------------------------------------------------------------ MLP


@pytest.mark.parametrize(("sizes", "hidden", "output", "decay"), [
    ((4, 5, 3), "relu", "softmax", 0.0),
    ((4, 5, 6, 3), "tanh", "softmax", 0.1),
    ((3, 4, 1), "sigmoid", "sigmoid", 0.0),
    ((4, 3), "relu", "softmax", 0.05),
])
def test_mlp_backprop_numerically(sizes, hidden, output, decay) -> None:
    rng = np.random.default_rng(1)
    net = MLP(sizes, rng, hidden=hidden, output=output)
    X = rng.normal(size=(6, sizes[0]))
    y = rng.integers(0, 2 if output == "sigmoid" else sizes[-1], size=6)
    _, grads = net.loss_and_grads(X, y, decay)
    assert set(grads) == set(net.params)
    for name, param in net.params.items():
        num = numeric_gradient(lambda: net.loss_and_grads(X, y, decay)[0], param)
        assert rel_error(grads[name], num) < 1e-6, name


def test_sgd_momentum_step() -> None:
    params = {"w": np.array([1.0, 2.0])}
    velocity: dict[str, np.ndarray] = {}
    sgd_momentum_step(params, {"w": np.array([1.0, -1.0])}, velocity, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(params["w"], [0.9, 2.1])
    sgd_momentum_step(params, {"w": np.array([1.0, -1.0])}, velocity, lr=0.1, momentum=0.9)
    # v = 0.9 * (-0.1, 0.1) - 0.1 * (1, -1) = (-0.19, 0.19)
    np.testing.assert_allclose(params["w"], [0.71, 2.29])


def test_mlp_learns_the_three_input_function() -> None:
    X, y = xor_net_data()
    np.testing.assert_array_equal(y, [1, 1, 1, 0, 1, 0, 1, 1])
    for seed in range(3):
        metrics, _ = xor_net_experiment(PartBConfig(), seed)
        assert metrics["xor_net.accuracy"] == 1.0, seed


# ------------------------------------------------------------------ digits pipeline


def test_digits_split() -> None:
    split = load_digits_split()
    assert split.X_train.shape == (1437, 64) and split.X_test.shape == (360, 64)
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0
    # stratified: every class keeps its share of the data in the test set (±1 image)
    counts_test = np.bincount(split.y_test, minlength=10)
    counts_all = counts_test + np.bincount(split.y_train, minlength=10)
    assert np.all(np.abs(counts_test - 0.2 * counts_all) <= 1)


def test_metrics_against_sklearn() -> None:
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(2)
    y_true, y_pred = rng.integers(0, 10, 300), rng.integers(0, 10, 300)
    cm = confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, sk_confusion(y_true, y_pred, labels=range(10)))
    assert accuracy(y_true, y_pred) == pytest.approx(np.trace(cm) / 300)
    np.testing.assert_allclose(per_class_accuracy(cm), np.diag(cm) / cm.sum(axis=1))


def test_shift_augment() -> None:
    img = np.zeros((1, 8, 8))
    img[0, 3, 4] = 1.0
    X, y = shift_augment(img.reshape(1, 64), np.array([7]))
    assert X.shape == (5, 64)
    np.testing.assert_array_equal(y, [7] * 5)
    where = [tuple(np.argwhere(x.reshape(8, 8))[0]) for x in X]
    assert where == [(3, 4), (4, 4), (2, 4), (3, 5), (3, 3)]
    edge = np.zeros((1, 64))
    edge[0, 7] = 1.0  # top-right pixel: shifting right drops it
    assert shift_augment(edge, np.array([0]))[0][3].sum() == 0.0


def test_make_config_checks_overrides() -> None:
    assert make_config(mlp_epochs=3, mlp_lr=1).mlp_lr == 1.0
    with pytest.raises(ValueError, match="unknown"):
        make_config(mlp_epoch=3)
    with pytest.raises(ValueError, match="must be int"):
        make_config(mlp_epochs="3")


# ------------------------------------------------------------------ `dlhw run partb`


# `partb_run` (tests/conftest.py): the reference run through the CLI, made once per session.


def test_same_seed_same_bytes(partb_run: Path, tmp_path: Path) -> None:
    """A second run, through the library and without figures, writes the same bytes."""
    run_partb(seed=0, out=tmp_path, progress=False, figures=False)
    assert (partb_run / "metrics.json").read_bytes() == (tmp_path / "metrics.json").read_bytes()
    assert (partb_run / "config.json").read_bytes() == (tmp_path / "config.json").read_bytes()


def test_metrics_meet_the_targets(partb_run: Path) -> None:
    text = (partb_run / "metrics.json").read_text()
    metrics = json.loads(text)
    assert set(REQUIRED_IDS) <= set(metrics)
    assert '"perceptron.xor.converged": false' in text  # a JSON boolean, not a string
    assert metrics["perceptron.and.converged"] is True
    assert metrics["perceptron.or.converged"] is True
    assert metrics["xor_net.accuracy"] == 1.0
    assert metrics["neuron.and.accuracy"] == 1.0
    assert metrics["digits.softmax.test_accuracy"] >= 0.95
    assert metrics["digits.mlp.test_accuracy"] >= 0.98
    assert sum(map(sum, metrics["digits.mlp.confusion_matrix"])) == metrics["digits.n_test"]
    config = json.loads((partb_run / "config.json").read_text())
    assert config["seed"] == 0 and config["hyperparameters"]["mlp_hidden"] == 128
    assert {"python", "numpy", "scikit-learn"} <= set(config["versions"])


def test_mlp_beats_sklearn_on_the_same_split(partb_run: Path) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    split = load_digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = MLPClassifier((64,), random_state=0).fit(split.X_train, split.y_train)
    ours = json.loads((partb_run / "metrics.json").read_text())["digits.mlp.test_accuracy"]
    assert ours > sk.score(split.X_test, split.y_test)


def test_figures_are_pngs(partb_run: Path) -> None:
    names = {p.name for p in partb_run.glob("*.png")}
    assert {"perceptron_xor.png", "digits_confusion_mlp.png", "digits_misclassified.png",
            "softmax_weights.png", "digits_loss.png", "neuron_loss.png"} <= names
    for name in names:
        assert (partb_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_seed_is_used(tmp_path: Path) -> None:
    cfg = make_config(softmax_epochs=2, mlp_epochs=1, xor_epochs=10)
    one = run_partb(seed=1, out=tmp_path / "s1", cfg=cfg, progress=False, figures=False)
    two = run_partb(seed=2, out=tmp_path / "s2", cfg=cfg, progress=False, figures=False)
    assert one.metrics["digits.mlp.final_loss"] != two.metrics["digits.mlp.final_loss"]
    assert one.metrics["perceptron.and.epochs"] == two.metrics["perceptron.and.epochs"]


def test_part_b_imports_neither_torch_nor_matplotlib() -> None:
    """Part B is NumPy only, and plotting is imported lazily (so `dlhw solve` stays fast)."""
    import subprocess
    import sys

    code = ("import sys, cli, nets.partb, nets.notebook, nets.plots, nets.runinfo; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
