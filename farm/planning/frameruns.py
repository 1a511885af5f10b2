"""Compact, exact integer lists: run-length ranges ``(start, step, count)``.

A segment's source frames (and the timestamps of its distinct frames) follow
the sampling rule, which is piecewise linear: a 2 s chunk played at its own
rate is one run, a 24 → 25 fps conform a run per second.  :class:`FrameRuns`
holds such a list as its runs, checks the planner's invariants (one direction,
the number of distinct values) in O(runs), and gives the per-frame values only
where they are asked for (iteration, indexing, :meth:`FrameRuns.array`).

The runs are the greedy run-length form of the list (each run starts where the
last ended and is as long as its step allows), so equal lists have equal runs
and two :class:`FrameRuns` compare and hash by value.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, SupportsIndex, overload

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class FrameRuns(Sequence[int]):
    """An immutable list of ints stored as greedy runs ``(start, step, count)``, flattened."""

    __slots__ = ("_f", "_len", "_ends", "_rule")

    _f: tuple[int, ...] | None  # start, step, count of each run, in order (None: not built yet)
    _len: int
    _ends: list[int] | None  # cumulative counts, built on the first indexing past the ends
    #: ``(A, B, C)``: value ``k`` is ``(A + k * B) // C`` (C > 0), the sampling rule of a
    #: constant-rate clip; the runs are then built only if asked for
    _rule: tuple[int, int, int] | None

    def __init__(self, values: Iterable[int] | npt.NDArray[Any] = ()) -> None:
        if isinstance(values, FrameRuns):
            flat, length = values._flat, values._len
        else:
            flat, length = _greedy(values)
        self._f = flat
        self._len = length
        self._ends = None
        self._rule = None

    @property
    def _flat(self) -> tuple[int, ...]:
        if self._f is None:
            self._f = rule_runs(*self._rule, self._len) if self._rule is not None else ()
        return self._f

    @classmethod
    def of(cls, values: Iterable[int] | npt.NDArray[Any]) -> FrameRuns:
        """``values`` as runs (returned as is when they already are)."""
        return values if isinstance(values, FrameRuns) else cls(values)

    @classmethod
    def span(cls, start: int, step: int, count: int) -> FrameRuns:
        """One run: ``start, start + step, ...`` (``count`` values)."""
        out = cls.__new__(cls)
        if count <= 0:
            out._f, out._len = (), 0
        else:
            out._f, out._len = ((start, step if count > 1 else 0, count)), count
        out._ends = out._rule = None
        return out

    @classmethod
    def rule(cls, a: int, b: int, c: int, count: int) -> FrameRuns:
        """``(a + k * b) // c`` for ``k`` in ``range(count)`` (``c > 0``): a constant-rate clip's
        frames (see ``farm.edit.timing.floor_linear``), held as those three integers."""
        if c <= 0 or count <= 0:
            raise ValueError(f"a rule needs a positive divisor and count, not {c} and {count}")
        out = cls.__new__(cls)
        out._f, out._len, out._ends, out._rule = None, count, None, (a, b, c)
        return out

    # --- the runs -----------------------------------------------------------------------------

    @property
    def runs(self) -> list[tuple[int, int, int]]:
        """The runs ``(start, step, count)``; a run of one value has step 0."""
        f = self._flat
        return [(f[i], f[i + 1], f[i + 2]) for i in range(0, len(f), 3)]

    @property
    def flat(self) -> tuple[int, ...]:
        """The runs flattened: ``start, step, count`` of each run, in order."""
        return self._flat

    @property
    def run_count(self) -> int:
        return len(self._flat) // 3

    def direction(self) -> int | None:
        """1: non-decreasing, -1: non-increasing (not both), 0: constant, None: neither.  O(runs)."""
        if self._rule is not None:
            first, last = self._ends_of_rule()
            return 0 if first == last else 1 if self._rule[1] > 0 else -1
        f = self._flat
        up = down = False
        prev: int | None = None
        for i in range(0, len(f), 3):
            start, step, count = f[i], f[i + 1], f[i + 2]
            if prev is not None:
                up, down = up or start > prev, down or start < prev
            up, down = up or step > 0, down or step < 0
            prev = start + step * (count - 1)
        if up and down:
            return None
        return 1 if up else -1 if down else 0

    def distinct(self) -> int:
        """How many distinct values a monotonic list holds (see :meth:`direction`).  O(runs)."""
        if self._rule is not None:
            first, last = self._ends_of_rule()
            return self._len if abs(self._rule[1]) >= self._rule[2] else abs(last - first) + 1
        f = self._flat
        total = 0
        prev: int | None = None
        for i in range(0, len(f), 3):
            start, step, count = f[i], f[i + 1], f[i + 2]
            total += count if step else 1
            if start == prev:
                total -= 1
            prev = start + step * (count - 1)
        return total

    def distinct_values(self) -> list[int]:
        """The distinct values of a monotonic list (see :meth:`direction`), ascending."""
        if self._rule is not None:
            first, last = self._ends_of_rule()
            if abs(self._rule[1]) < self._rule[2]:  # steps of 0 or 1: every value between
                return list(range(min(first, last), max(first, last) + 1))
            a, b, c = self._rule
            values = [(a + k * b) // c for k in range(self._len)]
            return values if first <= last else values[::-1]
        f = self._flat
        out: list[int] = []
        prev: int | None = None
        for i in range(0, len(f), 3):
            start, step, count = f[i], f[i + 1], f[i + 2]
            if step:
                more = range(start + step if start == prev else start, start + step * count, step)
                out += more
                prev = more[-1] if more else prev
            elif start != prev:
                out.append(start)
                prev = start
        if len(out) > 1 and out[0] > out[-1]:
            out.reverse()
        return out

    def bounds(self) -> tuple[int, int]:
        """``(min, max)`` of the values.  O(runs)."""
        if not self._len:
            raise ValueError("an empty list has no bounds")
        if self._rule is not None:
            first, last = self._ends_of_rule()
            return min(first, last), max(first, last)
        f = self._flat
        if len(f) == 3:
            last = f[0] + f[1] * (f[2] - 1)
            return (f[0], last) if f[1] >= 0 else (last, f[0])
        lows, highs = [], []
        for i in range(0, len(f), 3):
            a, b = f[i], f[i] + f[i + 1] * (f[i + 2] - 1)
            lows.append(min(a, b))
            highs.append(max(a, b))
        return min(lows), max(highs)

    def _ends_of_rule(self) -> tuple[int, int]:
        a, b, c = self._rule  # type: ignore[misc]
        return a // c, (a + (self._len - 1) * b) // c

    def array(self) -> IntArray:
        """The values as a read-only int64 array."""
        if self._rule is not None:
            out = np.array(list(self), dtype=np.int64)
            out.flags.writeable = False
            return out
        f = self._flat
        parts = [
            np.arange(f[i], f[i] + f[i + 1] * f[i + 2], f[i + 1], dtype=np.int64)
            if f[i + 1]
            else np.full(f[i + 2], f[i], dtype=np.int64)
            for i in range(0, len(f), 3)
        ]
        out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        out.flags.writeable = False
        return out

    # --- the sequence -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        if self._rule is not None:
            a, b, c = self._rule
            yield from ((a + k * b) // c for k in range(self._len))
            return
        f = self._flat
        for i in range(0, len(f), 3):
            start, step, count = f[i], f[i + 1], f[i + 2]
            if step:
                yield from range(start, start + step * count, step)
            else:
                yield from itertools.repeat(start, count)

    def __reversed__(self) -> Iterator[int]:
        return iter(tuple(self)[::-1])

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[int, ...]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> int | tuple[int, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        i = index.__index__()
        n = self._len
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("FrameRuns index out of range")
        if self._rule is not None:
            return (self._rule[0] + i * self._rule[1]) // self._rule[2]
        f = self._flat
        if i == 0:
            return f[0]
        if i == n - 1:
            return f[-3] + f[-2] * (f[-1] - 1)
        if self._ends is None:
            self._ends = list(itertools.accumulate(f[2::3]))
        r = bisect.bisect_right(self._ends, i)
        before = self._ends[r - 1] if r else 0
        return f[3 * r] + f[3 * r + 1] * (i - before)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrameRuns):
            return self._flat == other._flat
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._flat)

    def __lt__(self, other: Sequence[int]) -> bool:
        return tuple(self) < tuple(other)

    def __repr__(self) -> str:
        return f"FrameRuns.from_runs({self.runs!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        if self._rule is not None:
            return (FrameRuns.rule, (*self._rule, self._len))
        return (_from_flat, (self._flat, self._len))

    @classmethod
    def from_runs(cls, runs: Iterable[tuple[int, int, int]]) -> FrameRuns:
        """The list the runs describe (re-run-length encoded, so the result is canonical)."""
        values: list[int] = []
        for start, step, count in runs:
            values.extend(range(start, start + step * count, step) if step else [start] * count)
        return cls(values)


def _from_flat(flat: tuple[int, ...], length: int) -> FrameRuns:
    out = FrameRuns.__new__(FrameRuns)
    out._f, out._len, out._ends, out._rule = flat, length, None, None
    return out


def rule_runs(a: int, b: int, c: int, count: int) -> tuple[int, ...]:
    """The greedy runs of ``(a + k * b) // c`` for ``k < count`` (``c > 0``), flattened, in O(runs).

    Equal to ``FrameRuns(values).runs`` flattened, without the values: the steps
    are ``q = b // c`` or ``q + 1``, and how many of one kind follow each other
    is read off the remainder ``x = (a + k * b) mod c``, which grows by
    ``r = b mod c`` per step and wraps (the larger step) once it reaches ``c - r``.
    """
    if count <= 0:
        return ()
    q, r = divmod(b, c)
    v, x = divmod(a, c)
    if count == 1:
        return (v, 0, 1)
    if not r:  # one step throughout: one run
        return (v, q, count)
    flat: list[int] = []
    last = count - 1
    i = 0
    wrap = c - r
    while i < last:
        if x < wrap:  # steps of q while the remainder stays below c - r
            same, step = (wrap - x + r - 1) // r, q
        else:  # steps of q + 1 while it stays at or above c - r
            same, step = (x - wrap) // wrap + 1, q + 1
        end = min(i + same, last)  # the run's steps are those from i to end: values i..end
        flat += (v, step, end - i + 1)
        i = end + 1
        v, x = divmod(a + i * b, c)
    if i == last:
        flat += (v, 0, 1)
    return tuple(flat)


def _greedy(values: Iterable[int] | npt.NDArray[Any]) -> tuple[tuple[int, ...], int]:
    """The greedy runs of ``values``: from each run's first value, as far as one step goes."""
    if isinstance(values, np.ndarray):
        a = values.astype(np.int64, copy=False)
        n = len(a)
        if n < 3:
            return _small(a.tolist()), n
        steps = a[1:] - a[:-1]
        change = np.flatnonzero(steps[1:] != steps[:-1])
        if not len(change):  # one run: the common case (a chunk played at its own rate)
            return (int(a[0]), int(steps[0]), n), n
        return _runs_of(a.tolist(), steps.tolist(), [*(change + 1).tolist(), n - 1]), n
    items = [int(v) for v in values]
    n = len(items)
    if n < 3:
        return _small(items), n
    d = [y - x for x, y in zip(items, items[1:], strict=False)]
    ends = [k for k in range(1, n - 1) if d[k] != d[k - 1]] + [n - 1]
    return _runs_of(items, d, ends), n


