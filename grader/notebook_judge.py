"""The hidden Part B checks' verdicts: the harness's raw outputs against the reference
implementation in nets/, in the grader's process (`grader.notebook_checks` draws the inputs).

Nothing the student's code returns is trusted: every output is shape- and type-checked before it
is compared, and the digits' test labels (the plan's secret) never leave the grader.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from grader.memorisation import Verdict
from grader.memorisation import judge as judge_split
from grader.notebook_checks import CheckResult, ChecksConfig, Plan

_SHOWN = 90  # characters of an input, expected or got value in a message


class Mismatch(Exception):
    """A check's output differs from the reference: the message says where and how."""


def _show(x: Any) -> str:
    if isinstance(x, np.ndarray):
        text = np.array2string(x, precision=5, threshold=12, edgeitems=2,
                               max_line_width=10_000).replace("\n", "")
    else:
        text = repr(x)
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def _array(got: Any, like: np.ndarray, what: str) -> np.ndarray:
    """`got` as a float array of `like`'s shape (a scalar may be any 1-element shape)."""
    try:
        a = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise Mismatch(f"{what}: expected numbers, got {_show(got)}") from None
    want = np.shape(like)
    if a.shape != want:
        if a.size == 1 and np.size(like) == 1:
            return a.reshape(want)
        raise Mismatch(f"{what}: expected shape {want}, got shape {a.shape}")
    return a


