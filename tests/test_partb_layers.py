"""Part B building blocks: activations, layers and losses, each proven by the gradient checker
and cross-checked against Part A's SymPy solutions where a question covers it."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from nets import activations as act
from nets.gradcheck import check_layer, check_loss, numeric_gradient, rel_error
from nets.layers import (
    activation_backward,
    activation_forward,
    affine_backward,
    affine_forward,
    softmax_forward,
    softmax_layer_backward,
)
from nets.losses import cross_entropy_loss, log_softmax, mse_loss
from solver.engine import solve
from solver.functions import to_elementary
from solver.spec import find_spec

TOL = 1e-6


def _away_from_kink(x: np.ndarray) -> np.ndarray:
    # ReLU-like derivatives jump at 0; a central difference straddling 0 would be meaningless.
    x[np.abs(x) < 0.01] += 0.05
    return x


@pytest.mark.parametrize("name", sorted(act.ACTIVATIONS))
def test_activation_layer_gradient(name: str) -> None:
    x = _away_from_kink(np.random.default_rng(1).normal(scale=2.0, size=(7, 5)))
    errors = check_layer(activation_forward, activation_backward, {"x": x, "name": name})
    assert errors["x"] < TOL


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 4, 3), (8, 64, 10)])
def test_affine_gradient(shape: tuple[int, int, int]) -> None:
    n, d, m = shape
    rng = np.random.default_rng(2)
    inputs = {"x": rng.normal(size=(n, d)), "w": rng.normal(size=(d, m)), "b": rng.normal(size=m)}
    errors = check_layer(affine_forward, affine_backward, inputs)
    assert set(errors) == {"x", "w", "b"}
    assert max(errors.values()) < TOL


def test_affine_forward_values() -> None:
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    out, _ = affine_forward(x, w, np.array([0.0, 1.0, -1.0]))
    np.testing.assert_allclose(out, [[2.0, 5.0, 0.0]])


def test_softmax_layer_gradient() -> None:
    x = np.random.default_rng(3).normal(scale=3.0, size=(6, 4))
    assert check_layer(softmax_forward, softmax_layer_backward, {"x": x})["x"] < TOL


def test_mse_gradient_and_value() -> None:
    rng = np.random.default_rng(4)
    pred, target = rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    assert check_loss(mse_loss, pred, target) < TOL
    loss, _ = mse_loss(pred, target)
    assert loss == pytest.approx(np.mean((pred - target) ** 2), rel=1e-14)
    # one sample: L = (y - a)^2, Part A's convention
    assert mse_loss(np.array([0.25]), np.array([1.0]))[0] == pytest.approx(0.5625)


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_cross_entropy_gradient(scale: float) -> None:
    rng = np.random.default_rng(5)
    logits, y = scale * rng.normal(size=(7, 5)), rng.integers(0, 5, size=7)
    assert check_loss(cross_entropy_loss, logits, y) < TOL


def test_cross_entropy_value_and_stability() -> None:
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    y = np.array([0, 2])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probs[[0, 1], y]))
    assert cross_entropy_loss(logits, y)[0] == pytest.approx(expected, rel=1e-12)
    # Logits in the thousands overflow a naive exp; the log-softmax form stays exact.
    loss, grad = cross_entropy_loss(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert loss == pytest.approx(500.0)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(log_softmax(np.array([[1000.0, 1000.0]])), [[-np.log(2)] * 2])


def test_activations_do_not_overflow() -> None:
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        for name, (f, f_grad) in act.ACTIVATIONS.items():
            assert np.all(np.isfinite(f(z))), name
            assert np.all(np.isfinite(f_grad(z))), name
        s = act.softmax(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_array_equal(act.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    np.testing.assert_allclose(s, [[1.0, 0.0, 0.0]])


def test_activation_values() -> None:
    z = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_allclose(act.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(act.relu(z), [0, 0, 0.5, 2.0])
    np.testing.assert_allclose(act.leaky_relu(z), [-0.02, -0.005, 0.5, 2.0])
    np.testing.assert_allclose(act.elu(z, alpha=1.5), [1.5 * np.expm1(-2), 1.5 * np.expm1(-0.5),
                                                        0.5, 2.0])
    np.testing.assert_allclose(act.swish(z), z / (1 + np.exp(-z)))


def _sympy_derivative(question: str, answer: str) -> tuple[sympy.Expr, dict[str, sympy.Symbol]]:
    """The answer's exact expression in elementary functions, and its symbols by name."""
    expr = to_elementary(solve(find_spec(question)).answers[answer].exact)
    return expr, {str(s): s for s in expr.free_symbols}


