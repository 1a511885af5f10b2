"""Coded test sources, cut and project writers, and the sampling rule written independently.

Every frame of a coded source carries its source id and frame number as large
blocks (farm.media.synth), and every source with audio carries its own tone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class Source:
    name: str
    source_id: int
    width: int
    height: int
    rate: Fraction
    frames: int
    tone: float | None
    rotation: int = 0
    timestamps: tuple[Fraction, ...] | None = None

    @property
    def file(self) -> str:
        return f"media/{self.name}.mp4"


# small, fast sources covering the rates of the mission (and rotation, VFR, no audio)
SOURCES = {
    s.name: s
    for s in (
        Source("s24", 1, 640, 360, Fraction(24), 72, 440.0),
        Source("s25", 2, 480, 270, Fraction(25), 75, 660.0),
        Source("s2997", 3, 640, 360, Fraction(30000, 1001), 90, 880.0),
        Source("s30", 4, 640, 480, Fraction(30), 60, None),
        Source("rot", 5, 640, 360, Fraction(30), 45, 1100.0, rotation=90),
        # variable frame rate: irregular steps around 20 fps
        Source(
            "vfr",
            6,
            640,
            360,
            Fraction(20),
            40,
            None,
            timestamps=tuple(Fraction(i, 20) + (Fraction(1, 60) if i % 3 == 1 else 0) for i in range(40)),
        ),
    )
}


# ---------------------------------------------------------------- cuts


@dataclass(frozen=True)
class Shot:
    """A clip on a cut: ``source`` from ``in_frame`` for ``frames``, counted at ``rate``."""

    source: str
    in_frame: int
    frames: int
    rate: Fraction | None = None  # None: the source's own rate
    name: str | None = None


@dataclass(frozen=True)
class Gap:
    frames: int
    rate: Fraction = Fraction(24)


def write_cut(
    path: Path, items: list, audio: list[list[Shot]] | None = None, transition_after: int | None = None
) -> Path:
    """Write an .otio timeline of Shots and Gaps (and optional audio tracks)."""
    import opentimelineio as otio

    def rt(value: int, rate: Fraction) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(value, float(rate))

    def clip(shot: Shot) -> otio.schema.Clip:
        src = SOURCES.get(shot.source)
        rate = shot.rate or (src.rate if src else Fraction(24))
        url = src.file if src else shot.source
        return otio.schema.Clip(
            name=shot.name or shot.source,
            media_reference=otio.schema.ExternalReference(target_url=url),
            source_range=otio.opentime.TimeRange(rt(shot.in_frame, rate), rt(shot.frames, rate)),
        )

    timeline = otio.schema.Timeline(name=path.stem)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for i, item in enumerate(items):
        if isinstance(item, Gap):
            track.append(
                otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(item.frames, item.rate)))
            )
        else:
            track.append(clip(item))
        if transition_after == i:
            track.append(
                otio.schema.Transition(
                    name="dissolve",
                    in_offset=rt(2, Fraction(24)),
                    out_offset=rt(2, Fraction(24)),
                )
            )
    timeline.tracks.append(track)
    for shots in audio or []:
        atrack = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
        for item in shots:
            if isinstance(item, Gap):
                atrack.append(
                    otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(item.frames, item.rate)))
                )
            else:
                atrack.append(clip(item))
        timeline.tracks.append(atrack)
    path.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def write_project(root: Path, cuts: dict[str, list], output: dict | None = None, extra: str = "") -> Path:
    """Write cuts/NAME.otio for each variant and a farm.toml using them."""
    lines = ["[output]"]
    out = {"width": 320, "height": 180, "fps": "24", "preset": "ultrafast", "quality": 18, **(output or {})}
    for k, v in out.items():
        lines.append(f"{k} = {v!r}".replace("'", '"'))
    for name, items in cuts.items():
        write_cut(root / "cuts" / f"{name}.otio", items)
        lines += ["", f"[variants.{name}]", f'timeline = "cuts/{name}.otio"']
    path = root / "farm.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


# ---------------------------------------------------------------- the rule, independently


def expected_frames(items: list, out_rate: Fraction) -> list[tuple[int, int] | None]:
    """(source id, source frame) for each output frame, by the sampling rule; None = black.

    Written independently of farm.edit.timing on purpose: a plain walk over the items.
    """
    placed = []
    t = Fraction(0)
    for item in items:
        if isinstance(item, Gap):
            d = Fraction(item.frames) / item.rate
            placed.append((t, d, None))
        else:
            src = SOURCES[item.source]
            rate = item.rate or src.rate
            placed.append((t, Fraction(item.frames) / rate, (src, Fraction(item.in_frame) / rate)))
            d = Fraction(item.frames) / rate
        t += d
    total = math.ceil(t * out_rate)
    result: list[tuple[int, int] | None] = []
    for n in range(total):
        tn = Fraction(n) / out_rate
        for start, dur, what in placed:
            if start <= tn < start + dur:
                if what is None:
                    result.append(None)
                else:
                    src, source_in = what
                    s = source_in + tn - start
                    if src.timestamps:
                        idx = max(i for i, ts in enumerate(src.timestamps) if ts <= s)
                    else:
                        idx = math.floor(s * src.rate)
                    result.append((src.source_id, idx))
                break
    return result
