"""The handout's sentences about Part B and Parts 1-3 of Part C, each chosen by a rule from the
run's numbers (Parts 4-7: handout.rules_models).

Every function takes plain numbers (what the runs measured) and returns LaTeX text. Where a
sentence compares, the comparison is made on the values as printed (handout.wording), and each
side of it has its own words: "Adam beat plain SGD" only when Adam's printed accuracy is
higher, "matters little" only within the threshold handout/prose.yaml declares. The tests drive
each rule across its condition (tests/test_handout_rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypedDict

from handout.wording import (
    gap_pts,
    label,
    listing,
    num,
    pct,
    plural,
    points,
    pts,
    shown,
    threshold,
)


def best(values: Mapping[str, float], higher: bool, fmt=pct) -> str:
    """'best: Adam', or 'best: Adam and RMSprop, tied' when the printed values tie."""
    top = max(values.values()) if higher else min(values.values())
    tied = [k for k, v in values.items() if fmt(v) == fmt(top)]
    return f"best: {listing([label(k) for k in tied])}" + (", tied" if len(tied) > 1 else "")


def named_values(values: Mapping[str, float], fmt=pct, **fill: object) -> str:
    """'SGD 27.1\\%, Adam 57.0\\% and RMSprop 64.6\\%'."""
    return listing([f"{label(k, **fill)} {fmt(v)}" for k, v in values.items()])


# ------------------------------------------------------------------ Part B


class Gate(TypedDict):
    """One logic gate's perceptron run (metrics perceptron.{gate}.*)."""

    converged: bool
    epochs: int
    accuracy: float


def perceptron(gates: Mapping[str, Gate]) -> str:
    """AND and OR are separable (the rule must converge), XOR is not (it must not)."""
    conv = [g for g in ("and", "or") if gates[g]["converged"]]
    stuck = [g for g in ("and", "or") if not gates[g]["converged"]]
    parts = []
    if conv:
        parts.append("The Rosenblatt rule converges " + listing(
            [f"on {g.upper()} in {plural(gates[g]['epochs'], 'epoch')}" for g in conv]) + ".")
    if stuck:
        parts.append("It does not converge on " + listing([g.upper() for g in stuck], "or") +
                     f" within {plural(gates[stuck[0]]['epochs'], 'epoch')}, although a line "
                     "separates the classes: the learning rate or the epoch budget is wrong.")
    xor = gates["xor"]
    if xor["converged"]:
        parts.append("On XOR it reports convergence, which no linear separator allows: the run "
                     "is wrong, since XOR is not linearly separable")
    else:
        parts.append(f"On XOR it does not converge within {plural(xor['epochs'], 'epoch')} and "
                     f"reaches only {pct(xor['accuracy'], 0)} accuracy: XOR is not linearly "
                     "separable")
    return " ".join(parts)


def neuron_vs_parta(partb: float, parta: float, sig: int) -> str:
    """Part B's ∂L/∂w from one NumPy step against Part A's exact value, at Part A's figures."""
    value = f"$\\partial L/\\partial w = {num(partb, sig).strip('$')}$"
    if shown(partb, sig) == shown(parta, sig):
        return f"{value}, the value question~2 of Part A derives"
    return f"{value}, against {num(parta, sig)} in question~2 of Part A: they should agree"


def xor_net(accuracy: float, n: int = 8) -> str:
    """The 3-4-1 network on all 8 inputs: learned, or how many it gets right."""
    right = round(accuracy * n)
    if right == n:
        return f"learns $\\lnot((x_0 \\oplus x_1) \\land x_2)$ exactly: all {n} inputs right"
    return (f"gets only {right} of the {n} inputs of $\\lnot((x_0 \\oplus x_1) \\land x_2)$ "
            f"right ({pct(accuracy, 0)})")


# ------------------------------------------------------------------ Part 1: regression


