"""Relinking under media_search (file name, clip name, reel) and start timecodes mapping source times."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from edit_media import coded_clip
from media_check import frame_codes

import farm
from farm.edit.cut import ClipItem, load_cut
from farm.edit.timing import timecode_seconds
from farm.errors import CutError, MissingInputError

EDL = """TITLE: relink
FCM: NON-DROP FRAME

001  ZZ100_50 V     C        01:00:00:05 01:00:00:17 01:00:00:00 01:00:00:12
* FROM CLIP NAME:  ZZ100_501 (LAY3)
002  BL       V     C        00:00:00:00 00:00:00:06 01:00:00:12 01:00:00:18
003  AX       V     C        00:00:00:02 00:00:00:14 01:00:00:18 01:00:01:06
* FROM CLIP NAME:  A001.mov
"""


def test_timecodes() -> None:
    assert timecode_seconds("01:00:00:00", Fraction(24)) == 3600
    assert timecode_seconds("00:00:01:05", Fraction(25)) == Fraction(30, 25)
    # drop-frame: 00:01:00;02 is frame 1800 at 29.97
    assert timecode_seconds("00:01:00;02", Fraction(30000, 1001)) == Fraction(1800 * 1001, 30000)
    with pytest.raises(ValueError):
        timecode_seconds("00:00:00:30", Fraction(30))


@pytest.fixture()
def footage(tmp_path: Path) -> Path:
    coded_clip(tmp_path / "footage" / "cam" / "A001.mov", 7, 30)
    coded_clip(tmp_path / "footage" / "reels" / "ZZ100_50.mov", 8, 40, timecode="01:00:00:00")
    return tmp_path


def test_an_edl_relinks_by_reel_and_clip_name_through_start_timecodes(
    footage: Path, ray_session: None
) -> None:
    (footage / "cut.edl").write_text(EDL)
    (footage / "farm.toml").write_text(
        'media_search = ["footage"]\n[output]\nwidth = 160\nheight = 90\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.e]\ntimeline = "cut.edl"\n'
    )
    v = farm.render(footage / "farm.toml", workers=1).variants["e"]
    assert v.error is None, v.error
    # the reel's file starts at 01:00:00:00, so source 01:00:00:05 is its frame 5
    assert frame_codes(Path(v.output)) == [(8, 5 + k) for k in range(12)] + [None] * 6 + [
        (7, 2 + k) for k in range(12)
    ]


def _otio(path: Path, clips: list[otio.schema.Clip]) -> Path:
    tl = otio.schema.Timeline(name="r")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for c in clips:
        track.append(c)
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(path))
    return path


def _clip(name: str, url: str | None, start: int = 0) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=url) if url else otio.schema.MissingReference()
    return otio.schema.Clip(
        name=name,
        media_reference=ref,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, 24), otio.opentime.RationalTime(6, 24)
        ),
    )


def test_a_path_from_another_machine_is_found_by_file_name(footage: Path) -> None:
    path = _otio(
        footage / "r.otio",
        [_clip("shot", "file:///Volumes/Edit/Media/A001.mov"), _clip("ZZ100_50", None, start=86400 + 3)],
    )
    cut = load_cut("v", path, footage, media_search=(footage / "footage",))
    a, b = cut.video
    assert isinstance(a, ClipItem) and a.path == footage / "footage" / "cam" / "A001.mov"
    assert isinstance(b, ClipItem) and b.path.name == "ZZ100_50.mov" and b.source_in == Fraction(3, 24)
    # without media_search, a path outside the project is still refused
    with pytest.raises(CutError, match="outside the project root"):
        load_cut("v", path, footage)


def test_ambiguous_and_missing_media_list_what_was_found_and_tried(footage: Path) -> None:
    coded_clip(footage / "footage" / "backup" / "A001.mov", 9, 10)
    path = _otio(footage / "r.otio", [_clip("shot", "file:///elsewhere/A001.mov")])
    with pytest.raises(CutError, match="ambiguous media: 2 files match file name 'A001.mov'") as info:
        load_cut("v", path, footage, media_search=(footage / "footage",))
    assert "backup/A001.mov" in str(info.value) and "cam/A001.mov" in str(info.value)
    path = _otio(footage / "m.otio", [_clip("nowhere", "file:///elsewhere/B002.mov")])
    with pytest.raises(
        MissingInputError, match="looked for file name 'B002.mov', file name 'nowhere'"
    ) as missing:
        load_cut("v", path, footage, media_search=(footage / "footage",))
    assert missing.value.exit_code == 66 and "clip 'nowhere'" in str(missing.value)


def test_of_two_files_with_one_name_the_one_whose_timecode_covers_the_clip_is_taken(tmp_path: Path) -> None:
    # a camera original and an editor's render of it, both X001.mov, an hour apart in timecode
    coded_clip(tmp_path / "footage" / "cam" / "X001.mov", 3, 48, timecode="00:00:10:00")
    coded_clip(tmp_path / "footage" / "renders" / "X001.mov", 4, 48, timecode="01:00:00:00")
    path = _otio(
        tmp_path / "r.otio",
        [_clip("X001", None, start=240 + 5), _clip("X001", None, start=86400 + 2)],
    )
    cut = load_cut("v", path, tmp_path, media_search=(tmp_path / "footage",))
    a, b = cut.video
    assert isinstance(a, ClipItem) and a.path.parent.name == "cam" and a.source_in == Fraction(5, 24)
    assert isinstance(b, ClipItem) and b.path.parent.name == "renders" and b.source_in == Fraction(2, 24)
    # a clip both files cover (or neither) is still ambiguous, and says which source times it needs
    coded_clip(tmp_path / "footage" / "copy" / "X001.mov", 5, 48, timecode="01:00:00:00")
    with pytest.raises(CutError, match="ambiguous media: 3 files") as info:
        load_cut("v", path, tmp_path, media_search=(tmp_path / "footage",))
    assert "none alone covers source 3600.083s-3600.333s" in str(info.value)
