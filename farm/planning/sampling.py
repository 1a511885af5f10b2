"""The planner's time arithmetic in integers, a whole clip at a time.

A clip's output frames map to source frames by the sampling rule (see
``farm.edit.timing``), which is linear in the output frame number: it is
evaluated for every frame of a clip in one NumPy expression over integers.
The chunk grid of a source is computed once per (source, grid step) and
reused by every clip of every variant that uses the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from farm.edit.timing import source_frames_cfr, source_frames_vfr
from farm.media.probe import SourceInfo
from farm.planning.units import LookJob

IntArray = npt.NDArray[np.int64]

#: sources whose grids and pts arrays are kept; one entry per (source, grid step)
_MEMO_LIMIT = 4096


class SourceTables:
    """Per-source tables the planner needs, computed once per plan: pts, the chunk grid, the look."""

    def __init__(self) -> None:
        self._pts: dict[tuple[str, str], tuple[SourceInfo, IntArray]] = {}
        self._grids: dict[tuple[str, str, Fraction], tuple[SourceInfo, IntArray]] = {}
        self._ints: list[int] = list(range(1024))  # shared int objects for frame numbers
        #: a source's look decision ``(lut path, lut hash, job)`` per (look, source, cache):
        #: the LUT file is read and hashed once per plan, not once per clip
        self.looks: dict[tuple[Any, ...], tuple[str | None, str | None, LookJob | None]] = {}

    def frame_tuple(self, frames: IntArray) -> tuple[int, ...]:
        """``tuple(frames)`` whose int objects are shared by every segment of the plan.

        A plan holds one Python int per output frame of every segment; built
        from a NumPy array each would be a fresh 32-byte object.  Taking them
        from one list of ``range(n)`` makes each frame cost a pointer.
        """
        values = frames.tolist()
        top = max(values) + 1 if values else 0
        if top > len(self._ints):
            self._ints.extend(range(len(self._ints), max(top, 2 * len(self._ints))))
        if min(values, default=0) < 0:
            return tuple(values)
        return (self._ints[values[0]],) if len(values) == 1 else itemgetter(*values)(self._ints)

    def pts_tuple(self, info: SourceInfo, distinct: IntArray) -> tuple[int, ...]:
        """The pts of ``distinct`` frames, as the probe's own int objects (a pointer each)."""
        idx = distinct.tolist()
        pts = info.frame_pts
        return (pts[idx[0]],) if len(idx) == 1 else itemgetter(*idx)(pts)

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

    def source_frames(self, info: SourceInfo, offset: Fraction, rate: Fraction, span: range) -> IntArray:
        """Source frame shown by each output frame in ``span`` of a clip with ``offset = in - start``."""
        if info.vfr:
            pts = self.pts(info)
            return source_frames_vfr(offset, rate, span, info.time_base, pts - pts[0])
        return source_frames_cfr(offset, rate, span, info.rate)


def chunk_grid(info: SourceInfo, segment_seconds: Fraction) -> IntArray:
    """Source frames where chunks start: a grid of ``segment_seconds`` snapped forward to keyframes."""
    step = max(1, round(segment_seconds * info.rate))
    keyframes = np.asarray(info.keyframes, dtype=np.int64)
    grid = np.arange(step, info.frames, step, dtype=np.int64)
    at = np.searchsorted(keyframes, grid, side="left")
    snapped = keyframes[at[at < len(keyframes)]]
    return np.unique(np.concatenate([np.zeros(1, dtype=np.int64), snapped]))


def split_by_chunk(frames: IntArray, bounds: IntArray) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` index ranges of ``frames`` that lie in one source chunk each, in order."""
    chunk = np.searchsorted(bounds, frames, side="right")
    cuts = np.flatnonzero(chunk[1:] != chunk[:-1]) + 1
    edges = [0, *cuts.tolist(), len(frames)]
    yield from zip(edges, edges[1:], strict=False)
