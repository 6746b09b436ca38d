"""Every run-dependent sentence of the handout, read from the runs and chosen by the rules.

`prose(runs, parta)` returns a flat dict of LaTeX sentences (and sentence parts) that
templates/handout.tex.j2 only places: the template holds the fixed explanations, this module
what the numbers decide (handout.rules, handout.rules_models) and how the numbers are written
(handout.wording). `caption` fills a figure's <<name>> placeholders from its run.
"""

from __future__ import annotations

import re
from typing import Any

from handout import rules as R
from handout import rules_models as RM
from handout.runs import HandoutError, Metrics, Run
from handout.wording import count, label, num, pct, plural, pm, setting
from nets.models import ARCHITECTURES
from nets.studies.common import slug
from nets.studies.init import SCHEMES
from nets.studies.optimizers import OPTIMIZER_NAMES
from nets.studies.regularization import METHODS


def _by(m: Metrics, prefix: str, keys: Any, suffix: str) -> dict[str, float]:
    return {k: float(m(f"{prefix}.{k}.{suffix}")) for k in keys}


def lookup(run: Run, key: str) -> Any:
    """A run's metric, or a (dotted) config entry: `test_images`, `fashion_subset.val`."""
    if key in run.metrics:
        return run.metrics[key]
    value: Any = run.config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise HandoutError(f"{run.dir}: neither metrics.json nor config.json has {key!r} "
                               "(a figure caption asks for it): rerun the study")
        value = value[part]
    return value


def caption(text: str, run: Run) -> str:
    """A figure caption with its placeholders filled from the run that drew it: <<key>> is the
    value (counts with separators), <<key|noun>> the count with its noun in the right number
    (<<epochs|epoch>>: "1 epoch", "5 epochs")."""
    def one(mt: re.Match) -> str:
        v = lookup(run, mt[1])
        if mt[2]:
            return plural(int(v), mt[2])
        return count(v) if isinstance(v, int) else num(v) if isinstance(v, float) else str(v)

    return re.sub(r"<<([\w.]+)(?:\|([\w -]+))?>>", one, text)


def prose(runs: dict[str, Run], parta_dl_dw: float, sigfigs: int) -> dict[str, str]:
    """Every sentence the template places, by name (see the sections below)."""
    m = Metrics(runs)
    return {**_part_b(m, parta_dl_dw, sigfigs), **_regression(m, runs),
            **_fashion(m, runs), **_part3(m, runs), **_search(m, runs), **_cnn_viz(m, runs)}


def _part_b(m: Metrics, parta_dl_dw: float, sigfigs: int) -> dict[str, str]:
    gates = {g: R.Gate(converged=m(f"perceptron.{g}.converged"),
                       epochs=m(f"perceptron.{g}.epochs"), accuracy=m(f"perceptron.{g}.accuracy"))
             for g in ("and", "or", "xor")}
    return {
        "perceptron": R.perceptron(gates),
        "neuron": R.neuron_vs_parta(m("neuron.q2.dL_dw"), parta_dl_dw, sigfigs),
        "xor_net": R.xor_net(m("xor_net.accuracy")),
        "digits_split": f"{count(m('digits.n_train'))} training and "
                        f"{count(m('digits.n_test'))} test images",
        "digits_softmax": pct(m("digits.softmax.test_accuracy")),
        "digits_mlp": pct(m("digits.mlp.test_accuracy")),
    }


