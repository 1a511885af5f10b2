"""Choosing a backend: what was asked, what this machine has, and why.

There is no silent fallback: ``auto`` says what it picked and why; a named
backend that cannot run is an error naming what is missing. What the machine
has is the one capabilities probe (:mod:`farm.backends.capabilities`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from farm.backends.capabilities import probe
from farm.backends.nvidia.params import FAMILY_NVDEC_HOST, FAMILY_NVENC
from farm.backends.resources import NVDEC, NVENC, worker_count
from farm.errors import BackendUnavailableError

CHOICES = ("auto", "cpu", "nvidia")


def nvidia_missing() -> list[str]:
    """What the nvidia backend needs and this machine lacks (empty: it can run)."""
    return list(probe().nvidia_missing)


def _nvidia_pipeline() -> str:
    """What the nvidia backend will do on this machine (NVENC or host encode), for the reason line."""
    try:
        from farm.backends.nvidia.pipeline import pipeline_summary

        return pipeline_summary()
    except Exception as exc:  # the summary is a courtesy; selection already succeeded
        return f"pipeline not described ({type(exc).__name__}: {exc})"


def nvidia_implemented() -> bool:
    return importlib.util.find_spec("farm.backends.nvidia.pipeline") is not None


def select_backend(requested: str) -> tuple[str, str]:
    """The backend to run and the reason, for the report."""
    if requested not in CHOICES:
        raise BackendUnavailableError(
            f"unknown backend {requested!r}", hint=f"choose one of {', '.join(CHOICES)}"
        )
    if requested == "cpu":
        return "cpu", "requested with --backend cpu"
    missing = nvidia_missing()
    if requested == "nvidia":
        if missing:
            raise BackendUnavailableError(
                "the nvidia backend cannot run here: missing " + "; ".join(missing),
                hint="use --backend cpu, or install the GPU extras on a machine with an NVIDIA GPU",
            )
        if not nvidia_implemented():
            raise BackendUnavailableError("the nvidia backend is not part of this build")
        return "nvidia", "requested with --backend nvidia; " + _nvidia_pipeline()
    if missing:
        return "cpu", "auto: no usable NVIDIA GPU (missing " + "; ".join(missing) + ")"
    if not nvidia_implemented():
        return "cpu", "auto: a GPU is present but this build has no nvidia backend"
    return "nvidia", "auto: NVIDIA GPU, CuPy and PyNvVideoCodec found; " + _nvidia_pipeline()


def select_for_cluster(
    requested: str, resources: Mapping[str, float], where: str = "the cluster"
) -> tuple[str, str, str]:
    """The backend, encoder family and reason on a Ray cluster with ``resources`` in all.

    What the driver has does not matter: the nodes' advertised ``GPU``, ``nvdec``
    and ``nvenc`` resources (``ray.cluster_resources()``) decide. On a mixed
    cluster the family with room for more workers wins (an NVENC node also
    decodes for ``nvdec+cpu``); one family per render, as keys name it.
    """
    if requested not in CHOICES:
        raise BackendUnavailableError(
            f"unknown backend {requested!r}", hint=f"choose one of {', '.join(CHOICES)}"
        )
    cpus = int(resources.get("CPU", 0))
    if requested == "cpu":
        return "cpu", "cpu", f"requested with --backend cpu; {where} has {cpus} CPUs"
    counts = {family: worker_count(dict(resources), family) for family in (FAMILY_NVENC, FAMILY_NVDEC_HOST)}
    family = FAMILY_NVENC if counts[FAMILY_NVENC] >= 1 else FAMILY_NVDEC_HOST
    if counts[family] < 1:
        missing = [
            f"{name} (has {resources.get(name, 0):g})"
            for name in ("GPU", NVDEC)
            if resources.get(name, 0) <= 0
        ] or ["enough CPUs beside the GPUs"]
        if requested == "nvidia":
            raise BackendUnavailableError(
                f"the nvidia backend cannot run on {where}: no node offers " + ", ".join(missing),
                hint="start GPU nodes with cluster/start-node.sh (they advertise nvdec/nvenc), "
                "or use --backend cpu",
            )
        return "cpu", "cpu", f"auto: {where} has no GPU node advertising nvdec ({cpus} CPUs)"
    how = "NVENC" if family == FAMILY_NVENC else "NVDEC, host libx264/libx265 (no node advertises NVENC)"
    lead = "requested with --backend nvidia" if requested == "nvidia" else "auto"
    return (
        "nvidia",
        family,
        f"{lead}: {where} has {resources.get('GPU', 0):g} GPUs, {resources.get(NVDEC, 0):g} NVDEC and "
        f"{resources.get(NVENC, 0):g} NVENC engines; {counts[family]} workers; {how}",
    )
