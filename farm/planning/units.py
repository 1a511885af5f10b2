"""The unit of work: one segment, described completely and small enough to ship.

Every backend turns a :class:`SegmentJob` into one encoded segment; the job
carries no variant position, so identical segments of different variants are
one job.  Geometry and colour decisions are made here, once, as pure functions,
so the CPU and GPU backends cannot disagree about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from farm.edit.project import FITS


def _even(x: Fraction | float) -> int:
    """Nearest even integer >= 2 (4:2:0 needs even sizes)."""
    return max(2, int(round(float(x) / 2)) * 2)


@dataclass(frozen=True)
class Geometry:
    """Where a source picture lands in the output frame."""

    rotation: int  # counter-clockwise degrees the stored picture is turned for display
    scaled_width: int  # size of the (display-oriented) picture after scaling
    scaled_height: int
    x: int  # top-left of the scaled picture in the output; negative when cropped (fill)
    y: int
    out_width: int
    out_height: int

    def __post_init__(self) -> None:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, not {self.rotation}")

    @property
    def stored_scaled_size(self) -> tuple[int, int]:
        """The scale target in the source's stored orientation (before rotating)."""
        if self.rotation in (90, 270):
            return self.scaled_height, self.scaled_width
        return self.scaled_width, self.scaled_height


def fit_geometry(
    display_width: Fraction,
    display_height: Fraction,
    rotation: int,
    out_width: int,
    out_height: int,
    fit: str,
) -> Geometry:
    """Place a picture of the given display size (SAR and rotation applied) in the output.

    ``fit`` letter/pillarboxes, ``fill`` covers and crops the centre, ``stretch``
    ignores the aspect ratio.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    if fit == "stretch":
        return Geometry(rotation, out_width, out_height, 0, 0, out_width, out_height)
    sx = Fraction(out_width) / display_width
    sy = Fraction(out_height) / display_height
    s = min(sx, sy) if fit == "fit" else max(sx, sy)
    w = _even(display_width * s)
    h = _even(display_height * s)
    if fit == "fit":
        w, h = min(w, out_width), min(h, out_height)
    else:
        w, h = max(w, out_width), max(h, out_height)
    # even offsets keep 4:2:0 chroma aligned with the picture edge
    x = ((out_width - w) // 2) & ~1 if out_width >= w else -(((w - out_width) // 2) & ~1)
    y = ((out_height - h) // 2) & ~1 if out_height >= h else -(((h - out_height) // 2) & ~1)
    return Geometry(rotation, w, h, x, y, out_width, out_height)


@dataclass(frozen=True)
class EncodeSpec:
    """How segments are encoded; equal for every segment of one output."""

    codec: str  # h264 | hevc
    quality: int  # crf
    preset: str  # x264/x265 preset name
    width: int
    height: int
    fps: Fraction
    gop: int  # keyframe interval in frames; every segment also starts with an IDR
    family: str = "cpu"  # encoder family; segments of one output never mix families


@dataclass(frozen=True)
class SourceRef:
    """The source a segment decodes from."""

    path: str
    identity: str  # content identity from the probe (part of the key)
    time_base: Fraction
    colorspace: str  # matrix to decode with: bt709 | bt601 | bt2020
    color_range: str  # tv | pc
    width: int
    height: int
    sar: Fraction


@dataclass(frozen=True)
class SegmentJob:
    """One segment: ``len(frames)`` output frames from one source (or black)."""

    key: str  # content key; the cache file name
    #: source frame shown by each output frame, in output order (non-decreasing); empty for black
    frames: tuple[int, ...]
    #: presentation time (source time_base) of each distinct frame in ``frames``, ascending
    frame_pts: tuple[int, ...]
    count: int  # output frames
    source: SourceRef | None  # None: a black (gap) segment
    geometry: Geometry | None
    lut_path: str | None  # baked .cube applied after scaling (None: no look)
    lut_hash: str | None
    encode: EncodeSpec
    label: str = ""  # for messages: the first variant/clip that asked for it; not in the key

    def __post_init__(self) -> None:
        if self.count <= 0:
            raise ValueError("a segment has at least one frame")
        if self.source is not None:
            if len(self.frames) != self.count:
                raise ValueError("one source frame per output frame")
            if any(b < a for a, b in zip(self.frames, self.frames[1:])):
                raise ValueError("source frames must not go backwards within a segment")
            if len(self.frame_pts) != len(set(self.frames)):
                raise ValueError("one timestamp per distinct source frame")

    @property
    def source_range(self) -> tuple[int, int]:
        """Half-open range of source frames this segment reads."""
        return (self.frames[0], self.frames[-1] + 1) if self.frames else (0, 0)
