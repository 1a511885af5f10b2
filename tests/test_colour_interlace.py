"""Interlaced sources are deinterlaced (bwdif) before scaling: a 50i clip combs no more than its 25p twin."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut
from interlaced_media import combing, write_pair

import farm
from farm.media.probe import probe

pytestmark = pytest.mark.usefixtures("ray_session")


def _luma_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        # the picture area only: a 4:3 source pillarboxed in 16:9
        return [f.to_ndarray(format="gray")[:, 40:280] for f in c.decode(video=0)]


def _scaled_without_deinterlacing(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [
            f.reformat(width=240, height=180, interpolation="BICUBIC").to_ndarray(format="gray")
            for f in c.decode(video=0)
        ]


def test_a_50i_source_is_detected_and_combs_no_more_than_its_progressive_twin(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    interlaced, twin = write_pair(tmp_path / "media")
    assert probe(interlaced).field_order == "tff" and probe(twin).field_order == "progressive"
    lines = ['[output]\nwidth = 320\nheight = 180\nfps = "25"\npreset = "ultrafast"\nquality = 8\n']
    for name, src in (("i50", interlaced), ("p25", twin)):
        write_cut(tmp_path / "cuts" / f"{name}.otio", [Shot(f"media/{src.name}", 0, 12, rate=Fraction(25))])
        lines.append(f'[variants.{name}]\ntimeline = "cuts/{name}.otio"\n')
    (tmp_path / "farm.toml").write_text("\n".join(lines))
    report = farm.render(tmp_path / "farm.toml", workers=1)
    for v in report.variants.values():
        assert v.error is None, v.error
    got = {
        name: float(np.mean([combing(f) for f in _luma_frames(tmp_path / "renders" / f"{name}.mp4")]))
        for name in ("i50", "p25")
    }
    # for scale: the woven source scaled the same way without deinterlacing
    woven = float(np.mean([combing(f) for f in _scaled_without_deinterlacing(interlaced)]))
    print(
        f"combing: 50i rendered {got['i50']:.3f}, 25p twin {got['p25']:.3f}, 50i scaled as woven {woven:.3f}"
    )
    assert woven > 4 * got["p25"]  # the measure sees weaving
    assert got["i50"] <= got["p25"] * 1.1 + 0.05, got
