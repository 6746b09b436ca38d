"""The Part B notebook, generated from the reference implementation in nets/ (one source of truth).

Every code cell that defines something is cut out of the nets/ modules' own source (a top-level
function, class or constant, found with `ast`), so the notebook and `dlhw run partb` run the very
same code and reach the same metrics. Only the prose, the short cells that call and plot, and the
model answers to the written questions live here.

Cell conventions (what a grader may rely on)
--------------------------------------------
A notebook is a sequence of cells of three roles; `classify_cell` tells them apart.

* code answer: a code cell whose first line is exactly ``# STARTCODE`` and whose last line is
  exactly ``# ENDCODE`` (`CODE_TAGS`). In the solution notebook the lines between hold the
  reference code; in the student notebook every function keeps its signature and docstring and
  its body becomes ``# [TO COMPLETE]`` plus ``raise NotImplementedError("[TO COMPLETE]")``.
* text answer: a markdown cell whose first line is exactly ``STARTTEXT`` and whose last line is
  exactly ``ENDTEXT`` (`TEXT_TAGS`). Between them: the model answer, or ``[TO COMPLETE]``.
  The question itself is in the fixed markdown cell just before it.
* fixed: every other cell. Students must not change them; their sources are identical in the
  student and the solution notebooks, in the same order (`fixed_sources` lists them, for
  hashing). Tags never appear in fixed cells.

Every answer cell also carries ``metadata["dlhw"] = {"answer": "<id>"}`` (ids like ``B3.1``,
listed in order by `answer_ids`), but a submitted notebook may have lost metadata, so the tags
and the order of cells are what count. Cell ids are deterministic ("partb-000", ...) and
outputs are empty unless the notebook is executed, so the same code gives the same file bytes.
The last code cell prints every metric under the ids that `dlhw run partb` writes to
metrics.json, as JSON between the lines ``METRICS-BEGIN`` and ``METRICS-END``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

CODE_TAGS = ("# STARTCODE", "# ENDCODE")
TEXT_TAGS = ("STARTTEXT", "ENDTEXT")
PLACEHOLDER = "[TO COMPLETE]"
METRICS_BEGIN, METRICS_END = "METRICS-BEGIN", "METRICS-END"
# The names the grader's hidden checks call (problems/partb_checks.yaml): keep them, with their
# signatures, in the student notebook (answer or given cells).
CHECKED_NAMES = (
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu",
    "leaky_relu_grad", "elu", "elu_grad", "swish", "swish_grad", "softmax", "softmax_backward",
    "affine_forward", "affine_backward", "mse_loss", "log_softmax", "cross_entropy_loss",
    "neuron_step", "train_neuron", "sgd_momentum_step", "accuracy", "confusion_matrix",
    "per_class_accuracy", "perceptron_train", "MLP", "train_sgd", "shift_augment",
)

# --------------------------------------------------------------------------- cell specifications


@dataclass(frozen=True)
class Md:
    """A fixed markdown cell."""

    text: str


@dataclass(frozen=True)
class Code:
    """A fixed code cell written here (calls, prints, plots)."""

    text: str


@dataclass(frozen=True)
class Given:
    """A fixed code cell: top-level definitions `names` cut from nets.`module`, in that order."""

    module: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A STARTCODE cell: the functions `names` of nets.`module`, stubbed for students."""

    id: str
    module: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class TextAnswer:
    """A STARTTEXT cell with the model answer `text`."""

    id: str
    text: str


def _g(module: str, *names: str) -> Given:
    return Given(module, names)


def _a(answer_id: str, module: str, *names: str) -> Answer:
    return Answer(answer_id, module, names)


def _md(text: str) -> Md:
    return Md(textwrap.dedent(text).strip())


def _code(text: str) -> Code:
    return Code(textwrap.dedent(text).strip())


def _text(answer_id: str, text: str) -> TextAnswer:
    return TextAnswer(answer_id, textwrap.dedent(text).strip())