def _small(items: list[int]) -> tuple[int, ...]:
    if not items:
        return ()
    if len(items) == 1:
        return (items[0], 0, 1)
    return (items[0], items[1] - items[0], 2)


def _runs_of(items: list[int], d: list[int], ends: list[int]) -> tuple[int, ...]:
    """Greedy runs given the diffs ``d`` and the ends (exclusive, in ``d``) of its constant blocks."""
    n = len(items)
    flat: list[int] = []
    i = 0
    b = 0
    while i < n:
        if i == n - 1:
            flat += (items[i], 0, 1)
            break
        while ends[b] <= i:
            b += 1
        end = ends[b]  # the run's steps are d[i:end]: values i..end
        flat += (items[i], d[i], end - i + 1)
        i = end + 1
    return tuple(flat)


class RunCutter:
    """Greedy runs of any slice ``values[a:b]`` of one long list, in O(runs) each.

    The list's constant-step blocks are found once (vectorised); a slice's runs are
    those blocks clipped to it, walked greedily.  ``cut(a, b)`` equals
    ``FrameRuns(values[a:b])``: the planner cuts every chunk of a clip, and every
    chunk's timestamps out of its source's, without a NumPy call per chunk.
    """

    __slots__ = ("_items", "_diffs", "_ends")

    def __init__(self, values: npt.NDArray[Any]) -> None:
        a = values.astype(np.int64, copy=False)
        self._items: list[int] = a.tolist()
        d = a[1:] - a[:-1]
        self._diffs: list[int] = d.tolist()
        change = np.flatnonzero(d[1:] != d[:-1]) + 1
        #: for each block of equal steps, the index of its last value (ascending)
        self._ends: list[int] = [*change.tolist(), max(len(a) - 1, 0)]

    def __len__(self) -> int:
        return len(self._items)

    def cut(self, a: int, b: int) -> FrameRuns:
        """``FrameRuns(values[a:b])`` for ``0 <= a < b <= len(values)``."""
        items, d, ends = self._items, self._diffs, self._ends
        flat: list[int] = []
        i = a
        last = b - 1
        while i <= last:
            if i == last:
                flat += (items[i], 0, 1)
                break
            end = min(ends[bisect.bisect_right(ends, i)], last)
            flat += (items[i], d[i], end - i + 1)
            i = end + 1
        return _from_flat(tuple(flat), b - a)
