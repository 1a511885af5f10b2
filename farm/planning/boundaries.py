"""Cut points shared across variants, so a title in one variant re-renders only the frames under it.

A plain run of a clip ends early when something else starts over the same
clip: an upper-track title, a transition.  The clip goes on (composited), but
its plain piece before or after stops there, mid-chunk, and its source frames
differ from those of the whole chunk that a variant without the title renders
— so their keys differ and the untitled variant's chunk cannot be reused.

The rule: a plain run that stops (or starts) while its clip goes on adds a *cut
point* to its clip context (everything a key covers but the frames: source,
reading, geometry, colour, look, encoder).  A cut point ``P`` is a source frame:
a segment splits between its frames below ``P`` and those at or above ``P``, as
it does at the chunk grid.  Every variant of the project splits its segments of
that context at the chunk grid and at every cut point, so the pieces next to a
title are the same frames, and the same keys, in every variant that shows that
shot the same way.  Each segment starts with an IDR, so the extra boundaries
need no re-encode when stitching.

Planning is then two passes, the second only where needed: while every variant
is planned, each plain run's source extent is recorded with the number of cut
points its context had then; afterwards a variant is planned again only if a
point added later falls strictly inside one of its runs.  Without cut points
(single-track cuts, or titles over whole clips) there is no second pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from farm.edit.cut import ClipItem
from farm.edit.timing import output_frames_of
from farm.media.probe import SourceInfo
from farm.planning.sampling import SourceTables
from farm.planning.sources import source_frames

if TYPE_CHECKING:
    from farm.planning.planner import RenderPlan, VariantPlan
    from farm.planning.units import LookJob, SegmentJob

IntArray = npt.NDArray[np.int64]
Replan = Callable[[str], "tuple[VariantPlan, list[SegmentJob], list[LookJob]]"]


class CutPoints:
    """Extra source-frame cut points per clip context, collected from every variant of a plan."""

    def __init__(self) -> None:
        self._points: dict[str, list[int]] = {}  # context → cut points, in the order found
        self._known: dict[str, set[int]] = {}  # context → the same points, as a set
        self._bounds: dict[tuple[str, int, int], IntArray] = {}  # (context, points, grid id) → bounds
        # context → (variant, first, last source frame of a plain run, points known then); the
        # sampling rule is linear, so a run's frames lie between its first and last
        self._runs: dict[str, list[tuple[str, int, int, int]]] = {}

    def __len__(self) -> int:
        return sum(len(p) for p in self._points.values())

    def bounds(self, variant: str, context: str, grid: IntArray, first: int, last: int) -> IntArray:
        """Where a plain run of ``context`` showing source frames ``first`` to ``last`` splits: the
        grid and every cut point."""
        points = self._points.get(context)
        count = len(points) if points else 0
        runs = self._runs.get(context)
        if runs is None:
            runs = self._runs[context] = []
        runs.append((variant, first, last, count))
        if not points:
            return grid
        memo = (context, count, id(grid))
        hit = self._bounds.get(memo)
        if hit is None:
            hit = np.union1d(grid, np.asarray(points, dtype=np.int64))
            self._bounds[memo] = hit
        return hit

    def note(
        self,
        variant: str,
        context: str,
        item: ClipItem,
        info: SourceInfo,
        span: range,
        first: int,
        last: int,
        total: int,
        rate: Fraction,
        tables: SourceTables,
    ) -> None:
        """Record the cut points of a plain run ``span`` of ``item`` (showing source frames ``first``
        to ``last``) that starts or stops inside it."""
        full = output_frames_of(item.start, item.duration, rate)
        lo, hi = full.start, min(full.stop, total)
        if span.start <= lo and span.stop >= hi:
            return  # the run is the whole clip: its edges are the clip's own

        def frame_at(n: int) -> int:
            if item.speed == 1 and not info.still:
                return int(tables.source_frames(info, item.source_in - item.start, rate, range(n, n + 1))[0])
            return source_frames(item, info, [n], rate, variant)[0]

        edges = []
        if span.start > lo:
            edges.append((frame_at(span.start - 1), first))
        if span.stop < hi:
            edges.append((last, frame_at(span.stop)))
        for before, after in edges:
            if before == after or not (0 <= before < info.frames and 0 <= after < info.frames):
                continue  # a held frame cannot be cut between: that edge stays unshared
            self._add(context, max(before, after))  # splits between the two, either direction

    def _add(self, context: str, point: int) -> None:
        known = self._known.setdefault(context, set())
        if point not in known:
            known.add(point)
            self._points.setdefault(context, []).append(point)

    def stale(self, variants: Collection[str]) -> list[str]:
        """Of ``variants``, those with a plain run that a cut point found after it would split."""
        out: set[str] = set()
        for context, points in self._points.items():
            for variant, first, last, count in self._runs.get(context, ()):
                if variant in out or variant not in variants or count == len(points):
                    continue
                low, high = min(first, last), max(first, last)
                if any(low < p <= high for p in points[count:]):
                    out.add(variant)
        return [v for v in variants if v in out]

    def forget(self, variant: str) -> None:
        """Drop a variant's recorded runs (before it is planned again)."""
        for context, runs in self._runs.items():
            self._runs[context] = [r for r in runs if r[0] != variant]


def reshare(plan: RenderPlan, cuts: CutPoints, replan: Replan) -> list[str]:
    """Plan again the variants of ``plan`` that cut points found later would split; returns their names.

    Their jobs no other variant uses are dropped.  Cut points depend only on each
    variant's own runs, so one more pass settles them.
    """
    if not len(cuts):
        return []
    again = cuts.stale(list(plan.variants))
    for name in again:
        cuts.forget(name)
        vplan, jobs, looks = replan(name)
        plan.variants[name] = vplan
        for job in jobs:
            plan.jobs.setdefault(job.key, job)
        for look in looks:
            plan.looks.setdefault(look.key, look)
    if again:
        used: set[Any] = set()
        for vp in plan.variants.values():
            used.update(vp.keys)
        plan.jobs = {k: j for k, j in plan.jobs.items() if k in used}
    return again
