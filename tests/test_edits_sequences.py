"""Image sequences at their own rate; a missing image is an error naming its frame numbers."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from PIL import Image

import farm
from farm.media.synth import frame_rgb, read_code
from farm.media.synth.codes import CodedPainter


def write_sequence(folder: Path, numbers: range, source_id: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    painter = CodedPainter((160, 90), source_id, (1.0, 1.0, 1.0))
    for n in numbers:
        Image.fromarray(painter.paint(n)).save(folder / f"plate.{n:04d}.png")


def cut(root: Path, first_image: int, frames_at_24: int) -> None:
    ref = otio.schema.ImageSequenceReference(
        target_url_base="plates/",
        name_prefix="plate.",
        name_suffix=".png",
        start_frame=100,
        frame_zero_padding=4,
        rate=25,
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(100, 25), otio.opentime.RationalTime(40, 25)
        ),
    )
    clip = otio.schema.Clip(
        name="plate",
        media_reference=ref,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(first_image, 25), otio.opentime.RationalTime(frames_at_24, 24)
        ),
    )
    tl = otio.schema.Timeline(name="seq")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(clip)
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(root / "seq.otio"))
    (root / "farm.toml").write_text(
        '[output]\nwidth = 160\nheight = 90\nfps = "24"\npreset = "ultrafast"\nquality = 12\n'
        '[variants.s]\ntimeline = "seq.otio"\n'
    )


def test_a_sequence_plays_at_its_own_rate(tmp_path: Path, ray_session: None) -> None:
    import av

    write_sequence(tmp_path / "plates", range(100, 140), 6)
    cut(tmp_path, 110, 20)
    v = farm.render(tmp_path / "farm.toml", workers=1).variants["s"]
    assert v.error is None, v.error
    with av.open(v.output) as c:
        codes = [read_code(frame_rgb(f)) for f in c.decode(video=0)]
    # output frame n at 24 fps shows image 110 + floor(n / 24 * 25)
    assert codes == [(6, 110 + math.floor(Fraction(n, 24) * 25)) for n in range(20)]


def test_missing_images_are_named(tmp_path: Path) -> None:
    write_sequence(tmp_path / "plates", [*range(100, 112), *range(115, 139)], 6)
    cut(tmp_path, 110, 20)
    err = farm.plan(tmp_path / "farm.toml").failed["s"]
    assert err.exit_code == 66
    assert "missing frames 112-114, 139 (of 100-139)" in str(err) and "clip 'plate'" in str(err)


@pytest.mark.parametrize("url", ["/elsewhere/plates/"])
def test_a_sequence_is_relinked_by_its_first_image(tmp_path: Path, url: str) -> None:
    write_sequence(tmp_path / "footage" / "plates", range(100, 140), 6)
    cut(tmp_path, 110, 20)
    text = (tmp_path / "seq.otio").read_text().replace('"plates/"', f'"{url}"')
    (tmp_path / "seq.otio").write_text(text)
    toml = (tmp_path / "farm.toml").read_text()
    (tmp_path / "farm.toml").write_text('media_search = ["footage"]\n' + toml)
    plan = farm.plan(tmp_path / "farm.toml")
    assert not plan.failed, plan.failed
    assert plan.variants["s"].frames == 20
