"""Stills held for the clip's duration (PNG, TIFF, JPEG); alpha on the only layer lands on black."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opentimelineio as otio
from PIL import Image

import farm
from farm.media.synth import frame_rgb, read_code
from farm.media.synth.codes import CodedPainter


def coded_still(path: Path, source_id: int, frame: int) -> Path:
    rgb = CodedPainter((320, 180), source_id, (1.0, 1.0, 1.0)).paint(frame)
    Image.fromarray(rgb).save(path)
    return path


def still_clip(url: str, frames: int, start: int = 0) -> otio.schema.Clip:
    # a still's source range is whatever the editor left there: farm holds the picture regardless
    return otio.schema.Clip(
        name=Path(url).name,
        media_reference=otio.schema.ExternalReference(target_url=url),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, 24), otio.opentime.RationalTime(frames, 24)
        ),
    )


def test_stills_are_held_and_alpha_lands_on_black(tmp_path: Path, ray_session: None) -> None:
    coded_still(tmp_path / "a.png", 11, 7)
    coded_still(tmp_path / "b.tif", 12, 8)
    coded_still(tmp_path / "c.jpg", 13, 9)
    title = np.zeros((180, 320, 4), np.uint8)
    title[..., 0] = 255
    title[90:, :, 3] = 128  # the top half transparent, the bottom half red at half opacity
    Image.fromarray(title).save(tmp_path / "title.png")
    tl = otio.schema.Timeline(name="s")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for url, n, start in (("a.png", 10, 0), ("b.tif", 5, 40), ("c.jpg", 6, 3), ("title.png", 4, 0)):
        track.append(still_clip(url, n, start))
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(tmp_path / "s.otio"))
    (tmp_path / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\nfps = "24"\nquality = 10\npreset = "ultrafast"\n'
        '[variants.s]\ntimeline = "s.otio"\n'
    )
    v = farm.render(tmp_path / "farm.toml", workers=1).variants["s"]
    assert v.error is None, v.error
    import av

    with av.open(v.output) as c:
        frames = [frame_rgb(f) for f in c.decode(video=0)]
    assert len(frames) == 25
    assert [read_code(f) for f in frames[:21]] == [(11, 7)] * 10 + [(12, 8)] * 5 + [(13, 9)] * 6
    last = frames[-1]
    assert last[:80].max() < 24  # transparent: black
    assert abs(int(last[140, 160, 0]) - 128) <= 8 and last[140, 160, 1:].max() < 24  # red x 0.5 over black
