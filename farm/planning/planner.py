"""Plan: every variant → output frames → segments with content keys.

Pure given the probes: no Ray, no GPU, no decoding.  Segments never cross a
cut; long shots are chunked on a grid anchored to the *source* (snapped to the
source's keyframes, so a worker never decodes frames it throws away), which
makes two variants that trim the same shot differently share every chunk that
lies inside both trims.  Identical segments across variants are one job.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from farm.edit.cut import ClipItem, Cut, GeneratorItem
from farm.edit.project import Project, VariantSpec
from farm.edit.read_cut import start_read
from farm.edit.timing import frame_count
from farm.errors import FarmError, MissingInputError, Where
from farm.look.output import encode_transfer
from farm.media.probe import SourceInfo, probe
from farm.media.sequences import probe_sequence
from farm.planning.audio_plan import plan_audio
from farm.planning.boundaries import CutPoints, reshare
from farm.planning.composite import layer_runs
from farm.planning.layered import composite_segments, fill_segments, mixed_8bit_warnings
from farm.planning.plain import Placement as Placement
from farm.planning.plain import PlainClips
from farm.planning.sampling import SourceTables, chunk_grid
from farm.planning.sources import ClipSource, clip_source
from farm.planning.units import AudioJob, EncodeSpec, LookJob, SegmentJob


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
                "warnings": list(vp.warnings),
            }
        out["unique_frames"] = sum(j.count for j in self.jobs.values())
        out["failed"] = {name: str(err) for name, err in self.failed.items()}
        return out


def gop_frames(fps: Fraction) -> int:
    """Keyframe interval inside a segment: two seconds, as streaming players expect."""
    return max(1, round(2 * fps))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while planning.

    A plan is hundreds of thousands of small objects that refer to each other
    without cycles, and each automatic collection pass walks every object the
    plan has built so far: in a 10-variant, 20,000-clip plan those passes were
    about a fifth of the planning time.  Nothing is freed later than it would
    be: reference counting frees the planner's garbage as before, and the
    collector resumes (where it was on) when planning ends.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def chunk_boundaries(info: SourceInfo, segment_seconds: Fraction) -> list[int]:
    """Source frames where chunks start: a grid of ``segment_seconds`` snapped forward to keyframes."""
    return [int(f) for f in chunk_grid(info, segment_seconds)]


@collector_paused()
def plan_variant(
    spec: VariantSpec,
    cut: Cut,
    probe_source: Callable[[Path, Where], SourceInfo],
    segment_seconds: Fraction = Fraction(2),
    family: str = "cpu",
    cache_root: Path | None = None,
    tables: SourceTables | None = None,
    known: set[str] | None = None,
    cuts: CutPoints | None = None,
) -> tuple[VariantPlan, list[SegmentJob], list[LookJob]]:
    """Plan one variant: its placements, and the segment jobs and look jobs they need.

    Jobs are listed once per key; keys in ``known`` (jobs another variant already
    has) are placed but not listed again.  ``tables`` shares the per-source integer
    tables (pts, chunk grid) between variants; ``cuts`` collects and applies the
    cut points every variant adds where a plain run stops inside its clip
    (``boundaries.py``).
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
        bit_depth=out.bit_depth,
        **encode_transfer(out, family, spec.name),  # BT.709, or HDR10 / HLG with their metadata
    )
    placements: list[Placement] = []
    jobs: list[SegmentJob] = []
    looks: list[LookJob] = []
    gap_chunk = max(1, round(segment_seconds * rate))
    layered: dict[int, ClipSource] = {}  # composited clips: their source, decided once per clip
    mixed_8bit: list[range] = []  # composited frames the nvidia kernels mix at 8 bits for a deeper output

    probed: dict[str, SourceInfo] = {}

    def info_of(item: ClipItem) -> SourceInfo:
        if item.sequence is not None:
            seq = probe_sequence(item.sequence, spec.name, item.name)
            assert isinstance(seq, SourceInfo)
            return seq
        name = str(item.path)  # a str key: Path's own __hash__ and __eq__ are Python code
        info = probed.get(name)
        if info is None:  # a source that probes is probed once; one that fails raises for this clip
            info = probed[name] = probe_source(item.path, Where(variant=spec.name, clip=item.name, path=name))
        return info

    def source_of(item: ClipItem) -> ClipSource:
        if id(item) not in layered:
            cs = clip_source(item, spec, lambda _p, _w: info_of(item), cache_root)
            layered[id(item)] = cs
            if cs.look_job is not None:
                looks.append(cs.look_job)
        return layered[id(item)]

    note_cuts = len(cut.layers) > 1 or bool(cut.transitions)
    clips = PlainClips(
        spec, encode, tables, cache_root, segment_seconds, cuts, note_cuts, seen, placements, jobs, looks
    )

    def place(first: int, job: SegmentJob, clip: str | None) -> None:
        placements.append(Placement(first, job.count, job.key, clip))
        if job.key not in seen:
            seen.add(job.key)
            jobs.append(job)

    for run in layer_runs(cut, rate, total, lambda clip: source_of(clip).covers):
        span = range(run.start, run.stop)
        if run.entries is not None:  # several layers, or weights: composited
            if family != "cpu" and encode.bit_depth > 8:
                mixed_8bit.append(span)
            for first, job in composite_segments(run, spec, encode, rate, gap_chunk, source_of):
                place(first, job, job.label.split("/", 1)[1])
            continue
        item = run.item
        if not isinstance(item, ClipItem):  # a gap, or a generator with nothing below it
            fill = item.fill.token if isinstance(item, GeneratorItem) else "black"
            label = item.name if isinstance(item, GeneratorItem) else "gap"
            for first, job in fill_segments(span, fill, f"{spec.name}/{label}", encode, gap_chunk):
                place(first, job, None)
            continue
        clips.place(item, info_of(item), span, total)

    audio = plan_audio(cut, total, rate, probe_source)
    plan = VariantPlan(
        name=spec.name,
        spec=spec,
        frames=total,
        placements=tuple(placements),
        audio=audio,
        warnings=(*cut.warnings, *mixed_8bit_warnings(spec.name, mixed_8bit, encode.bit_depth)),
    )
    return plan, jobs, looks