class Judge:
    def __init__(self, cfg: ChecksConfig):
        self.cfg = cfg

    def close(self, got: Any, want: Any, what: str, given: str = "",
              inputs: np.ndarray | None = None) -> None:
        """Raise Mismatch unless `got` matches `want`, naming the first value that differs (and
        its input, for an elementwise function of `inputs`)."""
        want = np.asarray(want, dtype=float)
        a = _array(got, want, what)
        ok = np.isclose(a, want, rtol=self.cfg.rtol, atol=self.cfg.atol)
        if ok.all():
            return
        first = tuple(int(i) for i in np.argwhere(~ok)[0])
        at = f"[{', '.join(map(str, first))}]" if first else ""
        elementwise = inputs is not None and np.shape(inputs) == want.shape
        if elementwise:
            given = f" at z = {float(np.asarray(inputs)[first]):.6g}"
        counted = f"{int((~ok).sum())} of {ok.size} values differ; " if ok.size > 1 else ""
        raise Mismatch(f"{what}{given}: {counted}expected{' ' + at if at else ''} "
                       f"{float(want[first]):.6g}, got {float(a[first]):.6g}"
                       + (f" (expected {_show(want)}, got {_show(a)})"
                          if ok.size > 1 and not elementwise else ""))

    # one method per kind: each raises Mismatch, or returns a measured value (or None)

    def activation(self, a: dict, o: dict) -> None:
        from nets import activations as ref

        f, g = getattr(ref, a["fn"]), getattr(ref, a["grad"])
        z = np.asarray(a["z"])
        given = f" at z = {_show(z)}"
        self.close(o["f"], f(z), a["fn"], inputs=z)
        ext = np.asarray(a["extreme"])
        fe = _array(o["f_extreme"], ext, a["fn"])
        if not np.all(np.isfinite(fe)):
            raise Mismatch(f"{a['fn']} overflows at z = {_show(ext)}: got {_show(fe)}")
        self.close(fe, f(ext), a["fn"], inputs=ext)
        grad = _array(o["grad"], z, a["grad"])
        fd = (_array(o["f_plus"], z, a["fn"]) - _array(o["f_minus"], z, a["fn"])) / (2 * a["h"])
        self.close(grad, g(z), a["grad"], inputs=z)
        scale = float(np.linalg.norm(grad) + np.linalg.norm(fd))
        rel = float(np.linalg.norm(grad - fd)) / max(scale, 1e-300)
        if not rel <= self.cfg.max_rel_error:
            raise Mismatch(f"gradient check of {a['grad']}{given}: relative error {rel:.1e} "
                           f"against central differences of {a['fn']} (expected at most "
                           f"{self.cfg.max_rel_error:.0e})")

    def softmax(self, a: dict, o: dict) -> None:
        from nets.activations import softmax, softmax_backward

        z = np.asarray(a["z"])
        got = _array(o["s"], z, "softmax")
        if not np.all(np.isfinite(got)):
            raise Mismatch(f"softmax overflows at z = {_show(z)}: got {_show(got)} (subtract "
                           "the maximum first)")
        self.close(got, softmax(z), "softmax", f" at z = {_show(z)}")
        self.close(o["back"], softmax_backward(np.asarray(a["dout"]), np.asarray(a["s"])),
                   "softmax_backward", f" for dout = {_show(np.asarray(a['dout']))}")

    def affine(self, a: dict, o: dict) -> None:
        from nets.layers import affine_backward, affine_forward

        x, w, b = (np.asarray(a[k]) for k in "xwb")
        out, cache = affine_forward(x, w, b)
        given = f" for x = {_show(x)}"
        self.close(o["out"], out, "affine_forward", given)
        grads = affine_backward(np.asarray(a["dout"]), cache)
        for k in "xwb":
            self.close(o[f"d{k}"], grads[k], f"affine_backward()['{k}']", given)

    def mse(self, a: dict, o: dict) -> None:
        from nets.losses import mse_loss

        pred, target = np.asarray(a["pred"]), np.asarray(a["target"])
        loss, grad = mse_loss(pred, target)
        given = f" for pred = {_show(pred)}"
        self.close(o["loss"], loss, "mse_loss loss", given)
        self.close(o["grad"], grad, "mse_loss gradient", given)

    def cross_entropy(self, a: dict, o: dict) -> None:
        from nets.losses import cross_entropy_loss, log_softmax

        logits, y = np.asarray(a["logits"]), np.asarray(a["y"])
        given = f" for logits = {_show(logits)}"
        self.close(o["log_softmax"], log_softmax(logits), "log_softmax", given)
        loss, grad = cross_entropy_loss(logits, y)
        self.close(o["loss"], loss, "cross_entropy_loss loss", given)
        self.close(o["grad"], grad, "cross_entropy_loss gradient", given)

    def neuron_step(self, a: dict, o: dict) -> None:
        from nets.neuron import neuron_step

        ref = neuron_step(np.asarray(a["x"]), a["y"], np.asarray(a["w"]), a["b"], a["lr"])
        given = f" for x = {_show(np.asarray(a['x']))}, w = {_show(np.asarray(a['w']))}"
        for name in a["fields"]:
            self.close(o.get(name), getattr(ref, name), f"neuron_step().{name}", given)

    def train_neuron(self, a: dict, o: dict) -> None:
        from nets.neuron import train_neuron

        w, b, losses = train_neuron(np.asarray(a["X"]), np.asarray(a["y"]),
                                    np.asarray(a["w"]), a["b"], a["lr"], a["epochs"])
        given = f" on AND, {a['epochs']} epochs"
        self.close(o["losses"], losses, "train_neuron losses", given)
        self.close(o["w"], w, "train_neuron w", given)
        self.close(o["b"], b, "train_neuron b", given)

    def sgd_step(self, a: dict, o: dict) -> None:
        from nets.mlp import sgd_momentum_step

        params = {k: np.asarray(v, dtype=float) for k, v in a["params"].items()}
        velocity: dict[str, np.ndarray] = {}
        for grads in a["grads"]:
            sgd_momentum_step(params, {k: np.asarray(v) for k, v in grads.items()}, velocity,
                              a["lr"], a["momentum"])
        given = f" after {len(a['grads'])} steps (lr {a['lr']}, momentum {a['momentum']})"
        for k in params:
            self.close(_get(o, "params", k), params[k], f"params['{k}']", given)
            self.close(_get(o, "velocity", k), velocity[k], f"velocity['{k}']", given)

    def digits_metrics(self, a: dict, o: dict) -> None:
        from nets.digits import accuracy, confusion_matrix, per_class_accuracy

        y, p = np.asarray(a["y"]), np.asarray(a["pred"])
        given = f" for y = {_show(y)}, pred = {_show(p)}"
        self.close(o["accuracy"], accuracy(y, p), "accuracy", given)
        self.close(o["confusion"], confusion_matrix(y, p), "confusion_matrix", given)
        cm = np.asarray(a["cm"])
        self.close(o["per_class"], per_class_accuracy(cm), "per_class_accuracy",
                   f" for cm = {_show(cm)}")

    def perceptron(self, a: dict, o: dict) -> bool | None:
        X, y = np.asarray(a["X"]), np.asarray(a["y"])
        gate = a["gate"].upper()
        converged = o.get("converged")
        if not isinstance(converged, bool):
            raise Mismatch(f"perceptron_train on {gate}: converged should be true or false, "
                           f"got {_show(converged)}")
        if gate == "XOR":
            if converged:
                raise Mismatch("perceptron_train on XOR: expected converged=False (XOR is not "
                               "linearly separable), got converged=True")
            if o.get("epochs") != a["max_epochs"]:
                raise Mismatch(f"perceptron_train on XOR: expected to stop after max_epochs = "
                               f"{a['max_epochs']} epochs, got epochs = {_show(o.get('epochs'))}")
            return False  # the measured perceptron.xor.converged
        w = _array(o.get("w"), np.zeros(2), "w")
        b = float(_array(o.get("b"), np.zeros(()), "b"))
        pred = (X @ w + b > 0).astype(int)  # computed here, from the weights it returned
        if not converged or not np.array_equal(pred, y):
            raise Mismatch(f"perceptron_train on {gate} (lr {a['lr']}, at most "
                           f"{a['max_epochs']} epochs): expected convergence to weights that "
                           f"separate y = {y.tolist()}, got converged={converged}, w = "
                           f"{_show(w)}, b = {b:g} predicting {pred.tolist()}")
        return None

    def xor_net(self, a: dict, o: dict) -> float:
        y = np.asarray(a["y"])
        pred = _labels(o.get("pred"), len(y))
        return float(np.mean(pred == y))

    def digits(self, a: dict, o: dict, secret: dict) -> Verdict:
        """Accuracies on every test image shown, on the exact ones and on the noisy ones."""
        split = secret["split"]
        pred = _labels(o.get("pred"), len(split.index))
        return judge_split(pred, secret["y_test"], split, self.cfg.max_drop)


