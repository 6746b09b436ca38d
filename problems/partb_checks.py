"""The Part B check harness. It runs INSIDE the sandbox (grader/notebook_run.py puts it in /in),
never in the grader's process, and never computes a mark.

It executes the student's notebook cells, in order, in one namespace, then calls what they define
on the grader's inputs (/in/plan.json, /in/digits.npz) and writes the raw results, one JSON line
per cell and per check, to /out/results.jsonl. The student's code shares this process and can
tamper with anything here: it can only change what comes out, which the grader then judges
against its own reference, outside. Standard library and NumPy only.
"""

import json
import signal
import sys
import traceback

import numpy as np

sys.path.insert(0, "/in")
from _channel import send  # noqa: E402 - the grader's channel, fd 3

_SENT = [0]


def emit(record):
    """One result record, as the next numbered frame of the grader's channel."""
    send(f"r{_SENT[0]:06d}", json.dumps(record))  # NaN and inf allowed: read as values
    _SENT[0] += 1


def short_error(exc):
    """`Type: message (cell N, line L)` from the innermost frame in a notebook cell."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<cell"):
            where = f" ({frame.filename[1:-1]}, line {frame.lineno})"
            break
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


class Names:
    """The notebook's namespace, read by name: a missing name says so."""

    def __init__(self, ns):
        self.ns = ns

    def __getitem__(self, name):
        if name not in self.ns:
            raise NameError(f"the notebook defines no {name!r}")
        return self.ns[name]


class CheckTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CheckTimeout("took longer than the check's time limit")


def arr(x, dtype=float):
    return np.asarray(x, dtype=dtype)


def out(x):
    """A result as plain JSON data (floats), or raise when it is not numeric."""
    a = np.asarray(x, dtype=float)
    if a.size > 100_000:
        raise ValueError(f"returned {a.size} values, expected far fewer")
    return a.tolist()


# ---------------------------------------------------------------- one function per check kind


def k_activation(ns, a):
    f, g = ns[a["fn"]], ns[a["grad"]]
    z, h = arr(a["z"]), a["h"]
    return {"f": out(f(z.copy())), "grad": out(g(z.copy())), "f_plus": out(f(z + h)),
            "f_minus": out(f(z - h)), "f_extreme": out(f(arr(a["extreme"])))}


def k_softmax(ns, a):
    return {"s": out(ns["softmax"](arr(a["z"]))),
            "back": out(ns["softmax_backward"](arr(a["dout"]), arr(a["s"])))}


def k_affine(ns, a):
    res, cache = ns["affine_forward"](arr(a["x"]), arr(a["w"]), arr(a["b"]))
    grads = ns["affine_backward"](arr(a["dout"]), cache)
    return {"out": out(res), "dx": out(grads["x"]), "dw": out(grads["w"]), "db": out(grads["b"])}


def k_mse(ns, a):
    loss, grad = ns["mse_loss"](arr(a["pred"]), arr(a["target"]))
    return {"loss": out(loss), "grad": out(grad)}


def k_cross_entropy(ns, a):
    logits, y = arr(a["logits"]), arr(a["y"], int)
    loss, grad = ns["cross_entropy_loss"](logits.copy(), y)
    return {"log_softmax": out(ns["log_softmax"](logits.copy())), "loss": out(loss),
            "grad": out(grad)}


def k_neuron_step(ns, a):
    step = ns["neuron_step"](arr(a["x"]), a["y"], arr(a["w"]), a["b"], a["lr"])
    return {name: out(getattr(step, name)) for name in a["fields"]}


def k_train_neuron(ns, a):
    w, b, losses = ns["train_neuron"](arr(a["X"]), arr(a["y"]), arr(a["w"]), a["b"], a["lr"],
                                      a["epochs"])
    return {"w": out(w), "b": out(b), "losses": out(losses)}


def k_sgd_step(ns, a):
    params = {k: arr(v) for k, v in a["params"].items()}
    velocity = {}
    for grads in a["grads"]:
        ns["sgd_momentum_step"](params, {k: arr(v) for k, v in grads.items()}, velocity,
                                a["lr"], a["momentum"])
    return {"params": {k: out(v) for k, v in params.items()},
            "velocity": {k: out(v) for k, v in velocity.items()}}


def k_digits_metrics(ns, a):
    y, p = arr(a["y"], int), arr(a["pred"], int)
    return {"accuracy": out(ns["accuracy"](y, p)), "confusion": out(ns["confusion_matrix"](y, p)),
            "per_class": out(ns["per_class_accuracy"](arr(a["cm"], int)))}


