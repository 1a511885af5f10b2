"""The sampling rule, as property tests over rate pairs, trims and gaps (no media, no Ray)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm.edit.cut import ClipItem, Cut, GapItem
from farm.edit.project import LookSpec, OutputSpec, VariantSpec
from farm.edit.timing import frame_count, parse_rate, source_frame_cfr, source_frame_vfr
from farm.media.probe import SourceInfo
from farm.planning.planner import plan_variant

RATES = [
    Fraction(24),
    Fraction(25),
    Fraction(30),
    Fraction(24000, 1001),
    Fraction(30000, 1001),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(12),
]


def fake_source(name: str, rate: Fraction, frames: int, times: list[Fraction] | None = None) -> SourceInfo:
    tb = Fraction(1, 90000)
    pts = [int(t / tb) for t in times] if times else [int(Fraction(i) / rate / tb) for i in range(frames)]
    return SourceInfo(
        path=f"/media/{name}.mp4",
        identity=name,
        codec="h264",
        width=640,
        height=360,
        pix_fmt="yuv420p",
        sar=Fraction(1),
        rotation=0,
        colorspace="bt709",
        colorspace_tagged=True,
        color_range="tv",
        rate=rate,
        vfr=times is not None,
        time_base=tb,
        frame_pts=tuple(pts),
        keyframes=tuple(range(0, frames, 10)),
        has_audio=False,
        audio_rate=0,
        audio_channels=0,
    )


def spec(fps: Fraction) -> VariantSpec:
    return VariantSpec("v", Path("/cuts/v.otio"), OutputSpec(width=320, height=180, fps=fps), LookSpec())


def brute_force(items: list, sources: dict[str, SourceInfo], fps: Fraction) -> list[tuple[str, int] | None]:
    """The rule, written as plainly as possible: walk every output frame."""
    end = items[-1].start + items[-1].duration
    out = []
    for n in range(math.ceil(end * fps)):
        t = Fraction(n) / fps
        item = next(i for i in items if i.start <= t < i.start + i.duration)
        if isinstance(item, GapItem):
            out.append(None)
            continue
        src = sources[str(item.path)]
        s = item.source_in + t - item.start
        if src.vfr:
            idx = max(k for k, ft in enumerate(src.frame_times) if ft <= s)
        else:
            idx = math.floor(s * src.rate)
        out.append((str(item.path), idx))
    return out


def planned(items: list, sources: dict[str, SourceInfo], fps: Fraction, seconds=Fraction(1)) -> list:
    cut = Cut("v", Path("/cuts/v.otio"), tuple(items), None, items[-1].start + items[-1].duration)
    plan, jobs, _ = plan_variant(spec(fps), cut, lambda p, w: sources[str(p)], seconds)
    by_key = {j.key: j for j in jobs}
    frames: list = []
    for p in plan.placements:
        job = by_key[p.key]
        assert p.start == len(frames)
        frames += [None] * p.count if job.source is None else [(job.source.path, f) for f in job.frames]
    assert len(frames) == plan.frames
    return frames


shots = st.lists(
    st.one_of(
        st.tuples(st.just("clip"), st.sampled_from(RATES), st.integers(0, 40), st.integers(1, 50)),
        st.tuples(st.just("gap"), st.sampled_from(RATES), st.integers(1, 20), st.just(0)),
    ),
    min_size=1,
    max_size=6,
).filter(lambda xs: any(x[0] == "clip" for x in xs))


@settings(max_examples=150, deadline=None)
@given(shots=shots, fps=st.sampled_from(RATES))
def test_planned_frames_follow_the_rule(shots, fps) -> None:
    items, sources, t = [], {}, Fraction(0)
    for i, (kind, rate, a, b) in enumerate(shots):
        if kind == "gap":
            d = Fraction(a) / rate
            items.append(GapItem(t, d))
        else:
            name = f"src{i}"
            sources[f"/media/{name}.mp4"] = fake_source(name, rate, a + b + 2)
            d = Fraction(b) / rate
            items.append(ClipItem(name, Path(f"/media/{name}.mp4"), t, d, Fraction(a) / rate))
        t += d
    assert planned(items, sources, fps) == brute_force(items, sources, fps)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(1, 9), min_size=5, max_size=40),
    fps=st.sampled_from(RATES),
    trim=st.integers(0, 3),
)
def test_variable_frame_rate_sources_are_sampled_by_timestamp(steps, fps, trim) -> None:
    times = [Fraction(0)]
    for s in steps:
        times.append(times[-1] + Fraction(s, 100))
    src = fake_source("vfr", Fraction(20), len(times), times)
    start = times[trim]
    dur = times[-1] - start
    if dur <= 0:
        return
    items = [ClipItem("vfr", Path("/media/vfr.mp4"), Fraction(0), dur, start)]
    assert planned(items, {"/media/vfr.mp4": src}, fps) == brute_force(items, {"/media/vfr.mp4": src}, fps)


def test_frame_count_is_ceil_of_duration_times_rate() -> None:
    assert frame_count(Fraction(1001, 1000), Fraction(24)) == 25
    assert frame_count(Fraction(2), Fraction(24)) == 48
    assert frame_count(Fraction(60 * 1001, 30000), Fraction(24)) == 49  # 60 NTSC frames at 24 fps


def test_conform_drops_and_repeats_never_blends() -> None:
    # 30 -> 24: every 5th source frame is dropped; 24 -> 30: every 4th is shown twice
    assert [source_frame_cfr(Fraction(n, 24), Fraction(30)) for n in range(8)] == [0, 1, 2, 3, 5, 6, 7, 8]
    assert [source_frame_cfr(Fraction(n, 30), Fraction(24)) for n in range(6)] == [0, 0, 1, 2, 3, 4]
    assert source_frame_vfr(Fraction(1, 10), [Fraction(0), Fraction(1, 20), Fraction(1, 5)]) == 1


@pytest.mark.parametrize(
    "text,rate",
    [
        ("24", 24),
        ("30000/1001", Fraction(30000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("12.5", Fraction(25, 2)),
    ],
)
def test_parse_rate(text: str, rate: Fraction) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("bad", ["0", "-24", "abc", "1/0", ""])
def test_parse_rate_refuses_nonsense(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(bad)
