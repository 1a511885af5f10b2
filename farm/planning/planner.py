"""Plan: every variant → output frames → segments with content keys.

Pure given the probes: no Ray, no GPU, no decoding.  Segments never cross a
cut; long shots are chunked on a grid anchored to the *source* (snapped to the
source's keyframes, so a worker never decodes frames it throws away), which
makes two variants that trim the same shot differently share every chunk that
lies inside both trims.  Identical segments across variants are one job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from farm.edit.cut import ClipItem, Cut, GapItem
from farm.edit.project import Project, VariantSpec
from farm.edit.read_cut import load_cut_isolated
from farm.edit.timing import frame_count, output_frames_of
from farm.errors import FarmError, MediaError, MissingInputError, Where
from farm.look.bake import plan_look
from farm.media.audio import audio_key
from farm.media.probe import SourceInfo, probe
from farm.planning.keys import FramesKey, content_key
from farm.planning.sampling import SourceTables, chunk_grid, split_by_chunk
from farm.planning.units import (
    AudioClip,
    AudioJob,
    EncodeSpec,
    Geometry,
    LookJob,
    SegmentJob,
    SourceRef,
    fit_geometry,
)


@dataclass(frozen=True)
class Placement:
    """A job's place in one variant: output frames ``[start, start + count)``."""

    start: int
    count: int
    key: str
    clip: str | None  # None for black (gap)


@dataclass(frozen=True)
class VariantPlan:
    name: str
    spec: VariantSpec
    frames: int
    placements: tuple[Placement, ...]
    audio: AudioJob
    warnings: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.placements]


@dataclass
class RenderPlan:
    variants: dict[str, VariantPlan] = field(default_factory=dict)
    jobs: dict[str, SegmentJob] = field(default_factory=dict)  # key → job, shared across variants
    looks: dict[str, LookJob] = field(default_factory=dict)  # look key → the LUT to bake first
    look_users: dict[str, set[str]] = field(default_factory=dict)  # look key → variants needing it
    failed: dict[str, FarmError] = field(default_factory=dict)  # variant → why it cannot render

    def shared_keys(self) -> set[str]:
        """Keys used by more than one variant."""
        seen: dict[str, int] = {}
        for vp in self.variants.values():
            for key in set(vp.keys):
                seen[key] = seen.get(key, 0) + 1
        return {k for k, n in seen.items() if n > 1}

    def summary(self) -> dict[str, Any]:
        shared = self.shared_keys()
        out: dict[str, Any] = {"variants": {}, "unique_segments": len(self.jobs)}
        for name, vp in self.variants.items():
            keys = set(vp.keys)
            out["variants"][name] = {
                "frames": vp.frames,
                "segments": len(vp.placements),
                "shared": len(keys & shared),
                "duration_seconds": float(Fraction(vp.frames) / vp.spec.output.fps),
            }
        out["unique_frames"] = sum(j.count for j in self.jobs.values())
        out["failed"] = {name: str(err) for name, err in self.failed.items()}
        return out


def gop_frames(fps: Fraction) -> int:
    """Keyframe interval inside a segment: two seconds, as streaming players expect."""
    return max(1, round(2 * fps))


def chunk_boundaries(info: SourceInfo, segment_seconds: Fraction) -> list[int]:
    """Source frames where chunks start: a grid of ``segment_seconds`` snapped forward to keyframes."""
    return [int(f) for f in chunk_grid(info, segment_seconds)]


