"""The preview strip of ``farm look``: source | matched | reference, one row per sampled frame.

Drawn with Pillow, imported only when a preview is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from farm.errors import BackendUnavailableError, OutputError, Where
from farm.look.analyse import fit_width, pixel_delta_e
from farm.output.atomic import atomic_write

if TYPE_CHECKING:
    from PIL import Image

_PREVIEW_ROWS = 4
_PREVIEW_HEIGHT = 160
_GUTTER = 8


def write_preview(
    path: str | os.PathLike[str],
    source: list[np.ndarray],
    matched: list[np.ndarray],
    reference: list[np.ndarray],
) -> None:
    """A PNG with one row per sampled frame: source | matched | reference, labelled with ΔE2000."""
    try:
        from PIL import Image
    except ImportError:
        raise BackendUnavailableError(
            "writing the preview needs Pillow, which is not installed",
            Where(path=str(path)),
            hint="pip install pillow, or leave out --preview",
        ) from None

    rows: list[Image.Image] = []
    count = min(len(source), _PREVIEW_ROWS)
    picks = [round(i * (len(source) - 1) / max(1, count - 1)) for i in range(count)]
    for i in picks:
        ref = reference[i % len(reference)]
        tiles = [
            _tile(source[i], f"source  dE2000 {pixel_delta_e(source[i], ref):.2f}"),
            _tile(matched[i], f"matched  dE2000 {pixel_delta_e(matched[i], ref):.2f}"),
            _tile(ref, "reference"),
        ]
        row = Image.new("RGB", (sum(t.width for t in tiles) + _GUTTER * (len(tiles) - 1), _PREVIEW_HEIGHT))
        x = 0
        for tile in tiles:
            row.paste(tile, (x, 0))
            x += tile.width + _GUTTER
        rows.append(row)
    strip = Image.new(
        "RGB", (max(r.width for r in rows), sum(r.height for r in rows) + _GUTTER * (len(rows) - 1))
    )
    y = 0
    for row in rows:
        strip.paste(row, (0, y))
        y += row.height + _GUTTER
    try:
        with atomic_write(Path(path), make_parents=False) as tmp:
            strip.save(tmp, format="PNG")
    except OSError as exc:
        raise OutputError(f"cannot write preview: {exc}", Where(path=str(path))) from exc


def _tile(frame: np.ndarray, label: str) -> Image.Image:
    """One frame scaled to the preview's height, its label on a black box in the corner."""
    from PIL import Image, ImageDraw

    h, w = frame.shape[:2]
    width = max(1, round(w * _PREVIEW_HEIGHT / h))
    pixels = fit_width(frame, width, _PREVIEW_HEIGHT)
    image = Image.fromarray(np.rint(pixels * 255.0).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, min(width, 8 + 7 * len(label)), 16), fill=(0, 0, 0))
    draw.text((4, 2), label, fill=(255, 255, 255))
    return image
