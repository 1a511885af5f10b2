"""What the nvidia backend cannot render right it refuses (exit 69); mirrored clips render mirrored.

Sources NVDEC cannot decode now decode on the CPU for their segment (tests/test_nvidia_logic.py,
tests/gpu/test_nvidia_composite.py); what stays refused is a 10-bit or ProRes output through NVENC.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_cut

import farm
from farm.errors import BackendUnavailableError
from farm.planning.units import EncodeSpec, Geometry, SegmentJob, SourceRef


def _job(encode: EncodeSpec, **source: object) -> SegmentJob:
    src = SourceRef(
        path="/media/x.mov",
        identity="i",
        time_base=Fraction(1, 24),
        colorspace="bt709",
        color_range="tv",
        width=64,
        height=48,
        sar=Fraction(1),
        **source,  # type: ignore[arg-type]
    )
    return SegmentJob(
        key="k" * 40,
        frames=(0, 1),
        frame_pts=(0, 1),
        count=2,
        source=src,
        geometry=Geometry(0, 64, 48, 0, 0, 64, 48),
        lut_path=None,
        lut_hash=None,
        encode=encode,
    )


_SPEC = {"quality": 20, "preset": "veryfast", "width": 64, "height": 48, "fps": Fraction(24), "gop": 24}


@pytest.mark.parametrize(
    ("encode", "says"),
    [
        (dict(codec="hevc", bit_depth=10), "10-bit hevc output"),
        (dict(codec="prores", bit_depth=10), "10-bit prores output"),
    ],
)
def test_the_nvidia_backend_refuses_what_it_would_render_wrong(
    tmp_path: Path, encode: dict[str, object], says: str
) -> None:
    from farm.backends.nvidia.pipeline import render_segment_nvidia

    job = _job(EncodeSpec(**encode, **_SPEC, family="nvenc"))  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailableError, match=says) as info:
        render_segment_nvidia(job, tmp_path / "seg.mp4")
    assert info.value.exit_code == 69 and "--backend cpu" in str(info.value)


def _asymmetric(path: Path, matrix: list[int] | None) -> Path:
    """A clip whose top-left corner is white and the rest black, with an optional display matrix."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 48, "yuv420p"
        if matrix is not None:
            stream.set_display_matrix(matrix)
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        rgb = np.zeros((48, 96, 3), np.uint8)
        rgb[:24, :32] = 255
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.usefixtures("ray_session")
def test_a_mirrored_front_camera_clip_renders_mirrored(tmp_path: Path) -> None:
    import av

    one = 1 << 16
    (tmp_path / "media").mkdir()
    _asymmetric(tmp_path / "media" / "front.mp4", [-one, 0, 0, 0, one, 0, 0, 0, 1 << 30])
    write_cut(tmp_path / "cuts" / "v.otio", [Shot("media/front.mp4", 0, 3, rate=Fraction(24))])
    (tmp_path / "farm.toml").write_text(
        '[output]\nwidth = 96\nheight = 48\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.v]\ntimeline = "cuts/v.otio"\n'
    )
    report = farm.render(tmp_path / "farm.toml", workers=1)
    assert report.variants["v"].error is None, report.variants["v"].error
    with av.open(str(tmp_path / "renders" / "v.mp4")) as c:
        luma = next(c.decode(video=0)).to_ndarray(format="gray")
    # shown mirrored: the white corner is top right (FFmpeg's rotation alone reads the mirror as a
    # half turn, which would put it bottom right)
    assert luma[:16, -20:].mean() > 200, luma
    assert luma[-16:, -20:].mean() < 40 and luma[:16, :20].mean() < 40, luma
