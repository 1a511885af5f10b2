"""The ``farm doctor`` report: this machine's capabilities, with diagnostics on top.

The base is the capabilities probe that backend choice and the Ray resources
read too (:mod:`farm.backends.capabilities`). The doctor adds what a person
reading the report wants: the driver version from ``nvidia-smi`` when
``/proc`` has none, each GPU's memory and compute capability, the GPUs
``nvidia-smi`` lists when CuPy cannot see them, what NVDEC decodes and NVENC
encodes within which limits, what ``--backend auto`` picks and why, the
encoder family the planner would use, the custom Ray resources this node
should advertise (``ray_resources``, which ``cluster/start-node.sh`` passes to
``ray start --resources``) and, with a cluster address, the cluster's
resources (:mod:`farm.execute.cluster`, where Ray lives). Every probe may
fail: its error is reported in its place and the rest still runs. The command
line (flags, text, JSON) is :mod:`farm.cli.doctor`.
"""

from __future__ import annotations

import importlib
import platform
import shutil
import subprocess
from typing import Any

from farm import __version__
from farm.backends.capabilities import (
    DRIVER_VERSION_FILE,
    Capabilities,
    Gpu,
    VideoEngine,
    error_text,
    probe,
    video_engines,
)
from farm.backends.resources import node_resources
from farm.execute.cluster import cluster_info

#: seconds nvidia-smi may take before the doctor gives up on it
SMI_TIMEOUT = 20


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].rstrip(": ") if text.strip() else text


def _smi(*query: str) -> str:
    """nvidia-smi's CSV answer to ``query``; raises OSError or SubprocessError."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise FileNotFoundError("nvidia-smi")
    return subprocess.run(
        [smi, *query, "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=SMI_TIMEOUT,
        check=True,
    ).stdout


def driver_info(caps: Capabilities) -> dict[str, Any]:
    """The NVIDIA kernel driver's version, from /proc (the probe's) or else nvidia-smi."""
    if caps.driver is not None:
        return {"version": caps.driver, "source": DRIVER_VERSION_FILE, "error": None}
    info: dict[str, Any] = {"version": None, "source": None, "error": None}
    if shutil.which("nvidia-smi") is None:
        info["error"] = "no NVIDIA driver found (no /proc/driver/nvidia/version, no nvidia-smi)"
        return info
    try:
        out = _smi("--query-gpu=driver_version").split()
        info.update(version=out[0] if out else None, source="nvidia-smi")
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"nvidia-smi failed ({error_text(exc)})"
    return info


def cupy_info(caps: Capabilities) -> dict[str, Any]:
    """CuPy's versions, and whether (or why not) it sees a GPU."""
    cupy = caps.cupy
    info: dict[str, Any] = {
        "available": bool(caps.gpus),
        "version": cupy.version,
        "cuda_runtime": cupy.cuda_runtime,
        "cuda_driver": cupy.cuda_driver,
        "error": None,
    }
    if not cupy.installed:
        info["error"] = "CuPy is not installed (pip install 'farm[gpu]')"
    elif cupy.error is not None:
        info["error"] = _first_line(cupy.error)
    elif not caps.gpus:
        info["error"] = "CuPy sees no CUDA GPU"
    return info


def _device_properties(index: int) -> dict[str, Any]:
    """Memory, compute capability and peak bandwidth of CUDA device ``index`` (empty when unknown)."""
    try:
        props = importlib.import_module("cupy").cuda.runtime.getDeviceProperties(index)
        clock_khz = props.get("memoryClockRate") or 0
        bus_bits = props.get("memoryBusWidth") or 0
        return {
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 2),
            "compute_capability": f"{props['major']}.{props['minor']}",
            "multiprocessors": props.get("multiProcessorCount"),
            "peak_memory_gb_per_s": round(2.0 * clock_khz * 1e3 * bus_bits / 8 / 1e9, 1) or None,
        }
    except Exception:  # a diagnostic: the probe already named the GPU
        return {}


def engine_info(engine: VideoEngine) -> dict[str, Any]:
    """An NVDEC or NVENC as the report shows it: engines, and per codec support and limits."""
    codecs = {
        c.name: {"supported": False, "error": c.error} if c.error else {"supported": c.supported, **c.limits}
        for c in engine.codecs
    }
    info: dict[str, Any] = {"engines": engine.engines, "codecs": codecs}
    if engine.error is not None:
        info["error"] = engine.error
    return info


def _with_engines(entry: dict[str, Any], caps: Capabilities, nvdec: VideoEngine, nvenc: VideoEngine) -> None:
    # as it always has, the report leaves the engines out when PyNvVideoCodec is installed but does not load
    if caps.pynvvideocodec.installed and not caps.pynvvideocodec.available:
        return
    entry["nvdec"], entry["nvenc"] = engine_info(nvdec), engine_info(nvenc)


def gpu_info(gpu: Gpu, caps: Capabilities) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": gpu.index, "name": gpu.name, **_device_properties(gpu.index)}
    _with_engines(entry, caps, gpu.nvdec, gpu.nvenc)
    return entry


def smi_gpus(caps: Capabilities) -> list[dict[str, Any]]:
    """GPUs from nvidia-smi, for machines where CuPy sees none; their engines asked all the same."""
    try:
        out = _smi("--query-gpu=index,name,memory.total")
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            index = int(parts[0])
            entry: dict[str, Any] = {
                "index": index,
                "name": parts[1],
                "memory_gib": round(float(parts[2]) / 1024, 2),
                "source": "nvidia-smi",
            }
            _with_engines(entry, caps, *video_engines(index, caps.pynvvideocodec))
            gpus.append(entry)
    return gpus


def backend_info() -> dict[str, Any]:
    """What ``--backend auto`` picks here and why, and the family the planner would use."""
    from farm.backends.select import nvidia_missing, select_backend

    info: dict[str, Any] = {}
    try:
        info["auto"], info["reason"] = select_backend("auto")
    except Exception as exc:
        info["auto"], info["reason"] = None, error_text(exc)
    try:
        info["nvidia_missing"] = nvidia_missing()
    except Exception as exc:
        info["nvidia_missing"] = [error_text(exc)]
    families = {"cpu": "cpu"}
    if not info["nvidia_missing"]:
        from farm.backends.nvidia.pipeline import encode_family

        families["nvidia"] = encode_family("nvidia")
    info["encode_family"] = families
    return info


def collect(address: str | None = None) -> dict[str, Any]:
    """Everything ``farm doctor`` reports, as one JSON-ready dict."""
    caps = probe()
    gpus = [gpu_info(gpu, caps) for gpu in caps.gpus] or smi_gpus(caps)
    video = caps.pynvvideocodec
    return {
        "farm": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "driver": driver_info(caps),
        "cupy": cupy_info(caps),
        "pynvvideocodec": {"available": video.available, "version": video.version, "error": video.error},
        "gpus": gpus,
        "nvdec_engines": sum(g.get("nvdec", {}).get("engines", 0) for g in gpus),
        "nvenc_engines": sum(g.get("nvenc", {}).get("engines", 0) for g in gpus),
        "backend": backend_info(),
        # what cluster/start-node.sh passes to `ray start --resources`
        "ray_resources": node_resources(caps),
        "ray": cluster_info(address),
    }
