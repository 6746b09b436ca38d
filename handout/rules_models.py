"""The handout's sentences about Parts 2 and 4-7 of Part C (the CNN, the searches, the
visualizations, the takeaways), each chosen by a rule from the run's numbers; Part B and
Parts 1-3 are in handout.rules, which says how the rules are made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from handout.wording import (
    count,
    label,
    listing,
    num,
    pct,
    plural,
    pm,
    points,
    pts,
    seconds,
    setting,
    shown,
    threshold,
)

# ------------------------------------------------------------------ Part 2: the reference CNN


def final_accuracy(acc: float, n_test: int, epochs: int, train_s: float, device: str) -> str:
    where = "on the CPU" if device == "cpu" else f"on the {device.split(':')[0].upper()}"
    return (f"{pct(acc, 2)} on {plural(n_test, 'test image')} after "
            f"{plural(epochs, 'epoch')} ({seconds(train_s)} of training {where})")


def hardest_class(per_class: Mapping[str, float], row: Sequence[int], worst: str,
                  classes: Sequence[str]) -> str:
    """The hardest and easiest class, and what the hardest is mistaken for (its nonzero
    confusions, at most two, most frequent first). `per_class` is keyed by class name."""
    easiest = max(per_class, key=per_class.__getitem__)
    i = list(classes).index(worst)
    mistakes = sorted(((n, j) for j, n in enumerate(row) if j != i and n > 0), reverse=True)[:2]
    text = f"the hardest class is {worst} ({pct(per_class[worst])})"
    if mistakes:
        text += ", mistaken most often for " + listing(
            [f"{classes[j]} ({plural(n, 'image')})" for n, j in mistakes])
    if pct(per_class[easiest]) == pct(per_class[worst]):
        return text + "; every class scored the same"
    return text + f"; the easiest is {easiest} ({pct(per_class[easiest])})"


# ------------------------------------------------------------------ Part 4: searches


def n_fits(task: str, configs: Mapping[str, int], fits: Mapping[str, int],
           pruned: Mapping[str, int]) -> str:
    """How many configurations each strategy tried, in how many fits (k per configuration,
    fewer where a hopeless one was pruned)."""
    def one(s: str) -> str:
        cut = f", {pruned[s]} pruned" if pruned[s] else ""
        return (f"{label(s)} tried {plural(configs[s], 'configuration')} in "
                f"{plural(fits[s], 'fit')}{cut}")
    return f"For {label(task)}, " + listing([one(s) for s in fits]) + "."


def best_params(task: str, strategy: str, params: Mapping[str, Any], cv: tuple[float, float],
                test: float) -> str:
    """The best configuration in words, its CV score and its refit test score; MSE for
    regression, accuracy (in %) for FashionMNIST."""
    shown_params = listing([f"{label(k)} {_param(v)}" for k, v in params.items()])
    if task == "regression":
        score = f"CV MSE {pm(*cv)}, test MSE {num(test)}"
    else:
        score = (f"CV accuracy {pct(cv[0])} $\\pm$ {Decimal(f'{100 * cv[1]:.1f}')} points, "
                 f"test accuracy {pct(test)}")
    head = f"{label(task)}, {label(strategy)}"
    return f"{head[0].upper()}{head[1:]}: {shown_params}; {score}."


def _param(v: Any) -> str:
    """A searched value: names as words, numbers to 3 significant figures (a random search
    draws 0.00132624818838; 0.00133 is what matters)."""
    if isinstance(v, str):
        return label(v)
    return setting(float(f"{v:.3g}")) if isinstance(v, float) else setting(v)


def search_cost(task: str, wall: Mapping[str, float], fits: Mapping[str, int],
                cv: Mapping[str, float], higher: bool) -> str:
    """Grid vs random on one task: fits, time, and which found the better CV score."""
    g, r = shown(cv["grid"]), shown(cv["random"])
    better = (r > g) if higher else (r < g)
    worse = (r < g) if higher else (r > g)
    found = ("found a better" if better else "found a worse" if worse else "matched grid "
             "search's") + " CV score"
    where = "the regression task" if task == "regression" else label(task)
    return (f"On {where}, grid search's {plural(fits['grid'], 'fit')} took "
            f"{seconds(wall['grid'])} of training and random search's "
            f"{plural(fits['random'], 'fit')} {seconds(wall['random'])}; random search {found}.")


def cv_noise(rows: Sequence[Mapping[str, Any]], higher: bool) -> str:
    """Whether the best configuration's CV score is clear of the runner-up's by a standard
    deviation, or the two are within each other's noise."""
    if len(rows) < 2:
        return "there was a single configuration, so nothing to choose between"
    order = sorted(rows, key=lambda r: r["mean"], reverse=higher)
    a, b = order[0], order[1]
    if abs(a["mean"] - b["mean"]) <= max(a["std"], b["std"]):
        return ("the best and the runner-up configuration are within one standard deviation of "
                "each other across the folds, so the choice between them is within the noise "
                "(the better mean was taken)")
    return ("the best configuration is clear of the runner-up by more than one standard "
            "deviation across the folds")


