"""SMPTE wipes W003-W026: the rendered frames read back block by block against each wipe's written rule."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
from PIL import Image

import farm

W, H = 64, 36
CODES = (3, 4, 5, 6, 7, 8, 21, 22, 23, 24, 25, 26)


def rt(v: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(v, 24)


def shows(code: int, u: float, v: float, w: float) -> bool:
    """The rule for a block centred at (u, v), written out plainly per code."""
    half = w / 2
    return {
        3: u < w and v < w,
        4: 1 - u < w and v < w,
        5: 1 - u < w and 1 - v < w,
        6: u < w and 1 - v < w,
        7: min(u, 1 - u) < half and min(v, 1 - v) < half,
        8: abs(u % 0.5 - 0.25) < w / 4 and abs(v % 0.5 - 0.25) < w / 4,
        21: abs(u - 0.5) < half,
        22: abs(v - 0.5) < half,
        23: abs(u - 0.5) < half and v < w,
        24: 1 - u < w and abs(v - 0.5) < half,
        25: abs(u - 0.5) < half and 1 - v < w,
        26: u < w and abs(v - 0.5) < half,
    }[code]


def test_smpte_wipes_reveal_what_their_rule_says(project_dir: Path, ray_session: None) -> None:
    Image.fromarray(np.full((H, W, 3), 255, np.uint8)).save(project_dir / "white.png")
    tl = otio.schema.Timeline(name="wipes")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for code in CODES:  # black, then the white still wipes in over 4 frames
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(4))))
        track.append(
            otio.schema.Transition(
                transition_type="SMPTE_Wipe",
                in_offset=rt(0),
                out_offset=rt(4),
                metadata={"cmx_3600": {"transition": f"W{code:03d}"}},
            )
        )
        track.append(
            otio.schema.Clip(
                name=f"W{code:03d}",
                media_reference=otio.schema.ExternalReference(target_url="white.png"),
                source_range=otio.opentime.TimeRange(rt(0), rt(6)),
            )
        )
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(project_dir / "cuts" / "w.otio"))
    (project_dir / "farm.toml").write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\npreset = "ultrafast"\nquality = 1\n'
        '[variants.w]\ntimeline = "cuts/w.otio"\n'
    )
    out = farm.render(project_dir / "farm.toml", workers=1).variants["w"]
    assert out.error is None, out.error
    assert not [w for w in out.warnings if "renders as a cut" in w]
    with av.open(out.output) as c:
        lumas = [
            np.frombuffer(f.planes[0], np.uint8).reshape(-1, f.planes[0].line_size)[:H, :W]
            for f in c.decode(video=0)
        ]
    assert len(lumas) == 10 * len(CODES)
    for i, code in enumerate(CODES):
        for k in range(4):
            w = (k + 0.5) / 4
            blocks = lumas[10 * i + 4 + k].astype(float).reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))
            expected = np.array(
                [
                    [shows(code, (bx + 0.5) / (W // 2), (by + 0.5) / (H // 2), w) for bx in range(W // 2)]
                    for by in range(H // 2)
                ]
            )
            assert expected.any() or k == 0, (code, k)  # the rule reveals something by mid-wipe
            revealed = blocks > 125
            assert (revealed == expected).all(), (code, k, np.argwhere(revealed != expected)[:5])
            assert blocks[expected].min(initial=255) > 200 and blocks[~expected].max(initial=0) < 50
