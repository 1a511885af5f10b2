"""Capabilities as Ray resources: what a node advertises and what a segment asks for.

A GPU node advertises, beside Ray's own ``GPU``, the custom resources
``nvdec`` and ``nvenc``: one unit per engine, counted by the capabilities
probe (:func:`node_resources`). A segment asks for what its encoder family
needs (:func:`segment_request`): ``"nvenc"`` segments an NVDEC and an NVENC
engine and a share of a GPU, ``"nvdec+cpu"`` segments an NVDEC engine, a share
of a GPU and the host cores libx264 uses, CPU segments one core.

Pure functions of a capabilities value: they need neither Ray nor a GPU. The actors that use them
live in :mod:`farm.execute.actors`.
"""

from __future__ import annotations

import math
from typing import Any

from farm.backends.capabilities import Capabilities, probe
from farm.backends.nvidia.params import FAMILY_NVDEC_HOST, FAMILY_NVENC

NVDEC = "nvdec"
NVENC = "nvenc"
#: GPU workers sharing one GPU (each holds a CUDA context, a decoder and a memory pool)
WORKERS_PER_GPU = 4
#: host cores a "nvdec+cpu" segment's libx264/libx265 encode keeps busy
HOST_ENCODE_CPUS = 2


def node_resources(capabilities: Capabilities | None = None) -> dict[str, float]:
    """The custom resources this node should advertise: NVDEC and NVENC engines over all its GPUs.

    ``capabilities`` defaults to this node's (:func:`farm.backends.capabilities.probe`).
    Zero counts are left out, so a CPU-only node advertises nothing.
    """
    caps = probe() if capabilities is None else capabilities
    totals = {NVDEC: caps.nvdec_engines, NVENC: caps.nvenc_engines}
    return {name: float(count) for name, count in totals.items() if count > 0}


def segment_request(family: str, workers_per_gpu: int = WORKERS_PER_GPU) -> dict[str, Any]:
    """Ray options (``num_cpus``, ``num_gpus``, ``resources``) for one segment of ``family``."""
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
