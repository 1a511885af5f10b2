"""The Python API: ``farm.plan(...)`` and ``farm.render(...)``, the verbs of the command line."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from farm.backends.select import select_backend
from farm.edit.project import Project, load_project
from farm.errors import FarmError, InternalError, OutputError, Where
from farm.media.stitch import StitchPiece, stitch
from farm.output.cache import Cache
from farm.output.progress import Progress
from farm.planning.planner import RenderPlan, VariantPlan, plan_project


def default_paths(project: Project, out: str | Path | None, cache: str | Path | None) -> tuple[Path, Path]:
    out_dir = Path(out).expanduser().resolve() if out else project.root / "renders"
    cache_dir = Path(cache).expanduser().resolve() if cache else project.root / ".farm-cache"
    return out_dir, cache_dir


def plan(
    project: str | Path | Project, variants: list[str] | None = None, cache: str | Path | None = None
) -> RenderPlan:
    """Plan a project's variants (probing their media) without rendering anything."""
    proj = project if isinstance(project, Project) else load_project(project)
    _, cache_dir = default_paths(proj, None, cache)
    return plan_project(proj, variants, Cache(cache_dir).ensure().root)


@dataclass
class VariantResult:
    name: str
    frames: int = 0
    segments: int = 0
    segments_rendered: int = 0
    segments_reused: int = 0
    output: str | None = None
    seconds: float = 0.0
    up_to_date: bool = False  # the output already held exactly this plan: not stitched again
    error: FarmError | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        d = {
            "frames": self.frames,
            "segments": self.segments,
            "segments_rendered": self.segments_rendered,
            "segments_reused": self.segments_reused,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "up_to_date": self.up_to_date,
            "warnings": self.warnings,
        }
        if self.error is not None:
            d["error"] = {
                "message": str(self.error),
                "exit_code": self.error.exit_code,
                "type": type(self.error).__name__,
            }
        return d


@dataclass
class RenderReport:
    backend: str
    backend_reason: str
    variants: dict[str, VariantResult]
    seconds: float = 0.0
    workers: int = 0

    @property
    def exit_code(self) -> int:
        codes = [v.error.exit_code for v in self.variants.values() if v.error is not None]
        return max(codes) if codes else 0

    def to_json(self) -> dict:
        return {
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "variants": {name: v.to_json() for name, v in self.variants.items()},
        }


def _plan_digest(vp: VariantPlan) -> str:
    """What the finished file of a variant is made of; stored in the file to spot up-to-date outputs."""
    blob = json.dumps([[p.start, p.count, p.key] for p in vp.placements] + [vp.audio.key]).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _output_digest(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as c:
            return c.metadata.get("comment", "").removeprefix("farm-plan:") or None
    except (OSError, av.error.FFmpegError):
        return None


def render(
    project: str | Path | Project,
    variants: list[str] | None = None,
    out: str | Path | None = None,
    cache: str | Path | None = None,
    backend: str = "auto",
    workers: int | None = None,
    address: str | None = None,
    progress_stream: TextIO | None = None,
    executor: object | None = None,
    metrics: object | None = None,
) -> RenderReport:
    """Render variants of a project; every variant that can render does, whatever the others do."""
    t_start = time.perf_counter()
    log = progress_stream or sys.stderr
    proj = project if isinstance(project, Project) else load_project(project)
    out_dir, cache_dir = default_paths(proj, out, cache)
    backend_name, reason = select_backend(backend)
    cache_ = Cache(cache_dir).ensure()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the output folder ({exc.strerror})", Where(path=str(out_dir))
        ) from None

    names = list(variants) if variants else list(proj.variants)
    from farm.backends.nvidia.pipeline import encode_family  # imports no GPU library

    family = encode_family(backend_name)  # part of every segment key: "cpu" | "nvenc" | "nvdec+cpu"
    runner = executor
    with ExitStack() as stack:
        # Starting a local Ray takes seconds; when there is likely work (an output is missing),
        # start it now and plan (probing every source) in a thread meanwhile.  Ray must be
        # started from the main thread.
        if runner is None and not all((out_dir / f"{n}.mp4").is_file() for n in names):
            from farm.execute.ray_executor import RayExecutor

            runner = RayExecutor(workers=workers, address=address, backend=backend_name)
            with ThreadPoolExecutor(1, thread_name_prefix="farm-plan") as pool:
                planning = pool.submit(plan_project, proj, variants, cache_.root, family)
                try:
                    stack.enter_context(runner)  # type: ignore[arg-type]
                finally:
                    the_plan = planning.result()
        else:
            the_plan = plan_project(proj, variants, cache_.root, family=family)
        return _render_plan(
            the_plan,
            names,
            out_dir,
            cache_,
            backend_name,
            reason,
            runner,
            stack,
            workers,
            address,
            log,
            metrics,
            t_start,
        )


