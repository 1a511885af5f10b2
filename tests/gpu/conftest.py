"""Tests of the nvidia backend: the GPU ones marked ``gpu``, the rest run anywhere.

A test marked ``gpu`` runs where CuPy sees a GPU and PyNvVideoCodec loads the
driver's video libraries; elsewhere it is skipped, except with
``FARM_REQUIRE_GPU=1``, where a skip is a failure (a GPU was promised).
Nothing here needs Ray: the GPU machines run these tests without it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def fresh_capabilities() -> Iterator[None]:
    """Each test probes the machine it sees: the per-process capabilities cache starts and ends empty.

    Tests swap CuPy and PyNvVideoCodec for stand-ins; a probe cached by an
    earlier test would describe the wrong machine.
    """
    from farm.backends.capabilities import clear_cache

    clear_cache()
    yield
    clear_cache()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is None:
        return
    reason = gpu_missing()
    if reason is None:
        return
    if REQUIRE_GPU:
        pytest.fail(f"FARM_REQUIRE_GPU=1 but {reason}")
    pytest.skip(reason)
