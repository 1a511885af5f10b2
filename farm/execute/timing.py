"""A render that records where its time goes, for ``farm bench``.

:class:`TimedExecutor` wraps any executor and records, as spans, its start-up,
the look bakes, the segment phase, its shutdown, and every segment span the
workers sent back; :class:`TimedLoop` records each stitch. The spans are
``{"track", "name", "kind", "start", "end"}`` in wall-clock seconds (see
:mod:`farm.output.bench`).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any

from farm.execute.loop import RenderLoop
from farm.execute.protocol import Executor, OnDone, Outcome, SkipQuery, WorkBatch
from farm.media.stitch import StitchPiece
from farm.media.stitch_writer import StitchWriter
from farm.output.spans import worker_name
from farm.planning.planner import VariantPlan

__all__ = ["TimedExecutor", "TimedLoop", "phase"]


def phase(name: str, start: float, end: float, track: str = "driver") -> dict[str, Any]:
    """A driver phase span."""
    return {"track": track, "name": name, "kind": "phase", "start": start, "end": end}


class TimedExecutor:
    """``inner``, recording its phases and the workers' segment spans into ``spans``."""

    def __init__(self, inner: Executor, spans: list[dict[str, Any]]) -> None:
        self.inner = inner
        self.spans = spans
        self.units: dict[str, int] = {"segment": 0, "audio": 0, "look": 0, "failed": 0}

    @property
    def workers(self) -> int:
        return self.inner.workers

    def __enter__(self) -> TimedExecutor:
        t = time.time()
        self.inner.__enter__()
        self.spans.append(phase("start-up", t, time.time()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        t = time.time()
        try:
            self.inner.__exit__(exc_type, exc, tb)
        finally:
            self.spans.append(phase("shutdown", t, time.time()))

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        start = time.time()
        looks_done = start
        first_segment: float | None = None  # when a worker began the first segment (its own clock)

        def done(outcome: Outcome) -> None:
            nonlocal looks_done, first_segment
            now = time.time()
            self.units["failed" if outcome.error else outcome.kind] += 1
            if outcome.kind == "look":
                looks_done = now
            span = outcome.meta.get("span")
            if outcome.kind in ("segment", "audio") and outcome.rendered and isinstance(span, dict):
                if outcome.kind == "segment":
                    first_segment = min(first_segment or span["start"], span["start"])
                here = span["worker"] == worker_name()  # audio the driver rendered (farm.execute.audio_feed)
                self.spans.append(
                    {
                        "track": f"{span['worker']} (driver)" if here else span["worker"],
                        "name": outcome.meta.get("label") or f"{outcome.kind} {outcome.key[:12]}",
                        "kind": outcome.kind,
                        "start": span["start"],
                        "end": span["end"],
                        "stages": span["stages"],
                        "frames": outcome.meta.get("frames", 0),
                    }
                )
            on_done(outcome)

        try:
            self.inner.run(batch, done, skip)
        finally:
            end = time.time()
            if batch.looks:
                self.spans.append(phase("look bakes", start, looks_done))
            seg_start = looks_done if batch.looks else start
            if first_segment is not None and first_segment > seg_start:
                # worker processes starting (imports) until the first segment begins; audio mixes meanwhile
                self.spans.append(phase("worker warm-up", seg_start, first_segment))
                seg_start = first_segment
            self.spans.append(phase("segments", seg_start, end))


class TimedLoop(RenderLoop):
    """A :class:`RenderLoop` that records each stitch and append as a span (on a ``stitch`` track)."""

    spans: list[dict[str, Any]]

    def _extend(self, name: str, writer: StitchWriter, pieces: list[StitchPiece]) -> StitchWriter:
        t, before = time.time(), writer.pieces
        try:
            return super()._extend(name, writer, pieces)
        finally:
            span = {"track": "stitch", "name": "append", "kind": "append", "start": t, "end": time.time()}
            span["variant"], span["segments"] = name, len(pieces) - before
            self.spans.append(span)

    def _stitch(self, vp: VariantPlan, final: Path) -> None:
        t = time.time()
        try:
            super()._stitch(vp, final)
        finally:
            span = phase("stitch", t, time.time(), track="stitch")
            span["variant"] = vp.name
            self.spans.append(span)
