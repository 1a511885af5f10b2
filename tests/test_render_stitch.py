"""Stitching while segments still render: real small renders on the in-process executor.

A loop that records every append and every landed unit in one list shows the
order things happened in (no timing); an executor that holds back a variant's
last segment until an append was seen shows the append came first.  The
output must be the very file stitching at the end would write, and a render
that fails or is interrupted must leave nothing at the output path.
"""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import pytest
from coded import Shot, expected_frames, write_project
from media_check import frame_codes

import farm
from farm.errors import InternalError
from farm.execute.local import InProcessExecutor
from farm.execute.loop import RenderLoop, variant_digest
from farm.execute.protocol import ExecutorSession, OnDone, Outcome, SkipQuery, WorkBatch
from farm.media.stitch import StitchPiece, stitch
from farm.media.stitch_writer import StitchWriter
from farm.output.cache import Cache
from farm.output.report import RenderReport
from farm.planning.planner import RenderPlan

#: two variants of short segments: 'long' has six, 'short' two, shared with 'long'
CUTS = {
    "long": [Shot("s24", 0, 36), Shot("s25", 0, 38)],
    "short": [Shot("s24", 0, 24)],
}
HALF_SECOND = "[render]\nsegment_seconds = 0.5\n"


class RecordingLoop(RenderLoop):
    """A render loop that logs each append (variant, pieces in the file) into ``events``."""

    events: list[tuple[str, ...]]
    appended: threading.Event

    def _extend(self, name: str, writer: StitchWriter, pieces: list[StitchPiece]) -> StitchWriter:
        writer = super()._extend(name, writer, pieces)
        self.events.append(("append", name, str(len(pieces)), str(writer.dest.is_file())))
        self.appended.set()
        return writer


class Staged:
    """In-process executor: audio first (or last, ``audio_last``), then every segment but ``held``;
    ``held`` runs once the loop appended something.  ``then`` replaces the held unit's run:
    ``"fail"`` lands it as failed, ``"interrupt"`` raises KeyboardInterrupt instead."""

    def __init__(self, loop: RecordingLoop, held: str, then: str = "run", audio_last: bool = False) -> None:
        self.inner = InProcessExecutor()
        self.loop, self.held, self.then, self.audio_last = loop, held, then, audio_last
        self.held_after_append = False
        self.renders_dir_at_hold: list[str] = []

    workers = 1

    def __enter__(self) -> Staged:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def run(self, batch: WorkBatch, on_done: OnDone, skip: SkipQuery) -> None:
        def landed(outcome: Outcome) -> None:
            self.loop.events.append(("landed", outcome.kind, outcome.key))
            on_done(outcome)

        rest = tuple(j for j in batch.segments if j.key != self.held)
        held = tuple(j for j in batch.segments if j.key == self.held)
        assert held, "the unit to hold back is not in the batch"
        first = replace(batch, segments=rest, audio=() if self.audio_last else batch.audio)
        self.inner.run(first, landed, skip)
        if self.audio_last:
            self.inner.run(replace(batch, segments=(), looks=()), landed, skip)
        self.held_after_append = self.loop.appended.wait(timeout=0 if self.audio_last else 60)
        renders = self.loop.out_dir
        self.renders_dir_at_hold = sorted(p.name for p in renders.iterdir()) if renders.is_dir() else []
        if self.then == "interrupt":
            raise KeyboardInterrupt
        if self.then == "fail":
            landed(Outcome(self.held, "segment", error=InternalError("a worker lost it")))
            return
        self.inner.run(replace(batch, segments=held, audio=(), looks=()), landed, skip)


def render(
    plan: RenderPlan, project_dir: Path, held_variant: str, **staging: object
) -> tuple[RenderReport, RecordingLoop, Staged]:
    """Render ``plan`` holding back the last segment (in output order) of ``held_variant``."""
    loop = RecordingLoop(
        plan,
        project_dir / "renders",
        Cache(project_dir / ".farm-cache").ensure(),
        "cpu",
        progress_stream=io.StringIO(),
    )
    loop.events, loop.appended = [], threading.Event()
    executor = Staged(loop, plan.variants[held_variant].placements[-1].key, **staging)  # type: ignore[arg-type]
    with ExecutorSession(lambda: executor) as session:
        return loop.run(session), loop, executor


