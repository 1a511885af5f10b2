"""The units of work, described completely and small enough to ship to a worker.

* :class:`SegmentJob`: one segment of video. Every backend turns it into one
  encoded segment; it carries no variant position, so identical segments of
  different variants are one job.
* :class:`AudioJob`: one variant's audio timeline, mixed and encoded once.
* :class:`LookJob`: one source's look, analysed and baked into a ``.cube``.

Geometry and colour decisions are made here, once, as pure functions, so the
CPU and GPU backends cannot disagree about them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from farm.edit.colour_table import OUTPUT_TRANSFERS
from farm.edit.project import CODECS, FITS, LOOK_METHODS, MOV_CODECS
from farm.planning.frameruns import FrameRuns

#: the audio timeline's rate: output sample ``m`` is taken at ``m / AUDIO_SAMPLE_RATE`` seconds
AUDIO_SAMPLE_RATE = 48000


def _even(x: Fraction | float) -> int:
    """Nearest even integer >= 2 (4:2:0 needs even sizes)."""
    return max(2, int(round(float(x) / 2)) * 2)


@dataclass(frozen=True)
class Geometry:
    """Where a source picture lands in the output frame."""

    rotation: int  # counter-clockwise degrees the stored picture is turned for display
    scaled_width: int  # width of the (display-oriented) picture after scaling
    scaled_height: int  # its height after scaling
    x: int  # left edge of the scaled picture in the output; negative when cropped (fill)
    y: int  # top edge of the scaled picture in the output; negative when cropped (fill)
    out_width: int  # the output frame's width
    out_height: int  # the output frame's height

    def __post_init__(self) -> None:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, not {self.rotation}")
        if min(self.scaled_width, self.scaled_height, self.out_width, self.out_height) <= 0:
            raise ValueError(
                f"sizes must be positive: scaled {self.scaled_width}x{self.scaled_height}, "
                f"output {self.out_width}x{self.out_height}"
            )

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

    codec: str  # one of farm.edit.project.CODECS
    quality: int  # crf, 0..51
    preset: str  # x264/x265 preset name
    width: int  # output width, even
    height: int  # output height, even
    fps: Fraction  # output frame rate, exact
    gop: int  # keyframe interval in frames; every segment also starts with an IDR
    family: str = "cpu"  # encoder family; segments of one output never mix families
    bit_depth: int = 8  # 8 | 10 (hevc Main10; the mezzanines are always 10)
    transfer: str = "sdr"  # sdr (BT.709) | pq | hlg (both BT.2020)
    #: pq: the mastering display's peak, MaxCLL and MaxFALL in cd/m² (written as HEVC SEI)
    peak_nits: float = 1000.0
    max_cll: int = 0
    max_fall: int = 0

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, not {self.codec!r}")
        if self.bit_depth != (10 if self.codec in MOV_CODECS else self.bit_depth) or self.bit_depth not in (
            8,
            10,
        ):
            raise ValueError(f"{self.codec} cannot be written at {self.bit_depth} bits")
        if self.codec == "h264" and self.bit_depth != 8:
            raise ValueError(f"{self.codec} cannot be written at {self.bit_depth} bits")
        if self.transfer not in OUTPUT_TRANSFERS:
            raise ValueError(f"transfer must be one of {OUTPUT_TRANSFERS}, not {self.transfer!r}")
        if self.transfer != "sdr" and self.bit_depth != 10:
            raise ValueError(f"a {self.transfer} output is 10-bit, not {self.bit_depth}")
        if not 0 <= self.quality <= 51:
            raise ValueError(f"quality (crf) must be in 0..51, not {self.quality}")
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(f"4:2:0 output needs a positive even size, not {self.width}x{self.height}")
        if self.fps <= 0 or self.gop < 1:
            raise ValueError(f"fps must be positive and gop at least 1, not {self.fps} and {self.gop}")

    @property
    def pix_fmt(self) -> str:
        """The encoder's pictures: 4:2:0, 8 or 10 bits; 4:2:2 (ProRes 422 HQ, DNxHR HQX); 4:4:4 (4444)."""
        if self.codec in ("prores", "dnxhr"):
            return "yuv422p10le"
        if self.codec == "prores4444":
            return "yuv444p10le"
        return "yuv420p10le" if self.bit_depth == 10 else "yuv420p"

    @property
    def container(self) -> str:
        """The container segments and outputs are written in (MP4 cannot hold ProRes or DNxHR)."""
        return "mov" if self.codec in MOV_CODECS else "mp4"

    @property
    def matrix(self) -> str:
        """The Y'CbCr matrix (libswscale's name): BT.2020 non-constant luminance for HDR, else BT.709."""
        return "bt709" if self.transfer == "sdr" else "bt2020"


