"""The render loop: run what a plan still needs, and stitch each variant as its last piece lands.

Before anything runs, :func:`find_work` decides, once:

* which variants are *active*: an output that already holds exactly its plan
  (the digest stitched into it) needs nothing, not even its cached segments;
* which active variant *owns* each segment: the first to need it. A segment
  rendered in this run counts as rendered for its owner and as reused for
  every other variant (and a piece used twice in one variant counts once);
* which segments, audio tracks and looks are missing.

:class:`RenderLoop` then hands the missing work to an executor as one
:class:`~farm.execute.protocol.WorkBatch` and follows the outcomes: a failed
unit fails every variant using it (a failed look fails its variants); a unit
whose variants have all failed is skipped; a variant's segments are appended
to its output, in output order, as they land (:mod:`farm.execute.stitching`),
and when its last piece lands it is finished — the rest, the check, the rename —
on a thread of its own, so the executor keeps its workers fed meanwhile; a
variant some of whose work never ran ends as an internal error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from farm.errors import FarmError, InternalError, Where
from farm.execute.protocol import AudioUnit, ExecutorSession, Outcome, WorkBatch
from farm.execute.stitching import ProgressiveStitch
from farm.media.stitch import StitchPiece, discard, extend, stitch, stitched_plan_digest
from farm.media.stitch_writer import StitchWriter
from farm.output.cache import Cache
from farm.output.metrics import RenderMetrics
from farm.output.progress import Progress
from farm.output.report import RenderReport, VariantResult
from farm.planning.planner import RenderPlan, VariantPlan


def variant_digest(vp: VariantPlan) -> str:
    """What a variant's finished file is made of; stored in the file to spot up-to-date outputs."""
    blob = json.dumps([[p.start, p.count, p.key] for p in vp.placements] + [vp.audio.key]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def output_path(out_dir: Path, variant: str, codec: str = "h264") -> Path:
    """Where a variant's finished file goes: an .mp4, or a .mov for the mezzanines (which MP4 cannot hold)."""
    from farm.edit.project import MOV_CODECS

    return out_dir / f"{variant}{'.mov' if codec in MOV_CODECS else '.mp4'}"


@dataclass(frozen=True)
class Work:
    """What a plan still needs, decided once before anything runs."""

    active: tuple[str, ...]  # variants to stitch now, in plan order (the rest are up to date)
    owner: Mapping[str, str]  # segment key -> the first active variant using it
    users: Mapping[str, frozenset[str]]  # segment, audio or look key -> active variants needing it
    cached: frozenset[str]  # segment keys of active variants found in the cache
    waiting: Mapping[str, frozenset[str]]  # active variant -> the keys it waits for before stitching
    digests: Mapping[str, str]  # variant -> what its finished file is made of (variant_digest)
    batch: WorkBatch  # the missing segments, audio tracks and looks
    warnings: tuple[str, ...] = ()  # damaged cache entries found (they are rendered again)


def find_work(plan: RenderPlan, out_dir: Path, cache: Cache, backend: str) -> Work:
    """Decide which variants need work, who owns each segment, and what is missing."""
    digests = {name: variant_digest(vp) for name, vp in plan.variants.items()}
    active = [name for name, vp in plan.variants.items() if not _up_to_date(vp, out_dir, digests[name])]
    owner: dict[str, str] = {}
    users: dict[str, set[str]] = {}
    for name in active:
        for key in plan.variants[name].keys:
            owner.setdefault(key, name)
            users.setdefault(key, set()).add(name)
    needed = [key for key in plan.jobs if key in users]
    damaged: list[str] = []
    cached = frozenset(key for key in needed if cache.segment_meta(key, damaged.append) is not None)
    # longest first: the last segments to finish are short ones, so workers finish together
    segments = sorted((plan.jobs[k] for k in needed if k not in cached), key=lambda j: -j.count)
    audio: dict[str, AudioUnit] = {}
    for name in active:
        job = plan.variants[name].audio
        users.setdefault(job.key, set()).add(name)
        if not cache.audio_path(job.key).is_file():
            audio.setdefault(job.key, AudioUnit(job, cache.audio_path(job.key)))
    looks = [
        job
        for job in plan.looks.values()
        if not Path(job.cube_path).is_file() and plan.look_users.get(job.key, set()) & set(active)
    ]
    for key, names in plan.look_users.items():
        users.setdefault(key, set()).update(n for n in names if n in active)
    waiting = {}
    for name in active:
        vp = plan.variants[name]
        waiting[name] = frozenset({k for k in vp.keys if k not in cached} | ({vp.audio.key} & audio.keys()))
    return Work(
        active=tuple(active),
        owner=owner,
        users={key: frozenset(names) for key, names in users.items()},
        cached=cached,
        waiting=waiting,
        digests=digests,
        batch=WorkBatch(
            tuple(segments),
            tuple(audio.values()),
            tuple(looks),
            cache.root,
            backend,
            cache.location if cache.store else "",
        ),
        warnings=tuple(damaged),
    )


def _up_to_date(vp: VariantPlan, out_dir: Path, digest: str) -> bool:
    return stitched_plan_digest(output_path(out_dir, vp.name, vp.spec.output.codec)) == digest


class RenderLoop:
    """Execute a plan: render what is missing, stitch each variant as soon as it can be.

    Every requested variant gets a :class:`VariantResult`; a variant that cannot
    render fails alone, with its error, and the others still render.
    """

    def __init__(
        self,
        plan: RenderPlan,
        out_dir: Path,
        cache: Cache,
        backend: str,
        *,
        names: Sequence[str] | None = None,
        backend_reason: str = "",
        progress_stream: TextIO | None = None,
        metrics: RenderMetrics | None = None,
        started: float | None = None,
    ) -> None:
        """``names``: the variants asked for (default: every variant of the plan, failed or not);
        ``started``: ``time.perf_counter()`` when the render began (default: now)."""
        self.plan = plan
        self.out_dir = out_dir
        self.cache = cache
        self.backend = backend
        self.backend_reason = backend_reason
        self.log = progress_stream or sys.stderr
        self.metrics = metrics or RenderMetrics()
        self.started = time.perf_counter() if started is None else started
        self.names = list(names) if names is not None else [*plan.variants, *plan.failed]
        self.results = {name: VariantResult(name=name) for name in self.names}
        self._record_plan()
        self.work = find_work(plan, out_dir, cache, backend)
        segments = self.work.batch.segments
        self.progress = Progress(len(segments), sum(j.count for j in segments), stream=self.log)
        #: keys made in this run (segments count as rendered for their owner only)
        self.rendered_now: set[str] = set()
        #: source file -> how the backend decoded it where its segments say (the nvidia backend's routes)
        self.decoded: dict[str, str] = {}
        self._waiting = {name: set(keys) for name, keys in self.work.waiting.items()}
        self._finishing: set[str] = set()
        # stitching runs on its own thread: the executor keeps feeding workers meanwhile,
        # and the last stitches overlap with stopping Ray
        self._stitcher = ThreadPoolExecutor(1, thread_name_prefix="farm-stitch")
        self._stitches: list[Future[None]] = []
        active = {name: plan.variants[name] for name in self.work.active}
        queued_audio = {unit.key for unit in self.work.batch.audio}
        self._progressive = ProgressiveStitch(
            active,
            {name: output_path(out_dir, name, vp.spec.output.codec) for name, vp in active.items()},
            self.work.digests,
            cache,
            self.results,
            ready=self.work.cached | {vp.audio.key for vp in active.values()} - queued_audio,
            extend=self._extend,
        )

    def _record_plan(self) -> None:
        for name, err in self.plan.failed.items():
            self.results[name].error = err
        for name, vp in self.plan.variants.items():
            r = self.results[name]
            r.frames, r.segments, r.warnings = vp.frames, len(vp.placements), list(vp.warnings)

    # ------------------------------------------------------------------ running

    def run(self, session: ExecutorSession, workers: int = 0) -> RenderReport:
        """Run the missing work on ``session``'s executor (started only if there is any).

        ``workers`` is what the report says when nothing had to run.  The session
        is closed (a local Ray stopped) as soon as the work is done, while the
        last variants are still stitching.
        """
        for vp in self.plan.variants.values():
            for warning in vp.warnings:
                print(f"warning: {warning}", file=self.log)
        for warning in self.work.warnings:
            print(f"warning: {warning}", file=self.log)
        self.metrics.in_progress.set(len(self.work.batch.segments))
        self.metrics.segments.labels("reused").inc(len(self.work.cached))
        try:
            # variants with nothing to render are stitched (or found up to date) straight away
            for name in self.plan.variants:
                if not self._waiting.get(name):
                    self._stitch_later(name)
            # what the cache already holds is appended while the executor starts
            self._on_stitch_thread(self._progressive.advance, [n for n in self._waiting if self._waiting[n]])
            if not self.work.batch.empty:
                executor = session.executor()
                workers = executor.workers
                batch = dataclasses.replace(self.work.batch, driver_thread=self._stitcher)
                executor.run(batch, self._on_done, self._skip)
            session.close()
        except BaseException:
            self._progressive.stop()  # interrupted: the stitches already due still run, appends do not
            raise
        finally:
            self._stitcher.shutdown(wait=True)
            self._progressive.discard_all()  # files of variants that never finished
        for done in self._stitches:
            done.result()  # _finish_variant turns FarmErrors into variant errors; anything else is a bug
        self._fail_incomplete()
        return RenderReport(
            backend=self.backend,
            backend_reason=self.backend_reason,
            variants=self.results,
            seconds=self._elapsed(),
            workers=workers,
            decode=dict(sorted(self.decoded.items())),
        )

    def _on_done(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            self._fail_users(outcome.key, outcome.error)
        elif outcome.rendered:
            self.rendered_now.add(outcome.key)
        if outcome.kind == "look":
            return  # no variant waits for a look: the executor runs every look before any segment
        if outcome.kind == "segment":
            self._count_segment(outcome)
        growing = []  # the variants that still wait for more: what landed may extend their files
        for name in sorted(self.work.users.get(outcome.key, ())):
            pending = self._waiting[name]
            pending.discard(outcome.key)
            if pending:
                growing.append(name)
            elif not self.results[name].done:
                self._stitch_later(name)
        if outcome.error is None and growing:
            self._on_stitch_thread(self._progressive.advance, growing, outcome.key)

    def _skip(self, key: str) -> bool:
        """Nobody needs ``key`` any more: every variant using it has failed."""
        return all(self.results[n].error is not None for n in self.work.users.get(key, ()))

    def _fail_users(self, key: str, err: FarmError) -> None:
        for name in sorted(self.work.users.get(key, ())):
            r = self.results[name]
            if r.error is None:
                r.error = err.with_where(variant=name)
                r.seconds = self._elapsed()
                self.progress.note(f"{name}: FAILED: {r.error}")

    def _count_segment(self, outcome: Outcome) -> None:
        frames = self.plan.jobs[outcome.key].count
        self.progress.advance(frames)
        self.metrics.in_progress.dec()
        state = "failed" if outcome.error else ("rendered" if outcome.rendered else "reused")
        self.metrics.segments.labels(state).inc()
        self._note_decode(outcome.meta.get("decode"))
        if outcome.rendered:
            self.metrics.frames.inc(frames)
            self.metrics.segment_seconds.observe(float(outcome.meta.get("seconds", 0.0)))

    def _note_decode(self, routes: object) -> None:
        """Record each source's decode route once; say it when it is not the backend's own decoder."""
        if not isinstance(routes, dict):
            return
        for path, route in routes.items():
            if str(path) not in self.decoded:
                self.decoded[str(path)] = str(route)
                if str(route) != "nvdec":
                    self.progress.note(f"{path}: {route}")

    def _fail_incomplete(self) -> None:
        for name, r in self.results.items():
            if not r.done:
                r.error = InternalError(
                    "the variant never completed (some of its work was not run)", Where(variant=name)
                )
            self.metrics.variants.labels("failed" if r.error else "done").inc()

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started

    # ------------------------------------------------------------------ finishing a variant

    def _on_stitch_thread(self, call: Callable[..., None], *args: object) -> None:
        self._stitches.append(self._stitcher.submit(call, *args))

    def _stitch_later(self, name: str) -> None:
        if name not in self._finishing:
            self._finishing.add(name)
            self._on_stitch_thread(self._finish_variant, name)

    def _finish_variant(self, name: str) -> None:
        """On the stitch thread: write (or find up to date) one variant's output."""
        vp = self.plan.variants[name]
        r = self.results[name]
        if r.error is not None:
            return
        r.segments_rendered = self._rendered_for(vp)
        r.segments_reused = len(vp.placements) - r.segments_rendered
        final = output_path(self.out_dir, name, vp.spec.output.codec)
        try:
            if name in self.work.active:
                self._stitch(vp, final)
            else:
                r.up_to_date = True
            r.output = str(final)
        except FarmError as exc:
            r.error = exc.with_where(variant=name)
        r.seconds = self._elapsed()
        state = "up to date" if r.up_to_date else ("FAILED: " + str(r.error) if r.error else "written")
        self.progress.note(f"{name}: {r.output or final} {state}")

    def _rendered_for(self, vp: VariantPlan) -> int:
        """Segments rendered in this run for ``vp`` (its own; a piece used twice counts once)."""
        mine = {k for k in vp.keys if k in self.rendered_now and self.work.owner.get(k) == vp.name}
        return len(mine)

    def _stitch(self, vp: VariantPlan, final: Path) -> None:
        """Finish ``vp``'s output: append what was not appended yet, check it, publish it."""
        started, pieces = self._progressive.take(vp.name)
        try:
            for p in vp.placements[len(pieces) :]:
                pieces.append(StitchPiece(self.cache.local_segment(p.key), p.start, p.count))
        except BaseException:
            if started is not None:
                discard(started)
            raise
        stitch(
            pieces,
            self.cache.audio_path(vp.audio.key),
            final,
            vp.spec.output.fps,
            vp.frames,
            vp.name,
            plan_digest=self.work.digests[vp.name],
            started=started,
        )

    def _extend(self, name: str, writer: StitchWriter, pieces: list[StitchPiece]) -> StitchWriter:
        """On the stitch thread: append ``pieces[writer.pieces:]`` to variant ``name``'s output so far."""
        return extend(writer, pieces)
