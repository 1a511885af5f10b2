"""``farm bench``: render a project cold, say where the time goes, and compare with FFmpeg.

Each repeat renders into a fresh cache and output folder under ``--out``:
start-up (the executor), probe+plan, look bakes, segments (the workers' spans:
decode, colour+scale, encode, mux, cache write) and stitch are recorded as
spans on one wall-clock timeline. Unlike ``farm render``, planning is not
overlapped with start-up here, so each is measured alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from farm.cli.arguments import positive_int
from farm.errors import OutputError, Where
from farm.output.atomic import write_text_atomic


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("project", type=Path, nargs="?", help="the project file (farm.toml)")
    parser.add_argument(
        "--synthetic",
        choices=("4k", "1080p"),
        help="bench a generated project instead: two 4 s sources of this size, a look, two variants",
    )
    parser.add_argument("--variant", action="append", dest="variants", metavar="NAME")
    parser.add_argument("--backend", choices=("auto", "cpu", "nvidia"), default="auto")
    parser.add_argument("--workers", type=positive_int, help="parallel segment workers (default: CPU cores)")
    parser.add_argument(
        "--vs", choices=("ffmpeg",), help="also time FFmpeg's command line doing the same work"
    )
    parser.add_argument(
        "--repeat", type=positive_int, default=1, help="cold renders to time (median reported)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="where results go (default: bench-results/)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    if (args.project is None) == (args.synthetic is None):
        print("farm bench: error: give a PROJECT.toml or --synthetic 4k|1080p (one of them)", file=sys.stderr)
        return 2
    out: Path = args.out.expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the bench folder ({exc.strerror})", Where(path=str(out))) from None
    project = args.project or synthetic_project(out / "synthetic", args.synthetic)
    from farm.cli.bench_peer import NvmlSampler, run_peer

    runs = []
    for i in range(args.repeat):
        with NvmlSampler() as nvml:
            runs.append(bench_once(project, args, out / "work" / f"run-{i}"))
        runs[-1]["figures"]["nvml"] = (
            nvml.summary() if runs[-1]["backend"] == "nvidia" else {"skipped": "cpu backend"}
        )
    last = runs[-1]
    figures = {
        **last["figures"],
        "wall_median": round(statistics.median(r["figures"]["wall_seconds"] for r in runs), 4),
    }
    if args.vs == "ffmpeg":
        peer = run_peer(last["plan"], out / "work" / "peer", args.repeat)
        if "skipped" in peer or "error" in peer:
            print(f"farm bench: {peer.get('skipped') or peer.get('error')}", file=sys.stderr)
        else:
            for form in ("plain", "best"):
                peer[form]["ratio"] = round(figures["wall_median"] / peer[form]["seconds"], 3)
        figures["vs_ffmpeg"] = peer
    result = {
        "project": str(Path(project).resolve()),
        "settings": {
            "backend": last["backend"],
            "workers": last["workers"],
            "repeat": args.repeat,
            "variants": args.variants,
        },
        "machine": machine(),
        "versions": versions(),
        "figures": figures,
        "runs": [r["figures"] for r in runs],
    }
    write_outputs(out, result, last)
    shutil.rmtree(out / "work", ignore_errors=True)
    print_summary(out, figures)
    return max(int(r["exit_code"]) for r in runs)


def bench_once(project: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One cold render of ``project`` into ``work``, every stage recorded as a span."""
    from farm.backends.nvidia.pipeline import encode_family
    from farm.backends.select import select_backend
    from farm.edit.project import load_project
    from farm.execute.protocol import ExecutorSession
    from farm.execute.ray_executor import RayExecutor
    from farm.execute.timing import TimedExecutor, TimedLoop, phase
    from farm.output.bench import wall_breakdown, worker_stages
    from farm.output.cache import Cache
    from farm.planning.planner import plan_project

    shutil.rmtree(work, ignore_errors=True)
    spans: list[dict[str, Any]] = []
    t0 = time.time()
    started = time.perf_counter()
    proj = load_project(project)
    backend, _reason = select_backend(args.backend)
    cache = Cache(work / "cache").ensure()
    spans.append(phase("probe+plan", t0, time.time()))
    timed = TimedExecutor(RayExecutor(workers=args.workers, backend=backend), spans)
    with open(os.devnull, "w") as quiet, ExecutorSession(partial(lambda e: e, timed)) as session:
        session.executor()
        tp = time.time()
        plan = plan_project(proj, args.variants, cache.root, family=encode_family(backend))
        spans.append(phase("probe+plan", tp, time.time()))
        loop = TimedLoop(
            plan,
            work / "out",
            cache,
            backend,
            names=args.variants or list(proj.variants),
            progress_stream=quiet,
            started=started,
        )
        loop.spans = spans
        report = loop.run(session, workers=timed.workers)
    t1 = time.time()
    frames = sum(v.frames for v in report.variants.values() if v.error is None)
    workers = worker_stages(spans)
    figures = {
        "wall_seconds": round(t1 - t0, 4),
        "frames": frames,
        "fps": round(frames / (t1 - t0), 2),
        "wall": wall_breakdown(spans, t0, t1),
        "stages": workers["stages"],
        "workers": workers["workers"],
        "units": timed.units,
        "variants": {
            k: {"frames": v.frames, "error": str(v.error) if v.error else None}
            for k, v in report.variants.items()
        },
    }
    return {
        "figures": figures,
        "spans": spans,
        "t0": t0,
        "t1": t1,
        "plan": plan,
        "backend": backend,
        "workers": timed.workers,
        "exit_code": report.exit_code,
    }


