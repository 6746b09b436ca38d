"""The Part B runner. It runs INSIDE the sandbox (grader/notebook_run.py puts it in /in), never
in the grader's process, and never computes a mark: it holds no expected value, no reference
code and no seed.

It answers the grader, one request at a time (a JSON line on stdin, with the grader's nonce):
run the next notebook cell, call a check's functions on the inputs the request carries (drawn
from the grader's secret seed for this run; the digits' training and evaluation images are in
/in/digits.npz, their evaluation labels never are), or put the known-good versions of the
activations the student's code got wrong in place (sent only after the activation checks are
answered, and only those). Each answer is one frame of the grader's
channel (fd 3), naming the request's nonce; answers come back in order. The student's code
shares this process and can tamper with anything here: it can only change what comes out, which
the grader judges against its own reference, outside, and any answer the grader did not ask
for, or asked for once and got twice, voids the run. Standard library and NumPy only.
"""

import json
import os
import signal
import sys
import traceback

import numpy as np

_SENT = [0]


def reply(nonce, record):
    """One answer, as the next numbered frame of the grader's channel."""
    from _channel import send  # the grader's channel, fd 3 (/in/_channel.py)

    send(f"m{_SENT[0]:06d}", json.dumps({"n": nonce, **record}))  # NaN, inf: read as values
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
    with np.load("/in/digits.npz", allow_pickle=False) as d:  # no labels of X_eval
        X, y, X_eval = d["X_train"], d["y_train"], d["X_eval"]
    rng = np.random.default_rng(a["seed"])
    model = ns["MLP"](tuple(a["sizes"]), rng, hidden=a["activation"])
    if a["augment"]:
        X, y = ns["shift_augment"](X, y)
    ns["train_sgd"](model, X, y, rng, a["epochs"], a["batch_size"], a["lr"], a["momentum"],
                    a["weight_decay"], a["cosine"])
    return {"pred": out(model.predict(X_eval))}


KINDS = {name[2:]: fn for name, fn in list(globals().items()) if name.startswith("k_")}


def main():
    """Serve the grader: each request a JSON line on stdin, each answer one frame, in order."""
    sys.path.insert(0, "/in")
    from _channel import send

    send("ready", "ready")  # before any of the student's code: proof the runner started
    ns = {"__name__": "__main__"}
    signal.signal(signal.SIGALRM, _alarm)
    runner = os.getpid()
    for line in sys.stdin.buffer:
        req = json.loads(line)
        if req["op"] == "end":
            break
        answer = serve(ns, req)
        if os.getpid() != runner:  # a process the student's code forked: it does not answer
            os._exit(0)
        reply(req["n"], answer)
    sys.stdout.flush()


def install(ns, source, names):
    """Put the known-good versions of `names` (defined by `source`) in place of the student's,
    in the namespace and in an ACTIVATIONS table of (function, derivative) pairs."""
    good = {"np": np}
    exec(compile(source, "<known-good activations>", "exec"), good)
    chosen = {n: good[n] for n in names if n in good}
    ns.update(chosen)
    table = ns.get("ACTIVATIONS")
    if not isinstance(table, dict):  # its given cell failed on a name a broken region lacks
        table = ns["ACTIVATIONS"] = {n: (ns[n], ns[n + "_grad"]) for n in list(ns)
                                     if callable(ns.get(n)) and callable(ns.get(n + "_grad"))}
    for name in list(table):
        if name in chosen or name + "_grad" in chosen:
            table[name] = (chosen.get(name, ns.get(name)),
                           chosen.get(name + "_grad", ns.get(name + "_grad")))


def serve(ns, req):
    """One request: run a cell, call a check, or put the known-good activations in place."""
    if req["op"] == "cell":
        try:
            exec(compile(req["source"], f"<cell {req['index']}>", "exec"), ns)
            return {"ok": True}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the rest goes on
            return {"ok": False, "error": short_error(exc)}
    if req["op"] == "install":
        try:
            install(ns, req["source"], req["names"])
        except BaseException:  # a namespace the student broke: the checks will say so
            pass
        return {"ok": True}
    signal.setitimer(signal.ITIMER_REAL, req["time_s"])
    try:
        result = KINDS[req["kind"]](Names(ns), req["args"])
        signal.setitimer(signal.ITIMER_REAL, 0)
        return {"ok": True, "out": result}
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return {"ok": False, "error": short_error(exc)}


if __name__ == "__main__":
    main()
