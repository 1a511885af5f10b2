"""A pytest plugin for the GPU run: a test that runs past ``FARM_TEST_TIMEOUT`` seconds fails.

Loaded by ``benchmarks/gpu_run.py`` (``-p gpu_test_alarm``) so that one hung
test cannot eat a device call that has minutes to spend. The alarm interrupts
Python code; a call blocked inside a driver is cut by the run's overall timeout.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

LIMIT = int(os.environ.get("FARM_TEST_TIMEOUT", "60"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"{item.nodeid} ran past {LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