def synthetic_project(folder: Path, size: str) -> Path:
    """Two 4 s ``city`` sources of ``size`` (24, 25 fps), a look, two variants sharing a shot; 1080p out."""
    from fractions import Fraction

    from farm.cli.demo import _write_cut as write_cut  # the demo's OTIO writer
    from farm.cli.demo import write_show_look
    from farm.media.synth import write_clip

    width, height = (3840, 2160) if size == "4k" else (1920, 1080)
    (folder / "media").mkdir(parents=True, exist_ok=True)
    for i, rate in enumerate((24, 25)):
        path = folder / "media" / f"s{i}.mp4"
        if not path.is_file():
            write_clip(
                path,
                width=width,
                height=height,
                rate=Fraction(rate),
                frames=4 * rate,
                pattern="city",
                source_id=i,
                crf=20,
                preset="ultrafast",
                noise=0.05,
                audio_tone_hz=220.0 * (i + 1),
            )
    write_show_look(folder / "look.cube")
    rates = {"s0": Fraction(24), "s1": Fraction(25)}
    write_cut(folder / "a.otio", "a", [("s0", 0, 3), ("s1", 1, 3)], rates)
    write_cut(folder / "b.otio", "b", [("s1", 1, 3), ("s0", 2, 2)], rates)
    toml = (
        '[output]\nwidth = 1920\nheight = 1080\nfps = "24"\ncodec = "h264"\n'
        'quality = 20\npreset = "veryfast"\n\n[look]\nlut = "look.cube"\n\n'
        '[variants.a]\ntimeline = "a.otio"\n\n[variants.b]\ntimeline = "b.otio"\n'
    )
    write_text_atomic(folder / "farm.toml", toml)
    return folder / "farm.toml"


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def versions() -> dict[str, Any]:
    from farm import __version__
    from farm.media.probe import codec_library_versions

    return {"farm": __version__, **codec_library_versions()}


def write_outputs(out: Path, result: dict[str, Any], last: dict[str, Any]) -> None:
    from farm.output.bench import chrome_trace, html_report, svg_report

    meta = {"wall_seconds": result["figures"]["wall_seconds"], "backend": result["settings"]["backend"]}
    title = (
        f"farm bench: {Path(result['project']).name}, {last['backend']}, {last['workers']} workers, "
        f"{result['figures']['wall_seconds']:.2f} s"
    )
    svg = svg_report(last["spans"], last["t0"], last["t1"], title, result["figures"])
    files = {
        "bench.json": json.dumps(result, indent=2) + "\n",
        "trace.json": json.dumps(chrome_trace(last["spans"], last["t0"], meta)) + "\n",
        "bench.svg": svg,
        "bench.html": html_report(svg, result["figures"]),
    }
    for name, text in files.items():
        try:
            write_text_atomic(out / name, text)
        except OSError as exc:
            raise OutputError(f"cannot write {name} ({exc.strerror})", Where(path=str(out / name))) from None


def print_summary(out: Path, figures: dict[str, Any]) -> None:
    wall = figures["wall_seconds"]
    print(f"wall {wall:.2f} s, {figures['frames']} frames, {figures['fps']} fps")
    for name, sec in figures["wall"].items():
        if sec:
            print(f"  {name:<15} {sec:8.3f} s  {sec / wall:6.1%}")
    print("worker-seconds by stage:")
    for name, sec in figures["stages"].items():
        print(f"  {name:<15} {sec:8.3f} s")
    peer = figures.get("vs_ffmpeg", {})
    for form in ("plain", "best"):
        if form in peer:
            print(f"ffmpeg {form}: {peer[form]['seconds']:.2f} s; farm / ffmpeg = {peer[form]['ratio']:.2f}x")
    print(f"wrote {out}/bench.json, trace.json, bench.svg, bench.html")
