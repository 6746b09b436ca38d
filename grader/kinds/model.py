"""Part C models: `models/<item id>.pt2`, validated, run in the sandbox on the inputs of the
item's task (grader/kinds/tasks.py), scored outside from the outputs. Every model of a
submission runs in one sandbox (torch is imported once), cheapest inputs first; a refused
archive is never loaded. With no model, the item's claim earns at most its unverified share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.numfmt import fmt
from core.pt2 import validate
from core.yamlnodes import NodeReader
from grader.findings import Finding
from grader.kinds.base import Evidence, Item, Kind, Run, mark, not_run
from grader.kinds.claim import read_claim, reference, share_of
from grader.kinds.tasks import Function, Measured, Prepared, Task, read_task
from grader.model_check import FAULTS, Job, Ran, UnsafeModel, run_models, unusable, why
from grader.results import ItemMark, Status
from grader.submission import Submission, model_file

CHECK_INPUTS, CHECK_BATCH = 5, 3  # dlhw check: 5 inputs as batches of 3 and 2 (a fixed batch
# dimension at export fails)


def model_path(sub: Submission, item: Item) -> Path | None:
    return sub.models.get(item.id)


def _task(item: Item) -> Task:
    assert isinstance(item.config, Task)
    return item.config


def measure_models(items: list[tuple[Item, Path]], ctx: Run) -> dict[str, Measured]:
    """Every model of a submission run together in one sandbox and scored; keyed by item id.
    The run's limits: the sum of the items' wall-clock limits, the largest memory limit."""
    measured: dict[str, Measured] = {}
    jobs: list[Job] = []
    scorers = {}
    for item, path in items:
        prepared = _task(item).prepare(ctx.data_dir, ctx.seed)
        if isinstance(prepared, Measured):  # nothing to run it on here
            try:
                validate(path)  # an unsafe archive is refused even where it is not measured
                measured[item.id] = prepared
            except UnsafeModel as exc:
                measured[item.id] = Measured(False, error=str(exc), refused=True)
            continue
        jobs.append(Job(item.id, path, prepared.inputs, prepared.probe))
        scorers[item.id] = (item, prepared)
    if jobs:
        ran = _run(jobs, [scorers[j.name][0] for j in jobs], ctx.threads)
        for name, (item, prep) in scorers.items():
            measured[name] = _scored(item, ran[name], prep)
    return measured


def _run(jobs: list[Job], items: list[Item], threads: int, batch: int | None = None
         ) -> dict[str, Ran]:
    limits = [i.limits for i in items if i.limits is not None]
    kwargs: dict[str, Any] = {} if batch is None else {"batch": batch}
    return run_models(jobs, time_limit_s=sum(lim.time_limit_s for lim in limits),
                      memory_limit_mb=max(lim.memory_limit_mb for lim in limits),
                      threads=threads, **kwargs)


def _scored(item: Item, ran: Ran, prep: Prepared) -> Measured:
    if ran.status == "refused":
        return Measured(False, error=ran.reason, refused=True)
    if ran.status in FAULTS:
        return Measured(False, error=why(ran), fault=True)
    task = _task(item)
    bad = unusable(ran, prep.n, task.columns(), f"{task.output} (N, {task.columns()})"
                   if task.output == "logits" else f"(N, {task.columns()})", task.output)
    if bad is not None:
        return Measured(False, error=bad)
    assert ran.outputs is not None
    m = prep.score(ran.outputs, ran.seconds)
    if isinstance(task, Function):
        void = task.not_a_network(ran.parameters, ran.outputs, ran.probed)
        m = replace(m, void=void, detail={**(m.detail or {}), "parameters": ran.parameters})
    return m


def measure(item: Item, path: Path, ctx: Run) -> Measured:
    """The model at `path` run alone on `item`'s task and scored (UnsafeModel if refused)."""
    m = measure_models([(item, path)], ctx)[item.id]
    if m.refused:
        raise UnsafeModel(m.error)
    return m


