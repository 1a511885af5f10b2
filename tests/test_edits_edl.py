"""An EDL the adapter refuses (overlapping records, durations that disagree) placed as an assembly list."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from edit_media import coded_clip

import farm
from farm.edit.interchange import read_timeline
from farm.media.synth import frame_rgb, read_code

# 30 fps; record origin 01:00:00:00 is output frame 0
EDL = """TITLE: assembly
FCM: NON-DROP FRAME

001  A        V     C        00:00:00:00 00:00:02:00 01:00:00:00 01:00:02:00
* FROM CLIP NAME:  A
002  B        V     C        00:00:10:00 00:00:10:20 01:00:02:00 01:00:02:21
* FROM CLIP NAME:  B
003  C        V     C        00:00:05:00 00:00:05:10 01:00:01:00 01:00:01:10
* FROM CLIP NAME:  C
004  A        V     C        00:00:03:00 00:00:04:06 01:00:02:21 01:00:03:15
M2   A             045.0                00:00:03:00
* FROM CLIP NAME:  A
005  A        V     C        00:00:04:06 00:00:04:06 01:00:03:15 01:00:03:15
005  C        V     D    010 00:00:06:00 00:00:07:00 01:00:03:15 01:00:04:15
* FROM CLIP NAME:  A
* TO CLIP NAME:  C
006  D        V     C        00:00:01:00 00:00:01:10 01:00:04:15 01:00:04:25
* FROM CLIP NAME:  D
* TO CLIP NAME:  B
"""


def test_an_overlapping_edl_is_placed_by_its_record_timecodes(tmp_path: Path, ray_session: None) -> None:
    media = tmp_path / "media"
    coded_clip(media / "A.mov", 1, 150, Fraction(30), timecode="00:00:00:00")
    coded_clip(media / "B.mov", 2, 150, Fraction(30), timecode="00:00:09:00")
    coded_clip(media / "C.mov", 3, 120, Fraction(30), timecode="00:00:04:00")
    coded_clip(media / "D.mov", 4, 60, Fraction(30), timecode="00:00:00:00")
    (tmp_path / "cut.edl").write_text(EDL)
    read = read_timeline(tmp_path / "cut.edl", Fraction(30), "e")
    (warning,) = read.warnings
    assert "1 events are recorded over by later ones (0 of them entirely)" in warning
    assert "1 events play from their source in point for their record duration" in warning
    (tmp_path / "farm.toml").write_text(
        'media_search = ["media"]\n[output]\nwidth = 160\nheight = 90\nfps = "30"\npreset = "ultrafast"\n'
        '[variants.e]\ntimeline = "cut.edl"\n'
    )
    v = farm.render(tmp_path / "farm.toml", workers=1).variants["e"]
    assert v.error is None, v.error
    with av.open(v.output) as c:
        pictures = [frame_rgb(f) for f in c.decode(video=0)]
    assert len(pictures) == 145
    # 105-114: the dissolve into C (its weights are tested with the transitions)
    codes = [None if 105 <= n < 115 else read_code(p) for n, p in enumerate(pictures)]
    expected = (
        [(1, k) for k in range(30)]  # A, until C is recorded over its middle
        + [(3, 30 + k) for k in range(10)]  # C: 00:00:05:00 is frame 30 of a file starting at 00:00:04:00
        + [(1, k) for k in range(40, 60)]  # A again where C ends
        + [(2, 30 + k) for k in range(21)]  # B for its 21 record frames, past its 20-frame source out
        + [(1, 90 + (3 * k) // 2) for k in range(24)]  # A at M2 45 fps: 1.5 source frames a frame
    )
    assert codes[:105] == expected
    # then C, then D (a cut's clip is its FROM CLIP NAME, not TO)
    assert codes[115:135] == [(3, 70 + k) for k in range(20)]
    assert codes[135:] == [(4, 30 + k) for k in range(10)]
