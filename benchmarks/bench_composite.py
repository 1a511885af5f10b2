"""Benchmark: compositing three 1080p layers (opaque, a dissolve with alpha, a wipe) into one NV12 frame.

Prints one JSON object (and writes it with ``--out``). With CuPy and a GPU it
runs ``farm.kernels._composite`` on the device, checks the picture against the
NumPy twin byte for byte (the twin is the CPU backend's mix, bit for bit) and
times a frame (three ``farm_mix_layer`` launches and two ``farm_finish``) with
CUDA events, with the bytes it moves per second. Everywhere it times the NumPy
twin (what the CPU backend does per frame) and, as the peer, FFmpeg's command
line blending two 1080p yuv420p inputs (``blend``, normal mode at opacity 3/8, one filter
thread, as the twin runs on one core) in the same run; the time FFmpeg takes to make and pass
the inputs alone is measured too and taken off.

    python benchmarks/bench_composite.py [--iterations 100] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from farm.kernels._composite import composite  # noqa: E402
from farm.output.atomic import write_text_atomic  # noqa: E402

SIZE = (1920, 1080)


def layers(width: int, height: int, seed: int = 8) -> list[tuple[Any, Any, Any, float, str]]:
    """Host layers: an opaque picture, one at weight 3/8 with a ramp of alpha, and a half-way wipe."""
    rng = np.random.default_rng(seed)
    out = []
    for weight, mask, with_alpha in ((1.0, "", False), (0.375, "", True), (0.5, "wipe-left", False)):
        y = rng.integers(16, 236, (height, width), dtype=np.uint8)
        uv = rng.integers(16, 241, (height // 2, width // 2, 2), dtype=np.uint8)
        alpha = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1)) if with_alpha else None
        out.append((y, uv, alpha, weight, mask))
    return out


def moved_bytes(width: int, height: int, stack: list) -> int:
    """Bytes a frame reads and writes: each layer and alpha read, the float accumulators read and
    written per layer, the 8-bit picture written."""
    picture = width * height * 3 // 2
    accumulators = picture * 4
    per_layer = [
        picture + (width * height if a is not None else 0) + 2 * accumulators for _, _, a, _, _ in stack
    ]
    return sum(per_layer) + accumulators + picture


def bench_gpu(iterations: int) -> dict:
    try:
        import cupy
    except ImportError as exc:
        return {"skipped": f"CuPy is not importable: {exc}"}
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return {"skipped": "no CUDA device"}
    except Exception as exc:
        return {"skipped": f"no usable CUDA device: {exc}"}
    w, h = SIZE
    stack = layers(w, h)
    expected = composite(np, w, h, stack)
    device = [
        (cupy.asarray(y), cupy.asarray(uv), None if a is None else cupy.asarray(a), wt, m)
        for y, uv, a, wt, m in stack
    ]
    y, uv = composite(cupy, w, h, device)  # compiles the kernels
    differing = int(np.count_nonzero(cupy.asnumpy(y) != expected[0])) + int(
        np.count_nonzero(cupy.asnumpy(uv) != expected[1])
    )
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(iterations):
        composite(cupy, w, h, device)
    stop.record()
    stop.synchronize()
    seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3 / iterations
    return {
        "device": cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"],
        "equal_to_numpy_twin": differing == 0,
        "differing_samples": differing,
        "microseconds_per_frame": seconds * 1e6,
        "frames_per_second": 1.0 / seconds,
        "achieved_gb_per_s": moved_bytes(w, h, stack) / seconds / 1e9,
        "iterations": iterations,
    }


def bench_numpy(repeats: int = 3) -> dict:
    w, h = SIZE
    stack = layers(w, h)
    best = min(_timed(lambda: composite(np, w, h, stack)) for _ in range(repeats))
    return {"milliseconds_per_frame": best * 1e3}


def bench_ffmpeg_peer(frames: int = 48) -> dict:
    """FFmpeg's command line blending two generated 1080p yuv420p inputs at weight 3/8."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return {"skipped": "ffmpeg is not on PATH"}
    size = f"{SIZE[0]}x{SIZE[1]}"
    common = [
        ffmpeg, "-v", "error", "-filter_threads", "1",
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r=24,format=yuv420p",
        "-f", "lavfi", "-i", f"smptebars=s={size}:r=24,format=yuv420p",
    ]  # fmt: skip
    only_inputs = [
        *common,
        "-filter_complex",
        "[0][1]overlay=x=W",
        "-frames:v",
        str(frames),
        "-f",
        "null",
        "-",
    ]
    blended = [*common, "-filter_complex", "[0][1]blend=all_mode=normal:all_opacity=0.375",
               "-frames:v", str(frames), "-f", "null", "-"]  # fmt: skip
    base = min(_timed(lambda: subprocess.run(only_inputs, check=True)) for _ in range(2))
    total = min(_timed(lambda: subprocess.run(blended, check=True)) for _ in range(2))
    return {
        "command": " ".join(blended),
        "milliseconds_per_frame_blend_only": max(total - base, 0.0) / frames * 1e3,
        "milliseconds_per_frame_with_inputs": total / frames * 1e3,
    }


def _timed(call: Any) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def run(iterations: int) -> dict:
    result = {
        "benchmark": "composite 3 layers (opaque, dissolve 3/8 with alpha, wipe) -> NV12 1920x1080",
        "host": platform.node(),
        "gpu": bench_gpu(iterations),
        "numpy_twin": bench_numpy(),
        "ffmpeg_blend_peer": bench_ffmpeg_peer(),
    }
    twin = result["numpy_twin"]["milliseconds_per_frame"]
    peer = result["ffmpeg_blend_peer"].get("milliseconds_per_frame_blend_only")
    result["numpy_twin_over_ffmpeg_blend"] = twin / peer if peer else None
    gpu_us = result["gpu"].get("microseconds_per_frame")
    result["numpy_twin_over_gpu"] = twin * 1e3 / gpu_us if gpu_us else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100, help="timed frames on the GPU")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    text = json.dumps(run(args.iterations), indent=2)
    print(text)
    if args.out:
        write_text_atomic(Path(args.out), text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
