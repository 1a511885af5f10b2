"""Synthetic media: real encoded clips whose frames say which frame they are.

Tests, the demo and the benchmarks need footage with known content and no files
checked in. :func:`write_clip` renders one of two pictures and encodes it with
PyAV into an ``.mp4`` or ``.mov``:

``"coded"``
    A mid-grey picture with a grid of large black/white blocks in its centre that
    spell the source id and the frame number (see "The code" below).
    :func:`read_code` reads them back from any rendered frame: after scaling,
    letterboxing, centre crops, colour casts, LUTs and lossy re-encoding. A frame
    rendered in the wrong orientation is refused (``ValueError``), never read as
    the right frame.
``"city"``
    A procedural dusk/night skyline with lit windows and moving cars, seeded by
    the source id, for the demo and for benchmarks that want natural-ish content.
    Static layers are drawn once; a frame is one copy of a precomputed plate plus
    a few small rectangles. Measured on a 2-core CI machine, pinned to one core,
    at 3840x2160: 3-5 ms a frame to paint (200-260 frames/s), plus 0.1 s of
    set-up (1.1 s with ``noise > 0``, which draws three grain plates). The
    RGB → yuv420p conversion (swscale) then costs more than painting (25-50 ms)
    and x264 ``ultrafast`` most of all: 48 frames of 4K city take about 5 s to
    write on 2 cores.

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
  :func:`read_code` does not care.

Colour: frames are converted RGB → Y'CbCr (limited range) by swscale with the
matrix named by ``colorspace`` and the stream is tagged to match. An untagged clip
(``colorspace=None``) is converted with BT.709 when ``height >= 720`` and with
BT.601 otherwise, the guess :func:`frame_rgb` (and most players) make for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av

__all__ = ["write_clip", "read_code", "frame_rgb", "tone_frequency"]

# --------------------------------------------------------------------------- #
# The code
#
# A 4 x 6 grid of cells fills the display-normalised rectangle
# x in [0.375, 0.625), y in [0.2, 0.8): the central quarter of the width, so that a
# centre crop of a 16:9 picture to 9:16 (which keeps the central 31.6%) keeps every
# cell. Cells are numbered row-major from the top-left, each white (1) or black (0):
#
#   0       white calibration          (top-left)
#   1       black calibration
#   2..5    source id, 4 bits, most significant first
#   6..19   frame number, 14 bits, most significant first (0..16383)
#   20..22  check: ((source_id << 14) | frame_number) % 7, 3 bits
#   23      black guard                (bottom-right)
#
# The white calibration cell and the black guard sit at opposite corners, so a
# picture turned by 180 degrees puts black where the reader expects white and is
# refused; turned by 90 degrees, the reader's calibration points fall on the grey
# background and it is refused too.
# --------------------------------------------------------------------------- #
_GRID_LEFT, _GRID_RIGHT = 0.375, 0.625
_GRID_TOP, _GRID_BOTTOM = 0.2, 0.8
_GRID_COLS, _GRID_ROWS = 4, 6
_SOURCE_BITS = 4
_FRAME_BITS = 14
_CHECK_BITS = 3
_WHITE_CELL, _BLACK_CELL, _GUARD_CELL = 0, 1, _GRID_COLS * _GRID_ROWS - 1
_FIRST_SOURCE_CELL = 2
_FIRST_FRAME_CELL = _FIRST_SOURCE_CELL + _SOURCE_BITS
_FIRST_CHECK_CELL = _FIRST_FRAME_CELL + _FRAME_BITS
MAX_CODED_FRAMES = 1 << _FRAME_BITS

#: a pixel whose brightest channel is at or below this is "black" (letterbox bars)
_BLACK_LEVEL = 40
#: calibration blocks closer than this (in 0..255) mean "not a coded picture here"
_MIN_CONTRAST = 48.0
#: a data cell must lie this far (as a fraction of white-black) from the midpoint
_DECISION_MARGIN = 0.2

_CODECS = {"h264": "libx264", "hevc": "libx265", "mpeg4": "mpeg4"}
_CONTAINERS = {".mp4": "mp4", ".mov": "mov"}
# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic values
_COLOUR_TAGS = {"bt709": (1, 1, 1), "bt601": (6, 6, 6)}
_SWS_COLORSPACE = {"bt709": "itu709", "bt601": "itu601"}
_TV_RANGE = 1  # AVCOL_RANGE_MPEG
_TONE_AMPLITUDE = 0.3


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
    painter: _CodedPainter | _CityPainter
    if pattern == "coded":
        painter = _CodedPainter(geometry.display_size, source_id, color_cast)
    else:
        painter = _CityPainter(geometry.display_size, source_id, color_cast, noise)
    sws_matrix = _SWS_COLORSPACE[spec.matrix]
    time_base, frame_pts = _frame_times(spec)
    duration = frame_pts[-1] * time_base + 1 / spec.rate

    with av.open(str(spec.path), "w", format=_CONTAINERS[spec.path.suffix.lower()]) as container:
        video = container.add_stream(_CODECS[codec], rate=spec.rate)
        _configure_video(video, spec, time_base)
        tone = None
        if audio_tone_hz is not None:
            tone = _ToneWriter(container, audio_tone_hz, audio_rate)
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


def read_code(rgb: np.ndarray, rect: tuple[int, int, int, int] | None = None) -> tuple[int, int]:
    """(source_id, frame_number) of a rendered coded frame (H x W x 3 uint8 RGB).

    ``rect = (x0, y0, x1, y1)``, half-open pixel edges: where the full source
    picture (in display orientation) lands in this frame; it may extend outside
    the frame when the render cropped it. ``None``: the bounding box of the
    non-black pixels, which is right for fit (letter/pillarbox) and stretch.

    Each cell is sampled at its centre, averaged over a window a fifth of the cell
    wide, and compared with the midpoint of the two calibration cells, so colour
    casts, LUTs and scaling do not matter. Raises ``ValueError`` when the picture
    cannot be read: no content, calibration contrast too low (not a coded picture,
    wrong ``rect`` or wrong orientation), an ambiguous cell, or a failed check.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"read_code needs an H x W x 3 RGB array, got shape {rgb.shape}")
    x0, y0, x1, y1 = _content_rect(rgb) if rect is None else rect
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"content rectangle {(x0, y0, x1, y1)} is empty")
    cell_w = (x1 - x0) * (_GRID_RIGHT - _GRID_LEFT) / _GRID_COLS
    cell_h = (y1 - y0) * (_GRID_BOTTOM - _GRID_TOP) / _GRID_ROWS
    half = int(0.2 * min(cell_w, cell_h))
    levels = []
    for cell in range(_GRID_COLS * _GRID_ROWS):
        u, v = _cell_centre(cell)
        levels.append(_sample_level(rgb, x0 + u * (x1 - x0), y0 + v * (y1 - y0), half))
    white, black, guard = levels[_WHITE_CELL], levels[_BLACK_CELL], levels[_GUARD_CELL]
    contrast = white - black
    if contrast < _MIN_CONTRAST or white - guard < _MIN_CONTRAST:
        raise ValueError(
            f"calibration contrast too low (white {white:.0f}, black {black:.0f}, guard "
            f"{guard:.0f}): not a coded picture, a wrong rect {(x0, y0, x1, y1)}, or a wrong orientation"
        )
    midpoint = (white + black) / 2
    bits = []
    for cell in range(_FIRST_SOURCE_CELL, _GUARD_CELL):
        if abs(levels[cell] - midpoint) < _DECISION_MARGIN * contrast:
            raise ValueError(
                f"cell {cell} is ambiguous (level {levels[cell]:.0f}, black {black:.0f}, white {white:.0f})"
            )
        bits.append(int(levels[cell] > midpoint))
    source_id = _bits_to_int(bits[:_SOURCE_BITS])
    frame_number = _bits_to_int(bits[_SOURCE_BITS : _SOURCE_BITS + _FRAME_BITS])
    check = _bits_to_int(bits[_SOURCE_BITS + _FRAME_BITS :])
    if check != _check_value(source_id, frame_number):
        raise ValueError(f"check failed for source {source_id} frame {frame_number}")
    return source_id, frame_number


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as H x W x 3 uint8 RGB, converted with its own colour tags.

    PyAV alone would treat an untagged frame as BT.601 at every size; here an
    untagged frame is BT.709 when ``height >= 720`` and BT.601 below, and an
    unspecified range is limited ("tv") range. Other matrices raise ValueError.
    """
    space = frame.colorspace
    if space == 2:  # AVCOL_SPC_UNSPECIFIED
        matrix = "itu709" if frame.height >= 720 else "itu601"
    elif space == 1:
        matrix = "itu709"
    elif space in (5, 6):  # BT.470BG and SMPTE 170M are both the BT.601 matrix
        matrix = "itu601"
    elif space in (9, 10):
        matrix = "bt2020"
    else:
        raise ValueError(f"frame_rgb does not know colourspace {space}")
    src_range = "JPEG" if frame.color_range == 2 else "MPEG"
    return frame.to_ndarray(
        format="rgb24",
        src_colorspace=matrix,
        dst_colorspace=matrix,
        src_color_range=src_range,
        dst_color_range="JPEG",
    )


def tone_frequency(samples: np.ndarray, sample_rate: int) -> float:
    """Dominant frequency (Hz) of a window of mono or multi-channel samples.

    A 2-D array is averaged over its shorter axis (channels, either layout).
    A Hann window, 16x zero padding and a parabola through the log-magnitude peak
    give well under 1 Hz of error for a clean 0.1 s tone.
    """
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=0 if data.shape[0] < data.shape[1] else 1)
    if data.ndim != 1 or data.size < 8:
        raise ValueError(f"need at least 8 samples in a 1-D or 2-D array, got shape {samples.shape}")
    data = (data - data.mean()) * np.hanning(data.size)
    size = 1 << math.ceil(math.log2(data.size * 16))
    spectrum = np.abs(np.fft.rfft(data, size))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    left, centre, right = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
    denominator = left - 2 * centre + right
    offset = 0.5 * (left - right) / denominator if denominator != 0 else 0.0
    return (peak + offset) * sample_rate / size


# --------------------------------------------------------------------------- #
# Reading helpers
# --------------------------------------------------------------------------- #
def _cell_centre(cell: int) -> tuple[float, float]:
    """Centre of a cell in display-normalised coordinates (0..1 across the picture)."""
    row, col = divmod(cell, _GRID_COLS)
    u = _GRID_LEFT + (col + 0.5) * (_GRID_RIGHT - _GRID_LEFT) / _GRID_COLS
    v = _GRID_TOP + (row + 0.5) * (_GRID_BOTTOM - _GRID_TOP) / _GRID_ROWS
    return u, v


def _cell_bits(source_id: int, frame_number: int) -> list[int]:
    """Colour (1 white, 0 black) of every cell, in cell order."""
    bits = [1, 0]
    bits += _int_to_bits(source_id, _SOURCE_BITS)
    bits += _int_to_bits(frame_number, _FRAME_BITS)
    bits += _int_to_bits(_check_value(source_id, frame_number), _CHECK_BITS)
    bits.append(0)
    return bits


def _check_value(source_id: int, frame_number: int) -> int:
    # modulo 7 in 3 bits: the value 7 never occurs, which catches more misreads
    return ((source_id << _FRAME_BITS) | frame_number) % 7


def _int_to_bits(value: int, count: int) -> list[int]:
    return [(value >> shift) & 1 for shift in range(count - 1, -1, -1)]


def _bits_to_int(bits: list[int]) -> int:
    value = 0
    for bit in bits:
        value = (value << 1) | bit
    return value


def _content_rect(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of the picture inside black bars.

    A row (column) belongs to the picture when at least half as many of its pixels
    are non-black as in the fullest row (column): this ignores compression ringing
    in the bars and the black code cells, which cover at most a quarter of a row.
    """
    lit = rgb.max(axis=2) > _BLACK_LEVEL
    rows, cols = lit.sum(axis=1), lit.sum(axis=0)
    if rows.max() == 0:
        raise ValueError("the frame is black: no content rectangle")
    ys = np.flatnonzero(rows >= rows.max() / 2)
    xs = np.flatnonzero(cols >= cols.max() / 2)
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _sample_level(rgb: np.ndarray, x: float, y: float, half: int) -> float:
    """Mean of R, G and B over a (2*half+1)^2 window around the continuous point (x, y)."""
    height, width = rgb.shape[:2]
    col, row = math.floor(x), math.floor(y)
    if not (0 <= col < width and 0 <= row < height):
        raise ValueError(f"code cell at ({x:.1f}, {y:.1f}) lies outside the {width}x{height} frame")
    window = rgb[max(row - half, 0) : row + half + 1, max(col - half, 0) : col + half + 1]
    return float(window.mean())


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


