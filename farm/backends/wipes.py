"""SMPTE wipes (SMPTE 258M codes, as CMX 3600 EDLs name them ``W001``...): where the incoming clip shows.

A wipe at position ``w`` (the transition's weight for the frame, in [0, 1])
reveals the incoming clip on part of the frame.  The mask is decided per 2×2
block of pixels (so chroma, subsampled 2×2, is never split): a block whose
centre lies at ``(u, v)`` — ``u = (i + ½) / (width / 2)`` across and
``v = (j + ½) / (height / 2)`` down, both in (0, 1) — shows the incoming clip
when:

======  =========  ==========================================================
code    mask       condition
======  =========  ==========================================================
W001    wipe-left  ``x < 2·round(w·width/2)`` (a bar from the left edge)
W002    wipe-top   ``y < 2·round(w·height/2)`` (a bar from the top edge)
W003    wipe-003   ``u < w and v < w`` (a box from the top-left corner)
W004    wipe-004   ``1 − u < w and v < w`` (from the top-right corner)
W005    wipe-005   ``1 − u < w and 1 − v < w`` (from the bottom-right corner)
W006    wipe-006   ``u < w and 1 − v < w`` (from the bottom-left corner)
W007    wipe-007   ``min(u, 1 − u) < w/2 and min(v, 1 − v) < w/2`` (boxes from
                   the four corners toward the centre)
W008    wipe-008   ``|u mod ½ − ¼| < w/4 and |v mod ½ − ¼| < w/4`` (a box from
                   each quadrant's centre toward its corners)
W021    wipe-021   ``|u − ½| < w/2`` (barn doors opening from a vertical centre line)
W022    wipe-022   ``|v − ½| < w/2`` (from a horizontal centre line)
W023    wipe-023   ``|u − ½| < w/2 and v < w`` (a box from the top centre)
W024    wipe-024   ``1 − u < w and |v − ½| < w/2`` (from the right centre)
W025    wipe-025   ``|u − ½| < w/2 and 1 − v < w`` (from the bottom centre)
W026    wipe-026   ``u < w and |v − ½| < w/2`` (from the left centre)
======  =========  ==========================================================

``-inv`` after a mask name is its complement (the outgoing clip of a wipe into
a gap shows where the wipe has not reached).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Rule = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _box(hor: str, ver: str) -> Rule:
    """A box from one edge or corner: ``hor``/``ver`` are the side it grows from (l, r, c / t, b, c)."""

    def along(x: np.ndarray, side: str, w: float) -> np.ndarray:
        if side in ("l", "t"):
            return x < w
        if side in ("r", "b"):
            return 1 - x < w
        return np.abs(x - 0.5) < w / 2

    return lambda u, v, w: along(u, hor, w) & along(v, ver, w)


#: mask name -> rule on block centres (u across, v down, both (N, M) arrays) at wipe position w
RULES: dict[str, Rule] = {
    "wipe-003": _box("l", "t"),
    "wipe-004": _box("r", "t"),
    "wipe-005": _box("r", "b"),
    "wipe-006": _box("l", "b"),
    "wipe-007": lambda u, v, w: (np.minimum(u, 1 - u) < w / 2) & (np.minimum(v, 1 - v) < w / 2),
    "wipe-008": lambda u, v, w: (np.abs(u % 0.5 - 0.25) < w / 4) & (np.abs(v % 0.5 - 0.25) < w / 4),
    "wipe-021": lambda u, v, w: np.abs(u - 0.5) < w / 2 + 0 * v,
    "wipe-022": lambda u, v, w: np.abs(v - 0.5) < w / 2 + 0 * u,
    "wipe-023": _box("c", "t"),
    "wipe-024": _box("r", "c"),
    "wipe-025": _box("c", "b"),
    "wipe-026": _box("l", "c"),
}


def wipe_mask(mask: str, weight: float, width: int, height: int) -> np.ndarray:
    """Where a wipe layer shows at position ``weight``, as 0/1 float32 (height, width)."""
    out = np.zeros((height, width), np.float32)
    name = mask.removesuffix("-inv")
    if name == "wipe-left":
        out[:, : min(width, 2 * round(weight * width / 2))] = 1.0
    elif name == "wipe-top":
        out[: min(height, 2 * round(weight * height / 2)), :] = 1.0
    else:
        bw, bh = width // 2, height // 2
        u = (np.arange(bw, dtype=np.float64) + 0.5) / bw
        v = (np.arange(bh, dtype=np.float64) + 0.5) / bh
        blocks = RULES[name](u[None, :], v[:, None], weight).astype(np.float32)
        out[: 2 * bh, : 2 * bw] = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)
    return 1.0 - out if mask.endswith("-inv") else out
