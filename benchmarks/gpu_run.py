"""The GPU record: run the GPU tests and the GPU benchmarks, write ``benchmarks/results/gpu-<date>.json``.

On a machine with an NVIDIA GPU, CuPy and PyNvVideoCodec (no Ray needed):

1. **tests** — ``pytest -m gpu`` over ``tests/`` with ``FARM_REQUIRE_GPU=1``
   (a GPU test that would skip fails instead), each test under
   ``--test-timeout`` seconds (``gpu_test_alarm.py``), counted from a JUnit
   report. The CPU-side tests are not run again here: CI runs them.
2. **NVDEC** — 4K H.264 and HEVC clips made with ``farm.media.synth`` (film
   grain and crf 20: about 100 Mbit/s, like a camera's files), decoded by
   PyNvVideoCodec: one session, and one session per NVDEC engine at once,
   against the engines × NVIDIA's published rate (1080p: H.264 ≈ 770 fps,
   HEVC ≈ 1,300 fps per engine; 4K is a quarter). Decoders are opened and
   warmed before the clock starts.
3. **kernels** — the fused NV12 4K → LUT → 1080p kernel's GB/s against a
   measured device copy and the card's theoretical bandwidth
   (``benchmarks/bench_kernels.py``'s ``bench_gpu``); the compositing kernel
   (three 1080p layers) checked byte for byte against its NumPy twin and timed
   (``benchmarks/bench_composite.py``, ``composite`` in the record).
4. **host copies** — 1080p pictures through the ``nvdec+cpu`` family's pinned,
   asynchronous device → host copies alone: the rate the copy allows.
5. **end to end** — 4K → 1080p frames per second through
   ``farm.backends.segment.render_segment`` with the nvidia backend (the family this
   GPU renders: ``nvenc``, or ``nvdec+cpu`` without NVENC), with and without
   a look, and the CPU backend on the same segments as the peer. The first
   segment (kernels compiled, decoder opened) is rendered before the clock.

Each part runs in its own ``try``: a failure is recorded under ``errors`` and
the rest still runs. Without a GPU the summary is printed but no record is
written unless ``--out`` names a file (the GPU record stays owed).

    python benchmarks/gpu_run.py [--frames 96] [--skip-tests] [--test-timeout 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: NVIDIA's published NVDEC rate per engine at 1080p (FACTS.md); 4K is about a quarter of it
PUBLISHED_1080P_FPS = {"h264": 770.0, "hevc": 1300.0}
PIXELS_4K, PIXELS_1080P = 3840 * 2160, 1920 * 1080


def _error(exc: BaseException) -> str:
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"{type(exc).__name__}: {exc}\n{tail}"


# ------------------------------------------------------------------ tests


def junit_counts(path: Path) -> dict[str, int]:
    """passed / failed / skipped (and errors) from a JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {
        "passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
        "failed": total["failures"] + total["errors"],
        "skipped": total["skipped"],
        "errors": total["errors"],
    }


def run_pytest(args: list[str], junit: Path, env: dict[str, str], timeout: int) -> dict:
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "gpu_test_alarm"]
    try:
        proc = subprocess.run(
            [*command, f"--junitxml={junit}", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-3000:]
        return {"exit_code": None, "timed_out": timeout, "output_tail": str(tail)}
    result: dict = {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - start, 1)}
    if junit.is_file():
        result.update(junit_counts(junit))
    result["output_tail"] = proc.stdout[-3000:] + proc.stderr[-2000:]
    return result


