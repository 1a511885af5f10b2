"""Which warm worker renders what next: segments grouped into calls, calls handed out source by source.

A worker that goes on decoding where it stopped saves a seek, and at 4K a
seek costs every frame from the keyframe before it; a worker that opens a
source nobody else reads saves the same.  :func:`make_calls` groups short
segments of one source into calls; :class:`CallQueue` hands them out so that
each source is read forwards, by as few workers as keep every worker busy.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Collection, Sequence

from farm.backends.warm import CONTINUE_FRAMES
from farm.planning.units import SegmentJob

#: a segment with fewer frames than this is batched with its source's neighbours
TINY_FRAMES = 48
#: a batch holds at most this many frames ...
BATCH_FRAMES = 120
#: ... and at most this many segments
BATCH_JOBS = 8

Call = tuple[SegmentJob, ...]


def _first_frame(job: SegmentJob) -> int:
    return job.frames[0] if job.frames else 0


def _frames(call: Call) -> int:
    return sum(job.count for job in call)


def path_of(job: SegmentJob) -> str | None:
    return job.source.path if job.source is not None else None


def make_calls(jobs: Sequence[SegmentJob], workers: int) -> list[Call]:
    """Group ``jobs`` into calls: short ones of one source in source order, the rest alone; longest first.

    A batch holds at most :data:`BATCH_FRAMES` frames and :data:`BATCH_JOBS`
    segments, fewer when that is needed to keep ``2 × workers`` calls to share out.
    """
    calls: list[Call] = []
    short: dict[str | None, list[SegmentJob]] = {}
    for job in jobs:
        if job.count < TINY_FRAMES and not job.layers:
            short.setdefault(path_of(job), []).append(job)
        else:
            calls.append((job,))
    n_short = sum(len(group) for group in short.values())
    per_call = max(1, min(BATCH_JOBS, math.ceil(n_short / max(1, 2 * workers - len(calls)))))
    for group in short.values():
        group.sort(key=_first_frame)
        batch: list[SegmentJob] = []
        frames = 0
        for job in group:
            if batch and (frames + job.count > BATCH_FRAMES or len(batch) >= per_call):
                calls.append(tuple(batch))
                batch, frames = [], 0
            batch.append(job)
            frames += job.count
        if batch:
            calls.append(tuple(batch))
    calls.sort(key=lambda c: -sum(j.count for j in c))
    return calls


class CallQueue:
    """Calls waiting for a worker, handed out so that each source is read forwards by few workers.

    :meth:`pop` gives, in this order of preference: a call pushed back (a retry);
    the call of the worker's own source that starts at most ``CONTINUE_FRAMES``
    past where it stopped (its decoder goes on without a seek); the first call of the source with the most
    frames left that no other worker is reading; else the middle call of the
    source with the most frames left, so two workers read its two halves forwards.
    """

    def __init__(self, calls: Sequence[Call]) -> None:
        self._calls: list[Call] = list(calls)  # by entry number (a retry is a new entry)
        self._planned = len(self._calls)
        self._planned_left = self._planned  # of those, not taken
        self._retry: deque[int] = deque()
        self._taken: set[int] = set()
        self._by_path: dict[str | None, list[int]] = {}
        for n in sorted(range(len(self._calls)), key=lambda n: _first_frame(self._calls[n][0])):
            self._by_path.setdefault(path_of(self._calls[n][0]), []).append(n)
        self._firsts = {p: [_first_frame(self._calls[n][0]) for n in ns] for p, ns in self._by_path.items()}
        self._low = dict.fromkeys(self._by_path, 0)  # entries before this index are taken
        self._left = {p: sum(_frames(self._calls[n]) for n in ns) for p, ns in self._by_path.items()}
        self._calls_left = {p: len(ns) for p, ns in self._by_path.items()}
        self._heap = [(-left, i, p) for i, (p, left) in enumerate(self._left.items())]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._calls) - len(self._taken)

    def push(self, call: Call) -> None:
        """Put ``call`` back, to be handed out next (a retry)."""
        self._calls.append(call)
        self._retry.append(len(self._calls) - 1)

    def _take(self, n: int) -> Call:
        self._taken.add(n)
        call = self._calls[n]
        path = path_of(call[0])
        if n < self._planned:  # a retry's frames were never counted
            self._left[path] -= _frames(call)
            self._calls_left[path] -= 1
            self._planned_left -= 1
        return call

    def _untaken(self, path: str | None, start: int) -> int | None:
        """The index in ``path``'s list of its first call not taken, from ``start`` on."""
        entries = self._by_path[path]
        while start < len(entries) and entries[start] in self._taken:
            start += 1
        return start if start < len(entries) else None

    def pop(
        self, after: tuple[str | None, int] | None = None, busy: Collection[str | None] = ()
    ) -> Call | None:
        """The next call for a worker that stopped at ``after`` = (source, frame) while ``busy`` are read."""
        while self._retry:
            n = self._retry.popleft()
            if n not in self._taken:
                return self._take(n)
        if after is not None and after[0] in self._by_path:
            path = after[0]
            i = self._untaken(path, bisect.bisect_left(self._firsts[path], after[1]))
            if i is not None and self._firsts[path][i] - after[1] <= CONTINUE_FRAMES:
                return self._take(self._by_path[path][i])
        if self._planned_left == 0:
            return None
        path = self._most_left(busy)
        low = self._untaken(path, self._low[path])
        assert low is not None
        self._low[path] = low
        if path not in busy:
            return self._take(self._by_path[path][low])
        rest = [n for n in self._by_path[path][low:] if n not in self._taken]
        return self._take(rest[len(rest) // 2])

    def _most_left(self, busy: Collection[str | None]) -> str | None:
        """The source with the most frames left, preferring one nobody reads (there is one left).

        ``None`` is a source too: the segments that read none (fills, composites).
        """
        skipped: list[tuple[int, int, str | None]] = []
        try:
            while self._heap:
                entry = heapq.heappop(self._heap)
                left = self._left[entry[2]]
                if self._calls_left[entry[2]] == 0:
                    continue
                if -entry[0] != left:  # stale: the source has fewer frames left now
                    heapq.heappush(self._heap, (-left, entry[1], entry[2]))
                    continue
                skipped.append(entry)
                if entry[2] not in busy:
                    return entry[2]
            return skipped[0][2]  # everything left is being read: share the biggest
        finally:
            for entry in skipped:
                heapq.heappush(self._heap, entry)