def parallel(workers: int) -> str:
    """How the trials ran: the workers sharing the study's storage."""
    many = (f"{plural(workers, 'worker process', 'worker processes')} take" if workers > 1
            else "one worker process takes")
    return (f"Here {many} the trials from the study's storage (an SQLite file; PostgreSQL lets "
            "workers on several machines share one study); each configuration is seeded from "
            "its own parameters, so the scores do not depend on how many workers ran or in "
            "which order.")


# ------------------------------------------------------------------ Part 5: CNN design


def batch_norm(no_bn: float, ref: float) -> str:
    d = points(ref, no_bn)
    if d > 0:
        return (f"without it the same network reached only {pct(no_bn)} against {pct(ref)} in "
                "the variant study")
    return (f"in the variant study the network without it reached {pct(no_bn)} against "
            f"{pct(ref)} with it: on this small budget its benefit did not show")


def _geometry(r: Mapping[str, Any]) -> tuple[str, Any, Any]:
    """(kernel as LaTeX, stride, padding) of a layer-table row (nets.models.layer_table):
    stride and padding as the table has them (ints; None for a layer without them)."""
    k, s, p = (r.get(n) for n in ("kernel_size", "stride", "padding"))
    kernel = "\\times ".join(map(str, k)) if isinstance(k, list) else f"{k}\\times {k}"
    return (kernel, s[0] if isinstance(s, list) else s, p[0] if isinstance(p, list) else p)


def conv_geometry(layers: Sequence[Mapping[str, Any]]) -> str:
    """Kernel, stride and padding of the convolutions and pools, as the layer table has them."""
    convs = {_geometry(r) for r in layers if r["type"] == "Conv2d"}
    pools = {_geometry(r) for r in layers if "Pool" in r["type"]}
    parts = []
    if len(convs) == 1:
        k, s, p = next(iter(convs))
        parts.append(f"All convolutions are ${k}$ with stride {s} and padding {p}")
        n = int(k.split("\\times")[0])
        if s == 1 and 2 * p + 1 == n:
            parts[-1] += ", so they keep the spatial size"
        if _stacked(layers) and s == 1 and n > 1:  # two stacked k x k see (2k-1) x (2k-1)
            w = f"${2 * n - 1}\\times {2 * n - 1}$"
            parts[-1] += f", and two stacked ones see {w} with fewer parameters than one {w}"
    else:
        parts.append("The convolutions use " + listing(
            [f"${k}$ kernels with stride {s} and padding {p}" for k, s, p in sorted(convs)]))
    if pools:
        parts.append("downsampling is left to the " + listing(
            [f"${k}$, stride-{s} max pools" for k, s, _ in sorted(pools)]))
    return "; ".join(parts)


def _stacked(layers: Sequence[Mapping[str, Any]]) -> bool:
    """Two convolutions with only normalization and activation between them."""
    last = None
    for r in layers:
        if r["type"] in ("BatchNorm2d", "ReLU"):
            continue
        if r["type"] == "Conv2d" and last == "Conv2d":
            return True
        last = r["type"]
    return False


def capacity(acc: Mapping[str, float], params: Mapping[str, int]) -> str:
    """Did the biggest variant win? The variants by accuracy, with their sizes."""
    listed = listing([f"{label(k)} {pct(acc[k])} ({count(params[k])} parameters)"
                      for k in acc])
    top = max(acc, key=acc.__getitem__)
    biggest = max(params, key=params.__getitem__)
    text = f"In the variant study: {listed}. "
    if top == biggest:
        return text + (f"The largest network ({label(top)}) scored best: more capacity helped "
                       "on this budget, until the data and training time run out.")
    return text + (f"The best was {label(top)}, not the largest ({label(biggest)}): on this "
                   "budget extra capacity did not pay, because a bigger network needs more "
                   "data and epochs to fit.")


# ------------------------------------------------------------------ Part 6: visualization


