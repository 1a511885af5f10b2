"""gpu_run's GPU measurements: 4K clips, NVDEC rates, host copies, kernels, end to end (see gpu_run.py)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: NVIDIA's published NVDEC rate per engine at 1080p (FACTS.md); 4K is about a quarter of it
PUBLISHED_1080P_FPS = {"h264": 770.0, "hevc": 1300.0}
PIXELS_4K, PIXELS_1080P = 3840 * 2160, 1920 * 1080


def _error(exc: BaseException) -> str:
    """A failure as the record keeps it (also ``gpu_run.py``'s): its type, message and traceback's tail."""
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"{type(exc).__name__}: {exc}\n{tail}"


# ------------------------------------------------------------------ media


def make_clip(path: Path, codec: str, frames: int) -> Path:
    from farm.media.synth import write_clip

    if not path.is_file():
        write_clip(
            path,
            width=3840,
            height=2160,
            rate=24,
            frames=frames,
            pattern="city",
            codec=codec,
            preset="ultrafast",
            crf=20,
            noise=0.05,  # film grain: about 100 Mbit/s at 4K, like a camera's files
            gop=48,
        )
    return path


# ------------------------------------------------------------------ NVDEC


def _open(nvc, path: Path):  # type: ignore[no-untyped-def]
    """A decoder, opened and warmed (first frames decoded, back at frame 0): outside any timing."""
    decoder = nvc.SimpleDecoder(
        str(path), gpu_id=0, use_device_memory=True, output_color_type=nvc.OutputColorType.NATIVE
    )
    decoder.get_batch_frames(4)
    decoder.seek_to_index(0)
    return decoder


def _decode_all(decoder, batch: int = 16) -> int:  # type: ignore[no-untyped-def]
    count = 0
    while True:
        frames = decoder.get_batch_frames(batch)
        if not frames:
            return count
        count += len(frames)


def bench_nvdec(path: Path, codec: str) -> dict:
    import cupy

    from farm.backends.capabilities import probe
    from farm.backends.nvidia.codec import pynvvideocodec

    nvc = pynvvideocodec()
    gpu = probe().gpu(0)
    engines = (gpu.nvdec.engines if gpu is not None else 0) or 1
    decoder = _open(nvc, path)
    cupy.cuda.runtime.deviceSynchronize()
    start = time.perf_counter()
    frames = _decode_all(decoder)
    cupy.cuda.runtime.deviceSynchronize()
    single = frames / (time.perf_counter() - start)
    del decoder

    decoders = [_open(nvc, path) for _ in range(engines)]
    counts: list[int] = []
    errors: list[str] = []

    def worker(decoder) -> None:  # type: ignore[no-untyped-def]
        try:
            counts.append(_decode_all(decoder))
        except Exception as exc:  # noqa: BLE001 - recorded
            errors.append(_error(exc))

    threads = [threading.Thread(target=worker, args=(d,)) for d in decoders]
    cupy.cuda.runtime.deviceSynchronize()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cupy.cuda.runtime.deviceSynchronize()
    aggregate = sum(counts) / (time.perf_counter() - start)
    published = engines * PUBLISHED_1080P_FPS[codec] * PIXELS_1080P / PIXELS_4K
    return {
        "frames": frames,
        "megabits_per_second": round(path.stat().st_size * 8 / (frames / 24) / 1e6, 1),
        "engines": engines,
        "single_session_fps": round(single, 1),
        "sessions": engines,
        "aggregate_fps": round(aggregate, 1),
        "published_fps": round(published, 1),
        "fraction_of_published": round(aggregate / published, 3),
        "errors": errors,
    }


def bench_host_copies(frames: int = 240, size: tuple[int, int] = (1920, 1080)) -> dict:
    """1080p pictures through the nvdec+cpu family's pinned asynchronous copies, without encoding."""
    import cupy

    from farm.backends.nvidia.transfer import HostCopies

    w, h = size
    y = cupy.full((h, w), 100, dtype=cupy.uint8)
    uv = cupy.full((h // 2, w // 2, 2), 128, dtype=cupy.uint8)
    copies = HostCopies(cupy, w, h)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        for _ in copies.pictures((y, uv, 1) for _ in range(8)):  # warm
            pass
        start = time.perf_counter()
        count = sum(1 for _ in copies.pictures((y, uv, 1) for _ in range(frames)))
        seconds = time.perf_counter() - start
    return {
        "frames": count,
        "fps": round(count / seconds, 1),
        "gb_per_s": round(count * w * h * 3 / 2 / seconds / 1e9, 2),
    }


# ------------------------------------------------------------------ kernels


def _bench_module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_kernels(iterations: int) -> dict:
    return _bench_module("bench_kernels").bench_gpu(iterations)


# ------------------------------------------------------------------ end to end


def segment_jobs(
    path: Path, family: str, lut: Path | None, chunk: int = 48, size: tuple[int, int] = (1920, 1080)
) -> list:
    from farm.media.probe import probe
    from farm.planning.keys import file_digest
    from farm.planning.planner import gop_frames
    from farm.planning.sources import source_ref
    from farm.planning.units import EncodeSpec, SegmentJob, fit_geometry

    info = probe(path)
    src = source_ref(info)  # codec, bit depth and chroma siting too, as the planner gives them
    geometry = fit_geometry(*info.display_size, info.rotation, size[0], size[1], "fit")
    spec = EncodeSpec("h264", 20, "veryfast", size[0], size[1], info.rate, gop_frames(info.rate), family)
    jobs = []
    for i, first in enumerate(range(0, info.frames, chunk)):
        last = min(first + chunk, info.frames)
        jobs.append(
            SegmentJob(
                key=f"bench{family.replace('+', '')}{'lut' if lut else ''}{i:04d}".ljust(40, "0"),
                frames=tuple(range(first, last)),
                frame_pts=info.frame_pts[first:last],
                count=last - first,
                source=src,
                geometry=geometry,
                lut_path=str(lut) if lut else None,
                lut_hash=file_digest(str(lut)) if lut else None,
                encode=spec,
                label="bench",
            )
        )
    return jobs


def bench_end_to_end(
    path: Path, backend: str, family: str, lut: Path | None, work: Path, size: tuple[int, int] = (1920, 1080)
) -> dict:
    from farm.backends.segment import render_segment

    jobs = segment_jobs(path, family, lut, size=size)
    render_segment(
        jobs[0], str(work / f"warm-{backend}-{family}-{bool(lut)}"), backend
    )  # warm: kernels, sessions
    cache = work / f"cache-{backend}-{family}-{bool(lut)}"
    start = time.perf_counter()
    for job in jobs:
        render_segment(job, str(cache), backend)
    seconds = time.perf_counter() - start
    frames = sum(j.count for j in jobs)
    return {
        "backend": backend,
        "family": family,
        "look": bool(lut),
        "segments": len(jobs),
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 1),
    }


def write_look(path: Path) -> Path:
    import numpy as np

    from farm.kernels import Lut, identity_lut, write_cube

    grid = identity_lut(33).table3d.astype(np.float64)
    r, g, b = np.moveaxis(grid, -1, 0)
    write_cube(Lut(np.stack([r**0.8, 0.05 + 0.9 * g, np.sqrt(b) * 0.9 + 0.05 * r], -1), title="bench"), path)
    return path
