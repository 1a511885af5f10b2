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
#: GPU workers sharing one GPU when its NVDEC engines cannot be counted (each worker holds a CUDA
#: context, its decoders and a memory pool); otherwise one worker per NVDEC engine (H100/H200: 7)
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


def engines_per_gpu(capabilities: Capabilities | None = None) -> int:
    """GPU workers per GPU on this machine: its NVDEC engine count (the fewest over its GPUs).

    :data:`WORKERS_PER_GPU` where no engine could be counted.
    """
    caps = probe() if capabilities is None else capabilities
    counts = [g.nvdec.engines for g in caps.gpus if g.nvdec.engines > 0]
    return min(counts) if counts else WORKERS_PER_GPU


def cluster_workers_per_gpu(cluster: dict[str, float]) -> int:
    """GPU workers per GPU from a cluster's resources (``ray.cluster_resources()``).

    Nodes advertise one ``nvdec`` unit per engine (:func:`node_resources`), so
    NVDEC engines over GPUs is the engines a GPU has (the mean, on a mixed
    cluster). :data:`WORKERS_PER_GPU` where the cluster advertises none.
    """
    gpus, engines = cluster.get("GPU", 0.0), cluster.get(NVDEC, 0.0)
    if gpus < 1 or engines < gpus:
        return WORKERS_PER_GPU
    return max(1, math.floor(engines / gpus + 1e-9))


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


def worker_count(cluster: dict[str, float], family: str, workers_per_gpu: int | None = None) -> int:
    """How many workers of ``family`` the cluster's resources (``ray.cluster_resources()``) hold at once.

    ``workers_per_gpu`` defaults to the cluster's NVDEC engines per GPU (:func:`cluster_workers_per_gpu`).
    """
    per_gpu = cluster_workers_per_gpu(cluster) if workers_per_gpu is None else workers_per_gpu
    ask = segment_request(family, per_gpu)
    needs = {"CPU": float(ask["num_cpus"])}
    if "num_gpus" in ask:
        needs["GPU"] = float(ask["num_gpus"])
    needs.update(ask.get("resources", {}))
    return min(math.floor(cluster.get(name, 0.0) / amount + 1e-9) for name, amount in needs.items())
