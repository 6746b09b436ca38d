"""Run bookkeeping shared by Parts B and C: a run folder, stable JSON, library versions.

`write_json` is what makes "same seed, same metrics.json bytes" hold: keys are sorted, floats are
written with a fixed number of significant digits (so a last-bit difference in a platform's
`repr` cannot leak in), NumPy scalars and arrays become plain JSON, and NaN/inf are refused
because JSON has no spelling for them.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Collection, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from core.errors import DlhwError

# 12 significant digits: far below any figure a report quotes, far above float noise.
FLOAT_DIGITS = 12


def _normalise(obj: Any, digits: int) -> Any:
    """Plain-Python copy of `obj` with every float rounded to `digits` significant digits."""
    # numpy is not imported here so that this module stays importable by anything: an object
    # that is a numpy array or scalar means numpy is already loaded.
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return [_normalise(v, digits) for v in obj.tolist()]
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            obj = float(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"cannot write a non-finite float ({obj}) to JSON")
        rounded = float(f"{obj:.{digits}g}")
        return 0.0 if rounded == 0 else rounded  # no "-0.0"
    if isinstance(obj, Mapping):
        return {str(k): _normalise(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v, digits) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def to_jsonable(obj: Any, digits: int = FLOAT_DIGITS) -> Any:
    """What `write_json` writes, as Python objects (for comparing in tests)."""
    return _normalise(obj, digits)


def dumps(obj: Any, digits: int = FLOAT_DIGITS) -> str:
    """Stable JSON text: sorted keys, two-space indent, rounded floats, trailing newline."""
    return json.dumps(_normalise(obj, digits), sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any, digits: int = FLOAT_DIGITS) -> Path:
    """Write `obj` as stable JSON (see `dumps`) to `path`, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(obj, digits), encoding="utf-8")
    return path


def versions(*packages: str) -> dict[str, str]:
    """Python's and the named installed packages' versions (numpy by default).

    A package that is not installed is reported as "absent" rather than raising, so config.json
    can always be written.
    """
    names = packages or ("numpy",)
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


class RunDirError(DlhwError, OSError):
    """A run folder that cannot be (re)used safely; the message says why."""


# Written first into every run folder: what makes a non-empty folder safe to clear.
RUN_MARKER = ".dlhw-run"


def make_run_dir(out: str | Path, keep: Collection[str] = ()) -> Path:
    """Create or empty the run folder `out` and return it: it holds only what this run writes.

    Files named in `keep` stay (the search's own storage, which a run resumes from).

    An existing folder is emptied only when an earlier run made it (it has RUN_MARKER or a
    run's config.json) or it is empty, so `--out .` or `--out ~` fails instead of deleting
    files. Nothing is followed: a run folder that is itself a symbolic link is refused, and links
    inside it are removed as links, so nothing outside the folder is ever touched.
    """
    path = Path(out)
    if path.is_symlink():
        raise RunDirError(f"{path}: the run folder is a symbolic link; give a real folder")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: not a folder")
    path.mkdir(parents=True, exist_ok=True)
    entries = list(os.scandir(path))
    names = {e.name for e in entries}
    if entries and not names & {RUN_MARKER, "config.json"}:
        raise RunDirError(f"{path}: not empty and not a dlhw run folder; refusing to clear it "
                          "(give a new or empty folder)")
    for entry in entries:
        if entry.name in keep and entry.is_file(follow_symlinks=False):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)  # does not follow the links inside (on Linux: by fd)
        else:
            os.unlink(entry.path)  # a link is removed, never its target
    (path / RUN_MARKER).write_text("written by dlhw: this folder is emptied by the next run\n")
    return path


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"dotted.id": value}; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """The CPU as `lscpu` names it: model name, flags, architecture (for every run's config).

    Falls back to /proc/cpuinfo where lscpu is missing; fields it cannot find are "unknown"/[].
    Speed figures mean nothing without this: bf16 is fast only where the CPU has bf16 units.
    """
    fields: dict[str, str] = {}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                              env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "Flags" not in fields:  # no lscpu: /proc/cpuinfo's first processor ("flags" on x86,
        try:                   # "Features" on ARM)
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                key, _, value = line.partition(":")
                field = {"model name": "Model name", "flags": "Flags",
                         "Features": "Flags"}.get(key.strip())
                if field:
                    fields.setdefault(field, value.strip())
        except OSError:
            pass
    return {"model_name": fields.get("Model name", "unknown"),
            "architecture": fields.get("Architecture", platform.machine()),
            "flags": sorted(fields.get("Flags", "").split())}
