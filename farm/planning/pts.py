"""A segment's timestamps without a copy: a view of its source's pts, by the clip's sampling rule.

A constant-rate chunk shows the source frames ``(a + k * b) // c`` (``k <
count``), and when ``b >= c`` (its own rate, or conformed down) every one is
distinct, so its ``frame_pts`` are ``pts[(a + k * b) // c]``; a chunk of
consecutive frames (``b == c``, or any stretch of frames) is one slice of the
probe's tuple.  A tuple copies a pointer per frame (about 400 bytes for a 2 s
chunk) and is one more object with a pointer per frame for Python's cyclic
collector to walk; :class:`PtsView` holds the source's tuple and the rule.  It
is an immutable ``Sequence[int]`` equal to (and hashing as) the tuple it stands
for, and it pickles as that tuple, so a worker receives plain timestamps, never
the whole source's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any, SupportsIndex, overload


class PtsView(Sequence[int]):
    """``pts[(a + k * b) // c]`` for ``k < count`` (``b >= c > 0``: every index distinct, ascending)."""

    __slots__ = ("_pts", "_a", "_b", "_c", "_count")

    def __init__(self, pts: tuple[int, ...], a: int, b: int, c: int, count: int) -> None:
        if not (b >= c > 0 and count > 0 and a >= 0 and (a + (count - 1) * b) // c < len(pts)):
            raise ValueError(f"timestamps ({a} + k * {b}) // {c}, k < {count}, of {len(pts)}")
        self._pts, self._a, self._b, self._c, self._count = pts, a, b, c, count

    @property
    def values(self) -> tuple[int, ...]:
        """The timestamps as a tuple (a copy)."""
        a, b, c, n = self._a, self._b, self._c, self._count
        if b == c:
            return self._pts[a // c : a // c + n]
        if n == 1:
            return (self._pts[a // c],)
        return itemgetter(*[(a + k * b) // c for k in range(n)])(self._pts)  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[int, ...]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> int | tuple[int, ...]:
        if isinstance(index, slice):
            return self.values[index]
        i = index.__index__()
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError("PtsView index out of range")
        return self._pts[(self._a + i * self._b) // self._c]

    def __iter__(self) -> Iterator[int]:
        return iter(self.values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PtsView):
            if other._pts is self._pts and (other._a, other._b, other._c) == (self._a, self._b, self._c):
                return other._count == self._count
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


def pts_view(pts: tuple[int, ...], a: int, b: int, c: int, count: int) -> Sequence[int]:
    """``pts[(a + k * b) // c]`` for ``k < count``: a view, or a tuple for one or two (as small)."""
    if count > 2:
        return PtsView(pts, a, b, c, count)
    return tuple(pts[(a + k * b) // c] for k in range(count))


def pts_slice(pts: tuple[int, ...], start: int, stop: int) -> Sequence[int]:
    """``pts[start:stop]`` (``start < stop``), as :func:`pts_view` gives it."""
    return pts_view(pts, start, 1, 1, stop - start)
