"""GPU segment workers as Ray actors, which keep decoder, kernels and CUDA stream warm.

GPU segments run on :class:`GpuWorker` actors rather than tasks, so the
process keeps its decoder session, compiled kernels, LUT tables and CUDA
stream warm across segments. Ray is imported only when actors are started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from farm.backends.resources import WORKERS_PER_GPU, cluster_workers_per_gpu, segment_request
from farm.errors import FarmError
from farm.planning.units import SegmentJob

#: a crashed actor is restarted and the segment it held retried; render_segment is idempotent
ACTOR_RESTARTS = 2


class GpuWorker:
    """A long-lived segment worker; as a Ray actor its process keeps the GPU state warm.

    Backend-agnostic: it calls :func:`farm.backends.segment.render_segment`, which the
    nvidia backend answers from its per-process state.
    """

    def __init__(self, cache_root: str, backend: str = "nvidia"):
        self.cache_root = cache_root
        self.backend = backend
        self.rendered = 0

    def render(self, job: SegmentJob) -> dict[str, Any]:
        """Render one segment; a FarmError comes back as ``{"error": exc}`` like the segment task's."""
        from farm.backends.segment import render_segment

        try:
            result = render_segment(job, self.cache_root, self.backend)
        except FarmError as exc:
            return {"error": exc}
        self.rendered += int(bool(result.get("rendered")))
        return result

    def stats(self) -> dict[str, Any]:
        import os

        return {"pid": os.getpid(), "rendered": self.rendered, "backend": self.backend}


def actor_options(family: str, workers_per_gpu: int = WORKERS_PER_GPU) -> dict[str, Any]:
    """``ray.remote`` options for a :class:`GpuWorker` serving ``family``."""
    return {
        **segment_request(family, workers_per_gpu),
        "max_restarts": ACTOR_RESTARTS,
        "max_task_retries": ACTOR_RESTARTS,
    }


def start_gpu_workers(
    count: int, family: str, cache_root: str, backend: str = "nvidia", workers_per_gpu: int | None = None
) -> list[Any]:
    """Start ``count`` :class:`GpuWorker` actors on a running Ray; returns their handles.

    Each takes a share of a GPU: one per NVDEC engine the cluster's GPUs have
    (:func:`farm.backends.resources.cluster_workers_per_gpu`: 7 on H100/H200)
    unless ``workers_per_gpu`` says otherwise.
    """
    import ray

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if workers_per_gpu is None:
        cluster = cast(Callable[[], dict[str, float]], ray.cluster_resources)()
        workers_per_gpu = cluster_workers_per_gpu(cluster)
    remote = ray.remote(**actor_options(family, workers_per_gpu))(GpuWorker)
    return [remote.remote(cache_root, backend) for _ in range(count)]
