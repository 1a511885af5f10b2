"""``farm doctor``: what this machine (and the Ray cluster, when asked) can render with.

Reports the NVIDIA driver, the GPUs, CuPy, PyNvVideoCodec, what NVDEC decodes
and within which limits, how many NVENC engines there are, what ``--backend
auto`` would pick and why, the encoder family the planner would use, the
custom Ray resources this node should advertise (``ray_resources``, which
``cluster/start-node.sh`` passes to ``ray start --resources``), and — with
``--address`` or ``RAY_ADDRESS`` — the cluster's resources. Every probe is allowed to fail: its
error is reported in its place and the rest still runs. Nothing here imports
Ray unless a cluster address is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from farm import __version__


def _error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _package_version(name: str) -> str | None:
    from importlib import metadata

    for dist in (name, name.lower(), name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


# ------------------------------------------------------------------ probes


def driver_info() -> dict[str, Any]:
    """The NVIDIA kernel driver's version, from /proc or nvidia-smi."""
    info: dict[str, Any] = {"version": None, "source": None, "error": None}
    try:
        with open("/proc/driver/nvidia/version") as f:
            text = f.read()
        for token in text.split():
            parts = token.split(".")
            if len(parts) >= 2 and all(p.isdigit() for p in parts):
                info.update(version=token, source="/proc/driver/nvidia/version")
                return info
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        info["error"] = "no NVIDIA driver found (no /proc/driver/nvidia/version, no nvidia-smi)"
        return info
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        info.update(version=out[0] if out else None, source="nvidia-smi")
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"nvidia-smi failed ({_error(exc)})"
    return info


def cupy_info() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """CuPy's versions and the GPUs it sees (name, memory, compute capability, bandwidth)."""
    info: dict[str, Any] = {
        "available": False,
        "version": None,
        "cuda_runtime": None,
        "cuda_driver": None,
        "error": None,
    }
    gpus: list[dict[str, Any]] = []
    if importlib.util.find_spec("cupy") is None:
        info["error"] = "CuPy is not installed (pip install 'farm[gpu]')"
        return info, gpus
    try:
        import cupy

        info["version"] = cupy.__version__
        rt = cupy.cuda.runtime
        info["cuda_runtime"] = rt.runtimeGetVersion()
        info["cuda_driver"] = rt.driverGetVersion()
        for i in range(rt.getDeviceCount()):
            props = rt.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
            clock_khz = props.get("memoryClockRate") or 0
            bus_bits = props.get("memoryBusWidth") or 0
            gpus.append(
                {
                    "index": i,
                    "name": name,
                    "memory_gib": round(props["totalGlobalMem"] / 2**30, 2),
                    "compute_capability": f"{props['major']}.{props['minor']}",
                    "multiprocessors": props.get("multiProcessorCount"),
                    "peak_memory_gb_per_s": round(2.0 * clock_khz * 1e3 * bus_bits / 8 / 1e9, 1) or None,
                }
            )
        info["available"] = bool(gpus)
        if not gpus:
            info["error"] = "CuPy sees no CUDA GPU"
    except Exception as exc:  # CUDARuntimeError without a driver
        info["error"] = _error(exc)
    return info, gpus


def smi_gpus() -> list[dict[str, Any]]:
    """GPUs from nvidia-smi, for machines where CuPy is missing."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            gpus.append(
                {"index": int(parts[0]), "name": parts[1], "memory_gib": round(float(parts[2]) / 1024, 2)}
            )
    return gpus


def video_codec_info(gpus: list[dict[str, Any]]) -> dict[str, Any]:
    """PyNvVideoCodec's version; NVDEC and NVENC capabilities added to each GPU entry."""
    info: dict[str, Any] = {"available": False, "version": None, "error": None}
    if importlib.util.find_spec("PyNvVideoCodec") is None:
        info["error"] = "PyNvVideoCodec is not installed (pip install 'farm[gpu]')"
        for gpu in gpus:
            gpu["nvdec"] = {"engines": 0, "codecs": {}, "error": info["error"]}
            gpu["nvenc"] = {"engines": 0, "codecs": {}, "error": info["error"]}
        return info
    from farm.backends.nvidia.codec import (
        DECODE_PROBES,
        ENCODE_PROBES,
        decoder_caps,
        encoder_caps,
        pynvvideocodec,
    )
    from farm.errors import FarmError

    try:
        nvc = pynvvideocodec()
    except FarmError as exc:
        info["error"] = exc.message
        return info
    info["available"] = True
    info["version"] = getattr(nvc, "__version__", None) or _package_version("pynvvideocodec")
    for gpu in gpus:
        gpu["nvdec"] = _nvdec(gpu["index"], DECODE_PROBES, decoder_caps)
        gpu["nvenc"] = _nvenc(gpu["index"], ENCODE_PROBES, encoder_caps)
    return info


