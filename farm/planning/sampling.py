"""The planner's time arithmetic in integers, a whole clip at a time.

A clip's output frames map to source frames by the sampling rule (see
``farm.edit.timing``), which is linear in the output frame number: it is
evaluated for every frame of a clip in one NumPy expression over integers.
The chunk grid of a source is computed once per (source, grid step) and
reused by every clip of every variant that uses the source.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from fractions import Fraction
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from farm.edit.timing import floor_terms, linear_terms, source_frames_cfr, source_frames_vfr
from farm.media.probe import SourceInfo
from farm.planning.frameruns import FrameRuns
from farm.planning.pts import pts_slice
from farm.planning.units import LookJob

IntArray = npt.NDArray[np.int64]

#: sources whose grids and pts arrays are kept; one entry per (source, grid step)
_MEMO_LIMIT = 4096
#: clip runs whose pieces are kept (a few hundred bytes each, and their jobs)
_PIECES_LIMIT = 200_000


class SourceTables:
    """Per-source tables the planner needs, computed once per plan: pts, the chunk grid, the look."""

    def __init__(self) -> None:
        self._pts: dict[tuple[str, str], tuple[SourceInfo, IntArray]] = {}
        self._grids: dict[tuple[str, str, Fraction], tuple[SourceInfo, IntArray]] = {}
        self._grid_lists: dict[int, tuple[IntArray, list[int]]] = {}
        self._relative: dict[tuple[str, str], tuple[SourceInfo, IntArray, list[int]]] = {}
        #: a source's look decision ``(lut path, lut hash, job)`` per (look, source, cache):
        #: the LUT file is read and hashed once per plan, not once per clip
        self.looks: dict[tuple[Any, ...], tuple[str | None, str | None, LookJob | None]] = {}
        #: a source's clip context (``plain.ClipContext``) per source and everything of a variant's
        #: output it depends on: variants with the same output share it (and its key prefix)
        self.contexts: dict[tuple[Any, ...], tuple[SourceInfo, Any]] = {}
        #: a forwards clip run's pieces per (key prefix, rule, length, chunk edges): the edges' list
        #: (compared by identity), then offset, frames, key and the rule's A from the piece's first
        #: frame (constant rate) or its frames (variable rate) of each piece, flat (see ``plain.py``)
        self.pieces: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def remember(self, memo: tuple[Any, ...], pieces: tuple[Any, ...]) -> tuple[Any, ...]:
        """Keep a clip run's pieces for the next run with the same ``memo`` (bounded); returns them."""
        if len(self.pieces) >= _PIECES_LIMIT:
            self.pieces.clear()
        self.pieces[memo] = pieces
        return pieces

    @staticmethod
    def pts_of(info: SourceInfo, frames: FrameRuns, values: IntArray | None = None) -> Sequence[int]:
        """The timestamps of the distinct values of monotonic ``frames``, ascending.

        Consecutive frames (the common case) are a view of the probe's tuple
        (``pts.PtsView``: no copy); a conform that skips frames is looked up
        frame by frame.  ``values``: ``frames`` as an array, when the
        caller has it (used when every value is distinct).
        """
        pts = info.frame_pts
        low, high = frames.bounds()
        distinct_count = frames.distinct()
        if distinct_count == high - low + 1:
            return pts_slice(pts, low, high + 1)
        if values is not None and distinct_count == len(values) and values[0] <= values[-1]:
            listed: list[int] = values.tolist()
            return (pts[listed[0]],) if len(listed) == 1 else itemgetter(*listed)(pts)
        distinct = frames.distinct_values()
        return (pts[distinct[0]],) if len(distinct) == 1 else itemgetter(*distinct)(pts)

    def pts(self, info: SourceInfo) -> IntArray:
        """The source's presentation times (time_base ticks), as an array."""
        key = (info.path, info.identity)
        hit = self._pts.get(key)
        if hit is None or hit[0] is not info:
            if len(self._pts) >= _MEMO_LIMIT:
                self._pts.clear()
            hit = (info, np.asarray(info.frame_pts, dtype=np.int64))
            self._pts[key] = hit
        return hit[1]

    def grid_list(self, info: SourceInfo, segment_seconds: Fraction) -> list[int]:
        """:meth:`grid` as a list (for bisection), memoised with it."""
        return self.listed(self.grid(info, segment_seconds))

    def listed(self, edges: IntArray) -> list[int]:
        """A grid's array (or a grid with cut points) as a list, one list per array while it lives:
        the same edges are the same list, which the remembered pieces compare by identity."""
        hit = self._grid_lists.get(id(edges))
        if hit is None or hit[0] is not edges:
            if len(self._grid_lists) >= _MEMO_LIMIT:
                self._grid_lists.clear()
            hit = (edges, edges.tolist())
            self._grid_lists[id(edges)] = hit
        return hit[1]

    def grid(self, info: SourceInfo, segment_seconds: Fraction) -> IntArray:
        """Source frames where chunks start (see :func:`chunk_grid`), memoised."""
        key = (info.path, info.identity, segment_seconds)
        hit = self._grids.get(key)
        if hit is None or hit[0] is not info:
            if len(self._grids) >= _MEMO_LIMIT:
                self._grids.clear()
            hit = (info, chunk_grid(info, segment_seconds))
            self._grids[key] = hit
        return hit[1]

    @staticmethod
    def cfr_terms(
        info: SourceInfo, source_in: Fraction, start: Fraction, rate: Fraction
    ) -> tuple[int, int, int]:
        """A constant-rate clip's rule: output frame ``n`` shows source frame ``(A + n * B) // C``."""
        p, q = source_in.as_integer_ratio()
        r, s = start.as_integer_ratio()
        return linear_terms((p * s - r * q, q * s), rate, info.rate)

    @staticmethod
    def vfr_terms(
        info: SourceInfo, source_in: Fraction, start: Fraction, rate: Fraction
    ) -> tuple[int, int, int]:
        """A variable-rate clip's rule: output frame ``n`` is sampled at tick ``(A + n * B) // C`` of
        the source's time base from its first frame (the frame shown: :meth:`vfr_frames`)."""
        p, q = source_in.as_integer_ratio()
        r, s = start.as_integer_ratio()
        return linear_terms((p * s - r * q, q * s), rate, 1 / info.time_base)

    def relative_pts(self, info: SourceInfo) -> tuple[IntArray, list[int]]:
        """The source's pts from its first frame, as an array and as a list (memoised)."""
        key = (info.path, info.identity)
        hit = self._relative.get(key)
        if hit is None or hit[0] is not info:
            if len(self._relative) >= _MEMO_LIMIT:
                self._relative.clear()
            pts = self.pts(info)
            relative = pts - pts[0]
            hit = self._relative[key] = (info, relative, relative.tolist())
        return hit[1], hit[2]

    def vfr_frame(self, info: SourceInfo, tick: int) -> int:
        """The frame of a variable-rate source on screen at ``tick`` (see ``source_frames_vfr``)."""
        return max(bisect.bisect_right(self.relative_pts(info)[1], tick) - 1, 0)

    def vfr_frames(self, info: SourceInfo, terms: tuple[int, int, int], count: int) -> IntArray:
        """The frames shown at ticks ``(A + k * B) // C``, ``k < count`` (``terms``: :meth:`vfr_terms`)."""
        found = np.searchsorted(self.relative_pts(info)[0], floor_terms(terms, range(count)), side="right")
        return np.maximum(found - 1, 0).astype(np.int64)

    def source_frames(self, info: SourceInfo, offset: Fraction, rate: Fraction, span: range) -> IntArray:
        """Source frame shown by each output frame in ``span`` of a clip with ``offset = in - start``."""
        if info.vfr:
            return source_frames_vfr(offset, rate, span, info.time_base, self.relative_pts(info)[0])
        return source_frames_cfr(offset, rate, span, info.rate)