def plan_variant(
    spec: VariantSpec,
    cut: Cut,
    probe_source: Callable[[Path, Where], SourceInfo],
    segment_seconds: Fraction = Fraction(2),
    family: str = "cpu",
    cache_root: Path | None = None,
    tables: SourceTables | None = None,
    known: set[str] | None = None,
) -> tuple[VariantPlan, list[SegmentJob], list[LookJob]]:
    """Plan one variant: its placements, and the segment jobs and look jobs they need.

    Jobs are listed once per key; keys in ``known`` (jobs another variant already
    has) are placed but not listed again.  ``tables`` shares the per-source integer
    tables (pts, chunk grid) between variants.
    """
    tables = tables if tables is not None else SourceTables()
    seen: set[str] = known if known is not None else set()
    out = spec.output
    rate = out.fps
    total = frame_count(cut.duration, rate)
    encode = EncodeSpec(
        codec=out.codec,
        quality=out.quality,
        preset=out.preset,
        width=out.width,
        height=out.height,
        fps=rate,
        gop=gop_frames(rate),
        family=family,
    )
    placements: list[Placement] = []
    jobs: list[SegmentJob] = []
    looks: list[LookJob] = []
    gap_chunk = max(1, round(segment_seconds * rate))
    contexts: dict[tuple[str, str], _ClipContext] = {}  # what every clip of one source shares

    for item in cut.video:
        span = output_frames_of(item.start, item.duration, rate)
        span = range(span.start, min(span.stop, total))
        if not span:
            continue
        if isinstance(item, GapItem):
            for first in range(span.start, span.stop, gap_chunk):
                count = min(gap_chunk, span.stop - first)
                key = content_key("black", count=count, encode=encode)
                placements.append(Placement(first, count, key, None))
                if key in seen:
                    continue
                seen.add(key)
                jobs.append(
                    SegmentJob(
                        key=key,
                        frames=(),
                        frame_pts=(),
                        count=count,
                        source=None,
                        geometry=None,
                        lut_path=None,
                        lut_hash=None,
                        encode=encode,
                        label=f"{spec.name}/gap",
                    )
                )
            continue
        assert isinstance(item, ClipItem)
        where = Where(variant=spec.name, clip=item.name, path=str(item.path))
        info = probe_source(item.path, where)
        frames = tables.source_frames(info, item.source_in - item.start, rate, span)
        if frames[-1] >= info.frames or frames[0] < 0:
            first, last = int(frames[0]), int(frames[-1])
            last_needed = info.frame_at(item.source_in + item.duration - Fraction(1, 10**9))
            raise MediaError(
                f"the clip's range (source {float(item.source_in):.3f}s to "
                f"{float(item.source_in + item.duration):.3f}s) lies outside its source, which has "
                f"{info.frames} frames ({float(info.duration):.3f}s)",
                Where(
                    variant=spec.name,
                    clip=item.name,
                    path=str(item.path),
                    frames=(first, max(last, last_needed) + 1),
                ),
                hint="shorten the clip in the cut or relink it to the full-length media",
            )
        context = contexts.get((info.path, info.identity))
        if context is None:
            context = _clip_context(spec, info, encode, tables, cache_root)
            contexts[(info.path, info.identity)] = context
            if context.look_job is not None:
                looks.append(context.look_job)
        source, geometry, lut_path, lut_hash, keyer = (
            context.source,
            context.geometry,
            context.lut_path,
            context.lut_hash,
            context.keyer,
        )
        bounds = tables.grid(info, segment_seconds)
        for a, b in split_by_chunk(frames, bounds):
            chunk = frames[a:b]
            key = keyer.key(chunk)
            placements.append(Placement(span.start + a, b - a, key, item.name))
            if key in seen:
                continue  # the same work earlier in this variant (or in another, when shared)
            seen.add(key)
            jobs.append(
                SegmentJob(
                    key=key,
                    frames=tables.frame_tuple(chunk),
                    frame_pts=tables.pts_tuple(info, _distinct(chunk)),
                    count=b - a,
                    source=source,
                    geometry=geometry,
                    lut_path=lut_path,
                    lut_hash=lut_hash,
                    encode=encode,
                    label=f"{spec.name}/{item.name}",
                )
            )

    audio = _plan_audio(cut, total, rate, probe_source)
    plan = VariantPlan(
        name=spec.name,
        spec=spec,
        frames=total,
        placements=tuple(placements),
        audio=audio,
        warnings=cut.warnings,
    )
    return plan, jobs, looks


