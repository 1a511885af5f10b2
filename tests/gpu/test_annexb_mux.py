"""NVENC's Annex-B → MP4 segment muxing, checked on the CPU with libx264/libx265 Annex-B.

The muxer must keep every picture (no re-encode), give exact timestamps
(B-frames included, when the encoder reports input order), start on an IDR,
write the BT.709 limited-range VUI whatever the encoder wrote, keep parameter
sets identical so that segments of one output concatenate, and produce
segments the stitcher accepts.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from farm.backends.nvidia import mux
from farm.errors import InternalError

FPS = Fraction(24)
W, H = 96, 64


def _picture(i: int) -> np.ndarray:
    """Frame ``i``: a top half of flat luma 20 + 6·i (the order, read back) over a moving bar (motion)."""
    arr = np.full((H * 3 // 2, W), 128, np.uint8)
    arr[:H] = 20 + 6 * i
    arr[H // 2 : H, (5 * i) % (W - 8) : (5 * i) % (W - 8) + 8] = 230
    return arr


def encode_annexb(
    codec: str,
    frames: int = 30,
    gop: int = 12,
    bframes: int = 0,
    extra: str = "",
    start: int = 0,
    full_range_bt601: bool = False,
):
    """Annex-B pictures (decode order) and their input positions, from libx264/libx265 in Annex-B mode."""
    import av

    name = {"h264": "libx264", "hevc": "libx265"}[codec]
    cc = av.CodecContext.create(name, "w")
    cc.width, cc.height, cc.pix_fmt = W, H, "yuv420p"
    if full_range_bt601:  # what PyNvVideoCodec 2.0's colorspace option signals: the wrong range
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 5, 5, 6, 2
    cc.time_base = 1 / FPS
    cc.framerate = FPS
    common = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"
    if codec == "h264":
        cc.options = {"preset": "fast", "crf": "20", "x264-params": f"annexb=1:{common}{extra}"}
    else:
        cc.options = {
            "preset": "fast",
            "crf": "20",
            "x265-params": f"{common}:open-gop=0:repeat-headers=1:log-level=error{extra}",
        }
    pictures, order = [], []
    for i in range(start, start + frames):
        frame = av.VideoFrame.from_ndarray(_picture(i), format="yuv420p")
        frame.pts, frame.time_base = i, 1 / FPS
        for p in cc.encode(frame):
            pictures.append(bytes(p))
            order.append(p.pts)
    for p in cc.encode(None):
        pictures.append(bytes(p))
        order.append(p.pts)
    return pictures, order


def decoded(path: Path) -> tuple[list[int], list, dict]:
    """Luma levels of the decoded frames in presentation order, colour tags, stream facts."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = {"tag": v.codec_context.codec_tag, "extradata": bytes(v.codec_context.extradata or b"")}
        packets = [p for p in c.demux(v) if p.size]
        facts["keyframes"] = sorted(round(p.pts * v.time_base * FPS) for p in packets if p.is_keyframe)
        facts["pts_sorted"] = sorted(p.pts for p in packets)
    levels, tags = [], []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            levels.append(round((float(frame.to_ndarray()[: H // 2].mean()) - 20) / 6))
            tags.append((frame.colorspace, frame.color_range))
    return levels, tags, facts


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_access_units_are_one_per_encoded_picture(codec):
    pictures, _ = encode_annexb(codec, bframes=2)
    units = mux.access_units(codec, b"".join(pictures))
    assert len(units) == len(pictures)
    assert [mux.annexb(u) for u in units] == [mux.annexb(mux.nal_units(p)) for p in pictures]
    assert mux.is_idr(codec, units[0]) and mux.parameter_sets(codec, units[0])


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_a_segment_keeps_every_picture_in_order_with_an_idr_first(tmp_path, codec):
    pictures, _ = encode_annexb(codec, frames=30, gop=12)
    result = mux.mux_annexb(tmp_path / "seg.mp4", codec, pictures, FPS)
    assert result.frames == 30 and result.keyframes == (0, 12, 24)
    levels, tags, facts = decoded(tmp_path / "seg.mp4")
    assert levels == list(range(30))
    assert facts["keyframes"] == [0, 12, 24]
    assert facts["tag"] == ("avc1" if codec == "h264" else "hvc1")
    assert facts["extradata"][:1] == b"\x01"  # avcC / hvcC, as movenc writes for CPU segments
    assert set(tags) == {(1, 1)}  # BT.709, limited range


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_b_frames_are_timed_from_the_input_order(tmp_path, codec):
    pictures, order = encode_annexb(codec, frames=26, gop=13, bframes=2)
    assert order != sorted(order)  # the encoder did reorder
    mux.mux_annexb(tmp_path / "b.mp4", codec, pictures, FPS, display_order=order)
    levels, _, facts = decoded(tmp_path / "b.mp4")
    assert levels == list(range(26))
    pts, dts = mux.presentation_timestamps(order, len(order))
    assert all(d <= p for p, d in zip(pts, dts, strict=True)) and dts == sorted(set(dts))


def test_the_colour_description_is_rewritten_without_re_encoding(tmp_path):
    pictures, _ = encode_annexb("h264", frames=12, full_range_bt601=True)
    raw = tmp_path / "raw.h264"
    raw.write_bytes(b"".join(pictures))
    import av

    with av.open(str(raw), format="h264") as c:
        first = next(c.decode(video=0))
        assert (first.colorspace, first.color_range) == (5, 2)
    mux.mux_annexb(tmp_path / "tagged.mp4", "h264", pictures, FPS)
    levels, tags, _ = decoded(tmp_path / "tagged.mp4")
    assert set(tags) == {(1, 1)}
    assert levels == list(range(12))  # the pixels were not touched


def test_a_segment_must_start_with_an_idr(tmp_path):
    pictures, _ = encode_annexb("h264", frames=24, gop=12)
    with pytest.raises(InternalError, match="does not start with an IDR"):
        mux.mux_annexb(tmp_path / "bad.mp4", "h264", pictures[1:], FPS)


def test_parameter_sets_that_change_mid_segment_are_refused(tmp_path):
    a, _ = encode_annexb("h264", frames=12, gop=12)
    b, _ = encode_annexb("h264", frames=12, gop=12, extra=":ref=1:no-cabac=1")
    with pytest.raises(InternalError, match="parameter sets change"):
        mux.mux_annexb(tmp_path / "mixed.mp4", "h264", a + b, FPS)


def test_segments_of_one_setting_concatenate_with_the_stitcher(tmp_path):
    from farm.media.stitch import StitchPiece, stitch

    first, _ = encode_annexb("h264", frames=24, gop=12, start=0)
    second, _ = encode_annexb("h264", frames=12, gop=12, start=24)
    r1 = mux.mux_annexb(tmp_path / "a.mp4", "h264", first, FPS)
    r2 = mux.mux_annexb(tmp_path / "b.mp4", "h264", second, FPS)
    assert r1.extradata_sha256 == r2.extradata_sha256
    out = tmp_path / "joined.mp4"
    report = stitch(
        [StitchPiece(tmp_path / "a.mp4", 0, 24), StitchPiece(tmp_path / "b.mp4", 24, 12)],
        None,
        out,
        FPS,
        36,
        "v",
    )
    assert report["frames"] == 36 and report["keyframes"] >= 2
    levels, tags, _ = decoded(out)
    assert levels == list(range(36)) and set(tags) == {(1, 1)}


def test_encoder_outputs_of_either_pynvvideocodec_generation_become_pictures():
    pictures, _ = encode_annexb("h264", frames=10, gop=5, bframes=0)
    # 2.0: bytes per call, any number of pictures in each (here: none, one, or three at a time)
    chunks = [b"", pictures[0], b"".join(pictures[1:4]), b"".join(pictures[4:]), b""]
    got = mux.encoder_output_pictures("h264", chunks)
    assert [mux.nal_units(g) for g in got] == [mux.nal_units(p) for p in pictures]
    # 2.1+: lists of dicts, one picture each; the timestamp echoes an inputTimeStamp farm never
    # passes (here: garbage), so the output order, which is display order without B-frames, rules
    dicts = [[{"data": p, "timestamp": 9000 - 7 * i, "picture_type": 0}] for i, p in enumerate(pictures)]
    dicts.append([])  # the flush: nothing left
    got = mux.encoder_output_pictures("h264", dicts)
    assert [mux.nal_units(g) for g in got] == [mux.nal_units(p) for p in pictures]


def test_presentation_timestamps_without_reordering():
    assert mux.presentation_timestamps(None, 3) == ([0, 1, 2], [0, 1, 2])
    pts, dts = mux.presentation_timestamps([0, 3, 1, 2], 4)
    assert pts == [0, 3, 1, 2] and dts == [-1, 0, 1, 2]
