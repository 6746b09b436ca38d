"""Shared test helpers."""

from __future__ import annotations

import os

import pytest


def require(condition: bool, why: str) -> None:
    """Skip when a real dataset or tool is missing, but fail under DLHW_REQUIRE_DATA=1 (CI)."""
    if condition:
        return
    if os.environ.get("DLHW_REQUIRE_DATA") == "1":
        pytest.fail(f"required by DLHW_REQUIRE_DATA=1: {why}")
    pytest.skip(why)
