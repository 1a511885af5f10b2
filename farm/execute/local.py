"""Run a batch in this process, one unit at a time, without Ray: GPU boxes, debugging, tests.

The units run exactly as on a Ray worker (the same functions, the same
``{"error": exc}`` convention), in the order the Ray executor starts them:
looks, then audio, then segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any

from farm.errors import FarmError
from farm.execute.protocol import OnDone, Outcome, SkipQuery, UnitKind, WorkBatch, outcome_of


def _run_unit(key: str, kind: UnitKind, work: Callable[[], dict[str, Any]]) -> Outcome:
    try:
        result = work()
    except FarmError as exc:
        result = {"error": exc}
    return outcome_of(key, kind, result)


class InProcessExecutor:
    """Runs every unit in the calling thread; never imports Ray."""

    workers = 1

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        from farm.backends.segment import render_segment
        from farm.look.bake import bake_look
        from farm.media.audio import render_audio

        for look in batch.looks:
            if not skip(look.key):
                on_done(_run_unit(look.key, "look", partial(bake_look, look)))
        for audio in batch.audio:
            if not skip(audio.key):
                on_done(_run_unit(audio.key, "audio", partial(render_audio, audio.job, audio.out_path)))
        cache_root = batch.cache_location
        for segment in batch.segments:
            if skip(segment.key):
                continue
            t0 = time.perf_counter()
            render = partial(render_segment, segment, cache_root, batch.backend)
            outcome = _run_unit(segment.key, "segment", render)
            if outcome.error is None:
                outcome.meta.setdefault("seconds", time.perf_counter() - t0)
            on_done(outcome)