class ModelKind(Kind):
    """A submitted model, measured on its task."""

    name = "model"
    fields = frozenset({"task"})
    claims = "required"
    thresholds = "required"
    sandboxed = True

    def read(self, r: NodeReader, m: dict[str, yaml.Node], where: str) -> Task:
        if "task" not in m:
            raise r.fail(next(iter(m.values())), f"{where}.task", "missing required field")
        return read_task(r, m["task"], f"{where}.task")

    def needs(self, item: Item) -> set[str]:
        return {"sandbox", "python", "torch"} | _task(item).needs()

    def submitted(self, sub: Submission, item: Item) -> bool:
        return model_path(sub, item) is not None

    def file(self, item: Item) -> str:
        return model_file(item.id)

    def gather(self, item: Item, ev: Evidence) -> None:
        self._measured(ev)

    def _measured(self, ev: Evidence) -> dict[str, Measured]:
        def make() -> dict[str, Measured]:
            items = [(i, p) for i in ev.ctx.items if i.kind == self.name
                     and i.letter in ev.ctx.parts and (p := model_path(ev.sub, i)) is not None
                     and not self.needs(i) & ev.ctx.missing.keys()]
            return measure_models(items, ev.ctx)
        return ev.memo("models", make)

    def grade(self, item: Item, ev: Evidence) -> ItemMark:
        sub = ev.sub
        path = model_path(sub, item)
        m = self._measured(ev).get(item.id)
        if path is None or m is None:
            return _no_model(item, sub)
        if m.refused:
            return mark(item, None, Status.INVALID,
                        f"models/{path.name} refused, not loaded: {m.error}")
        if m.fault:
            return not_run(item, m.error)
        if not m.ok or m.value is None:
            return mark(item, Fraction(0), Status.ERROR,
                        f"models/{path.name} could not be evaluated: {m.error}")
        return _marked(item, sub, m)

    def check(self, item: Item, ev: Evidence) -> Iterator[Finding]:
        path = model_path(ev.sub, item)
        if path is None:
            return  # absent: the layout said so
        name = f"models/{path.name}"
        task = _task(item)
        inputs = task.check_inputs(np.random.default_rng(0), CHECK_INPUTS)
        try:
            validate(path)
        except UnsafeModel as exc:
            yield Finding("problem", name, "", f"refused, not loaded: {exc}")
            return
        ran = _run([Job("model", path, inputs)], [item], ev.ctx.threads,
                   batch=CHECK_BATCH)["model"]
        yield _shape_finding(name, task, inputs, ran)

    def flags(self, item: Item, mark_: ItemMark) -> list[tuple[str, str]]:
        if mark_.status == Status.INVALID:
            return [("model refused", f"{item.id}: {mark_.feedback}")]
        return super().flags(item, mark_)


def _no_model(item: Item, sub: Submission) -> ItemMark:
    assert item.claim is not None
    claimed, why_not = read_claim(sub, item.claim)
    if claimed is None:
        return mark(item, Fraction(0), Status.ABSENT, f"no model and {why_not}: 0 marks")
    share, reason = share_of(item, claimed)
    share *= item.claim.unverified_share
    return mark(item, share, Status.UNVERIFIED,
                f"no model submitted: claimed {fmt(float(claimed), 4)} not verified ({reason}); "
                f"at most {float(item.claim.unverified_share):.0%} of the marks", claimed=claimed)


def _marked(item: Item, sub: Submission, m: Measured) -> ItemMark:
    assert m.value is not None
    if m.void:
        return mark(item, Fraction(0), Status.REVIEW, f"{_task(item).describe(m)}"  # type: ignore[attr-defined]
                    f", but it earns nothing: {m.void}; REVIEW: an instructor looks at it",
                    measured=m.value, **(m.detail or {}))
    share, reason = share_of(item, m.value)
    text = f"{_task(item).describe(m)}: {reason}" + reference(item)  # type: ignore[attr-defined]
    claimed = read_claim(sub, item.claim)[0] if item.claim else None
    why_not = read_claim(sub, item.claim)[1] if item.claim else ""
    gap = item.claim.max_gap if item.claim else 0.0
    flagged = claimed is not None and abs(float(claimed) - m.value) > gap
    if claimed is None:
        text += f"; {why_not}"
    elif flagged:
        text += (f"; FLAG: claimed {fmt(float(claimed), 4)} differs from the measured value by "
                 f"{fmt(abs(float(claimed) - m.value), 3)} (more than {gap:g})")
    status = Status.CORRECT if share == 1 else Status.PARTIAL if share else Status.WRONG
    if m.review:
        status, text = Status.REVIEW, f"{text}; REVIEW: {m.review}"
    return mark(item, share, status, text, measured=m.value, claimed=claimed,
                flagged=flagged, **(m.detail or {}))


def _shape_finding(name: str, task: Task, inputs: np.ndarray, ran: Ran) -> Finding:
    shape = inputs.shape
    expected = f"{task.output} (N, {task.columns()})" if task.output == "logits" else \
        f"(N, {task.columns()})"
    if ran.status == "unavailable":
        return Finding("warning", name, "", f"not checked: {ran.reason} (grading will run it)")
    given = f"float32 {tuple(shape)[1:]} inputs in batches of {CHECK_BATCH} and " \
            f"{shape[0] - CHECK_BATCH}"
    if ran.outputs is None:
        return Finding("problem", name, "", f"does not run on {given}: "
                       f"{ran.reason or ran.status} (export it with a dynamic batch dimension)")
    if ran.outputs.shape[1] != task.columns():
        return Finding("problem", name, "output", f"{ran.outputs.shape[1]} value(s) per input, "
                       f"expected {expected}")
    if not np.isfinite(ran.outputs).all():
        return Finding("problem", name, "output", "some outputs are not finite numbers")
    return Finding("ok", name, "", f"loads in the sandbox and maps (N, "
                   f"{', '.join(map(str, shape[1:]))}) inputs to {expected}")