def cv_choice(space: Mapping[str, Sequence[object]], k: int, cv: str, configs: int) -> str:
    """Which settings cross-validation chose (more than one candidate) and which were fixed."""
    from handout.wording import setting

    chosen = [label(n) for n, v in space.items() if len(v) > 1]
    fixed = [f"{label(n)} ({setting(v[0])})" for n, v in space.items() if len(v) == 1]
    text = (f"Cross-validation ({k}-fold, on the training split only) chose the "
            f"{listing(chosen)} among {plural(configs, 'configuration')} (CV MSE {cv})"
            if chosen else f"No setting was searched (CV MSE {cv})")
    if fixed:
        text += f"; the {listing(fixed)} {'was' if len(fixed) == 1 else 'were'} fixed"
    return text


def regression_recipe(optimizer: str, batch: int, n_train: int, epochs: int) -> str:
    """Full-batch only when the batch holds the whole training set; Adam's reason only for Adam."""
    if batch >= n_train:
        text = (f"for {plural(epochs, 'full-batch epoch')}: the data set is tiny, so full batches "
                "are cheap")
    else:
        text = f"for {plural(epochs, 'epoch')} in batches of {batch}"
    if optimizer == "adam":
        text += (", and Adam's per-parameter step sizes cope with the different scales of the "
                 "two layers")
    return text


def regularizers_regression(val: Mapping[str, float], gaps: Mapping[str, float],
                            n_train: int, es_epochs: int, epochs: int) -> str:
    """The held-out MSE and gap of each regularizer; whether the plain network overfits; whether
    the regularizers differ; whether early stopping stopped."""
    worst, low = max(val.values()), min(val.values())
    text = (f"held-out MSE: {named_values(val, num)} ({best(val, False, num)}); held-out "
            f"minus training MSE: {named_values(gaps, lambda v: num(v, 2))}. ")
    ratio = gaps["none"] / val["none"] if val["none"] else 0.0
    if ratio <= threshold("overfit_fraction"):
        text += (f"With {plural(n_train, 'training point')} and a smooth target the network "
                 "barely overfits (without regularization the gap is "
                 f"{pct(max(ratio, 0), 0)} of the held-out MSE)")
    else:
        text += (f"With {plural(n_train, 'training point')} the over-sized network overfits: "
                 f"without regularization the gap is {pct(ratio, 0)} of the held-out MSE")
    if worst <= threshold("mse_spread_ratio") * low:
        text += ", and the regularizers differ little"
    else:
        text += (f", and the regularizers differ: the worst held-out MSE is "
                 f"{worst / low:.1f} times the best")
    if es_epochs < epochs:
        text += (f". Early stopping ended training after {es_epochs} of "
                 f"{plural(epochs, 'epoch')}, before the fit could chase the noise.")
    else:
        text += f". Early stopping never triggered within {plural(epochs, 'epoch')}."
    return text


# ------------------------------------------------------------------ Part 2 and 3: optimizers


def optimizer_best(acc: Mapping[str, float]) -> str:
    top = max(acc.values())
    tied = [label(k) for k, v in acc.items() if pct(v) == pct(top)]
    verb = "reached" if len(tied) == 1 else "tied for"
    return (f"With the same budget and seed, {listing(tied)} {verb} the best test accuracy "
            f"({named_values(acc)})")


def adam_vs_sgd(adam: float, sgd: float) -> str:
    """The homework's 'Compare Adam vs. SGD': who won, by the printed difference."""
    d = points(adam, sgd)
    if d > 0:
        return (f"Adam beat plain SGD by {pts(d)}: its per-parameter step sizes make fast "
                "progress without tuning, while plain SGD at one fixed rate moves slowly along "
                "flat directions.")
    if d < 0:
        return (f"Plain SGD beat Adam by {pts(d)}. Each optimizer ran at its usual learning "
                "rate, and batch normalization keeps the layers well scaled, which removes much "
                "of what Adam's per-parameter step sizes add.")
    return (f"Adam and plain SGD tied at {pct(adam)}: with batch normalization keeping the "
            "layers well scaled, Adam's per-parameter step sizes added nothing here.")


