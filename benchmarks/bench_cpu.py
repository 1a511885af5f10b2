"""Benchmark: ``farm render`` on the CPU against FFmpeg's command line doing the same work.

One run generates its own footage (4K synthetic "city" clips at 24, 25 and
30 fps with film grain and a tone each, about 100 Mbit/s, like a camera's
files), a mild warm creative look (``.cube``), OpenTimelineIO cuts and a
``farm.toml``, then for each scenario:

* renders every variant with ``farm render PROJECT --backend cpu --cache FRESH
  --out OUT --report R.json`` in a subprocess, timed by the wall clock, twice:
  starting and stopping a Ray of its own, and joining the Ray that ``farm up``
  started once before the scenarios (timed on its own), whose warm workers
  serve render after render; reads farm's own report;
* runs ``farm render`` again on the finished render and records what it
  rendered (nothing, if the cache works) and how long it took;
* renders the same variants with one ``ffmpeg`` command per variant: every clip
  trimmed (input ``-ss``/``-t``), conformed (``fps=24``), scaled to 1920x1080
  with letterbox (``scale=...:force_original_aspect_ratio=decrease,pad=...``),
  through ``lut3d`` with the same ``.cube``, concatenated (``concat``), libx264
  with the same preset, crf and GOP length, AAC audio, MP4;
* reports farm's seconds over FFmpeg's (its best-configured command, planar
  float before ``lut3d``, and its plain one), frames per second (output frames /
  seconds) of both, and how many frames farm actually rendered.

Before each timed command it waits (``--idle-wait``) for the machine to be idle,
and while it runs it measures the CPU time other processes take; a run that
shared the machine is flagged in the summary and in each scenario's ``steps``.

Scenarios:

``single``
    One variant of four 4K shots (10 s at 24 fps) to 1080p with a ``.cube``,
    libx264 veryfast crf 20. Target: farm joining ``farm up``'s Ray <= 1.0x
    FFmpeg's best command.
``shared``
    Three variants (official, extended, community) cut from the same four
    shots with different trims and orders; about a third of all their output
    frames are unique to one variant. farm renders each shared segment once
    (cold cache); FFmpeg renders each variant on its own. Target: <= 0.55x.
    With that much unique material farm must still render 57% of the output
    frames (``sharing.ideal_ratio``, at F=1): the floor of the ratio if farm's
    per-frame speed equalled FFmpeg's.

In both, the re-run of a finished render should render nothing.

Targets are reported, never asserted: the exit status is 0 whenever both tools
ran. FFmpeg's command line must be installed (``apt-get install ffmpeg``).

    python benchmarks/bench_cpu.py [--scenario single|shared|all] [--work DIR]
        [--frames-scale F] [--repeat N] [--idle-wait S] [--out benchmarks/results/cpu-DATE.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cpu_timing  # noqa: E402
from cpu_scenarios import bench_scenario, farm_source_state, startup_costs, summary, versions  # noqa: E402
from cpu_setup import (  # noqa: E402
    AAC_BITRATE,
    CRF,
    GOP,
    HEIGHT,
    LUT_SIZE,
    NOISE,
    OUT_FPS,
    OUT_HEIGHT,
    OUT_WIDTH,
    PRESET,
    REPO,
    SOURCE_CRF,
    WIDTH,
    cpu_model,
    ensure_media,
    media_dir,
    write_look,
)
from cpu_timing import BenchError, compile_farm, farm_command  # noqa: E402


def farm_up(work: Path) -> dict:
    """Start a local Ray with warm workers (``farm up``) for the joined renders; timed once."""
    state = work / "farm-up.json"
    env = {"FARM_RAY_STATE": str(state)}
    subprocess.run(farm_command() + ["down"], env={**os.environ, **env}, capture_output=True, check=False)
    t0 = time.perf_counter()
    out = subprocess.run(farm_command() + ["up"], env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise BenchError(f"farm up failed (exit {out.returncode}): {out.stderr[-2000:]}")
    pid = int(json.loads(state.read_text())["pid"])
    cpu_timing.OUR_SESSIONS.add(pid)  # its processes work for the timed renders
    print(f"farm up: {seconds:.1f}s ({out.stdout.strip()})", flush=True)
    return {"env": env, "seconds": round(seconds, 2), "pid": pid}


def farm_down(joined: dict) -> None:
    subprocess.run(farm_command() + ["down"], env={**os.environ, **joined["env"]}, capture_output=True)
    cpu_timing.OUR_SESSIONS.discard(joined["pid"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("single", "shared", "all"), default="all")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "farm-cpu-timing",
        help="folder for media, projects and renders (media is reused across runs)",
    )
    parser.add_argument(
        "--frames-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply clip and trim lengths by F (rounded to whole seconds; 1: 4 s clips)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="time each tool N times; report the median")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=120.0,
        metavar="S",
        help="before each timed command wait up to S seconds for the machine to be idle",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="measure a command again, up to N times, when other processes disturbed it",
    )
    parser.add_argument("--out", type=Path, help="JSON result (default: benchmarks/results/cpu-DATE.json)")
    args = parser.parse_args(argv)
    if args.frames_scale <= 0 or args.repeat < 1:
        parser.error("--frames-scale must be positive and --repeat at least 1")
    if shutil.which("ffmpeg") is None:
        print(
            "bench_cpu: error: FFmpeg's command line (ffmpeg) is not on PATH; it is the peer this "
            "benchmark compares farm with. Install it (Debian/Ubuntu: apt-get install -y ffmpeg) "
            "and run again.",
            file=sys.stderr,
        )
        return 69
    scale = args.frames_scale
    cpu_timing._MAX_IDLE_WAIT, cpu_timing._RETRIES = args.idle_wait, max(0, args.retries)
    out_path = args.out or REPO / "benchmarks" / "results" / f"cpu-{_dt.date.today().isoformat()}.json"
    work = args.work.expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    scenarios = ["single", "shared"] if args.scenario == "all" else [args.scenario]
    cores = os.cpu_count() or 1

    t_all = time.perf_counter()
    source_before = farm_source_state()
    bytecode = compile_farm()
    try:
        media = ensure_media(work, scale)
        lut = write_look(work)
        # read the sources once so that neither tool pays for the first read from disk
        for f in sorted(media_dir(work, scale).glob("*.mp4")):
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        startup = startup_costs(cores, work / "runs" / "startup")
        joined = farm_up(work)
        try:
            results = {
                s: bench_scenario(s, work, lut, scale, args.repeat, startup, joined) for s in scenarios
            }
        finally:
            farm_down(joined)
    except BenchError as exc:
        print(f"bench_cpu: error: {exc}", file=sys.stderr)
        return 1

    source_after = farm_source_state()
    doc = {
        "benchmark": "bench_cpu",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_cpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpu_count": cores, "cpu_model": cpu_model(), "platform": platform.platform()},
        "versions": versions(),
        # farm is measured from its working tree: the code at the start and at the end of the run
        "farm_source": {
            "bytecode": bytecode,
            "command": farm_command(),
            "at_start": source_before,
            "at_end": source_after,
            "changed_during_run": source_before["code_sha256"] != source_after["code_sha256"],
        },
        "settings": {
            "sources": f"{WIDTH}x{HEIGHT} synthetic city with grain (noise {NOISE}), x264 crf {SOURCE_CRF}, "
            "AAC tone; 24/25/30 fps",
            "output": {
                "width": OUT_WIDTH,
                "height": OUT_HEIGHT,
                "fps": OUT_FPS,
                "codec": "h264 (libx264)",
                "preset": PRESET,
                "crf": CRF,
                "gop": GOP,
                "fit": "fit",
                "audio": f"AAC {AAC_BITRATE}",
            },
            "look": f"{LUT_SIZE}^3 .cube (warm), tetrahedral",
            "frames_scale": scale,
            "repeat": args.repeat,
            "retries_when_disturbed": cpu_timing._RETRIES,
            "farm_workers": "default (CPU cores)",
        },
        "media": media,
        "startup": {**startup, "farm_up_seconds": joined["seconds"]},
        "scenarios": results,
        "total_seconds": round(time.perf_counter() - t_all, 1),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=2) + "\n")

    print(
        f"\nfarm {doc['versions']['farm']} vs {doc['versions']['ffmpeg_cli']} on {cores} cores "
        f"({doc['machine']['cpu_model']})"
    )
    for name, r in results.items():
        print(summary(name, r))
    print(
        f"startup: farm CLI {startup['farm_cli_seconds']}s, Ray init+shutdown "
        f"{startup['python_ray_init_shutdown_seconds']}s (both inside farm's wall time)"
    )
    if source_before["code_sha256"] != source_after["code_sha256"]:
        print("WARNING: farm's code changed during the run (see farm_source); run again for clean figures")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
