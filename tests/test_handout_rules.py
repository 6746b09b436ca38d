"""Every comparative sentence of the handout, driven across its condition: change the numbers and
the sentence changes (handout.rules, handout.rules_models), and the numbers are written once,
one way (handout.wording, nets.labels). Pure functions: no runs, no torch training."""

from __future__ import annotations

import pytest

from core.errors import DlhwError
from handout import rules as R
from handout import rules_models as RM
from handout import wording as W
from handout.prose import caption
from handout.runs import HandoutError, Run
from nets.labels import label, plural

OPT = ("sgd", "momentum", "adam", "rmsprop")
REG = ("none", "l1", "l2", "dropout", "early_stopping")


# ------------------------------------------------------------------ wording


def test_numbers_are_written_one_way():
    assert W.num(-0.187046335996, 4) == "$-0.1870$"  # Part A's figures, trailing zero kept
    assert W.num(0.0139451, 3) == "0.0139" and W.num(0.01, 3) == "0.0100"
    assert W.num(289130) == "289,130"
    assert W.pct(0.6465) == r"64.6\%" and W.pct(0.7745000124, 2) == r"77.45\%"
    assert W.points(0.5705, 0.2705) == W.points(0.570, 0.271)  # 57.0 - 27.1 as printed
    assert str(W.points(0.5705, 0.2705)) == "29.9"
    assert W.pm(0.0177475663, 0.0065566) == r"$0.0177 \pm 0.0066$"
    assert W.setting(1e-4) == "0.0001" and W.setting(1e-5) == "$10^{-5}$"
    assert W.setting(8.66e-05) == r"$8.66 \times 10^{-5}$" and W.setting(64) == "64"
    assert W.setting(0.1 ** 2) == "0.010000000000000002"  # a computed value is not a setting:
    assert W.num(0.1 ** 2, 3) == "0.0100"                  # num() rounds it
    assert W.seconds(0.6637) == r"0.66\,s" and W.seconds(590.4) == r"590\,s"
    assert W.listing(["a"]) == "a" and W.listing(["a", "b", "c"]) == "a, b and c"
    assert W.gap_pts(-0.012) == "$-$1.2 points"


def test_counts_take_their_noun_in_the_right_number():
    assert plural(1, "epoch") == "1 epoch" and plural(3, "epoch") == "3 epochs"
    assert plural(1, "distinct unit") == "1 distinct unit"
    assert plural(2000, "test image") == "2,000 test images"
    assert plural(2, "process", "processes") == "2 processes"


def test_every_id_has_a_human_name_and_unknown_ids_are_errors():
    assert label("early_stopping") == "early stopping" and label("no_bn") == "no batch norm"
    assert label("conv_last") == "last convolution" and label("weight_decay") == "weight decay"
    assert label("normal", std=0.01) == r"normal $\mathcal{N}(0, 0.01^2)$"
    with pytest.raises(DlhwError, match="needs std"):
        label("normal")
    with pytest.raises(DlhwError, match="no display name for 'nope'"):
        label("nope")
    from nets.labels import labels
    for key, name in labels().items():  # plain words: math only inside $...$
        outside = name.split("$")[::2]
        assert not any(c in "".join(outside) for c in "_\\%&#^{}"), key


def test_captions_are_filled_from_the_run(tmp_path):
    run = Run("fashion", tmp_path, {"fashion.epochs": 1},
              {"test_images": 2000, "variants_train": {"epochs": 1}})
    text = caption("on the <<test_images>> test images, <<variants_train.epochs|epoch>>, "
                   "<<fashion.epochs|epoch>>", run)
    assert text == "on the 2,000 test images, 1 epoch, 1 epoch"
    with pytest.raises(HandoutError, match="'nope'"):
        caption("<<nope>>", run)


# ------------------------------------------------------------------ Part B


def test_perceptron_sentence_follows_convergence():
    ok = {"and": {"converged": True, "epochs": 6, "accuracy": 1.0},
          "or": {"converged": True, "epochs": 1, "accuracy": 1.0},
          "xor": {"converged": False, "epochs": 100, "accuracy": 0.5}}
    text = R.perceptron(ok)
    assert "converges on AND in 6 epochs and on OR in 1 epoch." in text
    assert "does not converge within 100 epochs and reaches only 50\\%" in text
    bad = {**ok, "or": {"converged": False, "epochs": 100, "accuracy": 0.75},
           "xor": {"converged": True, "epochs": 3, "accuracy": 1.0}}
    text = R.perceptron(bad)
    assert "does not converge on OR within 100 epochs" in text
    assert "reports convergence" in text and "reaches only" not in text


