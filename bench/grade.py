"""Benchmark `dlhw grade --batch`: a class of 1,000 varied submissions, Part A in full.

Generates the class (perfect, rounded, each convention, follow-through, wrong, blank,
unreadable answers, many distinct forms of every symbolic answer, and the forms students write
by hand: tanh²(z), dL/da, implicit products, `f'(z) = ...`, `≈ 0.5722`, `62.25%`, `0,4626`) in a
temporary folder, grades it with the batch grader, and prints the wall-clock time and the CPU
time of the grading processes (less sensitive to a machine shared with others).

    python bench/grade.py [--n 1000] [--jobs 2] [--runs 5] [--keep DIR]

`--single` instead times one complete submission (examples/submission: the reference notebook
executed and checked, the report compiled, the models measured when given with --fashion-model
/ --regression-model): the median over --runs, and the share of it spent starting sandboxes.
`--modes` times the notebook's cells run as one script against nbclient with a kernel, both in
the sandbox. Target for --single: under 10 s.

`--class N` generates N complete submissions of varied quality (Part A answers as above; the
reference notebook, or with a typical bug, or none; the reference FashionMNIST CNN of
--fashion-model, degraded copies of it, a corrupt or no archive; the regression model; the
report, a broken one or none) and grades them at each of `--class-jobs` (default 1,2): time per
submission, the speed-up, and the time a class of 200 takes (target: under 10 minutes, with
--jobs 2 within 1.3x of half the --jobs 1 time).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.batch import run_batch  # noqa: E402
from grader.context import RunContext  # noqa: E402
from solver.engine import solve  # noqa: E402
from solver.spec import load_all  # noqa: E402

# Factors whose product (in any order) is a correct answer; each factor has equivalent spellings.
D_TANH = ["(1 - tanh(z)**2)", "(1-tanh(z)^2)", "sech(z)**2", "(1 - a**2)", "(1-a)*(1+a)",
          "(1 - tanh(w*x + b)^2)", r"\left(1-\tanh^2(z)\right)", r"\operatorname{sech}^2(z)",
          "(1 - tanh²(z))", "sech²(z)", "(1 - Tanh^2(z))", "(1-a)(1+a)", "(1 - tanh(wx+b)²)"]
D_SWISH = ["(sigmoid(z) + z*sigmoid(z)*(1 - sigmoid(z)))", "(a + sigmoid(z)*(1 - a))",
           "sigmoid(z)*(1 + z*(1 - sigmoid(z)))",
           r"\left(\sigma(z) + z\sigma(z)(1-\sigma(z))\right)",
           "(1 + exp(-z) + z*exp(-z))/(1 + exp(-z))**2", "(σ(z) + zσ(z)(1 − σ(z)))",
           "(f(z) + sigma(z)(1 - f(z)))", "(Sigmoid(z) + z Sigmoid(z)(1 - Sigmoid(z)))"]
DL = ["dL_da", r"\frac{\partial L}{\partial a}", r"\frac{dL}{da}", "dL/da", "∂L/∂a"]
ALPHA_EXP = ["alpha*exp(z)", r"\alpha e^{z}", "alpha*exp(w*x+b)", "(a + alpha)", "alpha e^z",
             "α·e^z", "(f(z) + α)"]
# The left-hand sides students write before an answer (issue 11: dropped when they name it).
LHS = {"derivative": ["f'(z) = ", "f’(z) = ", r"\frac{d}{dz}f(z) = "], "dL_dw": ["dL/dw = ",
       r"\frac{\partial L}{\partial w} = "], "w_new": ["w_new = ", "w ← ", "w' = "]}
READ_AS_REVIEW = ["th^2(z)", "0.5722 or 0.55", "f'(z)", "y*x"]
WRONG = {"q6": ["(1 + tanh(z)**2)", "tanh(z)**2", "(1 - tanh(z))"],
         "q10": ["sigmoid(z)*(1 - sigmoid(z))", "(sigmoid(z) + z*sigmoid(z))"],
         "q9": ["exp(z)", "alpha*exp(-z)"], "q4": ["0"], "q7": ["0"]}


def product(rng: random.Random, factors: list[str]) -> str:
    factors = factors[:]
    rng.shuffle(factors)
    sep = rng.choice(["*", " * ", r" \cdot "]) if any("\\" in f for f in factors) else \
        rng.choice(["*", " * ", " ", "·"])
    return sep.join(factors)


def with_lhs(rng: random.Random, aid: str, text: str) -> str:
    """Sometimes written as an equation whose left side names the answer."""
    lhs = LHS.get(aid.removesuffix("_pos").removesuffix("_neg"))
    return rng.choice(lhs) + text if lhs and rng.random() < 0.2 else text


def decorated(rng: random.Random, qid: str, v: float) -> str:
    """A number as students decorate it: ≈, (approx), a percentage, a decimal comma."""
    form = rng.choice(["≈ {}", "{} (approx)", "~{}", "{}...", "percent", "comma"])
    text = f"{v:.4g}"
    if form == "percent":
        return f"{v * 100:.2f}%" if qid == "q8" and 0 < v < 1 else text
    if form == "comma":
        return text.replace(".", ",") if abs(v) < 1 and "." in text else text
    return f"'{form.format(text)}'"


def symbolic_answers(rng: random.Random, qid: str, wrong: bool) -> dict[str, str]:
    dl = rng.choice(DL)
    if qid in ("q6", "q10"):
        d = rng.choice(WRONG[qid] if wrong else (D_TANH if qid == "q6" else D_SWISH))
        return {"derivative": d.strip(), "dL_dw": product(rng, [dl, d, "x"])}
    slope = {"q4": None, "q7": rng.choice(["0.01", "1/100"]),
             "q9": rng.choice(WRONG["q9"] if wrong else ALPHA_EXP)}[qid]
    neg = {"derivative_neg": slope or "0",
           "dL_dw_neg": product(rng, [dl, slope, "x"]) if slope else "0",
           "w_new_neg": (f"w - {product(rng, ['eta', dl, slope, 'x'])}" if slope else "w")}
    pos = {"derivative_pos": "1", "dL_dw_pos": product(rng, [dl, "x"]),
           "w_new_pos": rng.choice([f"w - {product(rng, ['eta', dl, 'x'])}",
                                    f"-{product(rng, ['eta', dl, 'x'])} + w"])}
    return pos | neg


def answers_yaml(rng: random.Random, sols: dict, forms: set[str]) -> str:
    """One student's answers.yaml: each question perfect, rounded, in another convention,
    following through from a slip, wrong, blank or unreadable."""
    lines = []
    for qid, sol in sols.items():
        kind = rng.choices(["perfect", "rounded", "convention", "ft", "wrong", "blank",
                            "junk"], [40, 20, 10, 10, 10, 5, 5])[0]
        if kind == "blank":
            continue
        lines.append(f"{qid}:")
        numeric = any(a.value is not None for a in sol.answers.values())
        if not numeric:
            for aid, text in symbolic_answers(rng, qid, kind == "wrong").items():
                text = with_lhs(rng, aid, text)
                if kind == "junk" and rng.random() < 0.3:
                    text = rng.choice(["__import__('os')", "z.real", "1 +", *READ_AS_REVIEW])
                forms.add(f"{qid}.{aid}:{text}")
                quoted = text.replace("'", "''")
                lines.append(f"  {aid}: '{quoted}'")
            continue
        alt = sol.alternatives.get(next(iter(sol.alternatives), ""), sol) \
            if kind == "convention" else sol
        for aid, a in alt.answers.items():
            v = a.value
            if kind == "rounded":
                v = float(f"{v:.3g}")
            elif kind == "wrong" and rng.random() < 0.5:
                v = v * 1.2 + 0.05
            elif kind == "ft" and aid == next(iter(alt.answers)):
                v = v + 0.1  # an early slip; later answers may follow through or not
            text = "'1 +'" if kind == "junk" and rng.random() < 0.2 else \
                decorated(rng, qid, v) if rng.random() < 0.1 else f"{v:.5g}"
            lines.append(f"  {aid}: {text}")
    return "\n".join(lines) + "\n"


def make_class(root: Path, n: int, seed: int = 0) -> set[str]:
    """`n` Part A submissions under `root`; returns the distinct symbolic forms written."""
    rng = random.Random(seed)
    sols = {s.id: solve(s) for s in load_all()}
    forms: set[str] = set()
    for k in range(n):
        folder = root / f"s{k:04d}"
        folder.mkdir()
        (folder / "answers.yaml").write_text(answers_yaml(rng, sols, forms))
    return forms


# Part B bugs students make (answer region, code of the reference solution, the slip).
NOTEBOOK_BUGS = [("B1.1", "return s * (1.0 - s)", "return s * (1.0 - s) ** 2"),
                 ("B3.1", "zip(X, y, strict=True)", "zip(X[:-1], y[:-1], strict=True)"),
                 ("B1.3", "np.exp(z - z.max(axis=axis, keepdims=True))", "np.exp(z)")]


def _notebook(rng: random.Random, solution: dict) -> bytes | None:
    """The reference solution (60%), with one of NOTEBOOK_BUGS (30%), or none (10%)."""
    import copy
    import json

    kind = rng.choices(["solution", "bug", "none"], [60, 30, 10])[0]
    if kind == "none":
        return None
    nb = copy.deepcopy(solution)
    if kind == "bug":
        region, old, new = rng.choice(NOTEBOOK_BUGS)
        cell = next(c for c in nb["cells"]
                    if c.get("metadata", {}).get("dlhw", {}).get("answer") == region)
        cell["source"] = "".join(cell["source"]).replace(old, new, 1)
    return json.dumps(nb, indent=1).encode()


def fashion_models(reference: Path, folder: Path, seed: int = 0) -> dict[str, Path]:
    """The reference CNN and two degraded copies (noise on every weight), for a class of
    varied quality; exported with torch.export like a student's. The archive given is checked
    as the grader checks a student's before torch loads it (torch.export.load unpickles)."""
    import torch

    from core.pt2 import validate

    validate(reference)
    torch.manual_seed(seed)
    out = {"reference": reference}
    for name, scale in (("noisy", 0.1), ("poor", 0.35)):
        ep = torch.export.load(reference)
        with torch.no_grad():
            for t in ep.state_dict.values():
                if t.is_floating_point():
                    t.add_(torch.randn_like(t) * t.std() * scale)
        out[name] = folder / f"{name}.pt2"
        torch.export.save(ep, out[name])
    return out


