"""``farm doctor``: what this machine (or cluster) offers farm, as text or JSON.

The report itself is :func:`farm.backends.doctor.collect`; this module adds
the flags, prints it, and exits 0 whatever is missing (the report says what).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from farm.backends.doctor import collect


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


def _gpu_lines(gpu: dict[str, Any]) -> list[str]:
    dec = gpu.get("nvdec", {})
    decodes = [k for k, v in dec.get("codecs", {}).items() if v.get("supported")]
    enc = gpu.get("nvenc", {})
    encodes = [k for k, v in enc.get("codecs", {}).items() if v.get("supported")]
    return [
        f"GPU {gpu['index']}: {gpu['name']}, {gpu.get('memory_gib')} GiB"
        + (f", compute {gpu['compute_capability']}" if gpu.get("compute_capability") else ""),
        f"  NVDEC: {dec.get('engines', 0)} engine(s); decodes {', '.join(decodes) or 'nothing found'}",
        f"  NVENC: {enc.get('engines', 0)} engine(s)"
        + (f"; encodes {', '.join(encodes)}" if encodes else "; none (frames are encoded on the host)"),
    ]


def render_text(report: dict[str, Any]) -> str:
    """The report of :func:`farm.backends.doctor.collect` as lines for a person."""
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
        lines += _gpu_lines(gpu)
    be = report["backend"]
    lines.append(f"--backend auto: {be.get('auto')} ({be.get('reason')})")
    lines.append(
        "encoder families: " + ", ".join(f"{k} -> {v}" for k, v in be.get("encode_family", {}).items())
    )
    lines.append(f"Ray resources to advertise: {json.dumps(report['ray_resources'])}")
    ray = report["ray"]
    if ray.get("connected"):
        lines.append(f"Ray cluster at {ray['address']}: {json.dumps(ray.get('cluster_resources'))}")
        if ray.get("backend"):
            lines.append(
                f"--backend auto on the cluster: {ray['backend']['auto']} ({ray['backend']['reason']})"
            )
        for node in ray.get("nodes", []):
            res = node.get("resources") or {}
            shown = {k: v for k, v in res.items() if k in ("CPU", "GPU", "nvdec", "nvenc")}
            state = "alive" if node.get("alive") else "dead"
            lines.append(f"  node {node.get('address')} ({state}): {json.dumps(shown)}")
            for differ in node.get("codec_mismatch", []):
                lines.append(f"    codec libraries differ from this machine's: {differ}")
    else:
        lines.append(f"Ray: not connected ({ray.get('reason')})")
    return "\n".join(lines)