def _get(o: dict, *keys: str) -> Any:
    for k in keys:
        if not isinstance(o, dict) or k not in o:
            raise Mismatch(f"missing output {'.'.join(keys)}")
        o = o[k]
    return o


def _labels(got: Any, n: int) -> np.ndarray:
    a = _array(got, np.zeros(n), "predictions")
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise Mismatch(f"predictions: expected {n} integer labels, got {_show(a)}")
    return a.astype(int)


def judge(cfg: ChecksConfig, the_plan: Plan, outputs: dict[str, dict],
          errors: dict[str, str], stopped: str) -> list[CheckResult]:
    """Every check's verdict from the harness's raw outputs (`outputs`: id → out), its errors
    (id → message) and, when the run ended early, why (`stopped`)."""
    j = Judge(cfg)
    by_id = {c["id"]: c for c in the_plan.checks}
    results = []
    for spec in cfg.checks:
        args = by_id[spec.id]["args"]
        r = CheckResult(spec.id, spec.item, spec.weight, False)
        if spec.id in errors:
            results.append(_with(r, message=f"raised {errors[spec.id]}"))
            continue
        if spec.id not in outputs:
            results.append(_with(r, message=f"not run: {stopped or 'no output came back'}"))
            continue
        o = outputs[spec.id]
        try:
            if not isinstance(o, dict):
                raise Mismatch(f"output: expected a mapping, got {_show(o)}")
            if spec.kind == "digits":
                v = j.digits(args, o, the_plan.secret)
                review = v.evidence(f"with noise of std {cfg.perturb_noise:g}",
                                    "the reference MLP loses at most 2")
                results.append(_with(r, passed=True, measured=v.marked, review=review,
                                     detail=v.detail()))
            elif spec.kind == "xor_net":
                results.append(_with(r, passed=True, measured=j.xor_net(args, o)))
            else:
                value = getattr(j, spec.kind)(args, o)
                results.append(_with(r, passed=True,
                                     detail={} if value is None else {"value": value}))
        except Mismatch as exc:
            results.append(_with(r, message=str(exc)))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            results.append(_with(r, message=f"malformed output ({type(exc).__name__}: "
                                 f"{_show(str(exc))})"))
    return results


def _with(r: CheckResult, **changes: Any) -> CheckResult:
    return replace(r, **changes)
