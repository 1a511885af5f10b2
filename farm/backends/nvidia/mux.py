"""NVENC's Annex-B output → one MP4 segment, with PyAV and without re-encoding.

NVENC (through PyNvVideoCodec) hands back H.264/HEVC Annex-B bytes with no
timestamps and no container. This module splits them into access units,
writes the BT.709 limited-range colour description into the SPS VUI with
FFmpeg's ``h264_metadata``/``hevc_metadata`` bitstream filters (a header
rewrite, not an encode), lifts the parameter sets out of the packets into the
stream's extradata, checks that they never change within the segment (the
stitcher joins segments under the first one's extradata) and muxes the
pictures with exact timestamps. The result is shaped like a CPU segment:
``avc1``/``hvc1`` sample entry, length-prefixed samples, IDR first.

Everything here is plain bytes and PyAV, so it is tested on the CPU with
Annex-B from libx264/libx265.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from farm.errors import InternalError

CODECS = ("h264", "hevc")

# NAL unit types (ITU-T H.264 table 7-1, H.265 table 7-1)
_H264_IDR, _H264_SEI, _H264_SPS, _H264_PPS, _H264_AUD = 5, 6, 7, 8, 9
_H264_VCL = frozenset({1, 2, 3, 4, 5})
_HEVC_VPS, _HEVC_SPS, _HEVC_PPS, _HEVC_AUD, _HEVC_PREFIX_SEI = 32, 33, 34, 35, 39
_HEVC_IDR = frozenset({19, 20})  # IDR_W_RADL, IDR_N_LP

#: colour description written into every segment's VUI: BT.709 primaries, transfer and matrix,
#: limited ("tv") range — what the kernels produce and what the CPU backend's libx264 signals
BT709_LIMITED = {
    "colour_primaries": 1,
    "transfer_characteristics": 1,
    "matrix_coefficients": 1,
    "video_full_range_flag": 0,
}


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B stream (3- and 4-byte start codes), without start codes."""
    units: list[bytes] = []
    starts: list[int] = []
    i, n = 0, len(data)
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        unit = data[s:end]
        # a 4-byte start code leaves its leading zero on the previous unit; trailing zeros are padding
        unit = unit.rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def nal_type(codec: str, unit: bytes) -> int:
    if codec == "h264":
        return unit[0] & 0x1F
    if codec == "hevc":
        return (unit[0] >> 1) & 0x3F
    raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")


def _is_vcl(codec: str, t: int) -> bool:
    return t in _H264_VCL if codec == "h264" else t < 32


def _is_parameter_set(codec: str, t: int) -> bool:
    return t in (_H264_SPS, _H264_PPS) if codec == "h264" else t in (_HEVC_VPS, _HEVC_SPS, _HEVC_PPS)


def _starts_picture(codec: str, unit: bytes) -> bool:
    """A VCL unit that begins a new picture (first_mb_in_slice == 0 / first_slice_segment_in_pic_flag)."""
    if codec == "h264":
        return len(unit) > 1 and bool(unit[1] & 0x80)  # ue(v) == 0 is the single bit "1"
    return len(unit) > 2 and bool(unit[2] & 0x80)


def _opens_access_unit(codec: str, t: int) -> bool:
    """Non-VCL units that, after a picture's slices, begin the next access unit."""
    if codec == "h264":
        return t in (_H264_AUD, _H264_SPS, _H264_PPS, _H264_SEI) or 14 <= t <= 18
    return t in (_HEVC_AUD, _HEVC_VPS, _HEVC_SPS, _HEVC_PPS, _HEVC_PREFIX_SEI) or 41 <= t <= 44


def access_units(codec: str, data: bytes) -> list[list[bytes]]:
    """Group an Annex-B stream's NAL units into access units (one coded picture each)."""
    units: list[list[bytes]] = []
    current: list[bytes] = []
    has_picture = False
    for unit in nal_units(data):
        t = nal_type(codec, unit)
        vcl = _is_vcl(codec, t)
        if has_picture and (
            (vcl and _starts_picture(codec, unit)) or (not vcl and _opens_access_unit(codec, t))
        ):
            units.append(current)
            current, has_picture = [], False
        current.append(unit)
        has_picture = has_picture or vcl
    if current:
        if not has_picture:
            raise InternalError(f"the {codec} stream ends with NAL units but no picture")
        units.append(current)
    return units


def is_idr(codec: str, unit_list: Sequence[bytes]) -> bool:
    types = {nal_type(codec, u) for u in unit_list}
    return _H264_IDR in types if codec == "h264" else bool(types & _HEVC_IDR)