def _nvdec(index: int, probes, decoder_caps) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    codecs: dict[str, Any] = {}
    engines = 0
    for codec, bits in probes:
        key = f"{codec} {bits}-bit 4:2:0"
        try:
            caps = decoder_caps(index, codec, bits)
        except Exception as exc:
            codecs[key] = {"supported": False, "error": _error(exc)}
            continue
        supported = bool(caps.get("supported", 0))
        engines = max(engines, caps.get("num_decoder_engines", 0))
        codecs[key] = {
            "supported": supported,
            "max_width": caps.get("width_max"),
            "max_height": caps.get("height_max"),
            "min_width": caps.get("width_min"),
            "min_height": caps.get("height_min"),
            "max_macroblocks": caps.get("mb_num_max"),
        }
    return {"engines": engines, "codecs": codecs}


def _nvenc(index: int, probes, encoder_caps) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    codecs: dict[str, Any] = {}
    engines = 0
    for codec in probes:
        try:
            caps = encoder_caps(index, codec)
        except Exception as exc:  # no NVENC on this GPU: the session does not open
            codecs[codec] = {"supported": False, "error": _error(exc)}
            continue
        n = caps.get("num_encoder_engines", 0)
        engines = max(engines, n)
        codecs[codec] = {
            "supported": n > 0 or bool(caps.get("supported", 0)),
            "max_b_frames": caps.get("num_max_bframes"),
            "max_width": caps.get("width_max"),
            "max_height": caps.get("height_max"),
            "ten_bit": bool(caps.get("support_10bit_encode", 0)),
            "lossless": bool(caps.get("support_lossless_encode", 0)),
        }
    return {"engines": engines, "codecs": codecs}


def backend_info() -> dict[str, Any]:
    """What ``--backend auto`` picks here and why, and the family the planner would use."""
    from farm.backends.select import nvidia_missing, select_backend

    info: dict[str, Any] = {}
    try:
        info["auto"], info["reason"] = select_backend("auto")
    except Exception as exc:
        info["auto"], info["reason"] = None, _error(exc)
    try:
        info["nvidia_missing"] = nvidia_missing()
    except Exception as exc:
        info["nvidia_missing"] = [_error(exc)]
    families = {"cpu": "cpu"}
    if not info["nvidia_missing"]:
        from farm.backends.nvidia.pipeline import encode_family

        families["nvidia"] = encode_family("nvidia")
    info["encode_family"] = families
    return info


def ray_info(address: str | None) -> dict[str, Any]:
    """The cluster's resources when an address is known; Ray is imported only then."""
    info: dict[str, Any] = {
        "installed": importlib.util.find_spec("ray") is not None,
        "version": _package_version("ray"),
        "address": address,
        "connected": False,
    }
    if not address:
        info["reason"] = "no cluster address (pass --address or set RAY_ADDRESS)"
        return info
    if not info["installed"]:
        info["reason"] = "Ray is not installed"
        return info
    try:
        import ray

        started = not ray.is_initialized()
        if started:
            ray.init(
                address=address, logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False
            )
        try:
            info["connected"] = True
            info["cluster_resources"] = dict(ray.cluster_resources())
            info["available_resources"] = dict(ray.available_resources())
            info["nodes"] = [
                {
                    "address": n.get("NodeManagerAddress"),
                    "alive": n.get("Alive"),
                    "resources": n.get("Resources"),
                }
                for n in ray.nodes()
            ]
        finally:
            if started:
                ray.shutdown()
    except Exception as exc:
        info["reason"] = _error(exc)
    return info


