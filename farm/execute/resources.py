"""Capabilities as Ray resources, and the GPU workers that use them.

A GPU node advertises, beside Ray's own ``GPU``, the custom resources
``nvdec`` and ``nvenc``: one unit per engine, counted by the ``farm doctor``
probe (:func:`node_resources`). A segment asks for what its encoder family
needs (:func:`segment_request`): ``"nvenc"`` segments an NVDEC and an NVENC
engine and a share of a GPU, ``"nvdec+cpu"`` segments an NVDEC engine, a share
of a GPU and the host cores libx264 uses, CPU segments one core.

GPU segments run on :class:`GpuWorker` actors rather than tasks, so the
process keeps its decoder session, compiled kernels, LUT tables and CUDA
stream warm across segments. The pure functions here need neither Ray nor a
GPU; :func:`start_gpu_workers` imports Ray when it is called.
"""

from __future__ import annotations

import math
from typing import Any

from farm.errors import FarmError

NVDEC = "nvdec"
NVENC = "nvenc"
#: GPU workers sharing one GPU (each holds a CUDA context, a decoder and a memory pool)
WORKERS_PER_GPU = 4
#: host cores a "nvdec+cpu" segment's libx264/libx265 encode keeps busy
HOST_ENCODE_CPUS = 2
#: a crashed actor is restarted and the segment it held retried; render_segment is idempotent
ACTOR_RESTARTS = 2


def node_resources(report: dict[str, Any] | None = None) -> dict[str, float]:
    """The custom resources this node should advertise: NVDEC and NVENC engines over all its GPUs.

    ``report`` is ``farm.backends.doctor.collect()``'s result (probed when None). Zero
    counts are left out, so a CPU-only node advertises nothing.
    """
    if report is None:
        from farm.backends.doctor import collect

        report = collect()
    totals = {NVDEC: 0, NVENC: 0}
    for gpu in report.get("gpus", []):
        totals[NVDEC] += int(gpu.get("nvdec", {}).get("engines", 0) or 0)
        totals[NVENC] += int(gpu.get("nvenc", {}).get("engines", 0) or 0)
    return {name: float(count) for name, count in totals.items() if count > 0}


def segment_request(family: str, workers_per_gpu: int = WORKERS_PER_GPU) -> dict[str, Any]:
    """Ray options (``num_cpus``, ``num_gpus``, ``resources``) for one segment of ``family``."""
    from farm.backends.nvidia.params import FAMILY_NVDEC_HOST, FAMILY_NVENC

    if workers_per_gpu < 1:
        raise ValueError(f"workers_per_gpu must be at least 1, got {workers_per_gpu}")
    share = 1.0 / workers_per_gpu
    if family == "cpu":
        return {"num_cpus": 1}
    if family == FAMILY_NVENC:
        return {"num_cpus": 1, "num_gpus": share, "resources": {NVDEC: 1.0, NVENC: 1.0}}
    if family == FAMILY_NVDEC_HOST:
        return {"num_cpus": HOST_ENCODE_CPUS, "num_gpus": share, "resources": {NVDEC: 1.0}}
    raise ValueError(f"unknown encoder family {family!r}")


def worker_count(cluster: dict[str, float], family: str, workers_per_gpu: int = WORKERS_PER_GPU) -> int:
    """How many workers of ``family`` the cluster's resources (``ray.cluster_resources()``) hold at once."""
    ask = segment_request(family, workers_per_gpu)
    needs = {"CPU": float(ask["num_cpus"])}
    if "num_gpus" in ask:
        needs["GPU"] = float(ask["num_gpus"])
    needs.update(ask.get("resources", {}))
    return min(math.floor(cluster.get(name, 0.0) / amount + 1e-9) for name, amount in needs.items())


class GpuWorker:
    """A long-lived segment worker; as a Ray actor its process keeps the GPU state warm.

    Backend-agnostic: it calls :func:`farm.backends.segment.render_segment`, which the
    nvidia backend answers from its per-process state.
    """

    def __init__(self, cache_root: str, backend: str = "nvidia"):
        self.cache_root = cache_root
        self.backend = backend
        self.rendered = 0

    def render(self, job: Any) -> dict:
        """Render one segment; a FarmError comes back as ``{"error": exc}`` like the segment task's."""
        from farm.backends.segment import render_segment

        try:
            result = render_segment(job, self.cache_root, self.backend)
        except FarmError as exc:
            return {"error": exc}
        self.rendered += int(bool(result.get("rendered")))
        return result

    def stats(self) -> dict:
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
    count: int, family: str, cache_root: str, backend: str = "nvidia", workers_per_gpu: int = WORKERS_PER_GPU
) -> list[Any]:
    """Start ``count`` :class:`GpuWorker` actors on a running Ray; returns their handles."""
    import ray

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    remote = ray.remote(**actor_options(family, workers_per_gpu))(GpuWorker)
    return [remote.remote(cache_root, backend) for _ in range(count)]  # type: ignore[attr-defined]