def end_stitched(plan: RenderPlan, project_dir: Path, name: str, dest: Path) -> bytes:
    """The file stitching ``name`` all at once from the cache would write."""
    cache = Cache(project_dir / ".farm-cache")
    vp = plan.variants[name]
    pieces = [StitchPiece(cache.segment_path(p.key), p.start, p.count) for p in vp.placements]
    stitch(
        pieces,
        cache.audio_path(vp.audio.key),
        dest,
        vp.spec.output.fps,
        vp.frames,
        name,
        plan_digest=variant_digest(vp),
    )
    return dest.read_bytes()


def test_segments_are_appended_before_the_last_one_lands(project_dir: Path, tmp_path: Path) -> None:
    plan = farm.plan(write_project(project_dir, CUTS, extra=HALF_SECOND))
    assert len(plan.variants["long"].placements) >= 5
    report, loop, executor = render(plan, project_dir, "long")
    assert executor.held_after_append, "nothing was appended before the last segment"
    last = plan.variants["long"].placements[-1].key
    order = loop.events
    landed_last = order.index(("landed", "segment", last))
    early = [e for e in order[:landed_last] if e[0] == "append" and e[1] == "long"]
    # every segment but the last was appended, into a temporary file, before the last one landed
    assert early and int(early[-1][2]) == len(plan.variants["long"].placements) - 1
    assert all(e[3] == "True" for e in early)
    assert "long.mp4" not in executor.renders_dir_at_hold
    assert any(".long.mp4." in name and "farm-tmp" in name for name in executor.renders_dir_at_hold)
    for name, items in CUTS.items():
        v = report.variants[name]
        assert v.error is None, v.error
        assert frame_codes(Path(str(v.output))) == expected_frames(items, Fraction(24))
    # the very bytes the end-only stitch writes from the same segments
    out = Path(str(report.variants["long"].output))
    assert out.read_bytes() == end_stitched(plan, project_dir, "long", tmp_path / "end.mp4")
    assert [p.name for p in out.parent.iterdir() if "farm-tmp" in p.name] == []


def test_a_variant_waits_for_its_audio_before_anything_is_appended(project_dir: Path) -> None:
    plan = farm.plan(write_project(project_dir, CUTS, extra=HALF_SECOND))
    report, loop, executor = render(plan, project_dir, "long", audio_last=True)
    audio_landed = min(i for i, e in enumerate(loop.events) if e[:2] == ("landed", "audio"))
    appends = [i for i, e in enumerate(loop.events) if e[0] == "append"]
    assert appends and min(appends) > audio_landed
    for name, items in CUTS.items():
        assert frame_codes(Path(str(report.variants[name].output))) == expected_frames(items, Fraction(24))


def test_a_variant_failing_after_appends_leaves_nothing(project_dir: Path) -> None:
    plan = farm.plan(write_project(project_dir, CUTS, extra=HALF_SECOND))
    report, _, executor = render(plan, project_dir, "long", then="fail")
    assert executor.held_after_append
    long, short = report.variants["long"], report.variants["short"]
    assert isinstance(long.error, InternalError) and "variant 'long'" in str(long.error)
    assert long.output is None and report.exit_code == 70
    renders = project_dir / "renders"
    assert sorted(p.name for p in renders.iterdir()) == ["short.mp4"]
    assert short.error is None
    assert frame_codes(renders / "short.mp4") == expected_frames(CUTS["short"], Fraction(24))


def test_an_interrupted_render_leaves_nothing_half_written(project_dir: Path) -> None:
    plan = farm.plan(write_project(project_dir, CUTS, extra=HALF_SECOND))
    with pytest.raises(KeyboardInterrupt):
        render(plan, project_dir, "long", then="interrupt")
    renders = project_dir / "renders"
    left = sorted(p.name for p in renders.iterdir()) if renders.is_dir() else []
    # 'short' (complete before the interrupt) may be published; nothing of 'long', not even a temp file
    assert [n for n in left if "long" in n or "farm-tmp" in n] == []
