"""Time effects and disabled items, rendered: speed, freeze frames, reverse, enabled: false.

Every output frame is read back (the burned-in source id and frame number) and
compared with the sampling rule written out plainly here: output frame ``n`` at
rate ``R`` shows ``floor((in + speed × (n/R − start)) × source_rate)``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from coded import SOURCES
from media_check import audio_samples, frame_codes, tone_at

import farm
from farm.edit.cut import ClipItem, GapItem, load_cut

R = Fraction(24)


def rt(v: float, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(v, rate)


def clip(
    source: str,
    in_frame: int,
    frames: int,
    *,
    speed: float | None = None,
    freeze: bool = False,
    enabled: bool = True,
    name: str | None = None,
) -> otio.schema.Clip:
    """A clip of ``frames`` timeline frames at 24 fps, starting at source frame ``in_frame``."""
    src = SOURCES[source]
    rate = float(src.rate)
    c = otio.schema.Clip(
        name=name or source,
        media_reference=otio.schema.ExternalReference(target_url=src.file),
        # source_range: start in the media's rate, duration in timeline frames
        source_range=otio.opentime.TimeRange(rt(in_frame, rate), rt(frames, 24)),
    )
    if speed is not None:
        c.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed))
    if freeze:
        c.effects.append(otio.schema.FreezeFrame())
    c.enabled = enabled
    return c


def write(
    path: Path, video: list[otio.schema.Clip], upper: list | None = None, upper_enabled: bool = True
) -> Path:
    tl = otio.schema.Timeline(name=path.stem)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for c in video:
        track.append(c)
    tl.tracks.append(track)
    if upper is not None:
        up = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
        for c in upper:
            up.append(c)
        up.enabled = upper_enabled
        tl.tracks.append(up)
    otio.adapters.write_to_file(tl, str(path))
    return path


# (source, in frame, timeline frames, speed, enabled): the rule's expectation, written plainly
PLAN = [
    ("s24", 10, 12, Fraction(2), True),  # twice as fast: 10, 12, 14, ...
    ("s25", 20, 10, Fraction(0), True),  # a freeze frame holds source frame 20
    ("s24", 52, 12, Fraction(-1), True),  # backwards across the 2 s chunk edge at frame 48
    ("s2997", 6, 6, Fraction(1), False),  # disabled: black
    ("s2997", 3, 10, Fraction(3, 2), True),  # 1.5x of a 29.97 source at 24
    ("s24", 0, 24, Fraction(1), True),  # plain, with its audio
]


def expected() -> list[tuple[int, int] | None]:
    out: list[tuple[int, int] | None] = []
    for source, in_frame, frames, speed, enabled in PLAN:
        src = SOURCES[source]
        for k in range(frames):
            if not enabled:
                out.append(None)
                continue
            s = Fraction(in_frame) / src.rate + speed * Fraction(k) / R
            out.append((src.source_id, math.floor(s * src.rate)))
    return out


def plan_clips() -> list[otio.schema.Clip]:
    clips = []
    for source, in_frame, frames, speed, enabled in PLAN:
        if speed == 0:
            clips.append(clip(source, in_frame, frames, freeze=True, enabled=enabled))
        elif speed == 1:
            clips.append(clip(source, in_frame, frames, enabled=enabled))
        else:
            clips.append(clip(source, in_frame, frames, speed=float(speed), enabled=enabled))
    return clips


def test_speed_freeze_reverse_and_disabled_read_into_the_cut(project_dir: Path) -> None:
    path = write(
        project_dir / "cuts" / "t.otio", plan_clips(), upper=[clip("s30", 0, 10)], upper_enabled=False
    )
    cut = load_cut("v", path, project_dir)
    speeds = [i.speed if isinstance(i, ClipItem) else None for i in cut.video]
    assert speeds == [2, 0, -1, None, Fraction(3, 2), 1]
    assert isinstance(cut.video[3], GapItem)
    assert not any("not rendered" in w for w in cut.warnings)  # the upper track is switched off
    silenced = [w for w in cut.warnings if "audio silenced under a freeze frame" in w]
    assert len(silenced) == 1 and "variant 'v', clip 's25'" in silenced[0]
    resampled = [w for w in cut.warnings if "audio resampled under a speed change" in w]
    assert len(resampled) == 3 and all("varispeed" in w for w in resampled)
    # the freeze is silent and the disabled clip a gap; the rest sound
    assert [(c.name, c.speed) for c in cut.audio_clips()[0]] == [
        ("s24", 2),
        ("s24", -1),
        ("s2997", Fraction(3, 2)),
        ("s24", 1),
    ]


def test_speed_freeze_reverse_and_disabled_render_the_rule(project_dir: Path, ray_session: None) -> None:
    write(project_dir / "cuts" / "t.otio", plan_clips())
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.t]\ntimeline = "cuts/t.otio"\n'
    )
    report = farm.render(project_dir / "farm.toml", workers=2)
    v = report.variants["t"]
    assert v.error is None, v.error
    assert frame_codes(Path(v.output)) == expected()
    assert any("audio resampled" in w and "'s24'" in w for w in v.warnings)
    samples, rate = audio_samples(Path(v.output))
    starts = [Fraction(sum(p[2] for p in PLAN[:k]), 24) for k in range(len(PLAN))]
    tone24, tone2997 = SOURCES["s24"].tone, SOURCES["s2997"].tone
    assert tone24 and tone2997
    assert tone_at(samples, rate, starts[-1] + Fraction(1, 4)) == pytest.approx(tone24, abs=4)
    # varispeed: twice as fast sounds an octave up; backwards keeps the pitch; 1.5x a fifth up
    assert tone_at(samples, rate, starts[0] + Fraction(1, 8)) == pytest.approx(2 * tone24, abs=8)
    assert tone_at(samples, rate, starts[1] + Fraction(1, 8)) is None  # a freeze frame is silent
    assert tone_at(samples, rate, starts[2] + Fraction(1, 8)) == pytest.approx(tone24, abs=4)
    assert tone_at(samples, rate, starts[4] + Fraction(1, 8)) == pytest.approx(1.5 * tone2997, abs=6)


def test_reverse_past_the_first_frame_is_an_error(project_dir: Path) -> None:
    write(project_dir / "cuts" / "r.otio", [clip("s24", 5, 12, speed=-1.0, name="back")])
    (project_dir / "farm.toml").write_text('[output]\nfps = "24"\n[variants.r]\ntimeline = "cuts/r.otio"\n')
    plan = farm.plan(project_dir / "farm.toml")
    err = plan.failed["r"]
    assert err.exit_code == 65 and "clip 'back'" in str(err) and "outside its source" in str(err)