def test_part_b_gradient_is_compared_with_part_a_at_its_figures():
    assert R.neuron_vs_parta(-0.187046335996, -0.18704633599585, 4).endswith(
        "the value question~2 of Part A derives")
    text = R.neuron_vs_parta(-0.1875, -0.18704633599585, 4)
    assert "against $-0.1870$" in text and "derives" not in text
    assert "-0.187046" not in R.neuron_vs_parta(-0.187046335996, -0.187046, 4)


def test_xor_net_learns_or_says_how_many_it_gets():
    assert "all 8 inputs right" in R.xor_net(1.0)
    assert "gets only 7 of the 8 inputs" in R.xor_net(0.875)


# ------------------------------------------------------------------ Part 1


def test_cross_validation_chose_only_what_it_searched():
    space = {"activation": ["tanh", "relu"], "hidden": [32, 64], "lr": [0.01],
             "weight_decay": [0.0001]}
    text = R.cv_choice(space, 3, "X", 4)
    assert "chose the activation and hidden units among 4 configurations" in text
    assert "learning rate (0.01) and weight decay (0.0001) were fixed" in text
    text = R.cv_choice({**space, "weight_decay": [0.0, 0.0001]}, 5, "X", 8)
    assert "activation, hidden units and weight decay" in text
    assert "learning rate (0.01) was fixed" in text


def test_full_batch_and_adam_reasons_only_when_true():
    text = R.regression_recipe("adam", 160, 160, 300)
    assert "300 full-batch epochs" in text and "Adam's per-parameter" in text
    text = R.regression_recipe("sgd", 32, 160, 1)
    assert "1 epoch in batches of 32" in text and "full-batch" not in text and "Adam" not in text


def _reg(val_none=0.0139, gap_none=0.0067, worst=0.0371):
    val = {"none": val_none, "l1": 0.0134, "l2": 0.0178, "dropout": worst,
           "early_stopping": 0.0105}
    gaps = {"none": gap_none, "l1": 0.0058, "l2": 0.00092, "dropout": -0.0203,
            "early_stopping": -0.0151}
    return val, gaps


def test_regularizer_sentences_on_regression_follow_the_numbers():
    val, gaps = _reg()
    text = R.regularizers_regression(val, gaps, 120, 152, 300)
    assert "overfits: without regularization the gap is 48\\%" in text
    assert "barely" not in text and "the worst held-out MSE is 3.5 times the best" in text
    assert "ended training after 152 of 300 epochs" in text and "(best: early stopping)" in text
    val, gaps = _reg(gap_none=0.001, worst=0.0140)
    val.update(l2=0.0130, early_stopping=0.0125)
    text = R.regularizers_regression(val, gaps, 120, 300, 300)
    assert "barely overfits" in text and "differ little" in text
    assert "never triggered within 300 epochs" in text


# ------------------------------------------------------------------ Parts 2-3: optimizers


def test_adam_vs_sgd_names_the_winner_by_the_printed_difference():
    text = R.adam_vs_sgd(0.5705, 0.2705)
    assert text.startswith("Adam beat plain SGD by 29.9 points")
    assert R.adam_vs_sgd(0.2705, 0.5705).startswith("Plain SGD beat Adam by 29.9 points")
    assert R.adam_vs_sgd(0.9001, 0.9004).startswith("Adam and plain SGD tied at 90.0")


def test_optimizer_matters_little_only_within_the_threshold():
    spread = dict(zip(OPT, (0.2705, 0.3515, 0.5705, 0.6465), strict=True))
    text = R.optimizer_spread(spread)
    assert "little" not in text and "ended 37.5 points apart" in text
    assert "(RMSprop)" in text and "(SGD)" in text
    close = dict(zip(OPT, (0.901, 0.905, 0.912, 0.92), strict=True))
    assert "All four ended within 1.9 points of each other" in R.optimizer_spread(close)
    assert "matters little" in R.optimizer_spread(close)


def test_best_optimizer_and_ties():
    acc = dict(zip(OPT, (0.2705, 0.3515, 0.5705, 0.6465), strict=True))
    assert "RMSprop reached the best test accuracy" in R.optimizer_best(acc)
    assert "SGD 27.1\\%, SGD with momentum 35.1\\%, Adam 57.0\\% and RMSprop 64.6\\%" in \
        R.optimizer_best(acc)
    acc["adam"] = 0.6461
    assert "Adam and RMSprop tied for the best" in R.optimizer_best(acc)


def test_regression_optimizers_differ_or_not():
    mse = dict(zip(OPT, (0.104, 0.0286, 0.0199, 0.0462), strict=True))
    assert "SGD's held-out MSE is 5.2 times Adam's" in R.optimizers_regression(mse)
    mse = dict(zip(OPT, (0.0210, 0.0205, 0.0199, 0.0202), strict=True))
    assert "differ little" in R.optimizers_regression(mse)


