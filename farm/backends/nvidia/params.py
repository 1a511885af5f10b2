"""The nvidia backend's decisions, as pure functions: nothing here touches a GPU.

Encoder families, the x264-preset → NVENC-preset map, the NVENC option
dictionary (every value a string, as ``PyNvVideoCodec.CreateEncoder`` wants),
where a decoded picture lands in the output frame (:class:`FramePlan`, the
GPU twin of the CPU backend's libavfilter chain) and whether a decoded frame's
timestamp is the one asked for. Which frames to decode is the schedule every
backend shares (:mod:`farm.backends.schedule`). All of it is tested on
machines without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from farm.planning.units import EncodeSpec, Geometry

# ------------------------------------------------------------------ families

#: frames decoded by NVDEC, converted by CuPy and encoded by NVENC
FAMILY_NVENC = "nvenc"
#: frames decoded by NVDEC and converted by CuPy, then encoded by libx264/libx265 on the host
#: (GPUs without NVENC: H100, H200, A100). Not "cpu": the pixels differ from the CPU backend's.
FAMILY_NVDEC_HOST = "nvdec+cpu"
FAMILIES = {"cpu": ("cpu",), "nvidia": (FAMILY_NVENC, FAMILY_NVDEC_HOST)}


def family_for(backend: str, nvenc: bool) -> str:
    """The encoder family segments rendered by ``backend`` belong to (part of every segment key)."""
    if backend == "cpu":
        return "cpu"
    if backend == "nvidia":
        return FAMILY_NVENC if nvenc else FAMILY_NVDEC_HOST
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(FAMILIES)}")


# ------------------------------------------------------------------ NVENC settings

#: x264/x265 preset → NVENC preset (P1 fastest … P7 best), by rough speed/quality rank
X264_TO_NVENC = {
    "ultrafast": "P1",
    "superfast": "P1",
    "veryfast": "P2",
    "faster": "P3",
    "fast": "P3",
    "medium": "P4",
    "slow": "P5",
    "slower": "P6",
    "veryslow": "P7",
    "placebo": "P7",
}
NVENC_PRESETS = tuple(f"P{i}" for i in range(1, 8))


def nvenc_preset(preset: str) -> str:
    """``"P1"``…``"P7"`` for an x264 preset name or an NVENC preset in any case.

    PyNvVideoCodec silently uses a default for anything but the upper-case
    names, so the mapping is checked here.
    """
    name = preset.strip()
    if name.upper() in NVENC_PRESETS:
        return name.upper()
    if name.lower() in X264_TO_NVENC:
        return X264_TO_NVENC[name.lower()]
    allowed = ", ".join([*X264_TO_NVENC, *NVENC_PRESETS])
    raise ValueError(f"preset {preset!r} has no NVENC equivalent; use one of {allowed}")


def nvenc_qp(quality: int) -> int:
    """The constant QP for a CRF-style ``quality`` (same scale, clamped to H.264/HEVC's 0..51)."""
    return max(0, min(51, int(quality)))


def fps_option(fps: Fraction) -> str:
    """The rate as PyNvVideoCodec parses it (decimal, at most two decimals: 30000/1001 → "29.97")."""
    if fps.denominator == 1:
        return str(fps.numerator)
    return f"{float(fps):.2f}".rstrip("0").rstrip(".")


def nvenc_options(spec: EncodeSpec) -> dict[str, str]:
    """``CreateEncoder`` keyword arguments for segments that concatenate.

    Constant QP (``rc="constqp"``: ``"cqp"`` would silently become CBR), a
    fixed GOP whose every I-frame is an IDR (``idrperiod`` = ``gop``; NVENC's
    default GOP is infinite), no B-frames (the Annex-B output carries no
    timestamps on every PyNvVideoCodec release, so decode order must be
    presentation order), and SPS/PPS repeated at each IDR. No ``colorspace``:
    PyNvVideoCodec 2.0 marks the stream full range with it; the muxer writes
    the BT.709 limited-range VUI instead (see :mod:`farm.backends.nvidia.mux`).
    """
    if spec.codec not in ("h264", "hevc"):
        raise ValueError(f"NVENC encodes h264 or hevc, not {spec.codec!r}")
    if spec.gop < 1:
        raise ValueError(f"gop must be at least 1, got {spec.gop}")
    return {
        "codec": spec.codec,
        "preset": nvenc_preset(spec.preset),
        "tuning_info": "high_quality",
        "rc": "constqp",
        "constqp": str(nvenc_qp(spec.quality)),
        "gop": str(spec.gop),
        "idrperiod": str(spec.gop),
        "bf": "0",
        "repeatspspps": "1",
        "fps": fps_option(spec.fps),
    }


def keyframes_expected(count: int, gop: int) -> list[int]:
    """Frame indices that must be IDR in a segment of ``count`` frames: 0, gop, 2·gop…"""
    return list(range(0, count, gop))


# ------------------------------------------------------------------ colour

#: SourceRef.color_range → the kernels' range names
KERNEL_RANGES = {"tv": "limited", "pc": "full"}


def kernel_colour(colorspace: str, color_range: str) -> tuple[str, str]:
    """(matrix, range) for ``farm.kernels`` from a source's probe tags."""
    if color_range not in KERNEL_RANGES:
        raise ValueError(f"color range must be one of {tuple(KERNEL_RANGES)}, not {color_range!r}")
    return colorspace, KERNEL_RANGES[color_range]


# ------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class FramePlan:
    """How one decoded picture becomes one output frame on the GPU.

    The fused kernel scales (and converts and grades) into ``scale_size``, in
    the source's stored orientation. When nothing else is needed it writes
    straight into the output frame at ``fit_rect`` (``direct``); otherwise the
    scaled picture is turned by ``quarter_turns`` (counter-clockwise, like
    ``numpy.rot90``), and its window ``crop`` = (x, y, w, h) is copied to
    ``paste`` = (x, y) in a black ``out_size`` frame. Every value is even, so
    4:2:0 chroma stays aligned.
    """

    scale_size: tuple[int, int]  # (width, height) of the scaled picture, stored orientation
    quarter_turns: int  # 0..3 counter-clockwise quarter turns after scaling
    out_size: tuple[int, int]  # (width, height) of the output frame
    direct: bool  # the kernel writes the output frame itself (no turn, no crop)
    fit_rect: tuple[int, int, int, int]  # (x, y, w, h) of the picture in the output, when direct
    crop: tuple[int, int, int, int]  # (x, y, w, h) window of the turned picture that is visible
    paste: tuple[int, int]  # where that window lands in the output

    def __post_init__(self) -> None:
        values = (*self.scale_size, *self.out_size, *self.fit_rect, *self.crop, *self.paste)
        if any(v % 2 for v in values):
            raise ValueError(f"frame plan values must be even for 4:2:0, got {self}")


def frame_plan(geometry: Geometry) -> FramePlan:
    """The GPU steps that put a picture where :func:`farm.backends.cpu.filter_spec` puts it.

    ``geometry.rotation`` is counter-clockwise degrees (the CPU backend's
    ``transpose=cclock`` for 90, ``clock`` for 270, ``hflip,vflip`` for 180),
    so the picture turns by ``rotation / 90`` counter-clockwise quarter turns.
    """
    g = geometry
    sw, sh = g.stored_scaled_size
    turns = (g.rotation // 90) % 4
    W, H = g.out_width, g.out_height
    # the display-oriented picture occupies [x, x + scaled_width) × [y, y + scaled_height)
    x0, y0 = max(g.x, 0), max(g.y, 0)
    x1, y1 = min(g.x + g.scaled_width, W), min(g.y + g.scaled_height, H)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the picture {g} does not overlap its {W}x{H} output")
    crop = (x0 - g.x, y0 - g.y, x1 - x0, y1 - y0)
    direct = turns == 0 and crop == (0, 0, g.scaled_width, g.scaled_height)
    return FramePlan(
        scale_size=(sw, sh),
        quarter_turns=turns,
        out_size=(W, H),
        direct=direct,
        fit_rect=(g.x, g.y, g.scaled_width, g.scaled_height) if direct else (0, 0, sw, sh),
        crop=crop,
        paste=(x0, y0),
    )


# ------------------------------------------------------------------ decoding


def pts_matches(got: int | float | None, expected_pts: int, time_base: Fraction) -> bool:
    """Whether a decoded frame's timestamp is the expected one.

    PyNvVideoCodec reports the container's pts in the stream time base; some
    releases rescale it to milliseconds, which is accepted to within 1 ms.
    """
    if got is None:
        return False
    if int(got) == expected_pts:
        return True
    millis = expected_pts * time_base * 1000
    return abs(Fraction(int(got)) - millis) <= 1
