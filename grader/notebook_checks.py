"""The hidden Part B checks: their declaration and their inputs (drawn here).

problems/partb_checks.yaml declares the checks; `plan` draws each one's inputs from the file's
seed and the run's secret seed; the harness (problems/partb_checks.py) runs them in the sandbox
on the student's notebook and returns raw outputs; `grader.notebook_judge` compares those with
the reference implementation in nets/, in the grader's process. The digits' test labels stay in
the plan's secret, which never enters the sandbox.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core import resources
from core.errors import DlhwError
from core.yamlnodes import NodeReader
from grader.memorisation import add_noise, draw_split

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
    calls: tuple[str, ...] = ()  # the notebook's functions it calls (the checks file's `calls`)


@dataclass(frozen=True)
class ChecksConfig:
    seed: int
    check_time_s: float
    rtol: float
    atol: float
    h: float
    max_rel_error: float
    perturb_noise: float
    perturbed: float  # share of the test images shown noisy (their exact twins are not)
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
                                   "calls", "checks"}, set())
    calls = _calls(r, top["calls"], CHECKED_NAMES)
    g = r.mapping(top["gradcheck"], "gradcheck", {"h", "max_rel_error"}, set())
    d = r.mapping(top["digits"], "digits", {"perturb_noise", "perturbed", "max_drop"}, set())
    checks = []
    for cid, node in r.pairs(top["checks"], "checks"):
        where = f"checks.{cid}"
        m = r.mapping(node, where, {"item", "kind"}, {"weight", "fn", "grad", "gate", "model"})
        kind = r.string(m["kind"], f"{where}.kind")
        if kind not in KINDS:
            raise r.fail(m["kind"], f"{where}.kind", f"expected one of {', '.join(KINDS)}")
        opts: dict[str, str] = {k: r.string(m[k], f"{where}.{k}")
                                for k in ("fn", "grad", "gate", "model") if k in m}
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
        own = tuple(opts[k] for k in ("fn", "grad") if k in opts)
        checks.append(CheckSpec(cid, r.ident(m["item"], f"{where}.item"), kind, weight, opts,
                                calls[kind] + own))
    return ChecksConfig(
        seed=r.integer(top["seed"], "seed"),
        check_time_s=float(r.number(top["check_time_s"], "check_time_s", 1, 3600)),
        rtol=float(r.number(top["rtol"], "rtol", 0, 1)),
        atol=float(r.number(top["atol"], "atol", 0, 1)),
        h=float(r.number(g["h"], "gradcheck.h", 0, 1)),
        max_rel_error=float(r.number(g["max_rel_error"], "gradcheck.max_rel_error", 0, 1)),
        perturb_noise=float(r.number(d["perturb_noise"], "digits.perturb_noise", 0, 1)),
        perturbed=float(r.number(d["perturbed"], "digits.perturbed", 0, 1)),
        max_drop=float(r.number(d["max_drop"], "digits.max_drop", 0, 1)),
        checks=tuple(checks))


def _calls(r: NodeReader, node: Any, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each kind of check's calls: every kind listed, every name one the notebook declares."""
    m = r.mapping(node, "calls", set(KINDS), set())
    out = {}
    for kind in KINDS:
        seq = r.seq(m[kind], f"calls.{kind}")
        out[kind] = tuple(r.string(n, f"calls.{kind}") for n in seq)
        for n, name in zip(seq, out[kind]):
            if name not in names:
                raise r.fail(n, f"calls.{kind}", f"{name!r}: expected a name the student "
                             "notebook declares (nets.notebook.CHECKED_NAMES)")
    return out


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Plan:
    """What goes into the sandbox (`checks`, `digits`) and what stays here (`secret`)."""

    checks: list[dict[str, Any]]
    digits: dict[str, np.ndarray]  # X_train, y_train, X_eval
    secret: dict[str, Any]  # test labels and which test image each evaluation image is


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
    pc = _config()
    rng = np.random.default_rng([cfg.seed, seed])
    checks: list[dict[str, Any]] = []
    needs_digits = any(c.kind == "digits" for c in cfg.checks)
    digits: dict[str, np.ndarray] = {}
    secret: dict[str, Any] = {}
    if needs_digits:
        X_train, y_train, X_test, y_test = _digits()
        split = draw_split(len(X_test), cfg.perturbed, rng)  # each test image once
        shown = X_test[split.index]
        shown[split.perturbed] = add_noise(shown[split.perturbed], rng, cfg.perturb_noise)
        digits = {"X_train": X_train, "y_train": y_train, "X_eval": shown}
        secret = {"y_test": y_test, "split": split}
    for c in cfg.checks:
        checks.append({"id": c.id, "kind": c.kind, "args": _DRAW[c.kind](c, cfg, pc, rng)})
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