def sparsity(early: float, deep: float) -> str:
    d = points(deep, early)
    rel = "sparser" if d > 0 else "less sparse" if d < 0 else "as sparse"
    return f"{rel} ({pct(deep)} zeros after ReLU against {pct(early)} early)"


def weight_spread(std_by_epoch: Mapping[str, Sequence[float]]) -> str:
    """How each layer's weight spread changed, where most of it happened, and whether any layer
    collapsed or exploded (factors outside the declared band)."""
    # The factors as printed (2 decimals) decide "grew" and "shrank".
    factor = {k: Decimal(f"{v[-1] / v[0]:.2f}") for k, v in std_by_epoch.items() if v and v[0]}
    grew = [k for k, f in factor.items() if f > 1]
    shrank = [k for k, f in factor.items() if f < 1]
    listed = listing([f"{f} ({label(k)})" for k, f in factor.items()])
    verb = "grew" if len(grew) == len(factor) else "shrank" if len(shrank) == len(factor) \
        else "changed"
    text = f"The spread (standard deviation) of each layer's weights {verb} by a factor of {listed}"
    if len(factor) > 1:
        hi, lo = max(factor, key=factor.__getitem__), min(factor, key=factor.__getitem__)
        text += f": most in the {label(hi)}, least in the {label(lo)}"
    early = [k for k, v in std_by_epoch.items() if len(v) > 2 and v[-1] != v[0] and
             abs(v[1] - v[0]) / abs(v[-1] - v[0]) >= threshold("first_epoch_share")]
    if early and len(early) == len(factor):
        text += ", mostly in the first epoch, after which the histograms settle"
    bad = [k for k, f in factor.items()
           if not threshold("spread_collapse") <= float(f) <= threshold("spread_explode")]
    if bad:
        return text + (f". The {listing([label(k) for k in bad])} moved outside a factor of "
                       f"{threshold('spread_collapse'):g} to {threshold('spread_explode'):g}: "
                       "a sign of collapsing or exploding weights.")
    return text + (". No layer collapses to zero or explodes (every factor within "
                   f"{threshold('spread_collapse'):g} to {threshold('spread_explode'):g}), a "
                   "sign of healthy training.")


def saliency(fraction: float, area: float) -> str:
    """The share of saliency on the garment against the share of the image it covers."""
    text = (f"{pct(fraction)} of the saliency falls on the garment, which covers "
            f"{pct(area)} of the image")
    ratio = fraction / area if area else 0.0
    if pct(fraction) == pct(area):
        return text + (": exactly its share of the area, so the map does not single out the "
                       "garment")
    if fraction < area:
        return text + (": less than its share of the area, so the gradient falls on the "
                       "background around the garment as much as on the garment: the model "
                       "reads the garment's outline against the background")
    if ratio < threshold("saliency_share_ratio"):
        return text + (": barely more than its share of the area, so the model also reads the "
                       "garment's outline against the background")
    return text + f": {ratio:.1f} times its share of the area, so the model looks at the garment"


# ------------------------------------------------------------------ Part 7: takeaways


def bias_variance(test_mse: float, clean_mse: float, floor: float) -> str:
    close = test_mse <= threshold("noise_floor_ratio") * floor
    clean = clean_mse <= threshold("clean_fit_ratio") * floor
    where = "is close to" if close else "is well above"
    text = (f"The regression network's held-out MSE ({num(test_mse)}) {where} the noise floor "
            f"of {floor:g}, and its error against the clean function is {num(clean_mse)}")
    if clean:
        return text + (": what remains is irreducible noise, not bias, and a larger network "
                       "would only add variance.")
    return text + (f", more than {threshold('clean_fit_ratio'):g} times the noise floor: the "
                   "network has not captured the function yet (bias), and more capacity or "
                   "training would help before variance becomes the concern.")


def fashion_tradeoff(train: Mapping[str, float], gaps: Mapping[str, float]) -> str:
    """Did any regularizer trade training accuracy for a smaller gap on FashionMNIST?"""
    traded = [k for k in gaps if k != "none" and points(gaps[k], gaps["none"]) < 0
              and points(train[k], train["none"]) < 0]
    if traded:
        k = min(traded, key=lambda m: gaps[m])
        return (f"On FashionMNIST {label(k)} traded {pts(points(train[k], train['none']))} of "
                f"training accuracy for a gap smaller by {pts(points(gaps[k], gaps['none']))}.")
    return ("On FashionMNIST no regularizer traded training accuracy for a smaller gap on this "
            "budget: the gap there is small to begin with.")