_MATRICES = ("bt709", "bt601", "bt2020")
_RANGES = ("tv", "pc")


@dataclass(frozen=True)
class SourceRef:
    """The source a segment decodes from."""

    path: str  # the source file
    identity: str  # content identity from the probe (part of the key)
    time_base: Fraction  # of the video stream; ``SegmentJob.frame_pts`` count in it
    colorspace: str  # matrix to decode with: bt709 | bt601 | bt2020
    color_range: str  # tv | pc
    width: int  # stored (coded) size, before SAR and rotation
    height: int
    sar: Fraction  # sample aspect ratio (1 when square or unknown)
    alpha: bool = False  # pixels carry alpha: on the only layer, composited over black
    sequence_start: int = -1  # >= 0: ``path`` is an image sequence's pattern starting at this number
    # what a backend must handle or refuse (the probe's description)
    codec: str = ""  # the decoder's name (h264, hevc, prores, ...)
    bit_depth: int = 8  # bits per component as decoded
    chroma: str = "4:2:0"  # 4:2:0 | 4:2:2 | 4:4:4 | ...
    chroma_location: str = ""  # 4:2:0 siting the scaler is told (left, topleft, ...); "": its default
    field_order: str = "progressive"  # progressive | tff | bff: interlaced sources are deinterlaced first
    mirrored: bool = False  # flipped horizontally for display, after the rotation

    def __post_init__(self) -> None:
        if self.colorspace not in _MATRICES or self.color_range not in _RANGES:
            raise ValueError(
                f"colour must be one of {_MATRICES} in one of {_RANGES}, "
                f"not {self.colorspace!r} in {self.color_range!r}"
            )
        if self.width <= 0 or self.height <= 0 or self.sar <= 0 or self.time_base <= 0:
            raise ValueError(
                f"size {self.width}x{self.height}, sar {self.sar} and time base {self.time_base} "
                "must be positive"
            )


#: how a layer's weight is applied: everywhere, or as the edge of a SMPTE wipe (the layer shows
#: on the side the wipe has passed; ``-inv`` on the side it has not reached); the wipes by SMPTE
#: code, their exact masks in ``farm/backends/wipes.py``
WIPE_MASKS = ("wipe-left", "wipe-top") + tuple(
    f"wipe-{c:03d}" for c in (3, 4, 5, 6, 7, 8, 21, 22, 23, 24, 25, 26)
)
MASKS = ("", *WIPE_MASKS, *(m + "-inv" for m in WIPE_MASKS))