def _distinct(frames: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The distinct values of a non-decreasing array, in order (``np.unique`` without its sort)."""
    keep = np.empty(len(frames), dtype=bool)
    keep[0] = True
    np.not_equal(frames[1:], frames[:-1], out=keep[1:])
    return frames[keep]


@dataclass(frozen=True)
class _ClipContext:
    """What every clip of one source in one variant shares: decided once per source."""

    source: SourceRef
    geometry: Geometry
    lut_path: str | None
    lut_hash: str | None
    look_job: LookJob | None
    keyer: FramesKey  # the key's prefix: everything but the frames


def _clip_context(
    spec: VariantSpec, info: SourceInfo, encode: EncodeSpec, tables: SourceTables, cache_root: Path | None
) -> _ClipContext:
    out = spec.output
    dw, dh = info.display_size
    geometry = fit_geometry(dw, dh, info.rotation, out.width, out.height, out.fit)
    source = SourceRef(
        path=info.path,
        identity=info.identity,
        time_base=info.time_base,
        colorspace=info.colorspace,
        color_range=info.color_range,
        width=info.width,
        height=info.height,
        sar=info.sar,
    )
    memo_key = (spec.look, info.path, info.identity, cache_root)
    look = tables.looks.get(memo_key)
    if look is None:
        look = plan_look(spec.look, spec.name, info.path, info.identity, cache_root)
        tables.looks[memo_key] = look
    lut_path, lut_hash, look_job = look
    keyer = FramesKey(
        "clip",
        source=info.identity,
        geometry=geometry,
        colour=[info.colorspace, info.color_range],
        lut=lut_hash,
        encode=encode,
    )
    return _ClipContext(source, geometry, lut_path, lut_hash, look_job, keyer)


def _plan_audio(
    cut: Cut, total_frames: int, rate: Fraction, probe_source: Callable[[Path, Where], SourceInfo]
) -> AudioJob:
    tracks = []
    for track in cut.audio_clips():
        clips = []
        for item in track:
            where = Where(variant=cut.variant, clip=item.name, path=str(item.path))
            info = probe_source(item.path, where)
            clips.append(
                AudioClip(
                    path=info.path,
                    identity=info.identity,
                    has_audio=info.has_audio,
                    start=item.start,
                    duration=item.duration,
                    source_in=item.source_in,
                    origin=info.start_pts * info.time_base,
                )
            )
        tracks.append(tuple(clips))
    duration = Fraction(total_frames) / rate
    return AudioJob(key=audio_key(tuple(tracks), duration), tracks=tuple(tracks), duration=duration)


def plan_project(
    project: Project,
    variants: Iterable[str] | None = None,
    cache_dir: Path | None = None,
    family: str = "cpu",
) -> RenderPlan:
    """Plan the named variants (all by default).  A variant that cannot be planned is
    recorded in ``failed`` with its error; the others are planned regardless."""
    names = list(variants) if variants else list(project.variants)
    plan = RenderPlan()
    probes: dict[Path, SourceInfo | FarmError] = {}
    tables = SourceTables()  # pts and chunk grids, once per source for every variant

    def probe_source(path: Path, where: Where) -> SourceInfo:
        if path not in probes:
            try:
                probes[path] = probe(path, cache_dir)  # context is added per use below
            except FarmError as exc:
                probes[path] = exc
        result = probes[path]
        if isinstance(result, FarmError):
            raise result.with_where(variant=where.variant, clip=where.clip)
        return result

    for name in names:
        if name not in project.variants:
            plan.failed[name] = MissingInputError(
                f"no variant named {name!r} in the project",
                Where(variant=name, path=str(project.path)),
                hint=f"variants: {', '.join(project.variants)}",
            )
            continue
        spec = project.variants[name]
        try:
            cut = load_cut_isolated(name, spec.timeline, project.root, project.allowed_roots())
            vplan, jobs, looks = plan_variant(
                spec, cut, probe_source, project.segment_seconds, family, cache_dir, tables, set(plan.jobs)
            )
        except FarmError as exc:
            plan.failed[name] = exc.with_where(variant=name)
            continue
        plan.variants[name] = vplan
        for job in jobs:
            plan.jobs.setdefault(job.key, job)
        for look in looks:
            plan.looks.setdefault(look.key, look)
            plan.look_users.setdefault(look.key, set()).add(name)
    return plan
