"""A plain run of one clip (nothing over it, nothing under it showing): its chunks, keys and jobs.

The run's output frames map to source frames by the sampling rule; the run is
cut where the source's chunk grid (and any shared cut point, ``boundaries.py``)
falls, and each piece is one segment, keyed by everything that decides its
bytes.  A constant-rate clip played forwards never has its frames listed: its
rule ``(A + n * B) // C`` gives the chunk edges (``split_rule``), each chunk's
greedy runs (``rule_runs``, what its key hashes) and the job's frames, in
integers, per chunk.  A variable-rate clip played forwards has a rule too, in
ticks of its time base: its frames are looked up once per run, in NumPy.  The
pieces of either are remembered for the plan (``SourceTables.pieces``), so the
same run again (the shot repeated, or another variant of the same output) is
a lookup.  Other clips (speed changes, freezes, reverse, stills) are evaluated
frame by frame, once per clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from farm.edit.cut import ClipItem
from farm.edit.project import VariantSpec
from farm.look.bake import plan_look
from farm.media.probe import SourceInfo
from farm.planning.boundaries import CutPoints
from farm.planning.frameruns import FrameRuns, RunCutter, rule_runs
from farm.planning.keys import FramesKey
from farm.planning.pts import pts_slice, pts_view
from farm.planning.sampling import SourceTables, split_by_chunk, split_rule
from farm.planning.sources import source_frames, source_ref
from farm.planning.units import EncodeSpec, Geometry, LookJob, SegmentJob, SourceRef, fit_geometry


@dataclass(frozen=True, slots=True)
class Placement:
    """A job's place in one variant: output frames ``[start, start + count)``."""

    start: int
    count: int
    key: str
    clip: str | None  # None for black (gap)


@dataclass(frozen=True)
class ClipContext:
    """What every clip of one source in one variant shares: decided once per source, and shared
    by the variants whose output draws it the same way (``PlainClips.context``)."""

    source: SourceRef
    geometry: Geometry
    lut_path: str | None
    lut_hash: str | None
    look_job: LookJob | None
    keyer: FramesKey  # the key's prefix: everything but the frames
    bounds: np.ndarray[Any, np.dtype[np.int64]]  # the source's chunk grid
    ascending: list[int]  # the same, as a list (bisected)


