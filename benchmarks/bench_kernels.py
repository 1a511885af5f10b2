"""Benchmark: the fused NV12 4K -> LUT -> 1080p NV12 kernel against the memory bandwidth.

Prints one JSON object (and writes it with ``--out``). On a machine with CuPy
and a GPU it times ``farm.kernels.fused_nv12_resize`` with a 33³ LUT and
reports the achieved bandwidth (bytes of the source and output frames / time)
as a fraction of a device-to-device copy's measured bandwidth (target 0.70;
H200: about 4.3 TB/s) and of the theoretical one. The kernel's float
intermediate (rows resampled to the output width) is not counted: it is
meant to stay in the L2 cache between the two passes. Without
a GPU the fused kernel is reported as skipped. In both cases it times the
NumPy reference and, as the peer, libavfilter doing the same work on the CPU
(scale + lut3d through PyAV), one frame each.

    python benchmarks/bench_kernels.py [--iterations 200] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from farm.kernels import Lut, fused_nv12_resize, identity_lut, write_cube  # noqa: E402
from farm.output.atomic import write_text_atomic  # noqa: E402

SOURCE = (3840, 2160)
TARGET = (1920, 1080)
LUT_SIZE = 33
BANDWIDTH_TARGET = 0.70


def creative_lut(size: int = LUT_SIZE) -> Lut:
    grid = identity_lut(size).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    return Lut(np.stack([r**0.8, 0.05 + 0.9 * g, np.sqrt(b) * 0.9 + 0.05 * r], -1), title="bench")


def test_planes(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth gradients with some noise: realistic for the caches, not constant."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    y = (
        16 + 219 * (xx / width) * (0.5 + 0.5 * np.sin(yy / 97.0)) + rng.integers(0, 4, (height, width))
    ).clip(0, 255)
    uv = np.stack([128 + 60 * np.sin(xx[::2, ::2] / 211.0), 128 + 60 * np.cos(yy[::2, ::2] / 163.0)], -1)
    return y.astype(np.uint8), uv.astype(np.uint8)


def frame_bytes(width: int, height: int) -> int:
    return width * height * 3 // 2


def theoretical_bandwidth(cupy, device_id: int) -> tuple[float | None, str]:
    """Bytes/s from the memory clock and bus width (double data rate), and where they came from."""
    props = cupy.cuda.runtime.getDeviceProperties(device_id)
    clock_khz = props.get("memoryClockRate")
    bus_bits = props.get("memoryBusWidth")
    source = "getDeviceProperties"
    if not clock_khz or not bus_bits:  # CUDA 13 dropped memoryClockRate from the properties struct
        try:
            clock_khz = cupy.cuda.runtime.deviceGetAttribute(36, device_id)  # cudaDevAttrMemoryClockRate
            bus_bits = cupy.cuda.runtime.deviceGetAttribute(37, device_id)  # cudaDevAttrGlobalMemoryBusWidth
            source = "deviceGetAttribute"
        except Exception:
            return None, "unavailable"
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0, source


def measured_bandwidth(cupy, megabytes: int = 1024, iterations: int = 20) -> float:
    """Bytes/s of a device-to-device copy (bytes read + bytes written), as the card really does it."""
    src = cupy.ones(megabytes * 2**20, dtype=cupy.uint8)
    dst = cupy.empty_like(src)
    dst[...] = src  # warm
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(iterations):
        dst[...] = src
    stop.record()
    stop.synchronize()
    seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3 / iterations
    return 2.0 * src.nbytes / seconds


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

    device_id = cupy.cuda.Device().id
    name = cupy.cuda.runtime.getDeviceProperties(device_id)["name"]
    peak, peak_source = theoretical_bandwidth(cupy, device_id)
    copy = measured_bandwidth(cupy)
    y_host, uv_host = test_planes(*SOURCE)
    y, uv = cupy.asarray(y_host), cupy.asarray(uv_host)
    lut = creative_lut()
    moved = frame_bytes(*SOURCE) + frame_bytes(*TARGET)
    results = {}
    for filter in ("bilinear", "bicubic"):
        for _ in range(3):  # compile, upload the LUT and taps, warm the caches
            fused_nv12_resize(y, uv, lut, *TARGET, filter=filter)
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        for _ in range(iterations):
            fused_nv12_resize(y, uv, lut, *TARGET, filter=filter)
        stop.record()
        stop.synchronize()
        seconds = cupy.cuda.get_elapsed_time(start, stop) / 1e3 / iterations
        achieved = moved / seconds
        results[filter] = {
            "microseconds_per_frame": seconds * 1e6,
            "frames_per_second": 1.0 / seconds,
            "achieved_gb_per_s": achieved / 1e9,
            "fraction_of_peak": None if peak is None else achieved / peak,
            "fraction_of_measured_copy": achieved / copy,
            "meets_target": achieved / copy >= BANDWIDTH_TARGET,
        }
    return {
        "device": name,
        "peak_gb_per_s": None if peak is None else peak / 1e9,
        "peak_from": peak_source,
        "measured_copy_gb_per_s": copy / 1e9,
        "bytes_per_frame": moved,
        "iterations": iterations,
        "target_fraction": BANDWIDTH_TARGET,
        "filters": results,
    }


def bench_numpy_reference() -> dict:
    y, uv = test_planes(*SOURCE)
    lut = creative_lut()
    start = time.perf_counter()
    fused_nv12_resize(y, uv, lut, *TARGET)
    return {"seconds_per_frame": time.perf_counter() - start}


def bench_libavfilter_peer() -> dict:
    """The CPU render path's equivalent: scale to 1080p, lut3d, back to NV12, in libavfilter."""
    try:
        import av
    except ImportError as exc:
        return {"skipped": f"PyAV is not importable: {exc}"}
    y, uv = test_planes(*SOURCE)
    with tempfile.TemporaryDirectory() as tmp:
        cube = Path(tmp) / "bench.cube"
        write_cube(creative_lut(), cube)
        graph = av.filter.Graph()
        src = graph.add_buffer(width=SOURCE[0], height=SOURCE[1], format="nv12", time_base=Fraction(1, 25))
        chain = [
            graph.add("scale", f"{TARGET[0]}:{TARGET[1]}:flags=bilinear"),
            graph.add("lut3d", f"file={cube}:interp=tetrahedral"),
            graph.add("format", "nv12"),
            graph.add("buffersink"),
        ]
        node = src
        for nxt in chain:
            node.link_to(nxt)
            node = nxt
        graph.configure()
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([y, uv.reshape(SOURCE[1] // 2, SOURCE[0])]), format="nv12"
        )
        times = []
        for pts in range(4):
            frame.pts = pts
            start = time.perf_counter()
            graph.push(frame)
            graph.pull()
            times.append(time.perf_counter() - start)
    return {"seconds_per_frame": min(times[1:]), "graph": "scale(bilinear) -> lut3d(tetrahedral) -> nv12"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed launches per filter on the GPU")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    result = {
        "benchmark": "fused NV12 3840x2160 -> 33^3 LUT -> NV12 1920x1080",
        "host": platform.node(),
        "gpu_fused_kernel": bench_gpu(args.iterations),
        "numpy_reference": bench_numpy_reference(),
        "libavfilter_peer_cpu": bench_libavfilter_peer(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        write_text_atomic(Path(args.out), text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