def chunk_grid(info: SourceInfo, segment_seconds: Fraction) -> IntArray:
    """Source frames where chunks start: a grid of ``segment_seconds`` snapped forward to keyframes."""
    step = max(1, round(segment_seconds * info.rate))
    keyframes = np.asarray(info.keyframes, dtype=np.int64)
    grid = np.arange(step, info.frames, step, dtype=np.int64)
    at = np.searchsorted(keyframes, grid, side="left")
    snapped = keyframes[at[at < len(keyframes)]]
    return np.unique(np.concatenate([np.zeros(1, dtype=np.int64), snapped]))


def split_rule(terms: tuple[int, int, int], count: int, ascending: Sequence[int]) -> list[tuple[int, int]]:
    """:func:`split_by_chunk` for the frames ``(A + k * B) // C``, ``k < count`` (``B > 0``), in
    integers: the first ``k`` at or past a chunk edge ``g`` is ``ceil((g * C - A) / B)``."""
    big_a, big_b, big_c = terms
    lo = bisect.bisect_right(ascending, big_a // big_c)
    hi = bisect.bisect_right(ascending, (big_a + (count - 1) * big_b) // big_c)
    edges = [0, *(-((big_a - g * big_c) // big_b) for g in ascending[lo:hi]), count]
    # two chunk edges between one frame and the next (a fast conform past short chunks) cut once
    return [(x, y) for x, y in zip(edges, edges[1:], strict=False) if x < y]


def split_by_chunk(
    frames: IntArray, bounds: IntArray, ascending: Sequence[int] | None = None
) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` index ranges of ``frames`` that lie in one source chunk each, in order.

    ``ascending``: ``bounds`` as a list, given when ``frames`` are known to be
    non-decreasing; the cuts are then found from the chunk edges the clip crosses
    (two bisections when it crosses none) instead of frame by frame.
    """
    if ascending is not None:
        lo = bisect.bisect_right(ascending, int(frames[0]))
        hi = bisect.bisect_right(ascending, int(frames[-1]))
        if lo == hi:
            yield (0, len(frames))
            return
        inner = np.searchsorted(frames, bounds[lo:hi], side="left").tolist()
        edges = [0, *inner, len(frames)]
        yield from ((x, y) for x, y in zip(edges, edges[1:], strict=False) if x < y)
        return
    else:
        chunk = np.searchsorted(bounds, frames, side="right")
        cuts = np.flatnonzero(chunk[1:] != chunk[:-1]) + 1
        edges = [0, *cuts.tolist(), len(frames)]
    yield from zip(edges, edges[1:], strict=False)