def optimizer_spread(acc: Mapping[str, float]) -> str:
    """'matters little' only when best and worst are within the declared points."""
    hi = max(acc, key=acc.__getitem__)
    lo = min(acc, key=acc.__getitem__)
    d = points(acc[hi], acc[lo])
    n = {2: "Both", 3: "All three", 4: "All four", 5: "All five"}.get(len(acc), "All")
    if d <= Decimal(str(threshold("optimizer_spread_points"))):
        return (f"{n} ended within {pts(d)} of each other: at their usual learning rates, the "
                "choice of optimizer matters little here.")
    return (f"The best ({label(hi)}) and the worst ({label(lo)}) ended {pts(d)} apart: with "
            "this budget the choice of optimizer matters.")


def optimizers_regression(mse: Mapping[str, float]) -> str:
    lo, hi = min(mse, key=mse.__getitem__), max(mse, key=mse.__getitem__)
    ratio = mse[hi] / mse[lo]
    text = f"Regression, held-out MSE: {named_values(mse, num)} ({best(mse, False, num)})"
    if ratio <= threshold("mse_spread_ratio"):
        return text + "; the optimizers differ little on it."
    return (text + f"; without normalization layers the optimizers differ: {label(hi)}'s "
            f"held-out MSE is {ratio:.1f} times {label(lo)}'s.")


def momentum(reg_sgd: float, reg_mom: float, acc_sgd: float, acc_mom: float,
             same_lr: bool) -> str:
    """What momentum did on each task, in the direction the numbers went."""
    a, b = shown(reg_sgd), shown(reg_mom)
    verb = "lowered" if b < a else "raised" if b > a else "left"
    text = (f"On the regression task momentum {verb} the held-out MSE from {num(reg_sgd)} "
            f"(plain SGD) to {num(reg_mom)}" if verb != "left" else
            f"On the regression task momentum left the held-out MSE at {num(reg_mom)}")
    d = points(acc_mom, acc_sgd)
    rate = " at the same learning rate" if same_lr else ""
    if d < 0:
        text += (f"; on the CNN, where batch normalization already evens out the curvature, it "
                 f"ended {pts(d)} behind plain SGD{rate} ({pct(acc_mom)} against {pct(acc_sgd)})")
        if same_lr:
            text += ": momentum multiplies the effective step, so it wants a smaller rate"
    elif d > 0:
        text += (f"; on the CNN it ended {pts(d)} ahead of plain SGD{rate} ({pct(acc_mom)} "
                 f"against {pct(acc_sgd)})")
    else:
        text += f"; on the CNN it tied with plain SGD at {pct(acc_mom)}"
    return text + "."


# ------------------------------------------------------------------ Part 2 and 3: regularizers


def regularizer_gaps(gaps: Mapping[str, float]) -> str:
    """Did dropout and weight decay shrink the train-validation gap? Each on its own numbers."""
    text = ("In percentage points it was: "
            f"{named_values(gaps, lambda v: gap_pts(v).replace(' points', ''))}. ")
    verdicts = []
    for k, what in (("dropout", "Dropout"), ("l2", "weight decay")):
        d = points(gaps[k], gaps["none"])
        how = "shrank it" if d < 0 else "widened it" if d > 0 else "left it unchanged"
        verdicts.append(f"{what} {how} ({gap_pts(gaps[k])} against {gap_pts(gaps['none'])} "
                        "without regularization)")
    smallest = min(gaps, key=lambda k: abs(gaps[k]))
    return text + "; ".join(verdicts) + f"; the smallest gap came with {label(smallest)}."


def l1_sparsity(l1: float, none: float) -> str:
    if shown(l1) > shown(none) and pct(l1) != pct(none):
        return (f"L1 drives weights to exactly zero: {pct(l1)} of the regression weights are "
                f"(near) zero under L1 against {pct(none)} without regularization")
    return (f"L1 left the regression weights no sparser than without regularization "
            f"({pct(l1)} near zero against {pct(none)})")