def make_complete_class(root: Path, n: int, fashion: Path, seed: int = 0) -> dict[str, int]:
    """`n` complete submissions: Part A answers as in `make_class`, the reference notebook with
    or without a typical bug, a FashionMNIST model (the reference, degraded, corrupt or
    missing), the example's regression model (or none) and report (or a broken one, or none).
    Returns how many of each kind of model."""
    import json

    from nets.notebook import build_notebook

    rng = random.Random(seed)
    sols = {s.id: solve(s) for s in load_all()}
    solution = json.loads(json.dumps(build_notebook(student=False)))
    example = Path(__file__).resolve().parent.parent / "examples" / "submission"
    models = fashion_models(fashion, root.parent)
    report = (example / "report.tex").read_text()
    counts: dict[str, int] = {}
    forms: set[str] = set()
    for k in range(n):
        folder = root / f"s{k:04d}"
        (folder / "models").mkdir(parents=True)
        (folder / "answers.yaml").write_text(answers_yaml(rng, sols, forms))
        (folder / "student.yaml").write_text(f"id: s{k:04d}\nname: Student {k}\n")
        shutil.copy(example / "metrics.yaml", folder)
        if (nb := _notebook(rng, solution)) is not None:
            (folder / "partb.ipynb").write_bytes(nb)
        kind = rng.choices(["reference", "noisy", "poor", "corrupt", "none"],
                           [50, 20, 15, 5, 10])[0]
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "corrupt":
            data = bytearray(models["reference"].read_bytes())
            data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
            (folder / "models" / "fashion.pt2").write_bytes(bytes(data))
        elif kind != "none":
            shutil.copy(models[kind], folder / "models" / "fashion.pt2")
        if rng.random() < 0.85:
            shutil.copy(example / "models" / "regression.pt2", folder / "models")
        r = rng.random()
        if r < 0.85:
            (folder / "report.tex").write_text(report)
        elif r < 0.95:
            (folder / "report.tex").write_text(report.replace("\\end{document}", ""))
    return counts


