"""Pictures farm draws itself: black, a solid colour, colour bars (generator clips and gaps).

Each is one frame of the output size and pixel format in its colour, computed
exactly here (no scaler in between); for BT.709 limited range:
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


def _codes(rgb: tuple[int, int, int], spec: EncodeSpec, bits: int) -> tuple[float, float, float]:
    """Y, Cb, Cr code values (``bits`` deep) of an 8-bit BT.709 R'G'B' colour in ``spec``'s transfer.

    An HDR output places the colour as it places an SDR source (BT.2408: SDR white at
    203 cd/m²), through the same output transform as the looks (farm.look.output).
    """
    if spec.transfer == "sdr":
        r, g, b = (c / 255 for c in rgb)
        kr, kb = 0.2126, 0.0722
    else:
        from farm.look.output import OutputTransform, encode_output
        from farm.look.tonemap import bt1886_eotf

        signal = encode_output(
            OutputTransform(spec.transfer, peak_nits=spec.peak_nits if spec.transfer == "pq" else 1000.0),
            bt1886_eotf(np.array(rgb, dtype=np.float64) / 255),
        )
        r, g, b = (float(c) for c in signal)
        kr, kb = 0.2627, 0.0593
    y = kr * r + (1 - kr - kb) * g + kb * b
    scale = 4 if bits == 10 else 1
    return (
        scale * (16 + 219 * y),
        scale * (128 + 224 * (b - y) / (2 - 2 * kb)),
        scale * (128 + 224 * (r - y) / (2 - 2 * kr)),
    )


def fill_picture(spec: EncodeSpec, fill: str, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    """The frame a segment without a source shows (``black``, ``bars`` or ``colour:rrggbb``), drawn
    in ``pix_fmt`` (the CPU backend passes the output's; the nvidia backend uploads 8-bit 4:2:0)
    and the output's colour (BT.709, or BT.2020 PQ/HLG)."""
    w, h = spec.width, spec.height
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
    frame = av.VideoFrame(w, h, pix_fmt)
    bits = 10 if pix_fmt.endswith("10le") else 8
    dtype = np.uint16 if bits == 10 else np.uint8
    for index, plane in enumerate(frame.planes):
        pw, ph = plane.width, plane.height
        step = w // pw  # 1 for luma and 4:4:4 chroma, 2 for subsampled chroma
        data = np.zeros((ph, plane.line_size // dtype().itemsize), dtype)
        for rgb, x0, x1 in zip(colours, edges, edges[1:], strict=False):
            data[:, x0 // step : x1 // step] = round(_codes(rgb, spec, bits)[index])
        plane.update(data.tobytes())
    return frame