def k_perceptron(ns, a):
    r = ns["perceptron_train"](arr(a["X"]), arr(a["y"], int), a["lr"], a["max_epochs"])
    return {"converged": bool(r.converged), "epochs": int(r.epochs), "w": out(r.w), "b": out(r.b)}


def k_xor_net(ns, a):
    rng = np.random.default_rng(a["seed"])
    X, y = arr(a["X"]), arr(a["y"], int)
    net = ns["MLP"]((3, a["hidden"], 1), rng, hidden=a["activation"], output="sigmoid")
    ns["train_sgd"](net, X, y, rng, a["epochs"], len(X), a["lr"], a["momentum"])
    return {"pred": out(net.predict(X))}


def k_digits(ns, a):
    with np.load("/in/digits.npz", allow_pickle=False) as d:
        X, y, X_eval = d["X_train"], d["y_train"], d["X_eval"]
    rng = np.random.default_rng(a["seed"])
    model = ns["MLP"](tuple(a["sizes"]), rng, hidden=a["activation"])
    if a["augment"]:
        X, y = ns["shift_augment"](X, y)
    ns["train_sgd"](model, X, y, rng, a["epochs"], a["batch_size"], a["lr"], a["momentum"],
                    a["weight_decay"], a["cosine"])
    return {"pred": out(model.predict(X_eval))}


KINDS = {name[2:]: fn for name, fn in list(globals().items()) if name.startswith("k_")}
ACTIVATION_KINDS = ("activation", "softmax")


# Known-good activations (textbook formulas), put in place of the student's while every other
# check runs: a check tests its own target, so one wrong derivative costs one check, not every
# check downstream of it (the layers, the networks).
def _sig(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


GOOD = {
    "sigmoid": _sig,
    "sigmoid_grad": lambda z: _sig(z) * (1.0 - _sig(z)),
    "tanh": np.tanh,
    "tanh_grad": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: np.maximum(0.0, z),
    "relu_grad": lambda z: (np.asarray(z) > 0).astype(float),
    "leaky_relu": lambda z, slope=0.01: np.where(np.asarray(z) > 0, z, slope * np.asarray(z)),
    "leaky_relu_grad": lambda z, slope=0.01: np.where(np.asarray(z) > 0, 1.0, slope),
    "elu": lambda z, alpha=1.0: np.where(np.asarray(z) > 0, z,
                                         alpha * np.expm1(np.minimum(z, 0.0))),
    "elu_grad": lambda z, alpha=1.0: np.where(np.asarray(z) > 0, 1.0,
                                              alpha * np.exp(np.minimum(z, 0.0))),
    "swish": lambda z: np.asarray(z) * _sig(z),
    "swish_grad": lambda z: _sig(z) + np.asarray(z) * _sig(z) * (1.0 - _sig(z)),
    "softmax": _softmax,
}


def install_good_activations(ns):
    ns.update(GOOD)
    table = ns.get("ACTIVATIONS")
    if isinstance(table, dict):
        for name in list(table):
            if name in GOOD and name + "_grad" in GOOD:
                table[name] = (GOOD[name], GOOD[name + "_grad"])


def main():
    with open("/in/plan.json", encoding="utf-8") as f:
        plan = json.load(f)
    # Before any of the student's code: proof that the sandbox started this harness (without
    # it, a run that produced nothing is the grader's failure, not the student's).
    emit({"ready": True})
    ns = {"__name__": "__main__"}
    for cell in plan["cells"]:
        try:
            exec(compile(cell["source"], f"<cell {cell['index']}>", "exec"), ns)
            emit({"cell": cell["index"], "ok": True})
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the checks go on
            emit({"cell": cell["index"], "ok": False, "error": short_error(exc)})
    signal.signal(signal.SIGALRM, _alarm)
    checks = sorted(plan["checks"], key=lambda c: c["kind"] not in ACTIVATION_KINDS)
    installed = False
    for check in checks:
        if check["kind"] not in ACTIVATION_KINDS and not installed:
            try:
                install_good_activations(ns)
            except BaseException:  # a namespace the student broke: the checks will say so
                pass
            installed = True
        signal.setitimer(signal.ITIMER_REAL, plan["check_time_s"])
        try:
            result = KINDS[check["kind"]](Names(ns), check["args"])
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"check": check["id"], "ok": True, "out": result})
        except BaseException as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"check": check["id"], "ok": False, "error": short_error(exc)})
    emit({"done": True})
    sys.stdout.flush()


if __name__ == "__main__":
    main()
