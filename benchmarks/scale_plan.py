"""Synthetic plans at scale: many clips, many variants, no media (probe results are made up).

Used by ``bench_scale.py`` and by the planner's equivalence tests: every number
here is deterministic (a seeded generator), so a plan can be rebuilt exactly.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

from farm.edit.cut import ClipItem, Cut, GapItem
from farm.edit.project import LookSpec, OutputSpec, VariantSpec
from farm.media.probe import SourceInfo

#: source rates a studio mixes: film, PAL, NTSC, 30 and 60
RATES = (Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(24000, 1001), Fraction(60))
#: output rates of the variants, in turn
OUT_RATES = (Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30))


def synthetic_source(i: int, rate: Fraction, seconds: int, vfr: bool = False) -> SourceInfo:
    """A probed source ``i``: ``seconds`` long at ``rate``, keyframes every 2 s (or jittered, vfr)."""
    tb = Fraction(1, 90000) if i % 3 else Fraction(1, 1000 * int(rate.numerator))
    frames = int(seconds * rate)
    if vfr:
        rnd = random.Random(i)
        pts, t = [], 0
        step = int(1 / rate / tb)
        for _ in range(frames):
            pts.append(t)
            t += max(1, step + rnd.randint(-step // 3, step // 3))
    else:
        pts = [int(Fraction(n) / rate / tb) for n in range(frames)]
    gop = max(1, round(2 * rate))
    return SourceInfo(
        path=f"/media/src{i:03d}.mp4",
        identity=f"src{i:03d}",
        codec="h264",
        width=1920,
        height=1080,
        pix_fmt="yuv420p",
        sar=Fraction(1),
        rotation=0,
        colorspace="bt709",
        colorspace_tagged=True,
        color_range="tv",
        rate=rate,
        vfr=vfr,
        time_base=tb,
        frame_pts=tuple(pts),
        keyframes=tuple(range(0, frames, gop)),
        has_audio=False,
        audio_rate=0,
        audio_channels=0,
    )


def synthetic_sources(count: int, seconds: int = 600, vfr_every: int = 0) -> dict[str, SourceInfo]:
    out = {}
    for i in range(count):
        vfr = bool(vfr_every) and i % vfr_every == vfr_every - 1
        info = synthetic_source(i, RATES[i % len(RATES)], seconds, vfr)
        out[info.path] = info
    return out


def synthetic_cut(
    name: str, sources: dict[str, SourceInfo], clips: int, seed: int, timeline_rate: Fraction
) -> Cut:
    """``clips`` shots of 1-5 s (whole timeline frames) from random sources, a gap now and then."""
    rnd = random.Random(seed)
    paths = sorted(sources)
    items: list[ClipItem | GapItem] = []
    t = Fraction(0)
    for k in range(clips):
        if rnd.random() < 0.02:
            d = Fraction(rnd.randint(6, 48)) / timeline_rate
            items.append(GapItem(t, d))
            t += d
        info = sources[paths[rnd.randrange(len(paths))]]
        dur = Fraction(rnd.randint(int(timeline_rate), 5 * int(timeline_rate))) / timeline_rate
        latest = info.duration - dur - 1
        src_in = Fraction(rnd.randint(0, int(latest * timeline_rate))) / timeline_rate
        items.append(ClipItem(f"shot{k}", Path(info.path), t, dur, src_in))
        t += dur
    return Cut(name, Path(f"/cuts/{name}.otio"), tuple(items), None, t)


def synthetic_variants(
    count: int, sources: dict[str, SourceInfo], clips: int, share: float = 0.5
) -> list[tuple[VariantSpec, Cut]]:
    """``count`` variants of ``clips`` shots each; about ``share`` of them reuse variant 0's cut."""
    out = []
    for v in range(count):
        fps = OUT_RATES[v % len(OUT_RATES)] if v % 2 else Fraction(24)
        spec = VariantSpec(
            f"v{v}", Path(f"/cuts/v{v}.otio"), OutputSpec(width=1920, height=1080, fps=fps), LookSpec()
        )
        seed = 0 if random.Random(v).random() < share else v
        out.append((spec, synthetic_cut(spec.name, sources, clips, seed, Fraction(24))))
    return out