def test_momentum_sentence_follows_each_direction():
    text = R.momentum(0.104, 0.0286, 0.2705, 0.3515, True)
    assert "lowered the held-out MSE from 0.104 (plain SGD) to 0.0286" in text
    assert "8.0 points ahead of plain SGD at the same learning rate" in text
    text = R.momentum(0.0286, 0.104, 0.3515, 0.2705, True)
    assert "raised" in text and "8.0 points behind plain SGD at the same learning rate" in text
    assert "wants a smaller rate" in text
    text = R.momentum(0.05, 0.05, 0.5, 0.4999, False)
    assert "left the held-out MSE at 0.0500" in text and "tied with plain SGD" in text
    assert "same learning rate" not in R.momentum(0.1, 0.05, 0.5, 0.4, False)


# ------------------------------------------------------------------ Parts 2-3: regularizers


def test_weight_decay_shrinks_the_gap_only_when_it_is_smaller():
    gaps = dict(zip(REG, (0.049, 0.061, 0.053, 0.031, 0.049), strict=True))
    text = R.regularizer_gaps(gaps)
    assert "Dropout shrank it (3.1 points against 4.9 points" in text
    assert "weight decay widened it (5.3 points against 4.9 points" in text
    assert "smallest gap came with dropout" in text
    gaps["l2"] = 0.040
    assert "weight decay shrank it" in R.regularizer_gaps(gaps)
    gaps["dropout"] = 0.049
    assert "Dropout left it unchanged" in R.regularizer_gaps(gaps)


def test_l1_and_l2_claims_hold_only_when_the_weights_agree():
    assert "L1 drives weights to exactly zero: 56.7\\%" in R.l1_sparsity(0.567, 0.0099)
    assert "no sparser" in R.l1_sparsity(0.0099, 0.0099)
    assert "falls from 14.2 to 7.49" in R.l2_norm(7.49, 14.2)
    assert "did not shrink" in R.l2_norm(15.0, 14.2)


def test_dropout_effect_in_every_direction():
    text = R.dropout_effect((0.787, 0.831), (0.756, 0.782), (0.031, 0.049))
    assert "dropout lowered training accuracy (78.7\\% against 83.1\\%" in text
    assert "the gap shrank from 4.9 points to 3.1 points" in text and "did not improve" in text
    text = R.dropout_effect((0.85, 0.831), (0.80, 0.782), (0.05, 0.049))
    assert "raised training accuracy" in text and "widened" in text and "improved, because" in text


def test_initialization_sentences():
    assert "(1 distinct unit)" in R.zero_init({"zero": 1, "xavier": 64, "he": 64, "normal": 64})
    text = R.zero_init({"zero": 3, "xavier": 64, "he": 64, "normal": 64})
    assert "3 distinct units" in text and "(s)" not in text
    acc = {"zero": 0.1, "normal": 0.1, "xavier": 0.6165, "he": 0.668}
    text = R.init_scale(acc, 0.01)
    assert "reached only 10.0\\% (chance level for 10 classes; zero initialization: 10.0\\%, " \
        "also at chance) against 61.7\\% with Xavier" in text
    acc = {"zero": 0.1, "normal": 0.612, "xavier": 0.6165, "he": 0.618}
    text = R.init_scale(acc, 0.01)
    assert "only" not in text and "still reached 61.2\\%" in text and "within 0.5 points" in text
    assert "(zero initialization: 10.0\\%, chance level)" in text


# ------------------------------------------------------------------ Parts 2, 4-7


def test_final_accuracy_and_classes():
    assert RM.final_accuracy(0.7745, 2000, 1, 5.87, "cpu") == \
        r"77.45\% on 2,000 test images after 1 epoch (5.9\,s of training on the CPU)"
    assert "on the CUDA" in RM.final_accuracy(0.9, 10000, 30, 600, "cuda:0")
    classes = ["A", "B", "C"]
    text = RM.hardest_class({"A": 0.9, "B": 0.35, "C": 0.8}, [0, 70, 0], "B", classes)
    assert "hardest class is B (35.0\\%)" in text and "mistaken" not in text
    text = RM.hardest_class({"A": 0.9, "B": 0.35, "C": 0.8}, [1, 70, 56], "B", classes)
    assert "mistaken most often for C (56 images) and A (1 image)" in text


