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

Step 1 runs here; steps 2–5 are measured by ``gpu_parts.py`` (3 through the
bench scripts named above), and this script runs them in this order and writes
the record. Each part runs in its own ``try``: a failure is recorded under
``errors`` and the rest still runs. Without a GPU the summary is printed but no
record is written unless ``--out`` names a file (the GPU record stays owed).

    python benchmarks/gpu_run.py [--frames 96] [--skip-tests] [--test-timeout 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_parts import (  # noqa: E402
    REPO,
    _bench_module,
    _error,
    bench_end_to_end,
    bench_host_copies,
    bench_kernels,
    bench_nvdec,
    make_clip,
    write_look,
)

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