# Each kind's inputs: (the check, the checks file, Part B's config, the run's generator) → args.
Draw = Callable[[CheckSpec, ChecksConfig, Any, np.random.Generator], dict[str, Any]]


def _activation(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    z = rng.normal(0.0, 2.5, (6, 5))
    z[np.abs(z) < 0.05] += 0.1  # away from the kinks of relu, leaky relu and elu
    return {"fn": c.options["fn"], "grad": c.options["grad"], "z": z, "h": cfg.h,
            "extreme": np.array([-1000.0, -60.0, 60.0, 1000.0])}


def _softmax(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    from nets.activations import softmax

    z = rng.normal(0.0, 3.0, (5, 4))
    z[0] += 1000.0  # a row that overflows without the max subtraction
    z[1, 0] = -1000.0
    return {"z": z, "dout": rng.normal(size=(5, 4)), "s": softmax(rng.normal(size=(5, 4)),
                                                                   axis=-1)}


def _affine(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    return {"x": rng.normal(size=(5, 4)), "w": rng.normal(size=(4, 3)),
            "b": rng.normal(size=3), "dout": rng.normal(size=(5, 3))}


def _mse(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    return {"pred": rng.normal(size=(6, 1)), "target": rng.normal(size=(6, 1))}


def _cross_entropy(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    logits = rng.normal(0.0, 3.0, (6, 4))
    logits[0] += 800.0
    return {"logits": logits, "y": rng.integers(0, 4, 6)}


def _neuron_step(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    return {"x": rng.normal(size=3), "y": 1.0, "w": rng.normal(size=3),
            "b": float(rng.normal()), "lr": 0.1,
            "fields": ["z", "a", "loss", "dL_da", "da_dz", "dL_dz", "dL_dw", "dL_db",
                       "w_new", "b_new"]}


def _train_neuron(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    from nets.perceptron import LOGIC_GATES

    X, y = LOGIC_GATES["and"]
    return {"X": X, "y": y.astype(float), "w": rng.normal(0.0, 0.1, 2), "b": 0.0,
            "lr": pc.neuron_lr, "epochs": 50}


def _sgd_step(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    return {"params": {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)},
            "grads": [{"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
                      for _ in range(3)], "lr": 0.1, "momentum": 0.9}


def _digits_metrics(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    y = rng.integers(0, 10, 40)
    p = np.where(rng.random(40) < 0.7, y, rng.integers(0, 10, 40))
    cm = rng.integers(0, 6, (10, 10))
    cm[3] = 0  # a class with no sample: no division by zero
    return {"y": y, "pred": p, "cm": cm}


def _perceptron(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    from nets.perceptron import LOGIC_GATES

    X, y = LOGIC_GATES[c.options["gate"]]
    return {"X": X, "y": y, "lr": pc.perceptron_lr, "max_epochs": pc.perceptron_max_epochs,
            "gate": c.options["gate"]}


def _xor_net(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    from nets.partb import xor_net_data

    X, y = xor_net_data()
    return {"X": X, "y": y, "seed": cfg.seed, "hidden": pc.xor_hidden,
            "activation": pc.xor_activation, "epochs": pc.xor_epochs, "lr": pc.xor_lr,
            "momentum": pc.xor_momentum}


def _digits_net(c: CheckSpec, cfg: ChecksConfig, pc: Any, rng: np.random.Generator) -> dict:
    soft = c.options["model"] == "softmax"
    return {"seed": cfg.seed, "sizes": [64, 10] if soft else [64, pc.mlp_hidden, 10],
            "activation": pc.mlp_activation, "augment": (not soft) and pc.mlp_augment,
            "epochs": pc.softmax_epochs if soft else pc.mlp_epochs,
            "batch_size": pc.softmax_batch_size if soft else pc.mlp_batch_size,
            "lr": pc.softmax_lr if soft else pc.mlp_lr,
            "momentum": pc.softmax_momentum if soft else pc.mlp_momentum,
            "weight_decay": pc.softmax_weight_decay if soft else pc.mlp_weight_decay,
            "cosine": pc.cosine_schedule}


_DRAW: dict[str, Draw] = {
    "activation": _activation, "softmax": _softmax, "affine": _affine, "mse": _mse,
    "cross_entropy": _cross_entropy, "neuron_step": _neuron_step,
    "train_neuron": _train_neuron, "sgd_step": _sgd_step, "digits_metrics": _digits_metrics,
    "perceptron": _perceptron, "xor_net": _xor_net, "digits": _digits_net}
