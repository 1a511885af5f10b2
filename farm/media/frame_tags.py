"""What a decoded frame says about its picture: colour matrix, range, primaries, transfer, depth,
chroma, field order, HDR side data and display orientation.

The probe (:mod:`farm.media.probe`) reads these from a source's first frame;
the frame readers use :func:`frame_colour` on every frame they convert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import av
    import av.video.stream

# AVColorSpace values → names libswscale's ``in_color_matrix`` understands
COLOUR_MATRICES = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}


def frame_colour(frame: av.VideoFrame) -> tuple[str, bool, bool]:
    """How to decode a frame's colour: ``(matrix, tagged, full_range)``.

    An untagged frame is BT.709 from 720 lines up and BT.601 below — what cameras
    and phones write — never libswscale's implicit BT.601 at every size.
    """
    matrix = COLOUR_MATRICES.get(int(frame.colorspace or 0))
    tagged = matrix is not None
    if matrix is None:
        matrix = "bt709" if frame.height >= 720 else "bt601"
    rng = int(frame.color_range or 0)
    full = rng == 2 or (rng != 1 and frame.format.name.startswith("yuvj"))
    return matrix, tagged, full


def has_alpha(pix_fmt: str) -> bool:
    """Whether frames of this pixel format carry an alpha channel."""
    return pix_fmt.startswith(("rgba", "bgra", "argb", "abgr", "ya", "yuva", "gbrap"))


# AVColorPrimaries / AVColorTransferCharacteristic values → FFmpeg's names
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020"}
_PRIMARIES |= {10: "smpte428", 11: "smpte431", 12: "smpte432"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear"}
_TRANSFERS |= {13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
#: AVFieldOrder → farm's name (TB/BT: fields coded in the other order but displayed top/bottom first)
_FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}


def _tag(frame_value: object, stream_value: object, names: dict[int, str]) -> str:
    """A frame's tag, else the stream's (ProRes in MOV tags the stream, not the frames); "" when neither."""
    for value in (frame_value, stream_value):
        name = names.get(int(value or 0))  # type: ignore[call-overload]
        if name is not None:
            return name
    return ""


def colour_description(
    frame: av.VideoFrame, stream: av.video.stream.VideoStream, stream_tags: tuple[int, int, int]
) -> dict[str, Any]:
    """Primaries, transfer, bit depth, chroma, field order and HDR side data of a source's first frame.

    ``stream_tags`` are the container's (primaries, transfer, matrix), used where the frames are untagged.
    """
    import struct

    cc = stream.codec_context
    fmt = frame.format
    depth = max((c.bits for c in fmt.components), default=8)
    name = fmt.name
    chroma = next((f"4:{k[1]}:{k[2]}" for k in ("420", "422", "444", "411", "440") if k in name), "")
    if not chroma:
        chroma = "4:2:0" if name.startswith(("nv12", "nv21", "p010", "p016")) else "gray"
        chroma = "rgb" if name.startswith(("gbr", "rgb", "bgr", "argb", "abgr")) else chroma
    field_order = _FIELD_ORDERS.get(int(cc.field_order or 0), "")
    if not field_order:  # unknown in the stream: the frame's own flag decides
        field_order = "tff" if frame.interlaced_frame else "progressive"
    out: dict[str, Any] = {
        "primaries": _tag(frame.color_primaries, stream_tags[0], _PRIMARIES),
        "transfer": _tag(frame.color_trc, stream_tags[1], _TRANSFERS),
        "bit_depth": int(depth),
        "chroma": chroma,
        "field_order": field_order,
    }
    if chroma == "4:2:0" and not name.startswith(("nv", "p01")):  # planar 4:2:0: where chroma sits
        from farm.media.siting import chroma_location

        out["chroma_location"] = chroma_location(frame)
    for sd in _side_data(frame):
        kind = _side_data_kind(sd)
        if kind == "MASTERING_DISPLAY_METADATA":
            v = struct.unpack("<22i", bytes(sd)[:88])
            if v[21]:  # has_luminance
                out["mastering_min_nits"] = v[16] / v[17] if v[17] else None
                out["mastering_max_nits"] = v[18] / v[19] if v[19] else None
        elif kind == "CONTENT_LIGHT_LEVEL":
            out["max_cll"], out["max_fall"] = struct.unpack("<2I", bytes(sd)[:8])
        elif kind.startswith("DOVI"):
            out["dolby_vision"] = True
    return out


def _side_data(frame: av.VideoFrame) -> list[Any]:
    """A frame's side data, skipping entries of a type this PyAV cannot name (TIFF metadata is 31)."""
    try:
        sides: Any = frame.side_data  # SideData objects (the type stubs describe a mapping)
    except ValueError:  # PyAV names every entry when it builds the container, and fails on one it cannot
        return []
    out = []
    for i in range(len(sides)):
        try:
            out.append(sides[i])
        except ValueError:
            continue
    return out


def _side_data_kind(sd: Any) -> str:
    """The side data's type name; "" for a type this PyAV does not name (TIFF metadata reads as 31)."""
    try:
        return str(sd.type.name)
    except ValueError:
        return ""


def display_orientation(frame: av.VideoFrame) -> tuple[int, bool]:
    """``(rotation, mirrored)`` from the display matrix: counter-clockwise degrees, then a horizontal flip.

    FFmpeg's rotation alone reads a mirror as a 180° turn (a front-camera clip would
    come out upside down); a negative determinant is a mirror, and the rotation is
    read from the matrix with the flip taken out.
    """
    import math
    import struct

    for sd in _side_data(frame):
        if _side_data_kind(sd) != "DISPLAYMATRIX":
            continue
        m = struct.unpack("<9i", bytes(sd)[:36])
        mirrored = m[0] * m[4] - m[1] * m[3] < 0
        a, b = (-m[0], m[1]) if mirrored else (m[0], m[1])
        if a == 0 and b == 0:
            break
        degrees = -math.degrees(math.atan2(b, a))
        rotation = int(round(degrees)) % 360
        if rotation not in (0, 90, 180, 270):
            raise ValueError(f"unsupported display rotation {degrees:.1f}°")
        return rotation, mirrored
    return int(round(frame.rotation or 0)) % 360, False
