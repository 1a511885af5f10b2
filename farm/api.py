"""The Python API: ``farm.plan(...)`` and ``farm.render(...)``, the verbs of the command line."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TextIO

from farm.backends.select import select_backend
from farm.edit.project import OutputSpec, Project, load_project
from farm.errors import OutputError, Where
from farm.execute.loop import RenderLoop, output_path
from farm.execute.protocol import Executor, ExecutorSession
from farm.execute.ray_executor import RayExecutor
from farm.output.atomic import sweep_stale, temp_path
from farm.output.cache import Cache, is_no_space, no_space_error
from farm.output.metrics import RenderMetrics
from farm.output.report import RenderReport, VariantResult
from farm.planning.planner import RenderPlan, plan_project

__all__ = ["RenderReport", "VariantResult", "default_paths", "plan", "render"]


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


def render(
    project: str | Path | Project,
    variants: list[str] | None = None,
    out: str | Path | None = None,
    cache: str | Path | None = None,
    backend: str = "auto",
    workers: int | None = None,
    address: str | None = None,
    progress_stream: TextIO | None = None,
    executor: Executor | None = None,
    metrics: RenderMetrics | None = None,
) -> RenderReport:
    """Render variants of a project; every variant that can render does, whatever the others do.

    ``executor`` runs the work (entered only if there is any); by default a
    :class:`~farm.execute.ray_executor.RayExecutor` with ``workers`` and ``address``.
    """
    started = time.perf_counter()
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
    # what killed renders and workers left behind: their temporary files (never anyone else's)
    sweep_stale([out_dir])
    sweep_stale([cache_.root], recursive=True)
    check_writable(out_dir, "the output folder")
    check_writable(cache_.root / "tmp", "the cache")
    names = list(variants) if variants else list(proj.variants)
    from farm.backends.nvidia.pipeline import encode_family  # imports no GPU library

    family = encode_family(backend_name)  # part of every segment key: "cpu" | "nvenc" | "nvdec+cpu"
    if executor is None:
        session = ExecutorSession(
            partial(RayExecutor, workers=workers, address=address, backend=backend_name)
        )
    else:
        session = ExecutorSession(lambda: executor)
    with session:
        if executor is None and not all(output_path(out_dir, n).is_file() for n in names):
            the_plan = _plan_while_starting(session, proj, variants, cache_.root, family)
        else:
            the_plan = plan_project(proj, variants, cache_.root, family=family)
        check_space(the_plan, out_dir, cache_)
        loop = RenderLoop(
            the_plan,
            out_dir,
            cache_,
            backend_name,
            names=names,
            backend_reason=reason,
            progress_stream=progress_stream,
            metrics=metrics,
            started=started,
        )
        return loop.run(session, workers=workers or 0)


def _plan_while_starting(
    session: ExecutorSession, proj: Project, variants: list[str] | None, cache_root: Path, family: str
) -> RenderPlan:
    """Plan (probing every source) in a thread while the executor starts.

    Starting a local Ray takes seconds; this is done only when there is likely
    work (an output is missing).  Ray must be started from the main thread.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="farm-plan") as pool:
        planning = pool.submit(plan_project, proj, variants, cache_root, family)
        try:
            session.executor()
        finally:
            the_plan = planning.result()
    return the_plan


#: a low estimate of an encoded frame's size, in bytes per pixel (x264 at crf 20 writes more):
#: the free-space check refuses a render only when even this much cannot fit
BYTES_PER_PIXEL_LOW = 0.005


def check_writable(folder: Path, what: str) -> None:
    """Exit 73 now, before any rendering, if ``folder`` cannot take a new file."""
    probe = temp_path(folder / "farm-write-check")
    try:
        probe.write_bytes(b"farm")
    except OSError as exc:
        if is_no_space(exc):
            raise no_space_error(folder, what) from None
        raise OutputError(f"cannot write in {what} ({exc.strerror})", Where(path=str(folder))) from None
    finally:
        if probe.exists():
            probe.unlink()


def check_space(the_plan: RenderPlan, out_dir: Path, cache: Cache) -> None:
    """Exit 73 now if the outputs, or the segments still missing, clearly cannot fit on their disks.

    Both are low estimates (:data:`BYTES_PER_PIXEL_LOW`): a refusal is certain, a pass is not a
    promise; a disk that fills later is still exit 73 naming it, with nothing half-written.
    """
    import os
    import shutil

    def low(frames: int, spec: OutputSpec) -> int:
        return int(frames * spec.width * spec.height * BYTES_PER_PIXEL_LOW)

    outputs = sum(low(vp.frames, vp.spec.output) for vp in the_plan.variants.values())
    specs = {k: vp.spec.output for vp in the_plan.variants.values() for k in vp.keys}
    segments = sum(
        low(job.count, specs[key])
        for key, job in the_plan.jobs.items()
        if key in specs and not cache.segment_meta_path(key).is_file()
    )
    needs: dict[int, tuple[Path, int, str]] = {}
    for folder, need, what in ((cache.root, segments, "the segments"), (out_dir, outputs, "the outputs")):
        dev = os.stat(folder).st_dev
        _, before, whats = needs.get(dev, (folder, 0, ""))
        needs[dev] = (folder, before + need, f"{whats} and {what}" if whats else what)
    for folder, need, what in needs.values():
        if need > shutil.disk_usage(folder).free:
            raise no_space_error(folder, what, need)