def _regression(m: Metrics, runs: dict[str, Run]) -> dict[str, str]:
    cfg = runs["regression"].config
    data, train, sel = cfg["data"], cfg["train"], cfg["selection"]
    n_train = round(data["n"] * (1 - data["test_fraction"]))
    configs = 1
    for values in sel["space"].values():
        configs *= len(values)
    split = runs["regularization"].config["regression_split"]
    es_run = runs["regularization"].config["runs"]["regression.early_stopping"]
    return {
        "reg_data": (f"on {count(data['n'])} points of $[-2\\pi, 2\\pi]$ with a seeded "
                     f"generator; {pct(data['test_fraction'], 0)} are held out"),
        "reg_noise": f"$\\sigma^2 = {data['noise_std'] ** 2:g}$",
        "reg_arch": (f"Two hidden layers of {count(cfg['model']['hidden'][0])} units with "
                     f"{label(cfg['model']['activation'])} activations and a linear output unit"),
        "reg_cv": R.cv_choice(sel["space"], sel["k"], pm(m("regression.cv_mse"),
                                                          m("regression.cv_mse_std")), configs),
        "reg_optimizer": (f"{label(train['optimizer'])} (learning rate {setting(train['lr'])}, "
                          f"weight decay {setting(train['weight_decay'])}, "
                          f"{label(train['schedule'])} schedule)"),
        "reg_recipe": R.regression_recipe(train["optimizer"], train["batch_size"], n_train,
                                          m("regression.epochs")),
        "reg_eval": (f"MSE {num(m('regression.test_mse'))} (noise floor "
                     f"{m('regression.noise_floor'):g}), RMSE {num(m('regression.test_rmse'))}, "
                     f"$R^2 = {num(m('regression.test_r2'), 4)}$. Against the clean $\\sin x$ "
                     f"on a dense grid the MSE is {num(m('regression.clean_mse'))}"),
        "reg_regularizers": R.regularizers_regression(
            _by(m, "regularization.regression", METHODS, "val_mse"),
            _by(m, "regularization.regression", METHODS, "gap"), split["train"],
            int(m("regularization.regression.early_stopping.epochs")), es_run["epochs"]),
    }


def _fashion(m: Metrics, runs: dict[str, Run]) -> dict[str, str]:
    cfg = runs["fashion"].config
    classes = cfg["classes"]
    per_class = {c: float(m(f"fashion.per_class_accuracy.{slug(c)}")) for c in classes}
    worst = min(per_class, key=per_class.__getitem__)
    acc = _by(m, "optimizers.fashion", OPTIMIZER_NAMES, "test_accuracy")
    return {
        "test_accuracy": pct(m("fashion.test_accuracy"), 2),
        "params": count(m("fashion.params")),
        "augment": ("During training every image of a batch is shifted by up to 2 pixels and "
                    "flipped left-right at random." if cfg["train"]["augment"]
                    else "No augmentation is used."),
        "opt_best": R.optimizer_best(acc),
        "adam_vs_sgd": R.adam_vs_sgd(acc["adam"], acc["sgd"]),
        "opt_spread": R.optimizer_spread(acc),
        "reg_gaps": R.regularizer_gaps(_by(m, "regularization.fashion", METHODS, "gap")),
        "final": RM.final_accuracy(m("fashion.test_accuracy"), cfg["test_images"],
                                   m("fashion.epochs"), m("fashion.train_seconds"),
                                   cfg["train"]["resolved"]["device"]),
        "hardest": RM.hardest_class(per_class, m("fashion.confusion_matrix")[classes.index(worst)],
                                    worst, classes),
        "test_images": count(cfg["test_images"]),
    }


def _part3(m: Metrics, runs: dict[str, Run]) -> dict[str, str]:
    opt_cfg, init_cfg = runs["optimizers"].config, runs["init"].config
    f_acc = _by(m, "optimizers.fashion", OPTIMIZER_NAMES, "test_accuracy")
    r_mse = _by(m, "optimizers.regression", OPTIMIZER_NAMES, "val_mse")
    reg = "regularization.fashion"
    return {
        "opt_regression": R.optimizers_regression(r_mse),
        "opt_fashion": f"FashionMNIST, test accuracy: {R.named_values(f_acc)} "
                       f"({R.best(f_acc, True)}).",
        "momentum": R.momentum(r_mse["sgd"], r_mse["momentum"], f_acc["sgd"], f_acc["momentum"],
                               opt_cfg["fashion_lrs"]["sgd"] == opt_cfg["fashion_lrs"]["momentum"]),
        "l1": R.l1_sparsity(m("regularization.regression.l1.sparsity"),
                            m("regularization.regression.none.sparsity")),
        "l2": R.l2_norm(m("regularization.regression.l2.weight_l2"),
                        m("regularization.regression.none.weight_l2")),
        "dropout": R.dropout_effect(
            (m(f"{reg}.dropout.train_accuracy"), m(f"{reg}.none.train_accuracy")),
            (m(f"{reg}.dropout.val_accuracy"), m(f"{reg}.none.val_accuracy")),
            (m(f"{reg}.dropout.gap"), m(f"{reg}.none.gap"))),
        "zero_init": R.zero_init({k: int(m(f"init.regression.{k}.distinct_units"))
                                  for k in SCHEMES}),
        "init_scale": R.init_scale(_by(m, "init.fashion", SCHEMES, "test_accuracy"),
                                   init_cfg["normal_std"]),
    }