def _cast_colour(rgb: tuple[float, float, float], cast: tuple[float, float, float]) -> np.ndarray:
    return np.clip(np.multiply(rgb, cast), 0, 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- #
# Pictures
# --------------------------------------------------------------------------- #
class _CodedPainter:
    """Grey background with a decorative disc, and the code grid painted per frame."""

    def __init__(
        self, display_size: tuple[int, int], source_id: int, cast: tuple[float, float, float]
    ) -> None:
        width, height = display_size
        self._source_id = source_id
        u = (np.arange(width, dtype=np.float32) + 0.5) / width
        v = (np.arange(height, dtype=np.float32) + 0.5) / height
        # a gentle diagonal ramp (104..152): non-uniform, low contrast, clearly not black
        level = 104 + 48 * (0.6 * u[None, :] + 0.4 * v[:, None])
        # a disc drawn in display pixels, round only when the player applies the SAR
        # (tests measure it); it also tells a human which way is up
        radius = 0.1 * min(width, height)
        cx, cy = 0.15 * width, 0.25 * height
        xs, ys = np.arange(width) + 0.5, np.arange(height) + 0.5
        disc = (xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2 <= radius**2
        level = np.where(disc, 200.0, level)
        gains = np.asarray(cast, dtype=np.float32)
        self._background = np.clip(level[..., None] * gains, 0, 255).round().astype(np.uint8)
        self._colours = (_cast_colour((0, 0, 0), cast), _cast_colour((255, 255, 255), cast))
        self._cells = []
        for cell in range(_GRID_COLS * _GRID_ROWS):
            row, col = divmod(cell, _GRID_COLS)
            left = _GRID_LEFT + col * (_GRID_RIGHT - _GRID_LEFT) / _GRID_COLS
            top = _GRID_TOP + row * (_GRID_BOTTOM - _GRID_TOP) / _GRID_ROWS
            right = left + (_GRID_RIGHT - _GRID_LEFT) / _GRID_COLS
            bottom = top + (_GRID_BOTTOM - _GRID_TOP) / _GRID_ROWS
            self._cells.append(
                (
                    slice(round(top * height), round(bottom * height)),
                    slice(round(left * width), round(right * width)),
                )
            )

    def paint(self, frame_number: int) -> np.ndarray:
        picture = self._background.copy()
        for (rows, cols), bit in zip(self._cells, _cell_bits(self._source_id, frame_number), strict=True):
            picture[rows, cols] = self._colours[bit]
        return picture


class _CityPainter:
    """A skyline at dusk: static plates drawn once, cars and a beacon drawn per frame."""

    _SKIES = (  # (zenith, horizon) RGB: source ids cycle through times of day
        ((18, 24, 62), (238, 140, 84)),
        ((30, 60, 120), (250, 196, 120)),
        ((8, 10, 30), (70, 60, 110)),
        ((60, 110, 180), (200, 220, 235)),
    )

    def __init__(
        self, display_size: tuple[int, int], source_id: int, cast: tuple[float, float, float], noise: float
    ) -> None:
        width, height = display_size
        self._width, self._height = width, height
        self._cast = cast
        rng = np.random.default_rng(0x5EED + source_id)
        plate = np.empty((height, width, 3), dtype=np.uint8)
        self._draw_sky(plate, rng, source_id)
        self._horizon = round(0.86 * height)
        self._draw_buildings(plate, rng, far=True)
        beacon = self._draw_buildings(plate, rng, far=False)
        self._beacon = beacon
        self._draw_road(plate)
        self._cars = self._make_cars(rng)
        self._plates = self._add_grain(plate, rng, noise)

    def paint(self, frame_number: int) -> np.ndarray:
        picture = self._plates[frame_number % len(self._plates)].copy()
        for car in self._cars:
            self._draw_car(picture, car, frame_number)
        if (frame_number // 12) % 2 == 0:  # an aircraft warning light blinking at ~1 Hz
            x, y, size = self._beacon
            picture[y : y + size, x : x + size] = self._colour((255, 40, 30))
        return picture

    def _colour(self, rgb: tuple[float, float, float]) -> np.ndarray:
        return _cast_colour(rgb, self._cast)

    def _draw_sky(self, plate: np.ndarray, rng: np.random.Generator, source_id: int) -> None:
        zenith, horizon = (np.asarray(c, dtype=np.float32) for c in self._SKIES[source_id % len(self._SKIES)])
        zenith = zenith + rng.uniform(-10, 10, 3)
        t = np.linspace(0.0, 1.0, self._height, dtype=np.float32)[:, None] ** 1.6
        sky = zenith * (1 - t) + horizon * t
        sky = np.clip(sky * np.asarray(self._cast, np.float32), 0, 255).round().astype(np.uint8)
        plate[:] = sky[:, None, :]
        # a low sun or moon
        radius = 0.05 * self._height
        cx, cy = rng.uniform(0.1, 0.9) * self._width, rng.uniform(0.25, 0.55) * self._height
        y0, y1 = int(max(cy - radius, 0)), int(min(cy + radius + 1, self._height))
        x0, x1 = int(max(cx - radius, 0)), int(min(cx + radius + 1, self._width))
        ys, xs = np.ogrid[y0:y1, x0:x1]
        disc = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius**2
        plate[y0:y1, x0:x1][disc] = self._colour((255, 236, 200))

    def _draw_buildings(self, plate: np.ndarray, rng: np.random.Generator, far: bool) -> tuple[int, int, int]:
        """Draw one row of buildings; returns (x, y, size) of a beacon on the tallest."""
        width, height, ground = self._width, self._height, self._horizon
        lowest, highest = (0.25, 0.45) if far else (0.15, 0.62)
        tallest = (0, ground, 1)
        x = int(-rng.uniform(0, 0.05) * width)
        while x < width:
            b_width = int(rng.uniform(0.04, 0.10 if far else 0.12) * width) + 2
            top = int(ground - rng.uniform(lowest, highest) * height)
            left, right = max(x, 0), min(x + b_width, width)
            shade = rng.uniform(40, 70) if far else rng.uniform(16, 38)
            tint = (shade * 0.9, shade * 0.95, shade * 1.15) if far else (shade, shade, shade * 1.1)
            plate[top:ground, left:right] = self._colour(tint)
            if not far:
                self._draw_windows(plate[top:ground, left:right], rng, x - left)
                if top < tallest[1]:
                    size = max(2, height // 200)
                    tallest = ((left + right) // 2, max(top - size, 0), size)
            x += b_width + int(rng.uniform(0.0, 0.02) * width)
        return tallest

    def _draw_windows(self, facade: np.ndarray, rng: np.random.Generator, x_offset: int) -> None:
        rows, cols = facade.shape[:2]
        pitch_x = max(4, self._width // 160)
        pitch_y = max(4, self._height // 60)
        margin = pitch_x // 2
        ys, xs = np.ogrid[0:rows, 0:cols]
        xs = xs - x_offset - margin  # window grid anchored to the building, not the frame
        ys = ys - margin
        in_window = (xs >= 0) & (ys >= 0) & (xs % pitch_x < pitch_x * 0.55) & (ys % pitch_y < pitch_y * 0.5)
        lit_table = rng.random((rows // pitch_y + 2, (cols - x_offset) // pitch_x + 2)) < 0.35
        lit = lit_table[np.clip(ys // pitch_y, 0, None), np.clip(xs // pitch_x, 0, None)]
        facade[in_window & lit] = self._colour((255, 210, 120))

    def _draw_road(self, plate: np.ndarray) -> None:
        ground, height, width = self._horizon, self._height, self._width
        plate[ground:] = self._colour((34, 34, 38))
        dash_y = (ground + height) // 2
        dash_h = max(1, height // 200)
        dash = np.zeros(width, dtype=bool)
        dash[(np.arange(width) // max(8, width // 40)) % 2 == 0] = True
        plate[dash_y : dash_y + dash_h, dash] = self._colour((200, 200, 190))

    def _make_cars(self, rng: np.random.Generator) -> list[tuple[float, float, int, int, np.ndarray]]:
        """Each car: (start x, pixels per frame, top y, length, colour)."""
        ground, height, width = self._horizon, self._height, self._width
        lanes = (ground + (height - ground) // 8, (ground + height) // 2 + max(1, height // 100))
        cars = []
        for index in range(6):
            lane = lanes[index % 2]
            speed = rng.uniform(0.004, 0.012) * width * (1 if index % 2 else -1)
            length = int(rng.uniform(0.05, 0.08) * width) + 2
            colour = self._colour(tuple(rng.uniform(60, 240, 3)))
            cars.append((rng.uniform(0, width), speed, lane, length, colour))
        return cars

    def _draw_car(
        self, picture: np.ndarray, car: tuple[float, float, int, int, np.ndarray], frame_number: int
    ) -> None:
        start, speed, top, length, colour = car
        span = self._width + length
        left = int((start + speed * frame_number) % span) - length
        body_h = max(2, (self._height - self._horizon) // 5)
        x0, x1 = max(left, 0), min(left + length, self._width)
        if x0 >= x1:
            return
        picture[top : top + body_h, x0:x1] = colour
        light_x = left + length - max(1, length // 10) if speed > 0 else left
        lx0, lx1 = max(light_x, 0), min(light_x + max(1, length // 10), self._width)
        if lx0 < lx1:
            picture[top : top + max(1, body_h // 3), lx0:lx1] = self._colour((255, 250, 220))

    @staticmethod
    def _add_grain(plate: np.ndarray, rng: np.random.Generator, noise: float) -> list[np.ndarray]:
        """Three plates with different luma grain, cycled per frame: grain that moves,
        at the cost of one addition per plate instead of one per frame."""
        if noise <= 0:
            return [plate]
        plates = []
        for _ in range(3):
            grain = rng.standard_normal(plate.shape[:2], dtype=np.float32) * (48 * noise)
            noisy = plate.astype(np.int16) + grain.round().astype(np.int16)[..., None]
            plates.append(np.clip(noisy, 0, 255).astype(np.uint8))
        return plates


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


class _ToneWriter:
    """Encodes a stereo sine into an AAC stream, a whole AAC frame at a time."""

    _FRAME = 1024  # AAC frame size; only the last frame may be shorter

    def __init__(self, container: av.container.OutputContainer, frequency: float, sample_rate: int) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=sample_rate, layout="stereo")
        self._stream.codec_context.time_base = Fraction(1, sample_rate)
        self._frequency = frequency
        self._rate = sample_rate
        self._next = 0  # index of the next sample to encode
        self._end = 0  # samples requested so far: [0, end)

    def write_until(self, time: Fraction) -> None:
        """Encode the whole AAC frames that lie before ``time``; the rest waits."""
        self._end = max(self._end, math.ceil(time * self._rate))
        while self._end - self._next >= self._FRAME:
            self._encode(self._FRAME)

    def flush(self) -> None:
        if self._end > self._next:
            self._encode(self._end - self._next)
        self._container.mux(self._stream.encode(None))

    def _encode(self, count: int) -> None:
        import av

        t = (self._next + np.arange(count)) / self._rate
        wave = (_TONE_AMPLITUDE * np.sin(2 * np.pi * self._frequency * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate = self._rate
        frame.pts = self._next
        frame.time_base = Fraction(1, self._rate)
        self._next += count
        self._container.mux(self._stream.encode(frame))


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
        self._require(0 <= self.source_id < 1 << _SOURCE_BITS, f"source_id {self.source_id} must be in 0..15")
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