def collect(address: str | None = None) -> dict[str, Any]:
    """Everything ``farm doctor`` reports, as one JSON-ready dict."""
    from farm.backends.resources import node_resources

    cupy, gpus = cupy_info()
    if not gpus and not cupy["available"]:
        gpus = smi_gpus()
        for gpu in gpus:
            gpu["source"] = "nvidia-smi"
    report: dict[str, Any] = {
        "farm": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "driver": driver_info(),
        "cupy": cupy,
        "pynvvideocodec": {},
        "gpus": gpus,
    }
    report["pynvvideocodec"] = video_codec_info(gpus)
    report["nvdec_engines"] = sum(g.get("nvdec", {}).get("engines", 0) for g in gpus)
    report["nvenc_engines"] = sum(g.get("nvenc", {}).get("engines", 0) for g in gpus)
    report["backend"] = backend_info()
    # what cluster/start-node.sh passes to `ray start --resources`
    report["ray_resources"] = node_resources(report)
    report["ray"] = ray_info(address)
    return report


# ------------------------------------------------------------------ command line


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm doctor`` to ``parser``."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS"),
        help="also report this Ray cluster's resources (default: $RAY_ADDRESS; none: skip)",
    )
    parser.add_argument(
        "--resources",
        action="store_true",
        help="print only the Ray resources this node should advertise (JSON for `ray start --resources`)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm doctor``: print the report (always exits 0; the report says what is missing)."""
    report = collect(getattr(args, "address", None))
    if getattr(args, "resources", False):
        print(json.dumps(report["ray_resources"]))
    elif getattr(args, "json", False):
        print(json.dumps(report, indent=1, sort_keys=True, default=str))
    else:
        print(render_text(report))
    return 0


def render_text(report: dict[str, Any]) -> str:
    lines = [f"farm {report['farm']} on Python {report['python']} ({report['platform']})"]
    drv = report["driver"]
    lines.append(
        f"NVIDIA driver: {drv['version'] or 'none'}" + (f" ({drv['error']})" if drv.get("error") else "")
    )
    cp = report["cupy"]
    lines.append(
        f"CuPy: {cp['version'] or 'not available'}"
        + (f", CUDA runtime {cp['cuda_runtime']}, driver API {cp['cuda_driver']}" if cp["available"] else "")
        + (f" ({cp['error']})" if cp.get("error") else "")
    )
    nv = report["pynvvideocodec"]
    lines.append(
        f"PyNvVideoCodec: {nv.get('version') or 'not available'}"
        + (f" ({nv['error']})" if nv.get("error") else "")
    )
    if not report["gpus"]:
        lines.append("GPUs: none")
    for gpu in report["gpus"]:
        lines.append(
            f"GPU {gpu['index']}: {gpu['name']}, {gpu.get('memory_gib')} GiB"
            + (f", compute {gpu['compute_capability']}" if gpu.get("compute_capability") else "")
        )
        dec = gpu.get("nvdec", {})
        decodes = [k for k, v in dec.get("codecs", {}).items() if v.get("supported")]
        lines.append(
            f"  NVDEC: {dec.get('engines', 0)} engine(s); decodes {', '.join(decodes) or 'nothing found'}"
        )
        enc = gpu.get("nvenc", {})
        encodes = [k for k, v in enc.get("codecs", {}).items() if v.get("supported")]
        lines.append(
            f"  NVENC: {enc.get('engines', 0)} engine(s)"
            + (f"; encodes {', '.join(encodes)}" if encodes else "; none (frames are encoded on the host)")
        )
    be = report["backend"]
    lines.append(f"--backend auto: {be.get('auto')} ({be.get('reason')})")
    lines.append(
        "encoder families: " + ", ".join(f"{k} -> {v}" for k, v in be.get("encode_family", {}).items())
    )
    lines.append(f"Ray resources to advertise: {json.dumps(report['ray_resources'])}")
    ray = report["ray"]
    if ray.get("connected"):
        lines.append(f"Ray cluster at {ray['address']}: {json.dumps(ray.get('cluster_resources'))}")
    else:
        lines.append(f"Ray: not connected ({ray.get('reason')})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(configure_parser(argparse.ArgumentParser(prog="farm doctor")).parse_args()))
