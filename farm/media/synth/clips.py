"""The encoder of synthetic clips: :func:`write_clip` paints a pattern and encodes it with PyAV.

Geometry conventions (all checked by ``tests/test_synth.py``):

* ``width`` x ``height`` is the **stored** (coded) frame size, as a probe reports it.
* ``rotation`` is the clockwise angle a player turns the stored picture to show it,
  the angle FFmpeg's command line calls ``theta`` (``get_rotation`` in fftools,
  the negated ``av_display_rotation_get``): ``rotation=90`` writes a display matrix
  that PyAV reads back as ``VideoFrame.rotation == -90`` and for which
  ``ffmpeg``'s autorotate inserts ``transpose=clock``. This is the old ``rotate=90``
  tag of a phone held upright. The stored pixels are therefore the upright picture
  turned 90 degrees counter-clockwise. 180 → ``hflip,vflip``; 270 → ``transpose=cclock``.
* ``sample_aspect`` ``s`` makes a stored ``W x H`` frame display as ``round(W*s) x H``
  (before rotation). The picture is drawn at that display size and squeezed into
  ``W`` columns, so it looks right once the player stretches it back.
* ``color_cast`` multiplies the whole picture, code blocks included: it models a
  camera with a colour bias, and the calibration blocks exist precisely so that
  :func:`~farm.media.synth.codes.read_code` does not care.

Colour: frames are converted RGB → Y'CbCr (limited range) by swscale with the
matrix named by ``colorspace`` and the stream is tagged to match. An untagged clip
(``colorspace=None``) is converted with BT.709 when ``height >= 720`` and with
BT.601 otherwise, the guess :func:`~farm.media.synth.codes.frame_rgb` (and most
players) make for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from farm.media.synth.codes import MAX_CODED_FRAMES, SOURCE_BITS, CodedPainter
from farm.media.synth.footage import CityPainter
from farm.media.synth.tones import ToneWriter

if TYPE_CHECKING:
    import av

_CODECS = {"h264": "libx264", "hevc": "libx265", "mpeg4": "mpeg4"}
_CONTAINERS = {".mp4": "mp4", ".mov": "mov"}
# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic values
_COLOUR_TAGS = {"bt709": (1, 1, 1), "bt601": (6, 6, 6)}
_SWS_COLORSPACE = {"bt709": "itu709", "bt601": "itu601"}
_TV_RANGE = 1  # AVCOL_RANGE_MPEG


def write_clip(
    path: str | Path,
    *,
    width: int,
    height: int,
    rate: Fraction | int,
    frames: int,
    pattern: str = "coded",
    source_id: int = 0,
    codec: str = "h264",
    crf: int = 18,
    preset: str = "ultrafast",
    gop: int | None = None,
    rotation: int = 0,
    sample_aspect: Fraction | None = None,
    colorspace: str | None = "bt709",
    color_cast: tuple[float, float, float] = (1.0, 1.0, 1.0),
    noise: float = 0.0,
    audio_tone_hz: float | None = None,
    audio_rate: int = 48000,
    timestamps: list[Fraction] | None = None,
) -> None:
    """Render and encode a synthetic clip (see the module docstring for conventions).

    Video is 8-bit yuv420p; ``gop`` (keyframe interval) defaults to two seconds of
    frames; B-frames are whatever the x264/x265 preset uses. ``crf`` maps to a fixed
    quantiser ``clamp(round(crf / 6), 2, 31)`` for ``mpeg4``, which has no CRF.
    ``timestamps`` (seconds, strictly increasing, one per frame) makes the clip
    variable-frame-rate with exactly those presentation times; the last frame then
    lasts ``1 / rate``. ``audio_tone_hz`` adds an AAC stereo stream: a sine of
    amplitude 0.3 at ``audio_rate`` covering the whole video duration.
    ``noise`` is film grain for ``"city"`` only; the coded pattern stays clean.
    """
    import av

    spec = _ClipSpec(
        path=Path(path),
        width=width,
        height=height,
        rate=Fraction(rate),
        frames=frames,
        pattern=pattern,
        source_id=source_id,
        codec=codec,
        crf=crf,
        preset=preset,
        gop=gop,
        rotation=rotation,
        sample_aspect=None if sample_aspect is None else Fraction(sample_aspect),
        colorspace=colorspace,
        color_cast=color_cast,
        noise=noise,
        audio_tone_hz=audio_tone_hz,
        audio_rate=audio_rate,
        timestamps=None if timestamps is None else tuple(timestamps),
    )
    geometry = _Geometry.of(width, height, rotation, spec.sample_aspect)
    painter: CodedPainter | CityPainter
    if pattern == "coded":
        painter = CodedPainter(geometry.display_size, source_id, color_cast)
    else:
        painter = CityPainter(geometry.display_size, source_id, color_cast, noise)
    sws_matrix = _SWS_COLORSPACE[spec.matrix]
    time_base, frame_pts = _frame_times(spec)
    duration = frame_pts[-1] * time_base + 1 / spec.rate

    with av.open(str(spec.path), "w", format=_CONTAINERS[spec.path.suffix.lower()]) as container:
        video = container.add_stream(_CODECS[codec], rate=spec.rate)
        _configure_video(video, spec, time_base)
        tone = None
        if audio_tone_hz is not None:
            tone = ToneWriter(container, audio_tone_hz, audio_rate)
        for index, pts in enumerate(frame_pts):
            rgb = geometry.to_stored(painter.paint(index))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p",
                src_colorspace=sws_matrix,
                dst_colorspace=sws_matrix,
                src_color_range="JPEG",
                dst_color_range="MPEG",
            )
            frame.pts = pts
            frame.time_base = time_base
            container.mux(video.encode(frame))
            if tone is not None:
                # keep the streams interleaved in time rather than buffering one
                next_time = frame_pts[index + 1] * time_base if index + 1 < frames else duration
                tone.write_until(next_time)
        container.mux(video.encode(None))
        if tone is not None:
            tone.write_until(duration)
            tone.flush()


# --------------------------------------------------------------------------- #
# Geometry: display picture → stored pixels
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Geometry:
    width: int  # stored (coded) width
    height: int  # stored (coded) height
    rotation: int  # clockwise degrees a player turns the stored picture
    stretched_width: int  # round(width * SAR): stored width as displayed, before rotation

    @classmethod
    def of(cls, width: int, height: int, rotation: int, sar: Fraction | None) -> _Geometry:
        stretched = width if sar is None else max(1, round(width * Fraction(sar)))
        return cls(width, height, rotation % 360, stretched)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) of the upright picture a player shows."""
        if self.rotation in (90, 270):
            return self.height, self.stretched_width
        return self.stretched_width, self.height

    def to_stored(self, display: np.ndarray) -> np.ndarray:
        """Counter-rotate and horizontally squeeze a display picture into stored pixels.

        Costs nothing for an upright square-pixel clip; otherwise one frame copy.
        """
        stored = np.rot90(display, k=self.rotation // 90)  # counter-clockwise
        if self.stretched_width != self.width:
            # nearest neighbour: each stored column takes the display column under its centre
            cols = ((np.arange(self.width) + 0.5) * self.stretched_width / self.width).astype(np.intp)
            stored = stored[:, cols]
        return np.ascontiguousarray(stored)


# --------------------------------------------------------------------------- #
# Encoding
# --------------------------------------------------------------------------- #
def _frame_times(spec: _ClipSpec) -> tuple[Fraction, list[int]]:
    """Stream time base and integer pts per frame, exact for CFR and for VFR."""
    if spec.timestamps is None:
        return 1 / spec.rate, list(range(spec.frames))
    denominator = math.lcm(*(Fraction(t).denominator for t in spec.timestamps))
    if denominator > 2**31 - 1:
        raise ValueError(f"timestamps need a time base of 1/{denominator}, beyond a 32-bit timescale")
    return Fraction(1, denominator), [int(t * denominator) for t in spec.timestamps]


def _configure_video(stream: av.VideoStream, spec: _ClipSpec, time_base: Fraction) -> None:
    context = stream.codec_context
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
    stream.time_base = time_base
    context.time_base = time_base
    context.framerate = spec.rate
    context.gop_size = spec.gop if spec.gop is not None else max(1, round(2 * spec.rate))
    if spec.codec == "mpeg4":
        quantiser = min(31, max(2, round(spec.crf / 6)))
        context.options = {"flags": "+qscale", "global_quality": str(quantiser * 118)}  # FF_QP2LAMBDA
    elif spec.codec == "hevc":
        context.options = {"crf": str(spec.crf), "preset": spec.preset, "x265-params": "log-level=error"}
    else:
        context.options = {"crf": str(spec.crf), "preset": spec.preset}
    if spec.sample_aspect is not None:
        context.sample_aspect_ratio = spec.sample_aspect
    if spec.colorspace is not None:
        context.colorspace, context.color_primaries, context.color_trc = _COLOUR_TAGS[spec.colorspace]
        context.color_range = _TV_RANGE
    if spec.rotation:
        # PyAV (like av_display_rotation_set) takes counter-clockwise degrees;
        # our rotation is the clockwise turn a player applies
        stream.set_display_rotation(-((spec.rotation + 180) % 360 - 180))


# --------------------------------------------------------------------------- #
# Arguments, checked at the edge with the bad value and the allowed ones
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _ClipSpec:
    """What write_clip was asked for (see its signature), checked once."""

    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int
    pattern: str
    source_id: int
    codec: str
    crf: int
    preset: str
    gop: int | None
    rotation: int
    sample_aspect: Fraction | None
    colorspace: str | None
    color_cast: tuple[float, float, float]
    noise: float
    audio_tone_hz: float | None
    audio_rate: int
    timestamps: tuple[Fraction, ...] | None

    @property
    def matrix(self) -> str:
        """The RGB → Y'CbCr matrix used: the tagged one, or the untagged-size guess."""
        return self.colorspace or ("bt709" if self.height >= 720 else "bt601")

    def __post_init__(self) -> None:
        suffixes = sorted(_CONTAINERS)
        self._require(
            self.path.suffix.lower() in _CONTAINERS, f"path {self.path}: suffix must be one of {suffixes}"
        )
        self._require(
            self.width > 0 and self.height > 0 and self.width % 2 == 0 and self.height % 2 == 0,
            f"size {self.width}x{self.height}: yuv420p needs positive even width and height",
        )
        self._require(self.rate > 0, f"rate {self.rate} must be positive")
        self._require(self.frames >= 1, f"frames {self.frames} must be at least 1")
        self._require(
            self.pattern in ("coded", "city"), f"pattern {self.pattern!r} must be 'coded' or 'city'"
        )
        self._require(0 <= self.source_id < 1 << SOURCE_BITS, f"source_id {self.source_id} must be in 0..15")
        self._require(
            self.pattern != "coded" or self.frames <= MAX_CODED_FRAMES,
            f"frames {self.frames}: the coded pattern numbers at most {MAX_CODED_FRAMES} frames",
        )
        self._require(self.codec in _CODECS, f"codec {self.codec!r} must be one of {sorted(_CODECS)}")
        self._require(self.gop is None or self.gop >= 1, f"gop {self.gop} must be at least 1")
        self._require(
            self.rotation in (0, 90, 180, 270), f"rotation {self.rotation} must be 0, 90, 180 or 270"
        )
        self._require(
            self.sample_aspect is None or self.sample_aspect > 0,
            f"sample_aspect {self.sample_aspect} must be positive",
        )
        self._require(
            self.colorspace is None or self.colorspace in _COLOUR_TAGS,
            f"colorspace {self.colorspace!r} must be 'bt709', 'bt601' or None",
        )
        self._require(
            len(self.color_cast) == 3 and all(gain >= 0 for gain in self.color_cast),
            f"color_cast {self.color_cast} must be three non-negative gains",
        )
        self._require(0.0 <= self.noise <= 1.0, f"noise {self.noise} must be in 0..1")
        self._require(
            self.audio_tone_hz is None or 0 < self.audio_tone_hz < self.audio_rate / 2,
            f"audio_tone_hz {self.audio_tone_hz} must be between 0 and half of audio_rate {self.audio_rate}",
        )
        if self.timestamps is not None:
            times = self.timestamps
            self._require(len(times) == self.frames, f"{len(times)} timestamps for {self.frames} frames")
            self._require(
                all(isinstance(t, (Fraction, int)) for t in times),
                "timestamps must be exact (Fraction or int seconds), not floats",
            )
            self._require(
                times[0] >= 0 and all(a < b for a, b in zip(times, times[1:], strict=False)),
                "timestamps must be non-negative and strictly increasing",
            )

    @staticmethod
    def _require(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(message)