@pytest.mark.parametrize(("question", "f_grad"), [("q6", act.tanh_grad),
                                                   ("q10", act.swish_grad)])
def test_derivatives_match_part_a(question: str, f_grad) -> None:
    expr, symbols = _sympy_derivative(question, "derivative")
    assert set(symbols) == {"z"}
    z = symbols["z"]
    points = np.array([-3.0, -0.7, 0.2, 1.9])
    reference = sympy.lambdify(z, expr, "numpy")(points)
    np.testing.assert_allclose(f_grad(points), reference, rtol=1e-12)


def test_leaky_relu_and_elu_derivatives_match_part_a() -> None:
    slope, _ = _sympy_derivative("q7", "derivative_neg")
    assert act.leaky_relu_grad(np.array([-1.0]))[0] == pytest.approx(float(slope))
    expr, symbols = _sympy_derivative("q9", "derivative_neg")
    assert set(symbols) == {"z", "alpha"}
    reference = float(expr.subs({symbols["z"]: -0.8, symbols["alpha"]: 1.3}))
    assert act.elu_grad(np.array([-0.8]), alpha=1.3)[0] == pytest.approx(reference, rel=1e-12)


def test_softmax_matches_q8() -> None:
    answers = solve(find_spec("q8")).answers
    z = np.array([2.0, 1.5])
    np.testing.assert_allclose(act.softmax(z), [answers["p1"].value, answers["p2"].value],
                               rtol=1e-12)
    jac = act.softmax_jacobian(z)
    np.testing.assert_allclose(jac, [[answers["dp1_dz1"].value, answers["dp1_dz2"].value],
                                     [answers["dp2_dz1"].value, answers["dp2_dz2"].value]],
                               rtol=1e-12)
    # q8's loss gradient is the cross-entropy's with the first class as the label
    _, grad = cross_entropy_loss(z.reshape(1, 2), np.array([0]))
    np.testing.assert_allclose(grad[0], [answers["dL_dz1"].value, answers["dL_dz2"].value],
                               rtol=1e-12)


def test_softmax_backward_equals_jacobian_product() -> None:
    rng = np.random.default_rng(6)
    z, dout = rng.normal(size=4), rng.normal(size=4)
    np.testing.assert_allclose(act.softmax_backward(dout, act.softmax(z)),
                               act.softmax_jacobian(z).T @ dout, rtol=1e-12)


def test_checker_catches_a_wrong_gradient() -> None:
    """The checker must fail a backward pass that is off, or every test above proves nothing."""

    def bad_backward(dout, cache):
        grads = affine_backward(dout, cache)
        return {**grads, "w": 1.01 * grads["w"]}

    rng = np.random.default_rng(7)
    inputs = {"x": rng.normal(size=(3, 4)), "w": rng.normal(size=(4, 2)), "b": rng.normal(size=2)}
    errors = check_layer(affine_forward, bad_backward, inputs)
    assert errors["w"] > 1e-3
    assert errors["x"] < TOL


def test_numeric_gradient_restores_input() -> None:
    x = np.array([1.0, -2.0, 3.0])
    grad = numeric_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-9)
    assert rel_error(np.zeros(2), np.zeros(2)) == 0.0