def _render_plan(
    the_plan,
    names,
    out_dir,
    cache_,
    backend_name,
    reason,
    runner,
    stack,
    workers,
    address,  # type: ignore[no-untyped-def]
    log,
    metrics,
    t_start,
) -> RenderReport:
    """Execute a plan: render what is missing, stitch each variant as soon as it can be."""
    results = {name: VariantResult(name=name) for name in names}
    for name, err in the_plan.failed.items():
        results[name].error = err
    for name, vp in the_plan.variants.items():
        r = results[name]
        r.frames, r.segments, r.warnings = vp.frames, len(vp.placements), list(vp.warnings)
        for w in vp.warnings:
            print(f"warning: {w}", file=log)

    # a variant whose output already holds exactly this plan needs nothing, not even its cache
    active = {
        name: vp
        for name, vp in the_plan.variants.items()
        if _output_digest(out_dir / f"{name}.mp4") != _plan_digest(vp)
    }
    # what is missing, and which variant is first to need each piece (it is "rendered" there)
    owner: dict[str, str] = {}
    users: dict[str, set[str]] = {}
    for name, vp in active.items():
        for key in vp.keys:
            owner.setdefault(key, name)
            users.setdefault(key, set()).add(name)
    needed = [key for key in the_plan.jobs if key in users]
    cached = {key for key in needed if cache_.segment_meta(key) is not None}
    # longest first: the last segments to finish are short ones, so workers finish together
    missing_segments = sorted((the_plan.jobs[k] for k in needed if k not in cached), key=lambda j: -j.count)
    audio_jobs = {}
    for vp in active.values():
        users.setdefault(vp.audio.key, set()).add(vp.name)
        if not cache_.audio_path(vp.audio.key).is_file():
            audio_jobs.setdefault(vp.audio.key, (vp.audio, cache_.audio_path(vp.audio.key)))
    look_jobs = [
        j
        for j in the_plan.looks.values()
        if not Path(j.cube_path).is_file() and the_plan.look_users.get(j.key, set()) & set(active)
    ]
    for key, names_ in the_plan.look_users.items():
        users.setdefault(key, set()).update(n for n in names_ if n in active)

    waiting: dict[str, set[str]] = {
        name: {k for k in vp.keys if k not in cached} | ({vp.audio.key} & set(audio_jobs))
        for name, vp in active.items()
    }
    rendered_now: set[str] = set()
    progress = Progress(len(missing_segments), sum(j.count for j in missing_segments), stream=log)
    from farm.output.metrics import RenderMetrics

    meter = metrics if isinstance(metrics, RenderMetrics) else RenderMetrics()
    meter.in_progress.set(len(missing_segments))
    meter.segments.labels("reused").inc(len(cached))

    def finish_variant(name: str) -> None:
        vp = the_plan.variants[name]
        r = results[name]
        if r.error is not None:
            return
        seen: set[str] = set()
        for p in vp.placements:  # a piece used twice in one variant is rendered once
            if p.key in rendered_now and owner[p.key] == name and p.key not in seen:
                r.segments_rendered += 1
            seen.add(p.key)
        r.segments_reused = len(vp.placements) - r.segments_rendered
        final = out_dir / f"{name}.mp4"
        digest = _plan_digest(vp)
        try:
            if name not in active:
                r.up_to_date = True
            else:
                pieces = [StitchPiece(cache_.segment_path(p.key), p.start, p.count) for p in vp.placements]
                stitch(
                    pieces,
                    cache_.audio_path(vp.audio.key),
                    final,
                    vp.spec.output.fps,
                    vp.frames,
                    name,
                    comment=f"farm-plan:{digest}",
                )
            r.output = str(final)
        except FarmError as exc:
            r.error = exc.with_where(variant=name)
        r.seconds = time.perf_counter() - t_start
        state = "up to date" if r.up_to_date else ("FAILED: " + str(r.error) if r.error else "written")
        progress.note(f"{name}: {r.output or final} {state}")

    def fail_users(key: str, err: FarmError) -> None:
        for name in sorted(users.get(key, ())):
            r = results[name]
            if r.error is None:
                r.error = err.with_where(variant=name)
                r.seconds = time.perf_counter() - t_start
                progress.note(f"{name}: FAILED: {r.error}")

    def on_done(outcome) -> None:  # type: ignore[no-untyped-def]
        if outcome.error is not None:
            fail_users(outcome.key, outcome.error)
        elif outcome.rendered:
            rendered_now.add(outcome.key)
        if outcome.kind == "look":
            return  # segments wait for every look before they start
        if outcome.kind == "segment":
            progress.advance(the_plan.jobs[outcome.key].count)
            meter.in_progress.dec()
            meter.segments.labels(
                "failed" if outcome.error else ("rendered" if outcome.rendered else "reused")
            ).inc()
            if outcome.rendered:
                meter.frames.inc(the_plan.jobs[outcome.key].count)
                meter.segment_seconds.observe(float(outcome.meta.get("seconds", 0.0)))
        for name in sorted(users.get(outcome.key, ())):
            pending = waiting[name]
            pending.discard(outcome.key)
            if not pending and results[name].error is None and results[name].output is None:
                finish_later(name)

    def skip(key: str) -> bool:
        # nobody needs it any more: every variant using it has failed (a failed look fails its variants)
        return all(results[n].error is not None for n in users.get(key, ()))

    # Stitching runs on its own thread: the scheduling loop keeps feeding workers meanwhile,
    # and the last stitches overlap with stopping Ray.
    stitcher = ThreadPoolExecutor(1, thread_name_prefix="farm-stitch")
    stitches = []

    def finish_later(name: str) -> None:
        stitches.append(stitcher.submit(finish_variant, name))

    n_workers = workers or 0
    try:
        # variants with nothing to render are stitched (or found up to date) straight away
        for name in the_plan.variants:
            if not waiting.get(name):
                finish_later(name)
        if missing_segments or audio_jobs or look_jobs:
            if runner is None:
                from farm.execute.ray_executor import RayExecutor

                runner = RayExecutor(workers=workers, address=address, backend=backend_name)
            if not getattr(runner, "entered", False):
                stack.enter_context(runner)
            n_workers = getattr(runner, "workers", 1)
            runner.run(
                missing_segments,
                list(audio_jobs.values()),
                cache_.root,
                backend_name,
                on_done,
                skip,
                looks=look_jobs,
            )
        stack.close()  # stop Ray now, while the last variants stitch
    finally:
        stitcher.shutdown(wait=True)
    for done in stitches:
        done.result()  # finish_variant turns FarmErrors into variant errors; anything else is a bug
    for name, r in results.items():
        if r.error is None and r.output is None:
            r.error = InternalError(
                "the variant never completed (some of its work was not run)", Where(variant=name)
            )
        meter.variants.labels("failed" if r.error else "done").inc()
    return RenderReport(
        backend=backend_name,
        backend_reason=reason,
        variants=results,
        seconds=time.perf_counter() - t_start,
        workers=n_workers,
    )
