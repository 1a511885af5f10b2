"""Planning in integer time: the vectorised rule, the chunk grid and the keys match the plain ones."""

from __future__ import annotations

import bisect
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_timing import RATES, brute_force, fake_source, spec

from farm.edit.cut import ClipItem, Cut
from farm.edit.timing import floor_linear, source_frames_vfr
from farm.errors import MediaError
from farm.planning.keys import FramesKey, content_key
from farm.planning.planner import chunk_boundaries, plan_variant
from farm.planning.sampling import SourceTables, chunk_grid, split_by_chunk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from scale_plan import synthetic_sources, synthetic_variants  # noqa: E402

fractions = st.builds(Fraction, st.integers(-(10**6), 10**6), st.integers(1, 10**6))


@settings(max_examples=300, deadline=None)
@given(
    offset=fractions,
    rate=st.sampled_from(RATES),
    scale=st.sampled_from([*RATES, Fraction(90000)]),
    start=st.integers(-50, 5000),
    count=st.integers(0, 200),
)
def test_floor_linear_is_the_rule_frame_by_frame(offset, rate, scale, start, count) -> None:
    span = range(start, start + count)
    expected = [math.floor((offset + Fraction(n) / rate) * scale) for n in span]
    assert floor_linear(offset, rate, span, scale).tolist() == expected


def test_floor_linear_is_exact_beyond_64_bits() -> None:
    offset = Fraction(10**15 + 7, 10**6 + 3)  # products overflow int64: the exact fallback runs
    rate = Fraction(30000, 1001)
    span = range(10**9, 10**9 + 50)
    expected = [math.floor((offset + Fraction(n) / rate) * Fraction(90000)) for n in span]
    assert floor_linear(offset, rate, span, Fraction(90000)).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.integers(1, 9000), min_size=1, max_size=40),
    offset=fractions,
    rate=st.sampled_from(RATES),
    count=st.integers(1, 60),
)
def test_vfr_frames_match_bisect_over_exact_times(steps, offset, rate, count) -> None:
    tb = Fraction(1, 90000)
    pts = np.cumsum([0, *steps]).astype(np.int64)
    times = [int(p) * tb for p in pts]
    span = range(count)
    expected = [max(bisect.bisect_right(times, offset + Fraction(n) / rate) - 1, 0) for n in span]
    assert source_frames_vfr(offset, rate, span, tb, pts).tolist() == expected


def old_chunk_boundaries(frames: int, rate: Fraction, keyframes: list[int], seconds: Fraction) -> list[int]:
    """The grid as it was computed before, one grid line at a time."""
    step = max(1, round(seconds * rate))
    bounds = {0}
    for grid in range(step, frames, step):
        i = bisect.bisect_left(keyframes, grid)
        if i < len(keyframes):
            bounds.add(keyframes[i])
    return sorted(bounds)


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 90), min_size=1, max_size=30),
    rate=st.sampled_from(RATES),
    seconds=st.sampled_from([Fraction(1), Fraction(2), Fraction(5, 2)]),
)
def test_chunk_grid_matches_the_plain_grid(gaps, rate, seconds) -> None:
    keyframes = list(np.cumsum([0, *gaps]))
    frames = int(keyframes[-1]) + int(gaps[0])
    src = fake_source("g", rate, frames)
    src = type(src)(**{**src.__dict__, "keyframes": tuple(int(k) for k in keyframes)})
    assert chunk_boundaries(src, seconds) == old_chunk_boundaries(frames, rate, keyframes, seconds)
    assert chunk_grid(src, seconds).tolist() == chunk_boundaries(src, seconds)


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.integers(0, 300), min_size=1, max_size=80))
def test_split_by_chunk_cuts_exactly_where_the_chunk_changes(frames) -> None:
    frames.sort()
    bounds = np.array([0, 50, 100, 150, 240], dtype=np.int64)
    pieces = list(split_by_chunk(np.array(frames, dtype=np.int64), bounds))
    assert pieces[0][0] == 0 and pieces[-1][1] == len(frames)
    chunk_of = [bisect.bisect_right(bounds.tolist(), f) for f in frames]
    for (_a, b), (c, _) in zip(pieces, pieces[1:], strict=False):
        assert b == c and chunk_of[b - 1] != chunk_of[b]
    for a, b in pieces:
        assert len(set(chunk_of[a:b])) == 1


def test_frames_key_depends_on_every_frame_and_every_part() -> None:
    keyer = FramesKey("clip", source="a", lut=None)
    base = keyer.key(np.arange(10, 20))
    assert keyer.key(list(range(10, 20))) == base == keyer.key(tuple(range(10, 20)))
    assert keyer.key([10, 11, 12, 13, 14, 15, 16, 17, 18, 18]) != base
    assert keyer.key(range(10, 21)) != base
    assert FramesKey("clip", source="b", lut=None).key(np.arange(10, 20)) != base
    assert FramesKey("clip", source="a", lut="x").key(np.arange(10, 20)) != base
    assert base != content_key("clip", source="a", lut=None, frames=[[10, 1, 10]])


def test_a_scale_plan_shows_the_rule_and_lists_each_job_once() -> None:
    """Synthetic sources at mixed rates (some variable-rate); every variant's frame map is the rule's."""
    sources = synthetic_sources(6, seconds=40, vfr_every=3)
    tables = SourceTables()
    known: set[str] = set()
    jobs: dict[str, object] = {}
    for vspec, cut in synthetic_variants(3, sources, 12, share=0.5):
        plan, new_jobs, _ = plan_variant(
            vspec, cut, lambda p, w: sources[str(p)], Fraction(2), tables=tables, known=known
        )
        for job in new_jobs:
            assert job.key not in jobs  # listed by the first variant that needs it, only
            jobs[job.key] = job
        frames: list[tuple[str, int] | None] = []
        for p in plan.placements:
            job = jobs[p.key]
            assert p.start == len(frames)
            frames += [None] * p.count if job.source is None else [(job.source.path, f) for f in job.frames]
        assert frames == brute_force(list(cut.video), sources, vspec.output.fps)
        for p in plan.placements:  # a segment never spans two chunks of its source
            job = jobs[p.key]
            if job.source is not None:
                bounds = chunk_boundaries(sources[job.source.path], Fraction(2))
                assert len({bisect.bisect_right(bounds, f) for f in job.frames}) == 1


def test_a_clip_outside_its_source_names_the_frames() -> None:
    src = fake_source("short", Fraction(24), 48)
    items = (ClipItem("late", Path("/media/short.mp4"), Fraction(0), Fraction(2), Fraction(1)),)
    cut = Cut("v", Path("/cuts/v.otio"), items, None, Fraction(2))
    with pytest.raises(MediaError) as err:
        plan_variant(spec(Fraction(24)), cut, lambda p, w: src, Fraction(2))
    assert err.value.where.frames == (24, 72)  # source frames 24..71 of a 48-frame source