@dataclass(frozen=True)
class Layer:
    """One layer of a composited segment: a source (or a fill) and its weight in every output frame."""

    source: SourceRef | None  # None: a fill (``fill``)
    fill: str  # black | bars | colour:rrggbb, for a layer without a source
    geometry: Geometry | None  # where the source picture lands; None exactly when ``source`` is None
    lut_path: str | None  # baked .cube (None: no look)
    lut_hash: str | None
    frames: FrameRuns  # source frame per output frame (one direction); empty for a fill
    frame_pts: tuple[int, ...]  # timestamp of each distinct source frame, ascending
    #: weight per output frame in [0, 1]: opacity, or a wipe's position when ``mask`` is set
    weights: tuple[Fraction, ...]
    mask: str = ""

    def __post_init__(self) -> None:
        _compact(self)
        if (self.source is None) != (self.geometry is None):
            raise ValueError("a source layer has a geometry and a fill has none")
        if self.mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, not {self.mask!r}")
        if any(not 0 <= w <= 1 for w in self.weights):
            raise ValueError("layer weights lie in [0, 1]")
        if self.source is not None:
            if len(self.frames) != len(self.weights):
                raise ValueError("one source frame per output frame")
            monotonic = self.frames.direction() is not None
            distinct = self.frames.distinct() if monotonic else len(set(self.frames))
            if len(self.frame_pts) != distinct:
                raise ValueError("one timestamp per distinct source frame")


def _compact(unit: Layer | SegmentJob) -> None:
    """Hold ``frames`` as :class:`FrameRuns` (callers may give any int sequence)."""
    given: object = unit.frames
    if type(given) is not FrameRuns:
        object.__setattr__(unit, "frames", FrameRuns(given))  # type: ignore[arg-type]


@dataclass(frozen=True)
class SegmentJob:
    """One segment: ``len(frames)`` output frames from one source (or a generated fill)."""

    key: str  # content key; the cache file name
    #: source frame shown by each output frame, in output order: non-decreasing, or non-increasing
    #: for a clip played backwards (``reversed``); empty for a fill.  Held as run-length ranges
    #: (any int sequence given is converted); iterate or index it for the per-frame values
    frames: FrameRuns
    #: presentation time (source time_base) of each distinct frame in ``frames``, ascending: a
    #: tuple, or a view of the source's (``farm.planning.pts.PtsView``, equal to its tuple and
    #: pickled as it)
    frame_pts: Sequence[int]
    count: int  # output frames (> 0)
    source: SourceRef | None  # None: a black (gap) segment
    geometry: Geometry | None  # where the source picture lands; None exactly when ``source`` is None
    lut_path: str | None  # baked .cube applied after scaling (None: no look)
    lut_hash: str | None  # content hash of that .cube (part of the key); None exactly when no look
    encode: EncodeSpec  # how the segment is encoded
    label: str = ""  # for messages: the first variant/clip that asked for it; not in the key
    #: what a segment without a source shows: black | bars | colour:rrggbb (generators.Fill.token)
    fill: str = "black"
    #: a composited segment: its layers, bottom to top, over black (``source`` is then None)
    layers: tuple[Layer, ...] = ()

    def __post_init__(self) -> None:
        _compact(self)
        if self.count <= 0:
            raise ValueError("a segment has at least one frame")
        if (self.source is None) != (self.geometry is None):
            raise ValueError("a source segment has a geometry and a black one has none")
        if (self.lut_path is None) != (self.lut_hash is None):
            raise ValueError("a look has both a .cube path and its hash, or neither")
        if self.layers and (
            self.source is not None or any(len(x.weights) != self.count for x in self.layers)
        ):
            raise ValueError("a composited segment has no source of its own and a weight per frame per layer")
        if self.source is not None:  # checked on the runs: O(runs), not O(frames)
            if len(self.frames) != self.count:
                raise ValueError("one source frame per output frame")
            if self.frames.direction() is None:
                raise ValueError("source frames run one way within a segment (forwards or backwards)")
            if len(self.frame_pts) != self.frames.distinct():
                raise ValueError("one timestamp per distinct source frame")

    @property
    def reversed(self) -> bool:
        """Whether the source frames run backwards (a clip played in reverse)."""
        return len(self.frames) > 1 and self.frames[-1] < self.frames[0]

    @property
    def source_range(self) -> tuple[int, int]:
        """Half-open range of source frames this segment reads."""
        if not self.frames:
            return (0, 0)
        low, high = self.frames.bounds()
        return (low, high + 1)


