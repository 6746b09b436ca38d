"""The rubric's Part B and Part C items, read through their kinds (grader/kinds/): the fields
every item has (title, marks, check), the bars, the claim and the sandbox limits here; each
kind's own fields by that kind. Every error names the file, the line and the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction

import yaml

from core.yamlnodes import NodeReader
from grader.kinds import KINDS, Claim, Item, Limits, Threshold
from grader.kinds.base import CLAIM_TYPES

ITEM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_BARS = ("at_least", "at_most", "equals")
_COMMON = {"claim", "partial", "time_limit_s", "memory_limit_mb", "leaderboard", "requires",
           *_BARS}


def read_items(r: NodeReader, top: dict[str, yaml.Node], refs: dict[str, float | bool],
               marks: Mapping[str, int | Fraction]) -> list[Item]:
    """Every item of partb and partc, each part's marks checked against its total."""
    items: list[Item] = []
    for part in ("partb", "partc"):
        node = top[part]
        for iid, inode in r.mapping(node, part).items():
            if not ITEM_ID.fullmatch(iid):  # ids name files (models, sandbox inputs) and columns
                raise r.fail(inode, f"{part}.{iid}", "expected an id of letters, digits and _")
            items.append(read_item(r, part, iid, inode, refs))
        total = sum((i.marks for i in items if i.part == part), Fraction(0))
        if total != marks[part]:
            raise r.fail(node, part, f"marks add up to {float(total):g}, expected "
                         f"{float(marks[part]):g}")
    return items


def read_item(r: NodeReader, part: str, iid: str, node: yaml.Node,
              refs: dict[str, float | bool]) -> Item:
    where = f"{part}.{iid}"
    own = set().union(*(k.fields for k in KINDS.values()))
    m = r.mapping(node, where, {"title", "marks", "check"}, _COMMON | own)
    name = r.string(m["check"], f"{where}.check")
    if name not in KINDS:
        raise r.fail(m["check"], f"{where}.check", f"expected {', '.join(KINDS)}")
    kind = KINDS[name]
    stray = sorted((m.keys() & own) - kind.fields)
    if stray:
        raise r.fail(m[stray[0]], f"{where}.{stray[0]}", f"a {name} check takes no {stray[0]}")
    claim = _claim(r, m["claim"], f"{where}.claim", refs) if "claim" in m else None
    if kind.claims == "required" and claim is None:
        raise r.fail(node, f"{where}.claim", "missing required field (the metric claimed in "
                     "metrics.yaml and its type)")
    if kind.claims == "none" and claim is not None:
        raise r.fail(m["claim"], f"{where}.claim", f"a {name} check takes no claim")
    full, partial, share = _bars(r, m, where, name, kind.thresholds, claim)
    limits = None
    if kind.sandboxed:
        limits = Limits(
            float(r.number(m["time_limit_s"], f"{where}.time_limit_s", 1, 3600))
            if "time_limit_s" in m else Limits.time_limit_s,
            int(r.number(m["memory_limit_mb"], f"{where}.memory_limit_mb", 256, 65536))
            if "memory_limit_mb" in m else Limits.memory_limit_mb)
    elif m.keys() & {"time_limit_s", "memory_limit_mb"}:
        raise r.fail(node, where, f"a {name} check runs nothing: it takes no time or memory "
                     "limit")
    item = Item(iid, part, r.string(m["title"], f"{where}.title"),
                r.number(m["marks"], f"{where}.marks", 0, 25), name,
                kind.read(r, {k: m[k] for k in kind.fields if k in m}, where), claim, full,
                partial, share, limits,
                r.string(m["leaderboard"], f"{where}.leaderboard") if "leaderboard" in m else "")
    return _required(r, m, where, item)