def test_search_sentences():
    text = RM.n_fits("fashion", {"grid": 2, "random": 2}, {"grid": 6, "random": 4},
                     {"grid": 0, "random": 1})
    assert text == ("For FashionMNIST, grid search tried 2 configurations in 6 fits and random "
                    "search tried 2 configurations in 4 fits, 1 pruned.")
    text = RM.best_params("regression", "random",
                          {"activation": "relu", "lr": 0.00422463807425,
                           "weight_decay": 8.66327976135e-05, "hidden": 128},
                          (0.0404806, 0.0186978), 0.0732104)
    assert text.startswith("Regression, random search: activation ReLU, learning rate 0.00422")
    assert r"weight decay $8.66 \times 10^{-5}$" in text and "weight_decay" not in text
    assert r"CV MSE $0.040 \pm 0.019$, test MSE 0.0732" in text
    text = RM.best_params("fashion", "grid", {"lr": 0.001}, (0.4917, 0.07654), 0.5435)
    assert "CV accuracy 49.2\\% $\\pm$ 7.7 points, test accuracy 54.4\\%" in text
    cost = RM.search_cost("fashion", {"grid": 1.19, "random": 0.986}, {"grid": 6, "random": 6},
                          {"grid": 0.4917, "random": 0.4583}, True)
    assert "random search found a worse CV score" in cost and r"took 1.2\,s of" in cost
    assert "found a better" in RM.search_cost("regression", {"grid": 1, "random": 1},
                                              {"grid": 6, "random": 3},
                                              {"grid": 0.054, "random": 0.040}, False)
    rows = [{"mean": 0.49, "std": 0.08}, {"mean": 0.40, "std": 0.04}]
    assert "clear of the runner-up" in RM.cv_noise(rows, True)
    rows[1]["mean"] = 0.45
    assert "within the noise" in RM.cv_noise(rows, True)
    assert RM.parallel(1).startswith("Here one worker process takes the trials")
    assert RM.parallel(2).startswith("Here 2 worker processes take the trials")


def test_cnn_sentences():
    assert "reached only 11.2\\% against 14.5\\%" in RM.batch_norm(0.1125, 0.145)
    assert "did not show" in RM.batch_norm(0.30, 0.145)
    conv = {"type": "Conv2d", "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1]}
    relu, pool = {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2, "stride": 2,
                                    "padding": 0}
    text = RM.conv_geometry([conv, relu, conv, relu, pool])
    assert "All convolutions are $3\\times 3$ with stride 1 and padding 1, so they keep" in text
    assert "two stacked ones see $5\\times 5$" in text and "stride-2 max pools" in text
    big = {**conv, "kernel_size": [5, 5], "padding": [2, 2]}
    assert "$9\\times 9$" in RM.conv_geometry([big, relu, big])
    assert "stacked" not in RM.conv_geometry([conv, pool, conv])
    acc = {"shallow": 0.3185, "reference": 0.145, "wide": 0.2075}
    params = {"shallow": 421738, "reference": 289130, "wide": 1131210}
    assert "The best was shallow, not the largest (wide)" in RM.capacity(acc, params)
    acc["wide"] = 0.40
    assert "The largest network (wide) scored best" in RM.capacity(acc, params)


def test_visualization_sentences():
    assert RM.sparsity(0.464, 0.656).startswith("sparser (65.6\\%")
    assert RM.sparsity(0.656, 0.464).startswith("less sparse")
    std = {"conv1": [0.19, 0.199, 0.200], "conv_last": [0.024, 0.0279, 0.0284],
           "fc": [0.017, 0.0431, 0.0452]}
    text = RM.weight_spread(std)
    assert "grew by a factor of 1.05 (first convolution), 1.18 (last convolution)" in text
    assert "most in the output layer, least in the first convolution" in text
    assert "mostly in the first epoch" in text and "No layer collapses" in text
    std["fc"] = [0.017, 0.018, 0.5]
    text = RM.weight_spread(std)
    assert "output layer moved outside a factor of 0.5 to 10" in text
    assert "mostly in the first epoch" not in text and "No layer" not in text
    assert "shrank by" in RM.weight_spread({"fc": [0.2, 0.15, 0.1]})


def test_saliency_share_sentence_follows_the_ratio():
    text = RM.saliency(0.434, 0.462)
    assert "less than its share" in text and "barely" not in text
    assert "barely more than its share" in RM.saliency(0.50, 0.462)
    text = RM.saliency(0.80, 0.462)
    assert "1.7 times its share" in text and "barely" not in text


def test_takeaways_follow_the_numbers():
    text = RM.bias_variance(0.0143, 0.00184, 0.01)
    assert "is close to the noise floor" in text and "irreducible noise, not bias" in text
    text = RM.bias_variance(0.05, 0.04, 0.01)
    assert "well above" in text and "irreducible" not in text and "(bias)" in text
    train = dict(zip(REG, (0.831, 0.829, 0.827, 0.787, 0.831), strict=True))
    gaps = dict(zip(REG, (0.049, 0.061, 0.053, 0.031, 0.049), strict=True))
    assert "dropout traded 4.4 points of training accuracy for a gap smaller by 1.8 points" in \
        RM.fashion_tradeoff(train, gaps)
    gaps["dropout"] = 0.06
    assert "no regularizer traded" in RM.fashion_tradeoff(train, gaps)