def annexb(unit_list: Iterable[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in unit_list)


def parameter_sets(codec: str, unit_list: Sequence[bytes]) -> list[bytes]:
    return [u for u in unit_list if _is_parameter_set(codec, nal_type(codec, u))]


def _metadata_filter(codec: str, colour: dict[str, int]) -> str:
    options = ":".join(f"{k}={v}" for k, v in colour.items())
    return f"{codec}_metadata={options}"


def rewrite_colour(codec: str, pictures: list[bytes], colour: dict[str, int] = BT709_LIMITED) -> list[bytes]:
    """Each Annex-B picture with its SPS VUI colour description set to ``colour`` (no re-encode)."""
    import av
    from av.bitstream import BitStreamFilterContext

    bsf = BitStreamFilterContext(_metadata_filter(codec, colour), codec)
    out: list[bytes] = []
    for data in pictures:
        for packet in bsf.filter(av.Packet(data)):
            out.append(bytes(packet))
    for packet in bsf.filter(None):
        out.append(bytes(packet))
    if len(out) != len(pictures):
        raise InternalError(f"{codec}_metadata returned {len(out)} pictures for {len(pictures)}")
    return out


def presentation_timestamps(display_order: Sequence[int] | None, count: int) -> tuple[list[int], list[int]]:
    """(pts, dts) in frames for pictures in decode order.

    ``display_order`` ranks each picture in presentation order (None: decode
    order is presentation order, as without B-frames). DTS trail PTS by the
    smallest delay that keeps every DTS at or before its PTS.
    """
    if display_order is None:
        pts = list(range(count))
    else:
        if len(display_order) != count:
            raise InternalError(f"{len(display_order)} display positions for {count} pictures")
        ranked = sorted(range(count), key=lambda i: display_order[i])
        pts = [0] * count
        for rank, i in enumerate(ranked):
            pts[i] = rank
    delay = max([0, *(i - p for i, p in enumerate(pts))])
    return pts, [i - delay for i in range(count)]


@dataclass(frozen=True)
class MuxResult:
    frames: int
    keyframes: tuple[int, ...]  # output frame indices of the IDR pictures
    extradata_sha256: str  # equal for every segment of one output, or they do not concatenate
    size_bytes: int


def mux_annexb(
    path: Path,
    codec: str,
    pictures: list[bytes],
    fps: Fraction,
    display_order: Sequence[int] | None = None,
    colour: dict[str, int] = BT709_LIMITED,
) -> MuxResult:
    """Write ``pictures`` (Annex-B access units in decode order) as an MP4 segment at ``path``.

    The first picture must be an IDR carrying the parameter sets; every later
    copy of a parameter set must be identical to it.
    """
    import av

    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")
    if not pictures:
        raise InternalError("no pictures to mux")
    first = nal_units(pictures[0])
    if not is_idr(codec, first):
        raise InternalError(f"the {codec} segment does not start with an IDR picture")
    if not parameter_sets(codec, first):
        raise InternalError(f"the first {codec} picture carries no parameter sets")
    split = [nal_units(p) for p in rewrite_colour(codec, pictures, colour)]
    sets = parameter_sets(codec, split[0])
    for i, units in enumerate(split[1:], start=1):
        later = parameter_sets(codec, units)
        if later and later != sets:
            raise InternalError(
                f"the {codec} parameter sets change at picture {i}: segments would not concatenate"
            )
    extradata = annexb(sets)
    samples = [
        annexb(u for u in units if not _is_parameter_set(codec, nal_type(codec, u))) for units in split
    ]
    keys = [is_idr(codec, units) for units in split]
    pts, dts = presentation_timestamps(display_order, len(samples))
    frame_tb = Fraction(fps.denominator, fps.numerator)

    # a stream made from a template is muxed as is; add_stream() would open an encoder
    with av.open(io.BytesIO(extradata + samples[0]), format=codec) as probe:
        template = probe.streams.video[0]
        with av.open(str(path), "w", format="mp4") as out:
            stream = out.add_stream_from_template(template)
            stream.time_base = frame_tb
            stream.codec_context.extradata = extradata
            if codec == "hevc":
                stream.codec_context.codec_tag = "hvc1"  # parameter sets only in the sample entry
            for data, p, d, key in zip(samples, pts, dts, keys, strict=True):
                packet = av.Packet(data)
                packet.pts, packet.dts = p, d
                packet.duration = 1
                packet.time_base = frame_tb
                packet.is_keyframe = key
                packet.stream = stream
                out.mux(packet)
    keyframes = tuple(sorted(p for p, key in zip(pts, keys, strict=True) if key))
    return MuxResult(
        frames=len(samples),
        keyframes=keyframes,
        extradata_sha256=hashlib.sha256(extradata).hexdigest(),
        size_bytes=path.stat().st_size,
    )


def encoder_output_pictures(codec: str, chunks: Iterable[Any]) -> list[bytes]:
    """The pictures, in the order NVENC emitted them, from what PyNvVideoCodec's encoder returned.

    ``Encode``/``EndEncode`` return ``bytes`` (2.0: any number of pictures per
    call) or a list of ``{"data", "timestamp", "picture_type"}`` dicts (2.1+:
    one picture each). The ``timestamp`` echoes ``inputTimeStamp``, which farm
    does not pass, so it is ignored: farm's sessions have no B-frames, so
    NVENC's output order is the display order, the order the frames were fed.
    """
    blobs: list[bytes] = []
    for chunk in chunks:
        if chunk is None:
            continue
        if isinstance(chunk, (bytes, bytearray, memoryview)):
            blobs.append(bytes(chunk))
            continue
        for item in chunk:
            if isinstance(item, dict):
                blobs.append(bytes(item["data"]))
            elif isinstance(item, int):  # a list of byte values
                blobs.append(bytes(chunk))
                break
            else:
                blobs.append(bytes(item))
    return [annexb(units) for units in access_units(codec, b"".join(blobs))]
