"""10-bit end to end: a 10-bit ProRes ramp keeps more than 256 levels in 10-bit HEVC and ProRes outputs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut

import farm
from farm.edit.project import load_project
from farm.errors import ProjectError
from farm.kernels import identity_lut, write_cube

pytestmark = pytest.mark.usefixtures("ray_session")
W, H = 1024, 64


def _ramp(path: Path, frames: int = 6) -> Path:
    """ProRes 422 HQ, 10-bit: luma steps through every code from 64 to 1023-64 across the width."""
    import av

    y = np.round(np.linspace(64, 940, W)).astype(np.uint16)
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("prores_ks", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv422p10le"
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        cc.options = {"profile": "3"}
        for i in range(frames):
            frame = av.VideoFrame(W, H, "yuv422p10le")
            planes = [
                np.tile(y, (H, 1)),
                np.full((H, W // 2), 512, np.uint16),
                np.full((H, W // 2), 512, np.uint16),
            ]
            for plane, data in zip(frame.planes, planes, strict=True):
                padded = np.zeros((H, plane.line_size // 2), np.uint16)
                padded[:, : data.shape[1]] = data
                plane.update(padded.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _levels(path: Path) -> tuple[int, str, str, int]:
    """Distinct luma codes in the middle row of the first frame, the pixel format, codec and transfer tag."""
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        cc = c.streams.video[0].codec_context
        fmt, codec = frame.format.name, cc.name
        y = frame.planes[0]
        wide = "10" in fmt
        row = np.frombuffer(bytes(y), np.uint16 if wide else np.uint8).reshape(H, -1)[H // 2, :W]
        return len(np.unique(row)), fmt, codec, int(frame.color_trc or cc.color_trc)


def test_a_10_bit_ramp_keeps_its_levels_in_10_bit_outputs(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    _ramp(tmp_path / "media" / "ramp.mov")
    write_cube(identity_lut(17), tmp_path / "flat.cube")
    write_cut(tmp_path / "cuts" / "r.otio", [Shot("media/ramp.mov", 0, 6, rate=Fraction(24))])
    variants = {
        "main10": 'codec = "hevc"\nbit_depth = 10',
        "prores": 'codec = "prores"',
        "h264": 'codec = "h264"',
    }
    text = f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\npreset = "ultrafast"\nquality = 0\n'
    for name, output in variants.items():
        text += f'[variants.{name}]\ntimeline = "cuts/r.otio"\n[variants.{name}.output]\n{output}\n'
    # and through a LUT (planar float), 10 bits all the way
    text += '[variants.main10_lut]\ntimeline = "cuts/r.otio"\n'
    text += f"[variants.main10_lut.output]\n{variants['main10']}\n"
    text += '[variants.main10_lut.look]\nlut = "flat.cube"\n'
    (tmp_path / "farm.toml").write_text(text)
    report = farm.render(tmp_path / "farm.toml", workers=1)
    for v in report.variants.values():
        assert v.error is None, v.error
    renders = tmp_path / "renders"
    got = {
        name: _levels(renders / f"{name}{'.mov' if name == 'prores' else '.mp4'}")
        for name in [*variants, "main10_lut"]
    }
    print("distinct luma levels:", {k: v[0] for k, v in got.items()})
    for name in ("main10", "main10_lut"):
        assert got[name][0] > 256 and got[name][1:3] == ("yuv420p10le", "hevc") and got[name][3] == 1, got[
            name
        ]
    assert got["prores"][0] > 256 and got["prores"][1:3] == ("yuv422p10le", "prores"), got["prores"]
    assert got["h264"][0] <= 256  # the 8-bit output, for comparison


def test_h264_cannot_be_asked_for_10_bits(tmp_path: Path) -> None:
    write_cut(tmp_path / "cuts" / "r.otio", [Shot("media/ramp.mov", 0, 6, rate=Fraction(24))])
    (tmp_path / "farm.toml").write_text('[output]\nbit_depth = 10\n[variants.v]\ntimeline = "cuts/r.otio"\n')
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path / "farm.toml")
    assert "bit_depth" in str(info.value) and "hevc" in str(info.value)
