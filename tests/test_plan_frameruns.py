"""Compact frame lists: FrameRuns (run-length ranges, or a clip's integer rule) are their lists."""

from __future__ import annotations

import pickle
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm.media.audio import AAC_BITRATE, SAMPLE_RATE, audio_key
from farm.planning.frameruns import FrameRuns, RunCutter
from farm.planning.keys import content_key
from farm.planning.planner import plan_variant
from farm.planning.sampling import SourceTables, split_by_chunk, split_rule
from farm.planning.units import AudioClip, EncodeSpec, Geometry, SegmentJob, SourceRef

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from scale_plan import synthetic_sources, synthetic_variants  # noqa: E402

# monotonic lists as the planner makes them: steps of 0, 1 or 2 (conform up, own rate, conform down)
monotonic = st.builds(
    lambda start, steps, backwards: [start + s for s in np.cumsum([0, *steps]).tolist()][
        :: -1 if backwards else 1
    ],
    st.integers(-5, 10**6),
    st.lists(st.sampled_from([0, 1, 1, 2, 3]), max_size=70),
    st.booleans(),
)


def greedy_runs(values: list[int]) -> list[tuple[int, int, int]]:
    """The greedy run-length form, one value at a time."""
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(values):
        if i + 1 == len(values):
            out.append((values[i], 0, 1))
            break
        step = values[i + 1] - values[i]
        j = i + 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        out.append((values[i], step, j - i + 1))
        i = j + 1
    return out


@settings(max_examples=300, deadline=None)
@given(values=st.one_of(monotonic, st.lists(st.integers(-50, 50), max_size=40)))
def test_runs_are_the_list(values: list[int]) -> None:
    runs = FrameRuns(values)
    assert list(runs) == values and len(runs) == len(values)
    assert runs.runs == greedy_runs(values)
    assert runs == FrameRuns(np.array(values, dtype=np.int64)) == FrameRuns.from_runs(runs.runs)
    assert hash(runs) == hash(FrameRuns(tuple(values)))
    assert [runs[i] for i in range(len(values))] == values
    assert [runs[-i] for i in range(1, len(values) + 1)] == [values[-i] for i in range(1, len(values) + 1)]
    assert runs.array().tolist() == values and not runs.array().flags.writeable
    assert pickle.loads(pickle.dumps(runs)) == runs
    with pytest.raises(IndexError):
        runs[len(values)]
    if values:
        assert runs.bounds() == (min(values), max(values))
    ascending = values == sorted(values)
    descending = values == sorted(values, reverse=True)
    expected = 0 if ascending and descending else 1 if ascending else -1 if descending else None
    assert runs.direction() == expected
    if expected is not None:  # the invariants a segment checks, in O(runs)
        assert runs.distinct() == len(set(values))
        assert runs.distinct_values() == sorted(set(values))