@dataclass(frozen=True)
class AudioClip:
    """One clip of a variant's audio timeline (its source's audio, or silence)."""

    path: str  # the source file
    identity: str  # the source's content identity from the probe (part of the key)
    has_audio: bool  # False: the source has no audio stream and the clip is silence
    start: Fraction  # timeline seconds where the clip starts (>= 0)
    duration: Fraction  # timeline seconds the clip lasts (> 0); it covers [start, start + duration)
    source_in: Fraction  # seconds from the source's first video frame (>= 0)
    origin: Fraction  # container time of the source's first video frame (A/V sync reference)
    fade_in: Fraction = Fraction(0)  # seconds the gain rises linearly from 0 to 1 at the start
    fade_out: Fraction = Fraction(0)  # seconds the gain falls linearly from 1 to 0 at the end
    speed: Fraction = Fraction(1)  # source seconds per timeline second (negative: backwards)
    gain: float = 1.0  # the clip's level (linear)

    def __post_init__(self) -> None:
        # signs from the numerators: a Fraction's (or an int's) sign is its numerator's
        if self.duration.numerator <= 0:
            raise ValueError(f"an audio clip lasts more than 0 s, not {self.duration}")
        if self.start.numerator < 0 or self.source_in.numerator < 0:
            raise ValueError(
                f"an audio clip starts at or after 0 s (start {self.start}, in {self.source_in})"
            )

    @property
    def end(self) -> Fraction:
        """Timeline seconds where the clip ends (exclusive)."""
        return self.start + self.duration


def _before(t: Fraction, start: Fraction, duration: Fraction) -> bool:
    """``t < start + duration`` in integers (no Fraction built: this runs for every clip pair)."""
    a, b = start.as_integer_ratio()
    c, d = duration.as_integer_ratio()
    p, q = t.as_integer_ratio()
    return p * b * d < (a * d + c * b) * q


@dataclass(frozen=True)
class AudioJob:
    """One variant's audio: its tracks summed, as long as its video, at 48 kHz."""

    key: str  # content key; the cached .m4a's name
    #: the tracks that are summed; each track's clips in timeline order, never overlapping
    tracks: tuple[tuple[AudioClip, ...], ...]
    duration: Fraction  # the variant's video duration (frames / rate, > 0); the audio is as long

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError(f"a variant's audio lasts more than 0 s, not {self.duration}")
        for track in self.tracks:
            if any(_before(b.start, a.start, a.duration) for a, b in zip(track, track[1:], strict=False)):
                raise ValueError("the clips of an audio track must be in order and must not overlap")

    @property
    def samples(self) -> int:
        """Samples of audio the variant gets: ``ceil(duration * 48000)``."""
        return math.ceil(self.duration * AUDIO_SAMPLE_RATE)


@dataclass(frozen=True)
class LookJob:
    """Bake one source's look (match to a reference, then a creative LUT) into ``cube_path``."""

    key: str  # content key of everything that decides the LUT; the .cube's name
    source: str | None  # the source clip to match (None: only normalise the creative LUT)
    reference: str | None  # the clip or still to match to; set exactly when ``source`` is
    method: str  # mkl | reinhard | histogram (used only with a reference)
    strength: float  # 0 keeps the source, 1 matches fully (used only with a reference)
    creative: str | None  # creative .cube applied after the match
    cube_path: str  # where the baked LUT goes (in the cache)
    #: the colour chain's input transforms as JSON (farm.look.chain), "" when both are the identity
    colour: str = ""
    #: an OpenColorIO look after the creative LUT, as JSON ``{"config": ..., "look": ...}``; "" for none
    ocio_look: str = ""

    def __post_init__(self) -> None:
        if (self.source is None) != (self.reference is None):
            raise ValueError("a look matches a source to a reference: give both or neither")
        if self.source is None and self.creative is None and not self.colour and not self.ocio_look:
            raise ValueError("a look needs a reference to match, a creative LUT or an input transform")
        if self.method not in LOOK_METHODS:
            raise ValueError(f"look method must be one of {LOOK_METHODS}, not {self.method!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"look strength must be in [0, 1], not {self.strength}")
