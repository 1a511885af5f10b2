"""Pictures farm draws itself: black, a solid colour, colour bars (generator clips and gaps).

Each is one yuv420p frame of the output size in BT.709 limited range, the
output's colour, computed exactly here (no scaler in between):
``Y = 16 + 219·Y'``, ``Cb = 128 + 224·(B' − Y')/1.8556``,
``Cr = 128 + 224·(R' − Y')/1.5748`` with ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'``
for R'G'B' in 0..1.  Bars are the seven 75 % bars (white, yellow, cyan, green,
magenta, red, blue), left to right, their edges on even columns so 4:2:0 chroma
does not bleed across them.
"""

from __future__ import annotations

import av
import numpy as np

from farm.planning.units import EncodeSpec

#: 8-bit R'G'B' of the seven 75 % colour bars, left to right
BARS_RGB = (
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
)


def ycbcr709(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """8-bit limited-range BT.709 Y, Cb, Cr of an 8-bit R'G'B' colour."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (
        round(16 + 219 * y),
        round(128 + 224 * (b - y) / 1.8556),
        round(128 + 224 * (r - y) / 1.5748),
    )


def bar_edges(width: int) -> list[int]:
    """Left edge of each bar, then the width: even columns, bars as equal as that allows."""
    return [min(width, 2 * round(i * width / 14)) for i in range(7)] + [width]


def fill_picture(spec: EncodeSpec, fill: str) -> av.VideoFrame:
    """The yuv420p frame a segment without a source shows: ``black``, ``bars`` or ``colour:rrggbb``."""
    w, h = spec.width, spec.height
    y = np.empty((h, w), np.uint8)
    cb = np.empty((h // 2, w // 2), np.uint8)
    cr = np.empty((h // 2, w // 2), np.uint8)
    if fill == "black":
        colours = [(0, 0, 0)]
        edges = [0, w]
    elif fill == "bars":
        colours = list(BARS_RGB)
        edges = bar_edges(w)
    elif fill.startswith("colour:") and len(fill) == 13:
        hexa = fill[7:]
        colours = [(int(hexa[0:2], 16), int(hexa[2:4], 16), int(hexa[4:6], 16))]
        edges = [0, w]
    else:
        raise ValueError(f"unknown fill {fill!r}")
    for rgb, x0, x1 in zip(colours, edges, edges[1:], strict=False):
        yy, u, v = ycbcr709(rgb)
        y[:, x0:x1] = yy
        cb[:, x0 // 2 : x1 // 2] = u
        cr[:, x0 // 2 : x1 // 2] = v
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, (y, cb, cr), strict=True):
        stride = plane.line_size
        rows = data.shape[0]
        padded = np.zeros((rows, stride), np.uint8)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes())
    return frame