def _search(m: Metrics, runs: dict[str, Run]) -> dict[str, str]:
    cfg = runs["search"].config
    tasks, strategies = ("regression", "fashion"), ("grid", "random")
    out: dict[str, str] = {}
    fits, best, cost, noise = [], [], [], []
    for task in tasks:
        p = f"search.{task}"
        n = {s: int(m(f"{p}.{s}.n_fits")) for s in strategies}
        fits.append(RM.n_fits(task, {s: int(m(f"{p}.{s}.n_configs")) for s in strategies}, n,
                              {s: int(m(f"{p}.{s}.n_pruned")) for s in strategies}))
        for s in strategies:
            params = {k.rsplit(".", 1)[1]: v for k, v in runs["search"].metrics.items()
                      if k.startswith(f"{p}.{s}.best_params.")}
            best.append(RM.best_params(task, s, params, (m(f"{p}.{s}.best_cv_mean"),
                                                         m(f"{p}.{s}.best_cv_std")),
                                       m(f"{p}.{s}.test_score")))
        higher = task != "regression"
        cost.append(RM.search_cost(task, {s: m(f"{p}.{s}.wall_seconds") for s in strategies}, n,
                                   {s: m(f"{p}.{s}.best_cv_mean") for s in strategies}, higher))
        noise.append(f"in the {label(task)} {label('grid')} " +
                     RM.cv_noise(cfg["searches"][f"{task}.grid"]["rows"], higher))
    out["search_fits"] = " ".join(fits)
    out["search_best"] = " ".join(best)
    out["search_cost"] = " ".join(cost)
    out["cv_noise"] = "; ".join(noise) + "."
    out["parallel"] = RM.parallel(int(cfg.get("n_jobs", 1)))
    out["search_subset"] = count(cfg["fashion_subset"])
    return out


def _cnn_viz(m: Metrics, runs: dict[str, Run]) -> dict[str, str]:
    f_cfg = runs["fashion"].config
    variants = list(ARCHITECTURES)
    spread = {k.split(".")[2]: v for k, v in runs["viz"].metrics.items()
              if k.endswith(".std_by_epoch")}
    reg = "regularization.fashion"
    shape = {k: "$\\times$".join(map(str, m(f"viz.activations.{k}.shape")))
             for k in ("early", "deep")}
    vt = f_cfg["variants_train"]
    return {
        "batch_norm": RM.batch_norm(m("fashion.variants.no_bn.test_accuracy"),
                                    m("fashion.variants.reference.test_accuracy")),
        "conv_geometry": RM.conv_geometry(f_cfg["layers"]),
        "variant_budget": plural(vt["epochs"], "epoch"),
        "capacity": RM.capacity(_by(m, "fashion.variants", variants, "test_accuracy"),
                                {k: int(m(f"fashion.variants.{k}.params")) for k in variants}),
        "early_shape": shape["early"], "deep_shape": shape["deep"],
        "sparsity": RM.sparsity(m("viz.activations.early.sparsity"),
                                m("viz.activations.deep.sparsity")),
        "weight_spread": RM.weight_spread(spread),
        "saliency": RM.saliency(m("viz.saliency.object_fraction"), m("viz.saliency.object_area")),
        "bias_variance": RM.bias_variance(m("regression.test_mse"), m("regression.clean_mse"),
                                          m("regression.noise_floor")),
        "tradeoff": RM.fashion_tradeoff(_by(m, reg, METHODS, "train_accuracy"),
                                        _by(m, reg, METHODS, "gap")),
        "abstract_clean": num(m("regression.clean_mse")),
    }