class PlainClips:
    """One variant's plain clip runs → its placements, and the jobs no earlier clip or variant had.

    ``seen`` holds the keys already listed (by another variant, or an earlier clip);
    new jobs are appended to ``jobs`` and every piece to ``placements``, in order.
    """

    def __init__(
        self,
        spec: VariantSpec,
        encode: EncodeSpec,
        tables: SourceTables,
        cache_root: Path | None,
        segment_seconds: Fraction,
        cuts: CutPoints | None,
        note_cuts: bool,
        seen: set[str],
        placements: list[Placement],
        jobs: list[SegmentJob],
        looks: list[LookJob],
    ) -> None:
        self.spec, self.encode, self.tables = spec, encode, tables
        self.cache_root, self.segment_seconds = cache_root, segment_seconds
        self.cuts, self.note_cuts = cuts, note_cuts
        self.seen, self.placements, self.jobs, self.looks = seen, placements, jobs, looks
        self.contexts: dict[tuple[str, str], ClipContext] = {}

    def context(self, info: SourceInfo) -> ClipContext:
        """The source's context in this variant, decided on its first clip."""
        context = self.contexts.get((info.path, info.identity))
        if context is None:
            out = self.spec.output
            # everything a context depends on but the variant's name (which only names a look's errors)
            memo: tuple[object, ...] = (info.path, info.identity, self.encode, out.fit, self.spec.look)
            memo += (out.transfer, out.peak_nits, self.cache_root, self.segment_seconds)
            shared = self.tables.contexts.get(memo)
            if shared is None or shared[0] is not info:
                context = clip_context(
                    self.spec, info, self.encode, self.tables, self.cache_root, self.segment_seconds
                )
                self.tables.contexts[memo] = (info, context)
            else:
                context = shared[1]
            self.contexts[(info.path, info.identity)] = context
            if context.look_job is not None:
                self.looks.append(context.look_job)
        return context

    def place(self, item: ClipItem, info: SourceInfo, span: range, total: int) -> None:
        """Plan output frames ``span`` of ``item`` (of ``total`` in the variant), shown plain."""
        tables, rate, variant = self.tables, self.spec.output.fps, self.spec.name
        forwards = item.speed == 1 and not info.still  # frames non-decreasing
        frames: np.ndarray[Any, np.dtype[np.int64]] | None = None
        terms: tuple[int, int, int] | None = None
        if forwards:  # the rule in integers: source frame (constant rate) or tick (variable) of k
            rule = tables.vfr_terms if info.vfr else tables.cfr_terms
            big_a, big_b, big_c = rule(info, item.source_in, item.start, rate)
            terms = (big_a + span.start * big_b, big_b, big_c)  # k counts from the run's first frame
            first, last = terms[0] // big_c, (terms[0] + (len(span) - 1) * big_b) // big_c
            if info.vfr:
                first, last = tables.vfr_frame(info, first), tables.vfr_frame(info, last)
            elif last >= info.frames or first < 0:
                source_frames(item, info, span, rate, variant)  # raises, naming the clip's range
        else:  # speed changes, freeze frames, reverse, stills: the rule frame by frame
            frames = np.asarray(source_frames(item, info, span, rate, variant), dtype=np.int64)
            first, last = int(frames[0]), int(frames[-1])
        context = self.context(info)
        bounds, ascending = context.bounds, context.ascending
        cuts = self.cuts
        if cuts is not None:
            prefix = context.keyer.prefix
            if self.note_cuts:
                cuts.note(variant, prefix, item, info, span, first, last, total, rate, tables)
            bounds = cuts.bounds(variant, prefix, bounds, first, last)
            if bounds is not context.bounds:  # other variants' cut points split this clip too
                ascending = tables.listed(bounds)
        if terms is not None:
            self._place_rule(item, info, span, context, terms, bounds, ascending)
        else:
            assert frames is not None
            self._place_frames(item, info, span, context, frames, bounds)

    def _place_rule(
        self,
        item: ClipItem,
        info: SourceInfo,
        span: range,
        context: ClipContext,
        terms: tuple[int, int, int],
        bounds: np.ndarray[Any, np.dtype[np.int64]],
        ascending: list[int],
    ) -> None:
        """A clip played forwards, from its rule: a constant-rate one's chunks in integers, a
        variable-rate one's frames looked up once; the pieces remembered for the same run again."""
        big_a, big_b, big_c = terms
        seen, placements, first, name = self.seen, self.placements, span.start, item.name
        # the same frames of the same source, drawn the same way and cut at the same edges (the
        # same shot in another variant of the same output, or again in this one): the same pieces
        memo = (context.keyer.prefix, big_a, big_b, big_c, len(span), id(ascending))
        pieces = self.tables.pieces.get(memo)
        if pieces is None or pieces[0] is not ascending:
            # the chunk edges, then offset, frames, key and (the rule's A or the frames) per piece,
            # in one tuple: one object for the collector, however many pieces
            parts: list[Any] = [ascending]
            key_runs = context.keyer.key_runs
            if info.vfr:
                frames = self.tables.vfr_frames(info, terms, len(span))
                cutter = RunCutter(frames)
                for a, b in split_by_chunk(frames, bounds, ascending):
                    runs = cutter.cut(a, b)
                    parts += (a, b - a, key_runs(runs.flat), runs)
            else:
                for a, b in split_rule(terms, len(span), ascending):
                    here = big_a + a * big_b
                    parts += (a, b - a, key_runs(rule_runs(here, big_b, big_c, b - a)), here)
            pieces = self.tables.remember(memo, tuple(parts))
        for i in range(1, len(pieces), 4):
            a, count, key, held = pieces[i], pieces[i + 1], pieces[i + 2], pieces[i + 3]
            if key not in seen:
                seen.add(key)
                if isinstance(held, FrameRuns):
                    chunk, pts = held, self.tables.pts_of(info, held)
                else:  # a constant-rate chunk: the rule from its first frame, three integers
                    chunk = FrameRuns.rule(held, big_b, big_c, count)
                    pts = rule_pts(info, held, big_b, big_c, count)
                self.jobs.append(self._job(key, chunk, pts, context, item))
            placements.append(Placement(first + a, count, key, name))

    def _place_frames(
        self,
        item: ClipItem,
        info: SourceInfo,
        span: range,
        context: ClipContext,
        frames: np.ndarray[Any, np.dtype[np.int64]],
        bounds: np.ndarray[Any, np.dtype[np.int64]],
    ) -> None:
        """A clip under a speed change, a freeze, a reverse or a still: its frames listed once,
        each chunk's runs cut from them."""
        cutter = RunCutter(frames)
        key_runs, seen, placements = context.keyer.key_runs, self.seen, self.placements
        for a, b in split_by_chunk(frames, bounds):
            chunk = cutter.cut(a, b)
            key = key_runs(chunk.flat)
            if key not in seen:
                seen.add(key)
                pts = self.tables.pts_of(info, chunk, frames[a:b])
                self.jobs.append(self._job(key, chunk, pts, context, item))
            placements.append(Placement(span.start + a, b - a, key, item.name))

    def _job(
        self, key: str, chunk: FrameRuns, pts: Sequence[int], context: ClipContext, item: ClipItem
    ) -> SegmentJob:
        """The chunk's job, built without ``SegmentJob.__post_init__``: what it checks holds by
        construction here (one chunk of a clip's monotonic frames, ``pts`` its distinct frames'
        timestamps, a source with its geometry, a look's path with its hash), and the checks are
        most of a job's cost in a large plan.  The tests rebuild planned jobs through the checks
        (``dataclasses.replace``).  Fields are set one by one, in order, as ``__init__`` does:
        the instance then keeps its attributes inline (a ``__dict__`` filled at once would be a
        separate dict, about 350 bytes more per job)."""
        job: SegmentJob = object.__new__(SegmentJob)
        put = object.__setattr__
        put(job, "key", key)
        put(job, "frames", chunk)
        put(job, "frame_pts", pts)
        put(job, "count", len(chunk))
        put(job, "source", context.source)
        put(job, "geometry", context.geometry)
        put(job, "lut_path", context.lut_path)
        put(job, "lut_hash", context.lut_hash)
        put(job, "encode", self.encode)
        put(job, "label", f"{self.spec.name}/{item.name}")
        put(job, "fill", "black")
        put(job, "layers", ())
        return job


