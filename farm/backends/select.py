"""Choosing a backend: what was asked, what this machine has, and why.

There is no silent fallback: ``auto`` says what it picked and why; a named
backend that cannot run is an error naming what is missing. What the machine
has is the one capabilities probe (:mod:`farm.backends.capabilities`).
"""

from __future__ import annotations

import importlib.util

from farm.backends.capabilities import probe
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
