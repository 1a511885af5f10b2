"""A segment's timestamps without a copy: a contiguous slice of its source's pts, held as a view.

Most segments show every frame of a stretch of their source (a chunk at its own
rate, or conformed to a slower one), so their ``frame_pts`` is one slice of the
probe's tuple.  A tuple slice copies a pointer per frame (about 400 bytes for a
2 s chunk) and is one more object with a pointer per frame for Python's cyclic
collector to walk; :class:`PtsSlice` holds the source's tuple and two bounds.
It is an immutable ``Sequence[int]`` equal to (and hashing as) the tuple it
stands for, and it pickles as that tuple, so a worker receives plain
timestamps, never the whole source's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, SupportsIndex, overload


class PtsSlice(Sequence[int]):
    """``pts[start:stop]`` of a source's pts tuple, without copying it (``0 <= start < stop``)."""

    __slots__ = ("_pts", "_start", "_stop")

    def __init__(self, pts: tuple[int, ...], start: int, stop: int) -> None:
        if not 0 <= start < stop <= len(pts):
            raise ValueError(f"a slice [{start}:{stop}] of {len(pts)} timestamps")
        self._pts, self._start, self._stop = pts, start, stop

    @property
    def values(self) -> tuple[int, ...]:
        """The timestamps as a tuple (a copy)."""
        return self._pts[self._start : self._stop]

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[int, ...]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> int | tuple[int, ...]:
        if isinstance(index, slice):
            return self.values[index]
        i = index.__index__()
        n = self._stop - self._start
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("PtsSlice index out of range")
        return self._pts[self._start + i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PtsSlice):
            if other._pts is self._pts:
                return other._start == self._start and other._stop == self._stop
            return self.values == other.values
        if isinstance(other, tuple):
            return self.values == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.values)

    def __repr__(self) -> str:
        return repr(self.values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self.values,))


def pts_slice(pts: tuple[int, ...], start: int, stop: int) -> Sequence[int]:
    """``pts[start:stop]``: a view for a stretch of frames, a tuple for one or two (as small)."""
    return PtsSlice(pts, start, stop) if stop - start > 2 else pts[start:stop]