def part_tests(work: Path, per_test: int, total: int) -> dict:
    """The GPU tests, each under ``per_test`` seconds, all under ``total``."""
    path = os.pathsep.join(p for p in (str(REPO / "benchmarks"), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, FARM_REQUIRE_GPU="1", FARM_TEST_TIMEOUT=str(per_test), PYTHONPATH=path)
    return run_pytest(["-m", "gpu", "tests"], work / "junit-gpu.xml", env, total)


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
    from farm.planning.units import EncodeSpec, SegmentJob, SourceRef, fit_geometry

    info = probe(path)
    src = SourceRef(
        info.path,
        info.identity,
        info.time_base,
        info.colorspace,
        info.color_range,
        info.width,
        info.height,
        info.sar,
    )
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


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96, help="frames of each 4K test clip (default 96)")
    parser.add_argument("--iterations", type=int, default=200, help="timed kernel launches (default 200)")
    parser.add_argument("--skip-tests", action="store_true", help="benchmarks only")
    parser.add_argument("--no-cpu-peer", action="store_true", help="skip the CPU backend's end-to-end run")
    parser.add_argument("--test-timeout", type=int, default=60, help="seconds for each GPU test")
    parser.add_argument("--tests-timeout", type=int, default=300, help="seconds for all GPU tests")
    parser.add_argument("--work", type=Path, help="folder for clips and caches (default: a temporary one)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the record (default on a GPU: benchmarks/results/gpu-<date>.json)",
    )
    args = parser.parse_args(argv)

    from farm.backends.doctor import collect
    from farm.backends.select import nvidia_missing

    record: dict = {
        "kind": "gpu-run",
        "date": dt.date.today().isoformat(),
        "host": platform.node(),
        "python": platform.python_version(),
        "errors": {},
    }
    missing = nvidia_missing()
    record["gpu"] = not missing
    record["missing"] = missing
    try:
        doctor = collect()
        gpus = doctor["gpus"]
        record.update(
            {
                "device": gpus[0]["name"] if gpus else None,
                "driver": doctor["driver"]["version"],
                "cuda_runtime": doctor["cupy"]["cuda_runtime"],
                "cupy": doctor["cupy"]["version"],
                "pynvvideocodec": doctor["pynvvideocodec"].get("version"),
                "nvdec_engines": doctor["nvdec_engines"],
                "nvenc_engines": doctor["nvenc_engines"],
                "encode_family": doctor["backend"]["encode_family"].get("nvidia"),
                "backend_reason": doctor["backend"]["reason"],
                "doctor": doctor,
            }
        )
    except Exception as exc:  # noqa: BLE001 - recorded
        record["errors"]["doctor"] = _error(exc)

    work_ctx = tempfile.TemporaryDirectory(prefix="farm-gpu-run-") if args.work is None else None
    work = Path(work_ctx.name) if work_ctx else args.work
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_tests:
            try:
                record["tests"] = part_tests(work, args.test_timeout, args.tests_timeout)
            except Exception as exc:  # noqa: BLE001
                record["errors"]["tests"] = _error(exc)
        clips: dict[str, Path] = {}
        for codec in ("h264", "hevc"):
            try:
                clips[codec] = make_clip(work / f"city-4k-{codec}.mp4", codec, args.frames)
            except Exception as exc:  # noqa: BLE001
                record["errors"][f"clip_{codec}"] = _error(exc)
        record["nvdec"] = {}
        for codec, path in clips.items():
            try:
                record["nvdec"][f"{codec}_4k"] = bench_nvdec(path, codec)
            except Exception as exc:  # noqa: BLE001
                record["errors"][f"nvdec_{codec}"] = _error(exc)
        try:
            record["kernels"] = bench_kernels(args.iterations)
        except Exception as exc:  # noqa: BLE001
            record["errors"]["kernels"] = _error(exc)
        try:
            record["composite"] = _bench_module("bench_composite").bench_gpu(args.iterations)
            if "skipped" not in record["composite"] and not record["composite"]["equal_to_numpy_twin"]:
                record["errors"]["composite"] = "the compositing kernel differs from its NumPy twin"
        except Exception as exc:  # noqa: BLE001
            record["errors"]["composite"] = _error(exc)
        try:
            record["host_copies"] = bench_host_copies()
        except Exception as exc:  # noqa: BLE001
            record["errors"]["host_copies"] = _error(exc)
        record["end_to_end"] = {}
        if "h264" in clips:
            look = write_look(work / "bench.cube")
            family = record.get("encode_family") or "nvdec+cpu"
            runs = [("nvidia", family, None), ("nvidia", family, look)]
            if not args.no_cpu_peer:
                runs.append(("cpu", "cpu", look))
            for backend, fam, lut in runs:
                name = f"{backend}_{fam}{'_look' if lut else ''}".replace("+", "_")
                try:
                    record["end_to_end"][name] = bench_end_to_end(clips["h264"], backend, fam, lut, work)
                except Exception as exc:  # noqa: BLE001
                    record["errors"][f"end_to_end_{name}"] = _error(exc)
    finally:
        if work_ctx is not None:
            work_ctx.cleanup()

    text = json.dumps(record, indent=1, sort_keys=True, default=str)
    out = args.out
    if out is None and record["gpu"]:
        out = REPO / "benchmarks" / "results" / f"gpu-{record['date']}.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print("no GPU here: the record is not written (pass --out to keep this one)", file=sys.stderr)
    summary = {k: record.get(k) for k in ("device", "driver", "gpu", "missing", "encode_family")}
    summary["tests"] = {
        k: v for k, v in record.get("tests", {}).items() if k in ("passed", "failed", "skipped")
    }
    summary["errors"] = sorted(record["errors"])
    print(json.dumps(summary, indent=1))
    return 0 if record["gpu"] and not record["errors"] and not summary["tests"].get("failed") else 1


if __name__ == "__main__":
    raise SystemExit(main())
