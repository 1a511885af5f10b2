"""Workers turn segment descriptions into encoded segments in the cache.

``render_segment`` is what every executor calls (a Ray task, a GPU actor, or a
plain function call in tests and on a GPU box without Ray).  It is idempotent:
a segment already in the cache is not rendered again, and a retried segment
writes the same bytes under the same name.
"""

from __future__ import annotations

import os
import time
from typing import Any

from farm.errors import FarmError, InternalError, Where
from farm.output.cache import Cache, is_no_space, no_space_error
from farm.output.spans import StageClock, timing
from farm.planning.units import SegmentJob

BACKENDS = ("cpu", "nvidia")


def render_segment(job: SegmentJob, cache_root: str, backend: str = "cpu") -> dict[str, Any]:
    """Render ``job`` into the cache unless it is there; return its metadata.

    The result says whether it was rendered now (``rendered``) and by which backend.
    """
    cache = Cache.open(cache_root)
    meta = cache.segment_meta(job.key)
    if meta is not None and meta.get("frames") == job.count:
        return {**meta, "rendered": False}
    meta = cache.claim(job.key)  # another render encoding this key: wait, and reuse its entry
    if meta is not None:
        if meta.get("frames") == job.count:
            return {**meta, "rendered": False}
        return _render(cache, cache.with_local_lut(job), backend)  # a wrong entry: written over
    try:
        return _render(cache, cache.with_local_lut(job), backend)
    finally:
        cache.release(job.key)


def _render(cache: Cache, job: SegmentJob, backend: str) -> dict[str, Any]:
    tmp = cache.temp_path(cache.segment_path(job.key))
    t0 = time.perf_counter()
    # where the time goes (``farm bench``); FARM_VERIFY=1: measure what was encoded (``render --verify``)
    clock = StageClock(verify=os.environ.get("FARM_VERIFY") == "1")
    try:
        if backend == "cpu":
            from farm.backends.cpu import render_segment_cpu

            info = render_segment_cpu(job, tmp, clock)
        elif backend == "nvidia":  # NVDEC -> CuPy -> NVENC (or host libx264 without NVENC)
            from farm.backends.nvidia.pipeline import render_segment_nvidia

            with timing(clock):  # the shared host encoder (no NVENC) finds the clock there
                info = render_segment_nvidia(job, tmp)
        else:
            raise InternalError(f"unknown backend {backend!r}")
        meta = {
            "key": job.key,
            "frames": info["frames"],
            "backend": info.get("backend", backend),
            "seconds": time.perf_counter() - t0,
            "label": job.label,
            "host": os.uname().nodename,
            "pid": os.getpid(),  # which worker process: a warm one serves many segments and renders
        }
        meta.update(clock.notes)  # what the backend measured beyond timings
        with clock.stage("cache write"):
            meta = cache.commit_segment(job.key, tmp, meta)
    except FarmError:
        raise
    except Exception as exc:
        if is_no_space(exc):  # the cache's disk, not the source, is at fault
            written = tmp.stat().st_size if tmp.exists() else None
            raise no_space_error(cache.root, f"segment {job.key}", written) from None
        # a bug, or a library failing in a way we did not foresee
        src = job.source.path if job.source else None
        raise InternalError(
            f"rendering segment {job.key[:12]} failed: {type(exc).__name__}: {exc}",
            Where(path=src, frames=job.source_range),
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return {**meta, "rendered": True, "span": clock.span()}


def render_segments(jobs: list[SegmentJob], cache_root: str, backend: str = "cpu") -> list[dict[str, Any]]:
    """Render several segments in one call, in order; one result per job (a FarmError as ``{"error": exc}``).

    Each job is its own :func:`render_segment` (its own cache entry, lease and
    errors); what a batch shares is this process's open decoders and filter
    graphs, so short segments of one source cost little more than their frames.
    """
    results: list[dict[str, Any]] = []
    for job in jobs:
        try:
            results.append(render_segment(job, cache_root, backend))
        except FarmError as exc:
            results.append({"error": exc})
    return results