def rule_pts(info: SourceInfo, a: int, b: int, c: int, count: int) -> Sequence[int]:
    """The timestamps of the distinct frames ``(a + k * b) // c``, ``k < count`` (``b > 0``): a
    view of the probe's tuple (``pts.PtsView``), of every frame from the first to the last when
    some repeat (``b < c``), else of the rule's frames themselves."""
    if b < c:  # steps of 0 or 1: every frame from the first to the last
        return pts_slice(info.frame_pts, a // c, (a + (count - 1) * b) // c + 1)
    return pts_view(info.frame_pts, a, b, c, count)


def clip_context(
    spec: VariantSpec,
    info: SourceInfo,
    encode: EncodeSpec,
    tables: SourceTables,
    cache_root: Path | None,
    segment_seconds: Fraction,
) -> ClipContext:
    """Geometry, look, key prefix and chunk grid of ``info``'s clips in ``spec``."""
    out = spec.output
    dw, dh = info.display_size
    geometry = fit_geometry(dw, dh, info.rotation, out.width, out.height, out.fit)
    source = source_ref(info)
    # the output's transfer decides the LUT's output transform
    memo_key = (spec.look, out.transfer, out.peak_nits, info.path, info.identity, cache_root)
    look = tables.looks.get(memo_key)
    if look is None:
        look = plan_look(spec.look, spec.name, info.path, info.identity, cache_root, info=info, output=out)
        tables.looks[memo_key] = look
    lut_path, lut_hash, look_job = look
    keyer = FramesKey(
        "clip",
        source=info.identity,
        geometry=geometry,
        colour=[info.colorspace, info.color_range] + (["alpha over black"] if info.alpha else []),
        # how the picture is read, when it is not the plain progressive, unmirrored case
        **_reading(info),
        lut=lut_hash,
        encode=encode,
    )
    bounds = tables.grid(info, segment_seconds)
    return ClipContext(
        source, geometry, lut_path, lut_hash, look_job, keyer, bounds, tables.grid_list(info, segment_seconds)
    )


def _reading(info: SourceInfo) -> dict[str, object]:
    """Key parts for deinterlacing, mirroring and chroma siting; empty for a plain progressive,
    unmirrored source whose siting is not said."""
    parts: dict[str, object] = {}
    if info.chroma_location:
        parts["chroma_loc"] = info.chroma_location
    if info.interlaced:
        parts["deinterlace"] = ["bwdif", info.field_order]
    if info.mirrored:
        parts["mirror"] = True
    return parts