def l2_norm(l2: float, none: float) -> str:
    a, b = shown(none), shown(l2)
    if b < a:
        return (f"L2 shrinks all weights smoothly: their L2 norm falls from {num(none)} to "
                f"{num(l2)}")
    return (f"L2 did not shrink the weights here: their L2 norm is {num(l2)} against "
            f"{num(none)} without it")


def dropout_effect(train: tuple[float, float], val: tuple[float, float],
                   gap: tuple[float, float]) -> str:
    """(with dropout, without) for training and validation accuracy and their gap."""
    dt, dv, dg = points(*train), points(*val), points(*gap)
    t = "lowered" if dt < 0 else "raised" if dt > 0 else "did not change"
    if dg:
        g = (f"{'shrank' if dg < 0 else 'widened'} from {gap_pts(gap[1])} to "
             f"{gap_pts(gap[0])}")
    else:
        g = f"stayed at {gap_pts(gap[0])}"
    text = (f"On FashionMNIST dropout {t} training accuracy ({pct(train[0])} against "
            f"{pct(train[1])} without it) and gave validation accuracy {pct(val[0])} against "
            f"{pct(val[1])}: the gap {g}")
    if dv > 0:
        return text + (", and validation accuracy improved, because units can no longer rely on "
                       "each other's co-adapted features.")
    return text + (", but on this subset and budget validation accuracy did not improve: "
                   "dropout fights overfitting and pays for it with slower fitting, which only "
                   "wins with longer training.")


# ------------------------------------------------------------------ Part 3: initialization


def zero_init(distinct: Mapping[str, int]) -> str:
    """Zero init leaves every hidden unit identical: 1 distinct unit, if the run agrees."""
    z = distinct["zero"]
    others = listing([f"{distinct[k]} with {label(k)}" for k in ("xavier", "he")])
    if z == 1:
        return (f"the regression MLP ended with every unit of its first hidden layer identical "
                f"(1 distinct unit), against {others} initialization")
    return (f"yet the regression MLP ended with {plural(z, 'distinct unit')} in its first "
            f"hidden layer (against {others} initialization): something other than the "
            "gradient broke the symmetry")


def init_scale(acc: Mapping[str, float], std: float, classes: int = 10) -> str:
    """Whether the fixed-std normal init fell behind the fan-in-scaled ones, and which of
    normal and zero init ended at chance level (within the declared points of 100/classes)."""
    lag = min(points(acc["xavier"], acc["normal"]), points(acc["he"], acc["normal"]))
    near = Decimal(str(threshold("chance_points")))
    chance = {k: abs(Decimal(f"{100 * acc[k]:.1f}") - Decimal(str(100 / classes))) <= near
              for k in ("normal", "zero")}
    inside = [f"chance level for {classes} classes"] if chance["normal"] else []
    inside.append(f"zero initialization: {pct(acc['zero'])}" + (
        (", also at chance" if chance["normal"] else ", chance level") if chance["zero"] else ""))
    normal = f"{pct(acc['normal'])} ({'; '.join(inside)})"
    scaled = f"{pct(acc['xavier'])} with Xavier and {pct(acc['he'])} with He initialization"
    if lag >= Decimal(str(threshold("init_gap_points"))):
        return (f"a normal initialization with a fixed standard deviation of {std:g}, whatever "
                f"the fan-in, shrinks the signal at every layer, and the deeper FashionMNIST MLP "
                f"reached only {normal} against {scaled}, which scale the variance to the "
                "fan-in so that signals and gradients keep their size through the layers")
    return (f"with a fixed standard deviation of {std:g} the deeper FashionMNIST MLP still "
            f"reached {normal}, within {pts(lag)} of {scaled}: at this depth the scale did "
            "not hurt")
