"""The Python API: ``farm.plan(...)`` and ``farm.render(...)``, the verbs of the command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from farm.backends.select import select_backend
from farm.edit.project import OutputSpec, Project, load_project
from farm.errors import OutputError, Where
from farm.execute.loop import RenderLoop, output_path
from farm.execute.protocol import Executor, ExecutorSession
from farm.execute.ray_executor import RayExecutor
from farm.output.atomic import sweep_stale, temp_path
from farm.output.cache import Cache, is_no_space, no_space_error
from farm.output.lease import hold_render, release_render
from farm.output.metrics import RenderMetrics
from farm.output.report import RenderReport, VariantResult
from farm.output.store import is_object_store, parse_location
from farm.planning.planner import RenderPlan, plan_project, start_cut_reads

if TYPE_CHECKING:
    from farm.edit.cut import Cut

__all__ = ["RenderReport", "VariantResult", "default_paths", "open_cache", "plan", "render"]


def default_paths(project: Project, out: str | Path | None, cache: str | Path | None) -> tuple[Path, Path]:
    """The output folder and the local cache folder (for an object-store cache: its local scratch)."""
    out_dir = Path(out).expanduser().resolve() if out else project.root / "renders"
    if cache is not None and parse_location(str(cache))[0] == "file":
        return out_dir, Path(parse_location(str(cache))[1]).expanduser().resolve()
    return out_dir, project.root / ".farm-cache"


def open_cache(project: Project, cache: str | Path | None) -> Cache:
    """The cache ``--cache`` names: a folder (default ``.farm-cache/`` beside the project) or ``s3://``.

    With an object store, the project's ``.farm-cache/`` holds probes, looks,
    audio and the segments downloaded for stitching. An unknown URL scheme is
    refused (exit 2).
    """
    _, local = default_paths(project, None, cache)
    if cache is not None and is_object_store(str(cache)):
        return Cache.open(str(cache), scratch=local)
    return Cache(local)


def plan(
    project: str | Path | Project,
    variants: list[str] | None = None,
    cache: str | Path | None = None,
    family: str = "cpu",
) -> RenderPlan:
    """Plan a project's variants (probing their media) without rendering anything.

    ``family`` is the encoder family the keys name (``cpu``, ``nvenc``, ``nvdec+cpu``).
    """
    proj = project if isinstance(project, Project) else load_project(project)
    return plan_project(proj, variants, open_cache(proj, cache).ensure().root, family=family)


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
    out_dir, _ = default_paths(proj, out, cache)
    on_cluster = executor is None and bool(address)
    if not on_cluster:  # on a cluster, its nodes decide (below), not this machine
        backend_name, reason = select_backend(backend)
    cache_ = open_cache(proj, cache).ensure()
    if cache_.store is not None:
        cache_.store.check()
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

    made: list[Executor] = []  # the executor this render made (its failure budget goes in the report)

    def make() -> Executor:
        if executor is not None:
            return executor
        # a local Ray advertises this machine's engines; a cluster's nodes advertise their own
        local_backend = "cpu" if on_cluster else backend_name
        made.append(
            RayExecutor(
                workers=workers, address=address, backend=local_backend, notes=progress_stream or sys.stderr
            )
        )
        return made[-1]

    session = ExecutorSession(make)
    with session:
        if on_cluster:
            backend_name, family, reason = _join_cluster(session, backend, str(address), cache_)
        else:
            family = encode_family(backend_name)  # part of every key: "cpu" | "nvenc" | "nvdec+cpu"
        outputs = [output_path(out_dir, n, proj.variants[n].output.codec) for n in names]
        if not on_cluster and executor is None and not all(p.is_file() for p in outputs):
            # the cuts are read by children forked now, while this process still runs one thread
            reads = start_cut_reads(proj)
            the_plan = _plan_while_starting(session, proj, variants, cache_.root, family, reads)
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
        # a running render holds every key it needs: `farm cache gc` leaves them alone
        held = hold_render(cache_.objects, the_plan.jobs)
        try:
            report = loop.run(session, workers=workers or 0)
        finally:
            release_render(cache_.objects, held)
    for ran in [*made, executor]:
        report.nodes_excluded.update(getattr(ran, "excluded_nodes", {}))
    return report


def _join_cluster(
    session: ExecutorSession, requested: str, address: str, cache: Cache
) -> tuple[str, str, str]:
    """Join the cluster; its nodes' resources choose the backend; a cache folder must reach every node."""
    from farm.backends.select import select_for_cluster
    from farm.execute.cluster import check_visible_everywhere, joined_resources

    session.executor()
    choice = select_for_cluster(requested, joined_resources(), f"the cluster at {address}")
    if cache.store is None:
        check_visible_everywhere(cache.root)
    return choice


def _plan_while_starting(
    session: ExecutorSession,
    proj: Project,
    variants: list[str] | None,
    cache_root: Path,
    family: str,
    reads: Mapping[str, Callable[[], Cut]],
) -> RenderPlan:
    """Plan (probing every source) in a thread while the executor starts.

    Starting a local Ray takes seconds; this is done only when there is likely
    work (an output is missing).  Ray must be started from the main thread.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="farm-plan") as pool:
        planning = pool.submit(plan_project, proj, variants, cache_root, family, reads)
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