def whole_class(n: int, jobs_list: list[int], fashion: Path) -> None:
    """Grade a class of `n` complete submissions with each worker count in `jobs_list`."""
    from grader.context import RunContext
    from nets.hardware import thread_count

    tmp = Path(tempfile.mkdtemp(prefix="dlhw-bench-class-"))
    try:
        counts = make_complete_class(tmp / "class", n, fashion)
        print(machine())
        print(f"generated {n} complete submissions (fashion models: {counts})")
        print(f"speed gauge (the FashionMNIST model on 10,000 images, one thread): "
              f"{gauge(fashion):.2f} s of CPU; compare figures taken at the same gauge")
        times = {}
        for jobs in jobs_list:
            options = RunContext.build(threads=thread_count(jobs))
            start = time.perf_counter()
            rows = run_batch(tmp / "class", tmp / f"results-{jobs}", options, jobs=jobs)
            times[jobs] = elapsed = time.perf_counter() - start
            statuses: dict[str, int] = {}
            for r in rows:
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
            print(f"--jobs {jobs}: {elapsed:.0f} s, {elapsed / n:.2f} s per submission "
                  f"({statuses}; {machine()})")
        if 1 in times and len(times) > 1:
            for jobs, t in times.items():
                if jobs > 1:
                    print(f"speed-up at --jobs {jobs}: {times[1] / t:.2f}x; target: within "
                          f"1.3x of 1/{jobs} of the --jobs 1 time, i.e. "
                          f"{t / (times[1] / jobs):.2f} <= 1.3")
        best = min(times.values())
        print(f"a class of 200 at this rate: {best / n * 200 / 60:.1f} min; target < 10 min")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gauge(model: Path) -> float:
    """CPU seconds of one thread running `model` on 10,000 images as the sandbox does (less its
    `reuse_memory`: comparable with earlier readings): the machine's speed now (a VM's drifts)."""
    import numpy as np
    import torch

    from grader.model_check import BATCH
    from nets import pt2_interpret, run_exported

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = (np.random.default_rng(0).random((10_000, 1, 28, 28)) * 255).astype(np.uint8)
        start = time.process_time()
        run_exported.outputs(pt2_interpret.load(str(model)), x, BATCH)
        return time.process_time() - start
    finally:
        torch.set_num_threads(threads)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the batch's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def machine() -> str:
    """CPU model and load, to print beside every figure."""
    import os

    from nets.runinfo import cpu_info

    model = cpu_info()["model_name"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"CPU {model} ({os.cpu_count()} cores), load average {load}"


def _median_time(fn, runs: int) -> float:
    import statistics

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _timed_grades(sub: Path, options: RunContext, runs: int):
    """(the last result, each run's seconds, each run's sandboxed runs' seconds in order)."""
    from grader import sandbox
    from grader.grade import grade_submission

    calls: list[float] = []
    real_run = sandbox.run

    def counted(*a, **kw):
        out = real_run(*a, **kw)
        calls.append(out.seconds)
        return out

    sandbox.run = counted
    try:
        result = grade_submission(sub, options)  # warm-up (imports, template, digits)
        totals, per_grade = [], []
        for _ in range(runs):
            calls.clear()
            t = time.perf_counter()
            result = grade_submission(sub, options)
            totals.append(time.perf_counter() - t)
            per_grade.append(list(calls))
    finally:
        sandbox.run = real_run
    return result, totals, per_grade


def single(runs: int, fashion: Path | None, regression: Path | None) -> None:
    """Median time to grade one complete submission, and the sandbox start-up's share."""
    import statistics

    from grader import sandbox
    from nets.hardware import thread_count

    limits = sandbox.Limits(wall_s=30, cpu_s=30)
    start_true = _median_time(lambda: sandbox.run(["/bin/true"], limits=limits), 10)
    start_py = _median_time(lambda: sandbox.run(sandbox.python_argv("/in/x.py"),
                                                limits=limits, inputs={"x.py": b""}), 10)
    tmp = Path(tempfile.mkdtemp(prefix="dlhw-bench-"))
    try:
        sub = tmp / "submission"
        shutil.copytree(Path(__file__).resolve().parent.parent / "examples" / "submission", sub)
        for name, model in (("fashion", fashion), ("regression", regression)):
            if model is not None:
                (sub / "models").mkdir(exist_ok=True)
                shutil.copy(model, sub / "models" / f"{name}.pt2")
        options = RunContext.build(threads=thread_count(1))  # loaded once, as in `dlhw grade`
        result, totals, per_grade = _timed_grades(sub, options, runs)
        total = statistics.median(totals)
        n = len(per_grade[0])
        inside = statistics.median(sum(c) for c in per_grade)
        print(machine())
        print(f"one complete submission ({', '.join(i.id for i in result.items if i.part != 'A')}"
              f"; score {float(result.score):g}/{float(result.max_score):g}): median "
              f"{total:.2f} s over {runs} runs; target < 10 s")
        each = [statistics.median(run[k] for run in per_grade) for k in range(n)]
        print(f"  sandboxed runs in order (notebook, models, report): "
              f"{', '.join(f'{t:.2f} s' for t in each)}")
        print(f"  {n} sandboxed runs, {inside:.2f} s inside them; sandbox start-up "
              f"{start_true * 1000:.0f} ms (bwrap, /bin/true), {start_py * 1000:.0f} ms with "
              f"Python: {n * start_true / total:.1%} of the total "
              f"({n * start_py / total:.1%} with the interpreter's start)")
        for item in result.items:
            if item.part != "A":
                print(f"  {item.id:<15} {float(item.score or 0):g}/{float(item.max_score):g} "
                      f"{item.status}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def modes(runs: int) -> None:
    """The reference notebook's cells in the sandbox: one script vs nbclient with a kernel."""
    import json

    import nbformat

    from grader import sandbox
    from grader.kinds.notebook import template_notebook
    from grader.notebook_file import answers, cells_to_run
    from nets.notebook import build_notebook

    nb = json.loads(json.dumps(build_notebook(student=False)))
    cells = cells_to_run(nb, answers(nb, template_notebook()))
    limits = sandbox.Limits(wall_s=120, cpu_s=120, memory_mb=4096)
    script = (b"import json\nns = {'__name__': '__main__'}\n"
              b"for c in json.load(open('/in/cells.json')):\n"
              b"    exec(compile(c, 'cell', 'exec'), ns)\n")
    as_script = _median_time(lambda: sandbox.run(
        sandbox.python_argv("/in/run.py"), limits=limits,
        inputs={"run.py": script, "cells.json": json.dumps([c.source for c in cells]).encode()}),
        runs)
    kernel_nb = nbformat.v4.new_notebook()
    kernel_nb.cells = [nbformat.v4.new_code_cell(c.source) for c in cells]
    driver = (b"import nbformat\nfrom nbclient import NotebookClient\n"
              b"nb = nbformat.read('/in/nb.ipynb', as_version=4)\n"
              b"NotebookClient(nb, timeout=120, kernel_name='python3').execute()\n")
    outcome = sandbox.run(sandbox.python_argv("/in/d.py"), limits=limits,
                          inputs={"d.py": driver, "nb.ipynb": nbformat.writes(kernel_nb).encode()})
    if not outcome.ok:
        print(f"nbclient failed in the sandbox: {outcome.reason}")
        return
    with_kernel = _median_time(lambda: sandbox.run(
        sandbox.python_argv("/in/d.py"), limits=limits,
        inputs={"d.py": driver, "nb.ipynb": nbformat.writes(kernel_nb).encode()}), runs)
    print(machine())
    print(f"the reference notebook's {len(cells)} cells in the sandbox, median of {runs}: "
          f"one script {as_script:.2f} s, nbclient with a kernel {with_kernel:.2f} s "
          f"({with_kernel / as_script:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="keep the generated class and results here")
    ap.add_argument("--single", action="store_true", help="time one complete submission")
    ap.add_argument("--modes", action="store_true", help="script vs nbclient in the sandbox")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fashion-model", type=Path)
    ap.add_argument("--regression-model", type=Path)
    ap.add_argument("--class", dest="whole", type=int, metavar="N",
                    help="grade N complete submissions (needs --fashion-model) with each of "
                         "--class-jobs")
    ap.add_argument("--class-jobs", default="1,2", help="worker counts for --class")
    args = ap.parse_args()
    if args.whole:
        fashion = args.fashion_model or Path("runs/fashion/model.pt2")
        whole_class(args.whole, [int(j) for j in args.class_jobs.split(",")], fashion)
        return
    if args.single or args.modes:
        if args.modes:
            modes(args.runs)
        if args.single:
            single(args.runs, args.fashion_model, args.regression_model)
        return
    tmp = Path(tempfile.mkdtemp(prefix="dlhw-bench-"))
    root = args.keep or tmp
    try:
        (root / "class").mkdir(parents=True, exist_ok=True)
        forms = make_class(root / "class", args.n)
        # On disk before the clock starts, as a class downloaded earlier is: the kernel's
        # write-back of 1,000 fresh folders otherwise lands in the grading's file system calls.
        os.sync()
        print(f"generated {args.n} submissions, {len(forms)} distinct symbolic answer forms")
        print(machine())
        times, cpus = [], []
        for k in range(args.runs):  # each from a fresh process state: the context built anew
            options = RunContext.build(parts="A")
            cpu0 = _cpu()
            start = time.perf_counter()
            rows = run_batch(root / "class", root / f"results-{k}", options, jobs=args.jobs)
            times.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu0)
            # Kept to the end: this ext4 is mounted with `discard`, and deleting a run's 2,000
            # files made the next run's file creations up to twice as slow.
            os.sync()
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        review = sum(a.status == "review" for r in rows for q in r.items for a in q.answers)
        print(f"graded {len(rows)} submissions (Part A) with {args.jobs} workers: median "
              f"{statistics.median(times):.1f} s over {args.runs} runs "
              f"({', '.join(f'{t:.1f}' for t in times)}), {statistics.median(cpus):.1f} CPU s "
              f"({statuses}, {review} answers to review); target <= 5 s")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