@settings(max_examples=200, deadline=None)
@given(values=monotonic.filter(bool), data=st.data())
def test_a_cut_of_a_long_list_is_the_runs_of_that_slice(values: list[int], data: st.DataObject) -> None:
    cutter = RunCutter(np.array(values, dtype=np.int64))
    a = data.draw(st.integers(0, len(values) - 1))
    b = data.draw(st.integers(a + 1, len(values)))
    assert cutter.cut(a, b) == FrameRuns(values[a:b])
    assert list(cutter.cut(a, b)) == values[a:b]


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(-(10**9), 10**9),
    b=st.integers(-(10**5), 10**5).filter(bool),
    c=st.integers(1, 10**5),
    count=st.integers(1, 120),
)
def test_a_rule_is_the_values_it_generates(a: int, b: int, c: int, count: int) -> None:
    values = [(a + k * b) // c for k in range(count)]
    rule = FrameRuns.rule(a, b, c, count)
    assert list(rule) == values and len(rule) == count
    assert rule == FrameRuns(values) and hash(rule) == hash(FrameRuns(values))
    assert [rule[k] for k in range(count)] == values and rule[-1] == values[-1]
    assert rule.bounds() == (min(values), max(values))
    assert rule.distinct() == len(set(values))
    assert rule.distinct_values() == sorted(set(values))
    assert rule.direction() == (0 if len(set(values)) == 1 else 1 if b > 0 else -1)
    assert rule.array().tolist() == values
    assert pickle.loads(pickle.dumps(rule)) == rule


def _job(frames: object, pts: tuple[int, ...]) -> SegmentJob:
    src = SourceRef("/m/a.mp4", "a", Fraction(1, 24), "bt709", "tv", 64, 36, Fraction(1))
    enc = EncodeSpec("h264", 20, "ultrafast", 64, 36, Fraction(24), 48)
    return SegmentJob("k" * 40, frames, pts, 4, src, Geometry(0, 64, 36, 0, 0, 64, 36), None, None, enc)  # type: ignore[arg-type]


def test_a_segment_holds_its_frames_as_runs_and_checks_them() -> None:
    job = _job((3, 4, 4, 5), (30, 40, 50))
    assert isinstance(job.frames, FrameRuns) and job.frames.runs == [(3, 1, 2), (4, 1, 2)]
    assert list(job.frames) == [3, 4, 4, 5] and job.source_range == (3, 6) and not job.reversed
    assert _job((9, 8, 8, 2), (20, 80, 90)).reversed
    with pytest.raises(ValueError, match="one way"):
        _job((3, 5, 4, 6), (1, 2, 3, 4))
    with pytest.raises(ValueError, match="one timestamp per distinct"):
        _job((3, 4, 4, 5), (30, 40))
    with pytest.raises(ValueError, match="one source frame per output frame"):
        _job((3, 4, 5), (30, 40, 50))


def test_a_plans_segments_are_compact() -> None:
    """Same-rate clips' chunks are held as a few integers, whatever their length."""
    sources = synthetic_sources(6, seconds=60, vfr_every=3)
    tables = SourceTables()
    sizes = []
    for vspec, cut in synthetic_variants(2, sources, 20, share=0.5):
        _, jobs, _ = plan_variant(vspec, cut, lambda p, w: sources[str(p)], Fraction(2), tables=tables)
        for job in jobs:
            assert isinstance(job.frames, FrameRuns)
            if job.source is not None and not sources[job.source.path].vfr:
                assert len(job.frames) == job.count
                sizes.append(job.frames.run_count if job.frames._rule is None else 1)
    assert sizes and max(sizes) == 1  # constant-rate clips: the rule itself, one per segment


def test_the_audio_key_is_the_generic_content_key() -> None:
    clips = (
        AudioClip("/m/a.mp4", "a", True, Fraction(0), Fraction(7, 3), Fraction(1, 2), Fraction(1, 90000)),
        AudioClip(
            "/m/b.wav", "b", False, Fraction(7, 3), Fraction(2), Fraction(0), Fraction(0),
            Fraction(1, 4), Fraction(1, 4), Fraction(-2), 0.5,
        ),
    )  # fmt: skip
    parts = [
        [
            [c.identity, c.has_audio, c.start, c.duration, c.source_in, c.origin]
            + ([c.fade_in, c.fade_out] if c.fade_in or c.fade_out else [])
            + ([["speed", c.speed]] if c.speed != 1 else [])
            + ([["gain", c.gain]] if c.gain != 1 else [])
            for c in clips
        ]
    ]
    expected = content_key(
        "audio", tracks=parts, duration=Fraction(13, 3), rate=SAMPLE_RATE, bitrate=AAC_BITRATE
    )
    assert audio_key((clips,), Fraction(13, 3)) == expected
    assert audio_key((clips,), Fraction(14, 3)) != expected


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(0, 10**6),
    b=st.integers(1, 5000),
    c=st.integers(1, 5000),
    count=st.integers(1, 200),
    grid=st.lists(st.integers(1, 3000), max_size=12),
)
def test_a_rule_splits_at_the_chunk_edges_as_its_frames_do(
    a: int, b: int, c: int, count: int, grid: list[int]
) -> None:
    frames = np.array([(a + k * b) // c for k in range(count)], dtype=np.int64)
    base = int(frames[0])
    edges = sorted({0, *(base + g for g in grid)})  # a grid from the clip's first frame on
    bounds = np.array(edges, dtype=np.int64)
    assert split_rule((a, b, c), count, edges) == list(split_by_chunk(frames, bounds))
    assert split_rule((a, b, c), count, edges) == list(split_by_chunk(frames, bounds, edges))
