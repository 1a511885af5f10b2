"""A small composited cut over the coded sources, for the compositing twins and the nvidia backend.

Three video tracks at 64x36 (cheap): a dissolve, a fade to black, a W001 wipe out
of a gap, an upper track with a 4:3 clip (letterboxed: transparent bars), a
PNG title with alpha, SMPTE bars and a clip played backwards.  ``write`` returns
the project's ``farm.toml``; the plan holds composited, generated and reversed
segments. ``write_wipes`` writes a smaller cut of SMPTE wipes by code, between
clips and into a gap (the ``-inv`` masks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opentimelineio as otio
from PIL import Image

W, H = 64, 36


def rt(v: float, r: float = 24) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(v, r)


def clip(url: str, start: int, frames: int, rate: float = 24, name: str | None = None) -> otio.schema.Clip:
    return otio.schema.Clip(
        name=name or Path(url).stem,
        media_reference=otio.schema.ExternalReference(target_url=url),
        source_range=otio.opentime.TimeRange(rt(start, rate), rt(frames * rate / 24, rate)),
    )


def gap(frames: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(frames)))


def transition(before: int, after: int, wipe: str = "") -> otio.schema.Transition:
    if wipe:
        return otio.schema.Transition(
            name="wipe",
            transition_type="SMPTE_Wipe",
            in_offset=rt(before),
            out_offset=rt(after),
            metadata={"cmx_3600": {"transition": wipe}},
        )
    return otio.schema.Transition(
        name="dissolve",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=rt(before),
        out_offset=rt(after),
    )


def bars(frames: int) -> otio.schema.Clip:
    return otio.schema.Clip(
        name="bars",
        media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
        source_range=otio.opentime.TimeRange(rt(0), rt(frames)),
    )


def reversed_clip(url: str, start: int, frames: int) -> otio.schema.Clip:
    item = clip(url, start, frames)
    item.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))
    return item


def _save(project: Path, tracks: list[list[otio.core.Composable]]) -> Path:
    timeline = otio.schema.Timeline(name="c")
    for i, items in enumerate(tracks):
        track = otio.schema.Track(name=f"V{i + 1}", kind=otio.schema.TrackKind.Video)
        for item in items:
            track.append(item)
        timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(project / "cuts" / "c.otio"))
    toml = project / "farm.toml"
    toml.write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\nquality = 8\npreset = "ultrafast"\n'
        '[variants.c]\ntimeline = "cuts/c.otio"\n'
    )
    return toml


def write_wipes(project: Path, codes: tuple[str, str, str]) -> Path:
    """Three clips joined by wipes ``codes[0]`` and ``codes[1]`` (4 frames each), then ``codes[2]`` into
    a gap (its outgoing clip under the inverse mask); returns the project's ``farm.toml``."""
    first, second, into_gap = codes
    track = [
        clip("media/s24.mp4", 0, 5),
        transition(2, 2, first),
        clip("media/s25.mp4", 10, 5, 25),
        transition(2, 2, second),
        clip("media/s30.mp4", 4, 6, 30),
        transition(3, 0, into_gap),
        gap(2),
    ]
    return _save(project, [track])


def write(project: Path) -> Path:
    """The project (its ``media/`` already holds the coded sources); returns its ``farm.toml``."""
    title = np.zeros((H, W, 4), np.uint8)
    title[4:12, 6:30] = (255, 40, 40, 255)  # an opaque red box
    title[20:28, 36:60] = (40, 40, 255, 128)  # a half-transparent blue one
    Image.fromarray(title).save(project / "title.png")
    bottom = [
        clip("media/s24.mp4", 0, 12),
        transition(2, 2),
        clip("media/s25.mp4", 10, 10, 25),
        transition(2, 0),
        gap(4),
        transition(0, 2, "W001"),
        clip("media/s2997.mp4", 0, 8, 30000 / 1001),
        bars(3),
        reversed_clip("media/s24.mp4", 30, 4),
    ]
    upper = [gap(6), clip("media/s30.mp4", 0, 6, 30), gap(8), clip("title.png", 0, 6, name="title")]
    return _save(project, [bottom, upper])