@collector_paused()
def plan_project(
    project: Project,
    variants: Iterable[str] | None = None,
    cache_dir: Path | None = None,
    family: str = "cpu",
    reads: Mapping[str, Callable[[], Cut]] | None = None,
) -> RenderPlan:
    """Plan the named variants (all by default).  A variant that cannot be planned is
    recorded in ``failed`` with its error; the others are planned regardless.

    ``reads``: every variant's cut, as :func:`start_cut_reads` started them (started here
    when not given)."""
    names = list(variants) if variants else list(project.variants)
    reads = start_cut_reads(project) if reads is None else reads
    plan = RenderPlan()
    probes: dict[Path, SourceInfo | FarmError] = {}
    tables = SourceTables()  # pts and chunk grids, once per source for every variant

    def probe_one(path: Path) -> None:
        try:
            probes[path] = probe(path, cache_dir)  # context is added per use below
        except FarmError as exc:
            probes[path] = exc

    def probe_source(path: Path, where: Where) -> SourceInfo:
        if path not in probes:
            probe_one(path)
        result = probes[path]
        if isinstance(result, FarmError):
            raise result.with_where(variant=where.variant, clip=where.clip)
        return result

    # every variant of the project adds its cut points, asked for or not, so a variant's segments
    # are the same whichever variants one run renders; those not asked for are planned first
    cuts = CutPoints()
    plan_one = partial(
        plan_variant,
        probe_source=probe_source,
        segment_seconds=project.segment_seconds,
        family=family,
        cache_root=cache_dir,
        tables=tables,
        cuts=cuts,
    )
    others = [n for n in project.variants if n not in names]
    cut_of: dict[str, Cut] = {}
    cut_read: dict[str, Cut | FarmError] = {}

    def read_cut(name: str) -> Cut:
        if not cut_read:  # every variant's cut first, then all their sources probed together
            for n in others + names:
                if n in reads:
                    try:
                        cut_read[n] = reads[n]()
                    except FarmError as exc:
                        cut_read[n] = exc
            _probe_all(cut_read, probe_one)
        read = cut_read[name]
        if isinstance(read, FarmError):
            raise read
        return read

    for name in others + names:
        if name not in project.variants:
            plan.failed[name] = MissingInputError(
                f"no variant named {name!r} in the project",
                Where(variant=name, path=str(project.path)),
                hint=f"variants: {', '.join(project.variants)}",
            )
            continue
        spec = project.variants[name]
        try:
            cut_of[name] = cut = read_cut(name)
            vplan, jobs, looks = plan_one(spec, cut, known=set(plan.jobs))
        except FarmError as exc:
            if name in names:  # one not asked for only lends its cut points: its errors are its own
                plan.failed[name] = exc.with_where(variant=name)
            continue
        if name not in names:
            continue
        plan.variants[name] = vplan
        for job in jobs:
            plan.jobs.setdefault(job.key, job)
        for look in looks:
            plan.looks.setdefault(look.key, look)
            plan.look_users.setdefault(look.key, set()).add(name)

    # variants that a cut point found later splits are planned again
    reshare(plan, cuts, lambda name: plan_one(project.variants[name], cut_of[name], known=set(plan.jobs)))
    return plan


def _probe_all(cuts: Mapping[str, Cut | FarmError], probe_one: Callable[[Path], None]) -> int:
    """Probe every video file the cuts place, in threads (libav demuxes and decodes without the GIL).

    Probing a 4K source reads its every packet and decodes a frame (about 0.1 s); four of them took
    0.41 s one after the other and 0.22-0.28 s in threads on 2 cores.  Returns how many files."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    paths = sorted(
        {
            item.path
            for cut in cuts.values()
            if not isinstance(cut, FarmError)
            for layer in cut.layers
            for item in layer
            if isinstance(item, ClipItem) and item.sequence is None
        }
    )
    if len(paths) > 1:
        threads = min(len(paths), os.cpu_count() or 1)
        with ThreadPoolExecutor(threads, thread_name_prefix="farm-probe") as pool:
            list(pool.map(probe_one, paths))
    return len(paths)


def start_cut_reads(project: Project) -> dict[str, Callable[[], Cut]]:
    """Every variant's cut read, started now (:func:`farm.edit.read_cut.start_read`); call one for its cut.

    Started from a process that runs one thread, the reads run in forked children side by side,
    beside whatever this process does next (a render starts Ray meanwhile)."""
    return {
        name: start_read(
            name,
            spec.timeline,
            project.root,
            project.allowed_roots(),
            output_rate=spec.output.fps,
            timeline_rate=spec.timeline_rate,
            timeline_name=spec.timeline_name,
            media_search=project.media_search,
        )
        for name, spec in project.variants.items()
    }
