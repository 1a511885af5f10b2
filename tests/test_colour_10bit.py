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


def _two_tracks(path: Path, bottom: str, top: str, frames: int) -> None:
    import opentimelineio as otio

    tl = otio.schema.Timeline(name="t")
    for name, url in (("V1", bottom), ("V2", top)):
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Video)
        track.append(
            otio.schema.Clip(
                name=Path(url).stem,
                media_reference=otio.schema.ExternalReference(target_url=url),
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(frames, 24)
                ),
            )
        )
        tl.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(tl, str(path))


def _luma_row(path: Path) -> np.ndarray:
    """The middle row of the first frame's luma, as 10-bit codes."""
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    assert frame.format.name.endswith(("10le", "12le")), frame.format.name
    y = np.frombuffer(bytes(frame.planes[0]), np.uint16).reshape(H, -1)[H // 2, :W].astype(np.int64)
    return y >> 2 if frame.format.name.endswith("12le") else y


def test_a_png_title_over_a_10_bit_ramp_is_mixed_at_10_bits(tmp_path: Path) -> None:
    """Composited segments of 10-bit outputs are mixed and written at 10 bits, in the output's chroma."""
    from PIL import Image

    (tmp_path / "media").mkdir()
    _ramp(tmp_path / "media" / "ramp.mov")
    title = np.zeros((H, W, 4), np.uint8)
    title[:, :512] = (255, 255, 255, 128)  # half-transparent white over the left half
    title[:, 768:832] = (255, 255, 255, 255)  # an opaque white bar
    Image.fromarray(title).save(tmp_path / "media" / "title.png")
    _two_tracks(tmp_path / "cuts" / "t.otio", "media/ramp.mov", "media/title.png", 3)
    text = f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\npreset = "ultrafast"\nquality = 0\n'
    outputs = {"main10": 'codec = "hevc"\nbit_depth = 10', "prores": 'codec = "prores"'}
    for name, output in outputs.items():
        text += f'[variants.{name}]\ntimeline = "cuts/t.otio"\n[variants.{name}.output]\n{output}\n'
    (tmp_path / "farm.toml").write_text(text)
    report = farm.render(tmp_path / "farm.toml", workers=1)
    ramp = np.round(np.linspace(64, 940, W))
    for name in outputs:
        assert report.variants[name].error is None, report.variants[name].error
        y = _luma_row(tmp_path / "renders" / f"{name}{'.mov' if name == 'prores' else '.mp4'}")
        clear = np.r_[512:768, 832:W]
        half = ramp[:512] + 128 / 255 * (940 - ramp[:512])
        print(
            f"{name}: {len(np.unique(y[clear]))} levels where the title is clear; half-transparent "
            f"white off by {np.abs(y[8:504] - half[8:504]).max():.1f} codes at most"
        )
        assert len(np.unique(y[clear])) > 300  # an 8-bit mix would leave at most ~96 here
        assert np.abs(y[clear][4:-4] - ramp[clear][4:-4]).max() <= 3
        assert np.abs(y[8:504] - half[8:504]).max() <= 3
        assert np.abs(y[772:828] - 940).max() <= 2


@pytest.mark.parametrize("family", ["cpu", "nvdec+cpu"])
def test_an_8_bit_mix_of_a_10_bit_output_is_a_warning_naming_the_frames(tmp_path: Path, family: str) -> None:
    """The nvidia kernels mix composited frames at 8 bits: planned for them, a 10-bit variant says where."""
    from PIL import Image

    (tmp_path / "media").mkdir()
    _ramp(tmp_path / "media" / "ramp.mov")
    Image.fromarray(np.zeros((H, W, 4), np.uint8)).save(tmp_path / "media" / "title.png")
    _two_tracks(tmp_path / "cuts" / "t.otio", "media/ramp.mov", "media/title.png", 3)
    text = f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\n'
    text += (
        '[variants.ten]\ntimeline = "cuts/t.otio"\n[variants.ten.output]\ncodec = "hevc"\nbit_depth = 10\n'
    )
    text += '[variants.eight]\ntimeline = "cuts/t.otio"\n'
    (tmp_path / "farm.toml").write_text(text)
    plan = farm.plan(tmp_path / "farm.toml", family=family)
    ten = [w for w in plan.variants["ten"].warnings if "8 bits" in w]
    assert not [w for w in plan.variants["eight"].warnings if "8 bits" in w]
    if family == "cpu":
        assert not ten
    else:
        assert ten == [
            "variant 'ten', output frames [0, 3): composited frames are mixed at 8 bits 4:2:0 on the "
            "nvidia backend and widened to the 10-bit output (the cpu backend mixes at 10 bits)"
        ]
