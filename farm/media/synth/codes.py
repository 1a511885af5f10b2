"""The burned-in code: a test oracle for "which source frame is on screen".

A coded picture is mid-grey with a grid of large black/white blocks in its
centre that spell the source id and the frame number. :func:`read_code` reads
them back from any rendered frame: after scaling, letterboxing, centre crops,
colour casts, LUTs and lossy re-encoding. A frame rendered in the wrong
orientation is refused (``ValueError``), never read as the right frame.
:func:`frame_rgb` turns a decoded frame into the RGB that :func:`read_code`
reads, converted with the frame's own colour tags.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from farm.media.synth.footage import cast_colour

if TYPE_CHECKING:
    import av

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
SOURCE_BITS = 4
_FRAME_BITS = 14
_CHECK_BITS = 3
_WHITE_CELL, _BLACK_CELL, _GUARD_CELL = 0, 1, _GRID_COLS * _GRID_ROWS - 1
_FIRST_SOURCE_CELL = 2
_FIRST_FRAME_CELL = _FIRST_SOURCE_CELL + SOURCE_BITS
_FIRST_CHECK_CELL = _FIRST_FRAME_CELL + _FRAME_BITS
MAX_CODED_FRAMES = 1 << _FRAME_BITS

#: a pixel whose brightest channel is at or below this is "black" (letterbox bars)
_BLACK_LEVEL = 40
#: calibration blocks closer than this (in 0..255) mean "not a coded picture here"
_MIN_CONTRAST = 48.0
#: a data cell must lie this far (as a fraction of white-black) from the midpoint
_DECISION_MARGIN = 0.2


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
        u, v = cell_centre(cell)
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
    source_id = _bits_to_int(bits[:SOURCE_BITS])
    frame_number = _bits_to_int(bits[SOURCE_BITS : SOURCE_BITS + _FRAME_BITS])
    check = _bits_to_int(bits[SOURCE_BITS + _FRAME_BITS :])
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


# --------------------------------------------------------------------------- #
# Reading helpers
# --------------------------------------------------------------------------- #
def cell_centre(cell: int) -> tuple[float, float]:
    """Centre of a cell in display-normalised coordinates (0..1 across the picture)."""
    row, col = divmod(cell, _GRID_COLS)
    u = _GRID_LEFT + (col + 0.5) * (_GRID_RIGHT - _GRID_LEFT) / _GRID_COLS
    v = _GRID_TOP + (row + 0.5) * (_GRID_BOTTOM - _GRID_TOP) / _GRID_ROWS
    return u, v


def _cell_bits(source_id: int, frame_number: int) -> list[int]:
    """Colour (1 white, 0 black) of every cell, in cell order."""
    bits = [1, 0]
    bits += _int_to_bits(source_id, SOURCE_BITS)
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
# Painting the code (what write_clip draws for pattern="coded")
# --------------------------------------------------------------------------- #
class CodedPainter:
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
        self._colours = (cast_colour((0, 0, 0), cast), cast_colour((255, 255, 255), cast))
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
        picture: np.ndarray = self._background.copy()
        for (rows, cols), bit in zip(self._cells, _cell_bits(self._source_id, frame_number), strict=True):
            picture[rows, cols] = self._colours[bit]
        return picture