def _required(r: NodeReader, m: dict[str, yaml.Node], where: str, item: Item) -> Item:
    """`requires`: the file the item is measured from, which the homework asks for. A claim
    without it earns nothing, so an unverified share makes no sense beside it."""
    if "requires" not in m:
        return item
    want = KINDS[item.kind].file(item)
    got = r.string(m["requires"], f"{where}.requires")
    if got != want or want == "metrics.yaml":
        raise r.fail(m["requires"], f"{where}.requires", f"expected {want}, the file a "
                     f"{item.kind} check measures" if want != "metrics.yaml" else
                     f"a {item.kind} check measures no file")
    if item.claim is not None and item.claim.unverified_share:
        raise r.fail(m["requires"], f"{where}.requires", "an item measured from a required "
                     "file takes no claim.unverified_share (a claim without the file earns 0)")
    return replace(item, requires=got)


def _claim(r: NodeReader, node: yaml.Node, where: str, refs: dict[str, float | bool]) -> Claim:
    c = r.mapping(node, where, {"metric", "type"}, {"max_gap", "unverified_share"})
    metric = r.string(c["metric"], f"{where}.metric")
    kind = r.string(c["type"], f"{where}.type")
    if kind not in CLAIM_TYPES:
        raise r.fail(c["type"], f"{where}.type", f"expected {', '.join(CLAIM_TYPES)}")
    if kind != "boolean" and "max_gap" not in c:  # a number is claimed: how close it must be
        raise r.fail(node, f"{where}.max_gap", "missing required field (the gap allowed "
                     "between the claimed and the measured value)")
    return Claim(metric, kind,
                 float(r.number(c["max_gap"], f"{where}.max_gap", 0, 1)) if "max_gap" in c
                 else 0.0,
                 r.number(c["unverified_share"], f"{where}.unverified_share", 0, 1)
                 if "unverified_share" in c else Fraction(0), refs.get(metric))


def _bars(r: NodeReader, m: dict[str, yaml.Node], where: str, name: str, wanted: str,
          claim: Claim | None) -> tuple[Threshold | None, Threshold | None, Fraction]:
    """The full-mark bar, the optional partial bar and its share (`wanted`: the kind's
    none | optional | required)."""
    ops = [op for op in _BARS if op in m]
    if wanted == "none" and (ops or "partial" in m):
        raise r.fail(m[(ops or ["partial"])[0]], where, f"a {name} check takes no threshold")
    if len(ops) > 1:
        raise r.fail(m[ops[1]], where, "expected at most one of at_least, at_most, equals")
    if wanted == "required" and not ops:
        raise r.fail(m["title"], where, "expected one of at_least, at_most, equals")
    if not ops:
        return None, None, Fraction(0)
    op = ops[0]
    if claim is None:
        raise r.fail(m[op], where, "a threshold marks a claimed metric: expected a claim")
    if (op == "equals") != (claim.type == "boolean"):
        raise r.fail(m[op], f"{where}.{op}", "expected equals for a yes/no claim, at_least or "
                     "at_most for a number")
    value = r.boolean(m[op], f"{where}.{op}") if op == "equals" else \
        float(r.number(m[op], f"{where}.{op}"))
    full = Threshold(op, value)
    if "partial" not in m:
        return full, None, Fraction(0)
    p = r.mapping(m["partial"], f"{where}.partial", {"share"}, {"at_least", "at_most"})
    pops = [o for o in ("at_least", "at_most") if o in p]
    if len(pops) != 1 or pops[0] != full.op:
        raise r.fail(m["partial"], f"{where}.partial",
                     f"expected share and one {full.op} bound")
    pval = float(r.number(p[pops[0]], f"{where}.partial.{pops[0]}"))
    if (full.op == "at_least" and pval > float(full.value)) or \
            (full.op == "at_most" and pval < float(full.value)):
        raise r.fail(p[pops[0]], f"{where}.partial.{pops[0]}",
                     "expected a bar easier than the full-mark one")
    return full, Threshold(pops[0], pval), r.number(p["share"], f"{where}.partial.share", 0, 1)
