"""Tests of the nvidia backend: the GPU ones marked ``gpu``, the rest run anywhere.

A test marked ``gpu`` runs where CuPy sees a GPU and PyNvVideoCodec loads the
driver's video libraries; elsewhere it is skipped, except with
``FARM_REQUIRE_GPU=1``, where a skip is a failure (a GPU was promised).
Nothing here needs Ray: the GPU machines run these tests without it.
"""

from __future__ import annotations

import functools
import os

import pytest

REQUIRE_GPU = os.environ.get("FARM_REQUIRE_GPU") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gpu: needs an NVIDIA GPU with CuPy and PyNvVideoCodec (fails instead of skipping when "
        "FARM_REQUIRE_GPU=1)",
    )


@functools.cache
def gpu_missing() -> str | None:
    """Why the nvidia backend cannot run here, or None when it can."""
    from farm.backends.select import nvidia_missing

    missing = nvidia_missing()
    return "missing " + "; ".join(missing) if missing else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is None:
        return
    reason = gpu_missing()
    if reason is None:
        return
    if REQUIRE_GPU:
        pytest.fail(f"FARM_REQUIRE_GPU=1 but {reason}")
    pytest.skip(reason)
