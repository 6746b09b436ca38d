"""The hidden Part B checks: their inputs (drawn here) and their verdicts (judged here).

problems/partb_checks.yaml declares the checks; `plan` draws each one's inputs from the file's
seed; the harness (problems/partb_checks.py) runs them in the sandbox on the student's notebook
and returns raw outputs; `judge` compares those with the reference implementation in nets/, in
the grader's process. Nothing the student's code returns is trusted: every output is shape- and
type-checked before it is compared, and the digits' test labels never leave this module.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader

_SHOWN = 90  # characters of an input, expected or got value in a message

KINDS = ("activation", "softmax", "affine", "mse", "cross_entropy", "neuron_step",
         "train_neuron", "sgd_step", "digits_metrics", "perceptron", "xor_net", "digits")
MEASURED = ("xor_net", "digits")  # checks whose result is an accuracy, marked by thresholds


class ChecksError(DlhwError, ValueError):
    """problems/partb_checks.yaml does not validate."""


@dataclass(frozen=True)
class CheckSpec:
    id: str
    item: str
    kind: str
    weight: Fraction
    options: dict[str, str]  # fn, grad, gate, model


@dataclass(frozen=True)
class ChecksConfig:
    seed: int
    check_time_s: float
    rtol: float
    atol: float
    h: float
    max_rel_error: float
    perturb_noise: float
    max_drop: float
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True)
class CheckResult:
    """One check, reported like a unit test."""

    id: str
    item: str
    weight: Fraction
    passed: bool
    message: str = ""  # on failure: input, expected, got (truncated); or the error
    measured: float | None = None  # accuracy of a measured check
    review: str = ""  # why a human should look (memorisation suspected)
    detail: dict[str, Any] = field(default_factory=dict)


def harness_path() -> Path:
    """The harness run in the sandbox (problems/partb_checks.py as in force)."""
    return resources.path("problems", "partb_checks.py")


def load_checks(path: Path | None = None) -> ChecksConfig:
    """Read and validate the checks file (file:line: field: expectation on error); default
    problems/partb_checks.yaml as in force."""
    return _load_checks(Path(path) if path else resources.path("problems", "partb_checks.yaml"))


@functools.lru_cache(maxsize=4)
def _load_checks(path: Path) -> ChecksConfig:
    from nets.notebook import CHECKED_NAMES

    r = NodeReader(path, ChecksError)
    top = r.mapping(r.load(), "", {"seed", "check_time_s", "rtol", "atol", "gradcheck", "digits",
                                   "checks"}, set())
    g = r.mapping(top["gradcheck"], "gradcheck", {"h", "max_rel_error"}, set())
    d = r.mapping(top["digits"], "digits", {"perturb_noise", "max_drop"}, set())
    checks = []
    for cid, node in r.pairs(top["checks"], "checks"):
        where = f"checks.{cid}"
        m = r.mapping(node, where, {"item", "kind"}, {"weight", "fn", "grad", "gate", "model"})
        kind = r.string(m["kind"], f"{where}.kind")
        if kind not in KINDS:
            raise r.fail(m["kind"], f"{where}.kind", f"expected one of {', '.join(KINDS)}")
        opts = {k: r.string(m[k], f"{where}.{k}") for k in ("fn", "grad", "gate", "model")
                if k in m}
        for k in ("fn", "grad"):
            if k in opts and opts[k] not in CHECKED_NAMES:
                raise r.fail(m[k], f"{where}.{k}", "expected a name the student notebook "
                             "declares (nets.notebook.CHECKED_NAMES)")
        need = {"activation": {"fn", "grad"}, "perceptron": {"gate"}, "digits": {"model"}}
        if set(opts) != need.get(kind, set()):
            raise r.fail(node, where, f"a {kind} check takes "
                         f"{', '.join(sorted(need.get(kind, set()))) or 'no options'}")
        if opts.get("gate", "and") not in ("and", "or", "xor") or \
                opts.get("model", "mlp") not in ("softmax", "mlp"):
            raise r.fail(node, where, "expected gate and/or/xor, model softmax/mlp")
        weight = r.number(m["weight"], f"{where}.weight", 0, 100) if "weight" in m else \
            Fraction(1)
        checks.append(CheckSpec(cid, r.ident(m["item"], f"{where}.item"), kind, weight, opts))
    return ChecksConfig(
        seed=r.integer(top["seed"], "seed"),
        check_time_s=float(r.number(top["check_time_s"], "check_time_s", 1, 3600)),
        rtol=float(r.number(top["rtol"], "rtol", 0, 1)),
        atol=float(r.number(top["atol"], "atol", 0, 1)),
        h=float(r.number(g["h"], "gradcheck.h", 0, 1)),
        max_rel_error=float(r.number(g["max_rel_error"], "gradcheck.max_rel_error", 0, 1)),
        perturb_noise=float(r.number(d["perturb_noise"], "digits.perturb_noise", 0, 1)),
        max_drop=float(r.number(d["max_drop"], "digits.max_drop", 0, 1)),
        checks=tuple(checks))


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Plan:
    """What goes into the sandbox (`checks`, `digits`) and what stays here (`secret`)."""

    checks: list[dict[str, Any]]
    digits: dict[str, np.ndarray]  # X_train, y_train, X_eval
    secret: dict[str, Any]  # test labels and the order of the shuffled evaluation images


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from nets.partb import PartBConfig, load_split

    s = load_split(PartBConfig())
    return s.X_train, s.y_train, s.X_test, s.y_test


def _config() -> Any:
    from nets.partb import PartBConfig

    return PartBConfig()


def plan(cfg: ChecksConfig, seed: int) -> Plan:
    """Every check's inputs, drawn from the checks file's seed and the run's secret `seed`: a
    notebook cannot know them before they are asked, nor one run's from another's. The
    training checks keep the file's seed for their own generator, so a trained network's
    accuracy is the same in every run (and comparable with the student's claim)."""
    from nets.partb import xor_net_data
    from nets.perceptron import LOGIC_GATES

    pc = _config()
    rng = np.random.default_rng([cfg.seed, seed])
    checks: list[dict[str, Any]] = []
    needs_digits = any(c.kind == "digits" for c in cfg.checks)
    digits: dict[str, np.ndarray] = {}
    secret: dict[str, Any] = {}
    if needs_digits:
        X_train, y_train, X_test, y_test = _digits()
        noisy = np.clip(X_test + rng.normal(0.0, cfg.perturb_noise, X_test.shape), 0.0, 1.0)
        order = rng.permutation(2 * len(X_test))
        digits = {"X_train": X_train, "y_train": y_train,
                  "X_eval": np.concatenate([X_test, noisy])[order]}
        secret = {"y_test": y_test, "order": order}
    for c in cfg.checks:
        a: dict[str, Any]
        if c.kind == "activation":
            z = rng.normal(0.0, 2.5, (6, 5))
            z[np.abs(z) < 0.05] += 0.1  # away from the kinks of relu, leaky relu and elu
            a = {"fn": c.options["fn"], "grad": c.options["grad"], "z": z, "h": cfg.h,
                 "extreme": np.array([-1000.0, -60.0, 60.0, 1000.0])}
        elif c.kind == "softmax":
            z = rng.normal(0.0, 3.0, (5, 4))
            z[0] += 1000.0  # a row that overflows without the max subtraction
            z[1, 0] = -1000.0
            from nets.activations import softmax

            a = {"z": z, "dout": rng.normal(size=(5, 4)),
                 "s": softmax(rng.normal(size=(5, 4)), axis=-1)}
        elif c.kind == "affine":
            a = {"x": rng.normal(size=(5, 4)), "w": rng.normal(size=(4, 3)),
                 "b": rng.normal(size=3), "dout": rng.normal(size=(5, 3))}
        elif c.kind == "mse":
            a = {"pred": rng.normal(size=(6, 1)), "target": rng.normal(size=(6, 1))}
        elif c.kind == "cross_entropy":
            logits = rng.normal(0.0, 3.0, (6, 4))
            logits[0] += 800.0
            a = {"logits": logits, "y": rng.integers(0, 4, 6)}
        elif c.kind == "neuron_step":
            a = {"x": rng.normal(size=3), "y": 1.0, "w": rng.normal(size=3),
                 "b": float(rng.normal()), "lr": 0.1,
                 "fields": ["z", "a", "loss", "dL_da", "da_dz", "dL_dz", "dL_dw", "dL_db",
                            "w_new", "b_new"]}
        elif c.kind == "train_neuron":
            X, y = LOGIC_GATES["and"]
            a = {"X": X, "y": y.astype(float), "w": rng.normal(0.0, 0.1, 2), "b": 0.0,
                 "lr": pc.neuron_lr, "epochs": 50}
        elif c.kind == "sgd_step":
            a = {"params": {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)},
                 "grads": [{"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
                           for _ in range(3)], "lr": 0.1, "momentum": 0.9}
        elif c.kind == "digits_metrics":
            y = rng.integers(0, 10, 40)
            p = np.where(rng.random(40) < 0.7, y, rng.integers(0, 10, 40))
            cm = rng.integers(0, 6, (10, 10))
            cm[3] = 0  # a class with no sample: no division by zero
            a = {"y": y, "pred": p, "cm": cm}
        elif c.kind == "perceptron":
            X, y = LOGIC_GATES[c.options["gate"]]
            a = {"X": X, "y": y, "lr": pc.perceptron_lr, "max_epochs": pc.perceptron_max_epochs,
                 "gate": c.options["gate"]}
        elif c.kind == "xor_net":
            X, y = xor_net_data()
            a = {"X": X, "y": y, "seed": cfg.seed, "hidden": pc.xor_hidden,
                 "activation": pc.xor_activation, "epochs": pc.xor_epochs, "lr": pc.xor_lr,
                 "momentum": pc.xor_momentum}
        else:
            soft = c.options["model"] == "softmax"
            a = {"seed": cfg.seed, "sizes": [64, 10] if soft else [64, pc.mlp_hidden, 10],
                 "activation": pc.mlp_activation, "augment": (not soft) and pc.mlp_augment,
                 "epochs": pc.softmax_epochs if soft else pc.mlp_epochs,
                 "batch_size": pc.softmax_batch_size if soft else pc.mlp_batch_size,
                 "lr": pc.softmax_lr if soft else pc.mlp_lr,
                 "momentum": pc.softmax_momentum if soft else pc.mlp_momentum,
                 "weight_decay": pc.softmax_weight_decay if soft else pc.mlp_weight_decay,
                 "cosine": pc.cosine_schedule}
        checks.append({"id": c.id, "kind": c.kind, "args": a})
    return Plan(checks, digits, secret)


def to_json(x: Any) -> Any:
    """Arrays to lists, recursively, for plan.json."""
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, dict):
        return {k: to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


# ---------------------------------------------------------------- verdicts


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
        rel = np.linalg.norm(grad - fd) / max(np.linalg.norm(grad) + np.linalg.norm(fd), 1e-300)
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

    def xor_net(self, a: dict, o: dict) -> float:
        y = np.asarray(a["y"])
        pred = _labels(o.get("pred"), len(y))
        return float(np.mean(pred == y))

    def digits(self, a: dict, o: dict, secret: dict) -> tuple[float, float]:
        """(accuracy on the test images, accuracy on their noisy copies)."""
        y, order = secret["y_test"], secret["order"]
        pred = _labels(o.get("pred"), len(order))
        unshuffled = np.empty_like(pred)
        unshuffled[order] = pred
        n = len(y)
        return float(np.mean(unshuffled[:n] == y)), float(np.mean(unshuffled[n:] == y))


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
                clean, noisy = j.digits(args, o, the_plan.secret)
                review = "" if clean - noisy <= cfg.max_drop else (
                    f"accuracy {clean:.4f} on the test images but {noisy:.4f} on noisy copies "
                    f"of them (a drop over {cfg.max_drop:g}): test images looked up?")
                results.append(_with(r, passed=True, measured=clean, review=review,
                                     detail={"noisy_accuracy": noisy}))
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
    from dataclasses import replace

    return replace(r, **changes)
