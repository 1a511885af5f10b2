"""Where the nvidia backend decodes each source, mirrored pictures, and 10 bits through the LUT (no GPU).

The frame code is the one the worker runs on CuPy, run here on NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

from farm.backends.nvidia.frames import compose_frame
from farm.backends.nvidia.gpu_caps import NVDEC_FORMATS, cpu_decode_reason
from farm.backends.nvidia.layers import host_nv12
from farm.backends.nvidia.params import frame_plan
from farm.backends.nvidia.transfer import host_yuv420p10
from farm.kernels import identity_lut
from farm.planning.units import Geometry

HOPPER = {
    "h264 8-bit 4:2:0": True,
    "hevc 8-bit 4:2:0": True,
    "hevc 10-bit 4:2:0": True,
    "av1 8-bit 4:2:0": False,
    "av1 10-bit 4:2:0": False,
    "vp9 8-bit 4:2:0": True,
}


@pytest.mark.parametrize(
    ("source", "answer", "reason"),
    [
        (("h264", 8, "4:2:0", "progressive", False), HOPPER, None),
        (("hevc", 10, "4:2:0", "progressive", False), HOPPER, None),
        (("prores", 10, "4:2:2", "progressive", False), HOPPER, "NVDEC does not decode prores"),
        (("hevc", 10, "4:2:2", "progressive", False), HOPPER, "NVDEC decodes 4:2:0 only, the source is hevc"),
        (("h264", 10, "4:2:0", "progressive", False), HOPPER, "NVDEC does not decode h264 10-bit 4:2:0"),
        (("av1", 10, "4:2:0", "progressive", False), HOPPER, "this GPU's NVDEC does not decode av1 10-bit"),
        (("av1", 10, "4:2:0", "progressive", False), None, None),
        (
            ("libdav1d", 8, "4:2:0", "progressive", False),
            HOPPER,
            "this GPU's NVDEC does not decode av1 8-bit",
        ),  # no answer: the table (Ada decodes AV1)
        (("h264", 8, "4:2:0", "tff", False), HOPPER, "the source is interlaced (tff): bwdif runs on the CPU"),
        (("png", 8, "4:4:4", "progressive", True), HOPPER, "the source has an alpha channel"),
        (("mjpeg", 8, "4:2:0", "progressive", False), HOPPER, "NVDEC does not decode mjpeg"),
    ],
)
def test_the_capability_table_decides_where_a_source_decodes(source, answer, reason) -> None:  # type: ignore[no-untyped-def]
    said = cpu_decode_reason(*source, gpu_answer=answer)
    assert (said is None) == (reason is None), said
    if reason is not None:
        assert said is not None and said.startswith(reason)


def test_the_table_names_what_the_gpus_are_asked_about() -> None:
    from farm.backends.nvidia.codec import DECODE_PROBES

    assert set(DECODE_PROBES) == NVDEC_FORMATS


def _corner_picture(w: int, h: int, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Black with a white top-left corner block, NV12 (or P010)."""
    shift = 0 if bits == 8 else 8
    dtype = np.uint8 if bits == 8 else np.uint16
    y = np.full((h, w), 16 << shift, dtype)
    y[: h // 4, : w // 4] = 235 << shift
    return y, np.full((h // 2, w // 2, 2), 128 << shift, dtype)


def _white_quadrant(y: np.ndarray) -> tuple[int, int]:
    h, w = y.shape
    rows, cols = np.nonzero(y > 128)
    return int(rows.mean() > h / 2), int(cols.mean() > w / 2)


@pytest.mark.parametrize(
    ("rotation", "mirrored", "quadrant"),
    [
        (0, False, (0, 0)),
        (0, True, (0, 1)),  # hflip: top-right
        (90, False, (1, 0)),  # transpose=cclock: the top-left corner goes bottom-left
        (90, True, (1, 1)),  # ... then hflip: bottom-right
        (270, True, (0, 0)),  # transpose=clock: top-right, then hflip: top-left
    ],
)
def test_a_mirrored_picture_is_flipped_after_its_turn(rotation: int, mirrored: bool, quadrant: tuple) -> None:
    w, h = 64, 48
    turned = rotation in (90, 270)
    out_w, out_h = (h, w) if turned else (w, h)
    plan = frame_plan(Geometry(rotation, out_w, out_h, 0, 0, out_w, out_h))
    y, uv = _corner_picture(w, h)
    y_out, _ = compose_frame(np, y, uv, plan, identity_lut(2), "bt709", "limited", mirrored=mirrored)
    assert y_out.shape == (out_h, out_w)
    assert _white_quadrant(y_out) == quadrant


def test_ten_bit_pictures_reach_the_output_unrounded() -> None:
    """A 10-bit ramp through the fused kernel and LUT to a 10-bit output keeps its levels; to 8 bits, not."""
    w, h = 256, 8
    codes = (64 + np.arange(w) * (940 - 64) // (w - 1)).astype(np.uint16)
    y = np.tile(codes << 6, (h, 1)).astype(np.uint16)
    uv = np.full((h // 2, w // 2, 2), 512 << 6, np.uint16)
    plan = frame_plan(Geometry(0, w, h, 0, 0, w, h))
    lut = identity_lut(33)
    y10, uv10 = compose_frame(np, y, uv, plan, lut, "bt709", "limited", out_bits=10)
    y8, _ = compose_frame(np, y, uv, plan, lut, "bt709", "limited", out_bits=8)
    assert y10.dtype == np.uint16 and uv10.dtype == np.uint16
    assert len(np.unique(y10)) > 200 and len(np.unique(y8)) < 230
    assert np.abs((y10[0].astype(int) >> 6) - codes).max() <= 1
    # an 8-bit source to a 10-bit output is widened exactly (code v -> 4v), not re-quantised
    y_in, uv_in = _corner_picture(w, h)
    wide, _ = compose_frame(np, y_in, uv_in, plan, lut, "bt709", "limited", out_bits=10)
    assert np.abs((wide.astype(int) >> 6) - 4 * y_in.astype(int)).max() <= 1


def test_p010_leaves_the_device_as_yuv420p10le() -> None:
    y = (np.arange(16 * 8, dtype=np.uint16).reshape(8, 16) * 7 % 1024) << 6
    uv = np.stack([np.full((4, 8), 300 << 6), np.full((4, 8), 700 << 6)], -1).astype(np.uint16)
    frame = host_yuv420p10(y, uv)
    assert frame.format.name == "yuv420p10le"
    back = frame.to_ndarray()  # (H * 3/2, W) planar
    np.testing.assert_array_equal(back[:8], y >> 6)
    assert set(np.unique(back[8:10])) == {300} and set(np.unique(back[10:])) == {700}


def test_a_422_ten_bit_frame_is_uploaded_as_p010() -> None:
    import av

    frame = av.VideoFrame(32, 16, "yuv422p10le")
    values = (np.arange(32 * 16).reshape(16, 32) % 1024).astype(np.uint16)
    for plane, data in zip(
        frame.planes,
        (values, np.full((16, 16), 400, np.uint16), np.full((16, 16), 600, np.uint16)),
        strict=True,
    ):
        padded = np.zeros((data.shape[0], plane.line_size // 2), np.uint16)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes())
    y, uv = host_nv12(frame, 10)
    assert y.dtype == np.uint16 and y.shape == (16, 32) and uv.shape == (8, 16, 2)
    np.testing.assert_array_equal(y >> 6, values)
    assert set(np.unique(uv[..., 0] >> 6)) == {400} and set(np.unique(uv[..., 1] >> 6)) == {600}


def test_full_range_pictures_keep_their_range_and_their_codes() -> None:
    """A JPEG-range 4:2:0 picture is packed as it is; a 4:2:2 one turns limited in swscale, and says so."""
    import av

    from farm.backends.nvidia.layers import host_range

    packed = av.VideoFrame(16, 8, "yuvj420p")
    for plane, value in zip(packed.planes, (0, 128, 255), strict=True):
        plane.update(np.full(plane.buffer_size, value, np.uint8).tobytes())
    y, uv = host_nv12(packed, 8)
    assert set(np.unique(y)) == {0} and set(np.unique(uv[..., 1])) == {255}
    assert host_range(packed, "pc") == "pc"
    scaled = av.VideoFrame(16, 8, "yuvj422p")
    for plane, value in zip(scaled.planes, (0, 128, 128), strict=True):
        plane.update(np.full(plane.buffer_size, value, np.uint8).tobytes())
    y, _ = host_nv12(scaled, 8)
    assert set(np.unique(y)) == {16} and host_range(scaled, "pc") == "tv"


def test_a_transition_the_kernel_does_not_know_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mask the planner may learn later (an iris wipe) is exit 69 naming it, never a wrong picture."""
    import types

    from farm.backends.nvidia import layers
    from farm.errors import BackendUnavailableError, Where
    from farm.planning import units

    monkeypatch.setattr(units, "MASKS", (*units.MASKS, "iris"))
    spec = units.EncodeSpec(codec="h264", quality=20, preset="veryfast", width=64, height=36, fps=24, gop=24)
    fill = units.Layer(None, "bars", None, None, None, (), (), (1, 1), "iris")
    job = units.SegmentJob("k" * 40, (), (), 2, None, None, None, None, spec, "c/bars", layers=(fill,))
    state = types.SimpleNamespace(cp=np)
    with pytest.raises(BackendUnavailableError, match="iris transition") as info:
        list(layers.composite_pictures(state, job, Where(), {}))
    assert info.value.exit_code == 69
