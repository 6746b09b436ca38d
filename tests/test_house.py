"""The house rules, enforced: the layering (core <- solver <- nets <- grader <- handout <- cli)
as import-linter's contract, the type checker clean on the package, no module over 500 lines and
no function over 60."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "solver", "nets", "grader", "handout")
MAX_MODULE, MAX_FUNCTION = 500, 60


def _sources() -> list[Path]:
    files = [ROOT / "cli.py"]
    for pkg in (*PACKAGES, "bench", "problems"):
        files += sorted((ROOT / pkg).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def test_every_module_and_function_is_small():
    too_long = []
    for path in _sources():
        text = path.read_text()
        rel = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE:
            too_long.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


def test_the_layers_import_only_downwards():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    require(Path(lint).exists(), "import-linter is a dev dependency (scripts/setup.sh dev)")
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "KEPT" in done.stdout, done.stdout[-3000:] + done.stderr


def test_the_package_type_checks():
    require(subprocess.run([sys.executable, "-c", "import mypy"]).returncode == 0,
            "mypy is a dev dependency (scripts/setup.sh dev)")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