CELLS: tuple[Md | Code | Given | Answer | TextAnswer, ...] = (
    _md("""
        # Part B: a neural network from scratch in NumPy

        You will implement a neuron, its training algorithms and a small network, then classify
        handwritten digits, using only NumPy (scikit-learn only loads the digits).

        **How to answer.** Complete the code between `# STARTCODE` and `# ENDCODE` and the text
        between `STARTTEXT` and `ENDTEXT`; each such cell contains a `[TO COMPLETE]` part.
        Do not change, move or remove these tags, and do not edit any other cell: otherwise your
        answers are not valid. Keep the function names and signatures you are given.

        Run the notebook top to bottom (*Runtime → Run all*). Gradient checks below tell you
        when a derivative is wrong. The last cell prints every figure under the ids to quote in
        your report (for example `digits.mlp.test_accuracy`).
        """),
    _code("""
        {imports}
        import json

        import matplotlib.pyplot as plt
        """),
    _md("""
        All hyperparameters are in one place, and one seed fixes every random draw (initial
        weights, minibatch order): run the notebook twice and you get the same numbers.
        """),
    _g("partb", "PartBConfig"),
    _code("""
        CONFIG = PartBConfig()
        SEED = 0
        """),
    # ------------------------------------------------------------------ 1 activations
    _md("""
        ## 1. Activation functions and their derivatives

        Each activation `f` comes with `f_grad(z)`, its derivative df/dz at the pre-activation
        `z`, so that backpropagation through an activation is `dz = dout * f_grad(z)`.
        They must work elementwise on arrays of any shape and must not overflow for large
        |z| (try `z = ±1000`).
        """),
    _a("B1.1", "activations", "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu",
       "relu_grad"),
    _a("B1.2", "activations", "leaky_relu", "leaky_relu_grad", "elu", "elu_grad", "swish",
       "swish_grad"),
    _md("""
        Softmax turns a vector of scores into probabilities. Subtract the maximum before
        exponentiating (it cancels out, and keeps every exponent ≤ 0). Its backward pass applies
        the Jacobian diag(s) − s sᵀ to the upstream gradient without building the matrix.
        """),
    _a("B1.3", "activations", "softmax", "softmax_backward"),
    _g("activations", "softmax_jacobian", "ACTIVATIONS"),
    _code("""
        z = np.linspace(-4, 4, 401)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
        for name, (f, f_grad) in ACTIVATIONS.items():
            axes[0].plot(z, f(z), label=name)
            axes[1].plot(z, f_grad(z), label=name)
        axes[0].set_title("f(z)"); axes[1].set_title("f'(z)"); axes[0].legend()
        plt.show()
        print("no overflow:", sigmoid(np.array([-1000.0, 1000.0])),
              softmax(np.array([1000.0, 0.0])))
        print("softmax of q8's logits (2.0, 1.5):", softmax(np.array([2.0, 1.5])))
        """),
    # ------------------------------------------------------------------ 2 gradient check
    _md("""
        ## 2. Checking gradients numerically

        Every derivative you write is checked against central differences,
        ∂f/∂xᵢ ≈ (f(x + h eᵢ) − f(x − h eᵢ)) / 2h, whose error is O(h²). The relative error
        ‖a − b‖ / (‖a‖ + ‖b‖) of a correct gradient is around 1e-10; anything above 1e-6 is a
        bug.
        """),
    _g("gradcheck", "numeric_gradient", "rel_error", "check_layer", "check_loss"),
    # ------------------------------------------------------------------ 3 perceptron
    _md("""
        ## 3. The perceptron

        Rosenblatt's perceptron predicts ŷ = 1 if w·x + b > 0, else 0. The perceptron learning
        rule visits the samples in order and, after each mistake, moves the boundary towards
        the sample: w ← w + η (y − ŷ) x, b ← b + η (y − ŷ). Training has converged when an
        entire epoch passes without a mistake; if that never happens, stop after
        `max_epochs` and report `converged=False` (never loop forever).
        """),
    _g("perceptron", "_GATE_X", "LOGIC_GATES", "PerceptronResult", "perceptron_predict"),
    _a("B3.1", "perceptron", "perceptron_train"),
    _g("partb", "perceptron_experiment"),
    _code("""
        m_perceptron, art_perceptron = perceptron_experiment(CONFIG)
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        grid = np.stack(np.meshgrid(np.linspace(-0.5, 1.5, 200), np.linspace(-0.5, 1.5, 200)), -1)
        for ax, (gate, r) in zip(axes, art_perceptron["results"].items()):
            X, y = LOGIC_GATES[gate]
            regions = perceptron_predict(grid.reshape(-1, 2), r.w, r.b).reshape(200, 200)
            ax.contourf(grid[..., 0], grid[..., 1], regions, levels=[-0.5, 0.5, 1.5],
                        colors=["#f4c7c3", "#c6dbef"])
            ax.scatter(X[:, 0], X[:, 1], c=y, cmap="bwr_r", edgecolors="k", s=80)
            ax.set_title(f"{gate.upper()}: converged={r.converged} after {r.epochs} epochs")
        plt.show()
        {k: v for k, v in m_perceptron.items() if k.endswith(("converged", "epochs"))}
        """),
    _md("""
        **Question B3.2.** Why can the perceptron learn AND and OR but not XOR? What does your
        training function report on XOR, and how do you know it would never converge, however
        many epochs you allowed?
        """),
    _text("B3.2", """
        AND and OR are linearly separable: a line w·x + b = 0 puts the positive corners on one
        side, and the perceptron convergence theorem bounds the number of mistakes the rule
        can make on such data, so a mistake-free epoch comes (here after 6 and 4 epochs).
        XOR is not separable: a separating (w, b) would need b ≤ 0 (for (0,0)),
        w₁ + b > 0 and w₂ + b > 0 (for (1,0), (0,1)) and w₁ + w₂ + b ≤ 0 (for (1,1)); adding
        the middle two gives w₁ + w₂ + 2b > 0, i.e. w₁ + w₂ + b > −b ≥ 0, contradicting the
        last. So every epoch makes at least one mistake: training stops at the epoch limit with
        `perceptron.xor.converged = false` and 50% accuracy. Since the sample order is fixed and
        the updates are integers, the weights at the end of an epoch repeat an earlier state
        (`cycle_detected`), which proves the rule cycles forever. A hidden layer (section 5)
        removes the limitation.
        """),
    # ------------------------------------------------------------------ 4 neuron
    _md("""
        ## 4. A sigmoid neuron trained by gradient descent

        The neuron computes z = w·x + b and a = σ(z); with one sample the loss is
        L = (y − a)², the convention of Part A, question 2. Implement one forward pass and one
        gradient-descent update, naming every intermediate quantity of the chain rule
        dL/dw = dL/da · da/dz · dz/dw.
        """),
    _g("neuron", "NeuronStep"),
    _a("B4.1", "neuron", "neuron_step"),
    _code("""
        step = neuron_step(CONFIG.q2_x, CONFIG.q2_y, CONFIG.q2_w, CONFIG.q2_b,
                           CONFIG.neuron_step_lr)
        for name, value in vars(step).items():
            print(f"{name:>6} = {float(value):+.6f}")
        """),
    _md("""
        ### Layers

        A network is built from layers that share one interface:
        `out, cache = layer_forward(inputs...)` keeps in `cache` what the backward pass needs,
        and `grads = layer_backward(dout, cache)` returns the gradient of the loss for each
        input, given `dout`, the gradient with respect to the output. Implement the fully
        connected (affine) layer out = x w + b for a batch x of shape (N, D).
        """),
    _g("layers", "AffineCache"),
    _a("B4.2", "layers", "affine_forward", "affine_backward"),
    _g("layers", "ActivationCache", "activation_forward", "activation_backward", "SoftmaxCache",
       "softmax_forward", "softmax_layer_backward"),
    _md("""
        ### Losses

        Each loss returns the loss and its gradient with respect to the prediction, both averaged
        over the samples. Compute the cross-entropy from the log-softmax,
        log softmax(z) = z − max z − log Σ exp(z − max z), which never takes the log of 0.
        """),
    _a("B4.3", "losses", "mse_loss", "log_softmax", "cross_entropy_loss"),
    _code("""
        rng = np.random.default_rng(SEED)
        errors = {"affine": check_layer(affine_forward, affine_backward,
                                        {"x": rng.normal(size=(5, 4)), "w": rng.normal(size=(4, 3)),
                                         "b": rng.normal(size=3)}),
                  "softmax": check_layer(softmax_forward, softmax_layer_backward,
                                         {"x": rng.normal(size=(5, 4))})}
        for name in ACTIVATIONS:
            x = rng.normal(size=(6, 5))
            x[np.abs(x) < 0.01] += 0.05  # keep away from ReLU's kink, where f' jumps
            errors[name] = check_layer(activation_forward, activation_backward,
                                       {"x": x, "name": name})
        errors["mse"] = {"pred": check_loss(mse_loss, rng.normal(size=(5, 1)),
                                            rng.normal(size=(5, 1)))}
        errors["cross_entropy"] = {"logits": check_loss(
            cross_entropy_loss, 3 * rng.normal(size=(5, 4)), rng.integers(0, 4, size=5))}
        for name, errs in errors.items():
            print(f"{name:>14}", {k: f"{v:.1e}" for k, v in errs.items()})
        worst = max(v for errs in errors.values() for v in errs.values())
        assert worst < 1e-6, f"a gradient is wrong (relative error {worst:.1e})"
        """),
    _md("""
        ### Training the neuron

        `neuron_gradients` computes the same gradients as `neuron_step`, for a batch, through the
        layers. Write the training loop: full-batch gradient descent that records the loss
        before each update.
        """),
    _g("neuron", "neuron_gradients"),
    _a("B4.4", "neuron", "train_neuron"),
    _g("partb", "neuron_experiment"),
    _code("""
        m_neuron, art_neuron = neuron_experiment(CONFIG)
        plt.semilogy(art_neuron["losses"]); plt.xlabel("epoch"); plt.ylabel("MSE")
        plt.title("Sigmoid neuron on AND"); plt.show()
        m_neuron
        """),
    _md("""
        **Question B4.5.** Compare `neuron.q2.dL_dw` with your hand computation of Part A,
        question 2. Which convention for the MSE did you use, and how would the gradient change
        with L = ½(y − a)²?
        """),
    _text("B4.5", """
        The step gives z = −0.15, a = σ(−0.15) ≈ 0.46257, dL/da = −2(y − a) ≈ −1.07486,
        da/dz = a(1 − a) ≈ 0.24860, hence dL/dw = dL/da · da/dz · x ≈ −0.18705 and
        dL/db ≈ −0.26721, the same as the hand computation with L = (y − a)². With the ½
        convention the factor 2 cancels and every gradient is halved (dL/dw ≈ −0.09352); the
        direction of the update is the same, only the effective learning rate changes. The
        negative gradient means gradient descent increases w (to ≈ −0.48130 with η = 0.1),
        which raises a towards the label y = 1.
        """),
    # ------------------------------------------------------------------ 5 network
    _md("""
        ## 5. A two-layer network

        `MLP` stacks affine layers with an activation between them, and backpropagates through
        the same layers in reverse. Train it with minibatch stochastic gradient descent with
        momentum: v ← μ v − η g, θ ← θ + v, reshuffling the samples every epoch with the given
        generator. With `cosine=True` the learning rate of step t (of T) is
        η · ½ (1 + cos(π t / T)).
        """),
    _g("mlp", "MLP"),
    _a("B5.1", "mlp", "sgd_momentum_step"),
    _g("mlp", "History"),
    _a("B5.2", "mlp", "train_sgd"),
    _md("""
        A 3 → 4 → 1 network learns NOT((x₀ XOR x₁) AND x₂), which no single perceptron can:
        """),
    _g("partb", "xor_net_data", "xor_net_experiment"),
    _code("""
        m_xor, art_xor = xor_net_experiment(CONFIG, SEED)
        plt.semilogy(art_xor["losses"]); plt.xlabel("epoch"); plt.ylabel("MSE")
        plt.title("3-4-1 network"); plt.show()
        m_xor
        """),
    # ------------------------------------------------------------------ 6 digits
    _md("""
        ## 6. Digit classification

        scikit-learn's `load_digits`: 1,797 images of 8×8 pixels with values 0-16, shipped with
        the library. We keep 20% for testing with a stratified split (`random_state=0`) and
        scale the pixels to [0, 1].
        """),
    _g("digits", "DigitsSplit", "load_digits_split", "shift_augment"),
    _g("partb", "load_split"),
    _code("""
        split = load_split(CONFIG)
        print("train", split.X_train.shape, "test", split.X_test.shape)
        fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
        for ax, img, label in zip(axes, split.X_train, split.y_train):
            ax.imshow(img.reshape(8, 8), cmap="gray_r"); ax.set_title(label); ax.axis("off")
        plt.show()
        """),
    _md("""
        Evaluation: the accuracy, the confusion matrix (row = true class, column = predicted
        class) and each class's accuracy (the diagonal over the row sums).
        """),
    _a("B6.1", "digits", "accuracy", "confusion_matrix", "per_class_accuracy"),
    _g("partb", "_digits_metrics", "softmax_experiment", "mlp_experiment"),
    _md("""
        ### Softmax regression

        A network without hidden layer: logits = x W + b, trained with the cross-entropy.
        Each class's weights form an 8×8 template.
        """),
    _code("""
        m_softmax, art_softmax = softmax_experiment(CONFIG, SEED, split)
        W = art_softmax["model"].params["W1"]
        fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
        for k, ax in enumerate(axes):
            lim = np.abs(W[:, k]).max()
            ax.imshow(W[:, k].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(k); ax.axis("off")
        plt.show()
        print("softmax regression test accuracy:", m_softmax["digits.softmax.test_accuracy"])
        """),
    _md("""
        ### A multilayer perceptron

        One hidden layer of ReLU units. The training set is enlarged with copies of each image
        shifted by one pixel in each direction (`shift_augment`).
        """),
    _code("""
        m_mlp, art_mlp = mlp_experiment(CONFIG, SEED, split)
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        for name, art in (("softmax", art_softmax), ("MLP", art_mlp)):
            axes[0].semilogy(art["history"].train_loss, label=name)
            axes[1].plot(art["history"].test_accuracy, label=name)
        axes[0].set_title("training loss"); axes[1].set_title("test accuracy"); axes[0].legend()
        axes[2].imshow(art_mlp["confusion"], cmap="Blues")
        for (i, j), count in np.ndenumerate(art_mlp["confusion"]):
            axes[2].text(j, i, count, ha="center", va="center", fontsize=7)
        axes[2].set_xlabel("predicted"); axes[2].set_ylabel("true"); axes[2].set_title("MLP")
        plt.show()
        wrong = art_mlp["wrong"]
        fig, axes = plt.subplots(1, max(len(wrong), 1), figsize=(1.2 * max(len(wrong), 1), 1.6),
                                 squeeze=False)
        for ax, i, p in zip(axes[0], wrong, art_mlp["wrong_pred"]):
            ax.imshow(split.X_test[i].reshape(8, 8), cmap="gray_r")
            ax.set_title(f"{split.y_test[i]}→{p}"); ax.axis("off")
        plt.show()
        print("MLP test accuracy:", m_mlp["digits.mlp.test_accuracy"])
        """),
    _md("""
        **Question B6.2.** Describe your pipeline and compare the two models: architecture,
        preprocessing, training, test accuracy, and the digits they confuse. What did the
        hidden layer and the shifted copies each contribute?
        """),
    _text("B6.2", """
        Pipeline: `load_digits`, pixels divided by 16, stratified 80/20 split
        (1,437 / 360 images, `random_state=0`), minibatch SGD with momentum 0.9 and a cosine
        learning-rate schedule, cross-entropy computed from the log-softmax.
        Softmax regression (64 → 10, 650 parameters) reaches about 97% test accuracy. It scores
        each class with one linear template (the weight images: positive where that digit has
        ink and the others do not), which cannot separate digits whose strokes overlap: in the
        reference run (seed 0) its 11 errors are mostly such pairs (8 and 1 both ways, 4 read as
        8, 5 and 9 read as 3 and 5).
        The MLP (64 → 128 ReLU → 10) learns features shared between classes and reaches about
        99% (3 errors in the reference run: a 2 read as 3, two 8s read as 7), above
        scikit-learn's `MLPClassifier((64,))` on the same split (about 97%). The hidden layer
        alone gives about 97.5-98%; the rest comes from the four one-pixel shifts of each
        training image: a digit moved by a pixel is the same digit, so the copies teach that
        invariance and reduce overfitting (training accuracy is 100% either way).
        """),
    # ------------------------------------------------------------------ metrics
    _md("""
        ## Metrics for your report

        Quote these figures in your report under their ids.
        """),
    _g("partb", "merge_metrics"),
    _code(f"""
        METRICS = merge_metrics(SEED, split, m_perceptron, m_neuron, m_xor, m_softmax, m_mlp)
        print("{METRICS_BEGIN}")
        print(json.dumps(METRICS, indent=1, sort_keys=True))
        print("{METRICS_END}")
        """),
)

