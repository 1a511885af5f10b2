"""Helpers shared by the nvidia backend's tests (a plain module: ``conftest`` names clash across folders)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def load_test_module(name: str, path: Path):  # type: ignore[no-untyped-def]
    """A helper module of the test suite by path (``conftest`` names clash across folders)."""
    key = f"_farm_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def root_helpers():  # type: ignore[no-untyped-def]
    """tests/coded.py (SOURCES, Shot, Gap, write_project, expected_frames) and tests/media_check.py."""
    return load_test_module("coded", TESTS / "coded.py"), load_test_module(
        "media_check", TESTS / "media_check.py"
    )
