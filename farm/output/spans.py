"""Where a worker's time goes: seconds per stage, measured where the work happens.

A :class:`StageClock` is made by :func:`farm.backends.segment.render_segment`
for each segment it renders and handed to the backend, which wraps its decode,
colour + scale, encode and mux calls in :meth:`StageClock.stage` (or its
decoder in :meth:`StageClock.timed`). The totals travel back with the segment's
metadata as a *span*: the worker's name, wall-clock start and end, and the
seconds of each stage. ``farm bench`` turns spans into its figures and trace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["STAGES", "StageClock", "current_clock", "timing", "worker_name"]

T = TypeVar("T")

#: the stages a worker reports, in the order a frame meets them
STAGES = ("decode", "colour+scale", "encode", "mux", "cache write")


def worker_name() -> str:
    """This process as a trace track: ``host:pid``."""
    return f"{os.uname().nodename}:{os.getpid()}"


class StageClock:
    """Seconds spent in each stage of one unit of work (stages may interleave frame by frame)."""

    def __init__(self, verify: bool = False) -> None:
        self.start = time.time()  # wall clock: spans of different processes share one timeline
        self.seconds: dict[str, float] = {}
        #: the encoder should decode what it wrote and measure it (``farm render --verify``)
        self.verify = verify
        #: what the backend measured besides time (``verify``: worst PSNR/SSIM of the segment)
        self.notes: dict[str, Any] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Count the time spent in the ``with`` block towards ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def timed(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """``items``, counting the time spent producing each one towards ``name``."""
        it = iter(items)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(name, time.perf_counter() - t0)
                return
            self.add(name, time.perf_counter() - t0)
            yield item

    def span(self) -> dict[str, Any]:
        """What travels back with the unit's result: worker, wall-clock start and end, stage seconds."""
        return {
            "worker": worker_name(),
            "start": self.start,
            "end": time.time(),
            "stages": {k: round(v, 6) for k, v in self.seconds.items()},
        }


def optional_stage(clock: StageClock | None, name: str) -> Any:
    """``clock.stage(name)``, or a no-op context when there is no clock."""
    if clock is None:
        from contextlib import nullcontext

        return nullcontext()
    return clock.stage(name)


_CURRENT: ContextVar[StageClock | None] = ContextVar("farm_stage_clock", default=None)


@contextmanager
def timing(clock: StageClock) -> Iterator[StageClock]:
    """Make ``clock`` the :func:`current_clock` inside the block (for code a backend calls deep down)."""
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)


def current_clock() -> StageClock | None:
    """The clock of the segment being rendered in this thread, if any."""
    return _CURRENT.get()