# --------------------------------------------------------------------------- source extraction


def _module_source(module: str) -> tuple[str, ast.Module]:
    text = inspect.getsource(importlib.import_module(f"nets.{module}"))
    return text, ast.parse(text)


def _node_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _start_line(node: ast.stmt, lines: list[str]) -> int:
    """0-based first line of `node`, including decorators and the comment lines right above."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first


def definition_source(module: str, name: str) -> str:
    """Source text of the top-level definition `name` in nets.`module`."""
    text, tree = _module_source(module)
    lines = text.splitlines()
    for node in tree.body:
        if _node_name(node) == name:
            return "\n".join(lines[_start_line(node, lines):node.end_lineno])
    raise KeyError(f"nets.{module} defines no top-level {name!r}")


def stub_source(module: str, name: str) -> str:
    """The function `name` with its signature and docstring kept and its body replaced."""
    text, tree = _module_source(module)
    lines = text.splitlines()
    node = next((n for n in tree.body if _node_name(n) == name), None)
    if not isinstance(node, ast.FunctionDef):
        raise KeyError(f"nets.{module}.{name} is not a top-level function")
    body = node.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    keep_until = body[0].end_lineno if has_doc else body[0].lineno - 1
    indent = " " * body[0].col_offset
    head = lines[_start_line(node, lines):keep_until]
    return "\n".join(head + [f"{indent}# {PLACEHOLDER}",
                             f'{indent}raise NotImplementedError("{PLACEHOLDER}")'])


def _imports() -> str:
    """The standard-library and third-party imports of every module the notebook draws on."""
    modules = sorted({c.module for c in CELLS if isinstance(c, (Given, Answer))})
    plain: set[str] = set()
    froms: dict[str, set[str]] = {}
    for module in modules:
        _, tree = _module_source(module)
        for node in tree.body:
            if isinstance(node, ast.Import):
                plain.update(f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                             for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module \
                    and node.module != "__future__" and not node.module.startswith("nets"):
                froms.setdefault(node.module, set()).update(a.name for a in node.names)
    out = ["from __future__ import annotations", ""]
    out += sorted(plain)
    out += [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(froms)]
    return "\n".join(out)


# --------------------------------------------------------------------------- building


def _wrap(tags: tuple[str, str], body: str) -> str:
    return f"{tags[0]}\n{body}\n{tags[1]}"


def build_notebook(student: bool) -> nbformat.NotebookNode:
    """The Part B notebook: `student=True` replaces every answer with [TO COMPLETE]."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "dlhw": {"part": "B", "variant": "student" if student else "solution"},
    }
    imports = _imports()
    for cell_spec in CELLS:
        if isinstance(cell_spec, Md):
            cell = nbformat.v4.new_markdown_cell(cell_spec.text)
        elif isinstance(cell_spec, Code):
            cell = nbformat.v4.new_code_cell(cell_spec.text.replace("{imports}", imports))
        elif isinstance(cell_spec, Given):
            cell = nbformat.v4.new_code_cell("\n\n\n".join(
                definition_source(cell_spec.module, n) for n in cell_spec.names))
        elif isinstance(cell_spec, Answer):
            source = stub_source if student else definition_source
            cell = nbformat.v4.new_code_cell(_wrap(CODE_TAGS, "\n\n\n".join(
                source(cell_spec.module, n) for n in cell_spec.names)))
            cell.metadata["dlhw"] = {"answer": cell_spec.id}
        else:
            cell = nbformat.v4.new_markdown_cell(
                _wrap(TEXT_TAGS, f"\n{PLACEHOLDER if student else cell_spec.text}\n"))
            cell.metadata["dlhw"] = {"answer": cell_spec.id}
        cell.id = f"partb-{len(nb.cells):03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def execute_notebook(nb: nbformat.NotebookNode, timeout: int = 300,
                     cwd: str | Path | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel (nbclient); raises on the first error."""
    from nbclient import NotebookClient

    resources = {"metadata": {"path": str(cwd)}} if cwd else {}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    return nb


def write_notebook(path: str | Path, student: bool, execute: bool = False) -> Path:
    """Build (and optionally execute) the notebook and write it to `path`."""
    nb = build_notebook(student)
    if execute:
        execute_notebook(nb)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# --------------------------------------------------------------------------- reading notebooks


def classify_cell(cell: nbformat.NotebookNode) -> str:
    """"code-answer", "text-answer" or "fixed", by the tags on the cell's first and last line."""
    lines = [ln.strip() for ln in cell.get("source", "").strip().splitlines()]
    if not lines:
        return "fixed"
    tags = CODE_TAGS if cell.cell_type == "code" else TEXT_TAGS
    if lines[0] == tags[0] and lines[-1] == tags[1]:
        return "code-answer" if cell.cell_type == "code" else "text-answer"
    return "fixed"


def answer_ids(nb: nbformat.NotebookNode) -> list[str]:
    """The answer ids in the order their cells appear (from the cells' metadata)."""
    return [c.metadata["dlhw"]["answer"] for c in nb.cells
            if classify_cell(c) != "fixed" and "dlhw" in c.metadata]


def fixed_sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell type, source) of every fixed cell, in order: what must match the original."""
    return [(c.cell_type, c.source) for c in nb.cells if classify_cell(c) == "fixed"]


def notebook_metrics(nb: nbformat.NotebookNode) -> dict:
    """The metrics an executed notebook printed between METRICS-BEGIN and METRICS-END."""
    import json

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if METRICS_BEGIN in text:
                body = text.split(METRICS_BEGIN, 1)[1].split(METRICS_END, 1)[0]
                return json.loads(body)
    raise ValueError("the notebook printed no metrics (was it executed?)")
