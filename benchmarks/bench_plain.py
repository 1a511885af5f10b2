"""Benchmark: a plain single-track trim in farm now against farm before compositing, FFmpeg beside both.

Compositing (several tracks, transitions, generators) must not make the plain
case slower: a cut of one video track whose frames each show one opaque,
full-frame clip.  One run writes a 1280x720 H.264 source with a moving picture,
then times, for a trim of ``--frames`` frames from 2 s into it (scaled to
960x540, libx264 ultrafast crf 20):

* farm's CPU backend rendering every segment of the one-clip variant in a child
  process, with this checkout's ``farm`` and with the one at ``--before`` (by
  default the commit before compositing), exported read-only into the work
  folder with ``git archive``;
* ``ffmpeg`` doing the same trim (``-ss`` before ``-i``, ``-frames:v``, the same
  scale and encoder settings).

It reports seconds per frame of each and the ratios ``now / before`` (target
<= 1.05: not slower) and ``now / ffmpeg``.  Targets are reported, never asserted.

    python benchmarks/bench_plain.py [--before COMMIT] [--frames N] [--repeat N] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SRC_W, SRC_H, OUT_W, OUT_H, RATE, START = 1280, 720, 960, 540, 24, 48
#: the parent of the commit that brought compositing (tracks, transitions, generators)
BEFORE = "961de87^"

_CHILD = """
import sys, time, shutil
import farm
from farm.backends.segment import render_segment
toml, cache = sys.argv[1], sys.argv[2]
shutil.rmtree(cache, ignore_errors=True)
plan = farm.plan(toml, cache=cache)
t0 = time.perf_counter()
frames = sum(int(render_segment(job, cache, "cpu")["frames"]) for job in plan.jobs.values())
print(time.perf_counter() - t0, frames, len(plan.jobs))
"""


def _write_source(path: Path, frames: int) -> None:
    import av

    x = np.linspace(0, 1, SRC_W)[None, :]
    y = np.linspace(0, 1, SRC_H)[:, None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = SRC_W, SRC_H, "yuv420p"
        stream.codec_context.options = {"crf": "16", "preset": "ultrafast", "g": "48"}
        for i in range(frames):
            t = i / frames
            rgb = np.stack([(x + t) % 1.0 * np.ones_like(y), y * np.ones_like(x), (x * y + t) % 1.0], axis=-1)
            frame = av.VideoFrame.from_ndarray((rgb * 255).astype(np.uint8), "rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _project(root: Path, source: Path, frames: int) -> Path:
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name="plain")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="s",
            media_reference=otio.schema.ExternalReference(target_url=str(source)),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(START, RATE), otio.opentime.RationalTime(frames, RATE)
            ),
        )
    )
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(root / "plain.otio"))
    toml = root / "plain.toml"
    toml.write_text(
        f'[output]\nwidth = {OUT_W}\nheight = {OUT_H}\nfps = "{RATE}"\n'
        'preset = "ultrafast"\nquality = 20\n[variants.v]\ntimeline = "plain.otio"\n'
    )
    return toml


def _checkout(commit: str, into: Path) -> Path:
    """``commit``'s ``farm`` package, exported (read-only use) under ``into``."""
    if not (into / "farm").is_dir():
        into.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "farm"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _time_farm(checkout: Path, toml: Path, cache: Path) -> tuple[float, int, int]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(toml), str(cache)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=toml.parent,
    )
    seconds, frames, jobs = done.stdout.split()[-3:]
    return float(seconds), int(frames), int(jobs)


def _time_ffmpeg(source: Path, frames: int, out: Path) -> float:
    cmd = ["ffmpeg", "-v", "error", "-y", "-ss", f"{START / RATE}", "-i", str(source)]
    cmd += ["-frames:v", str(frames), "-vf", f"scale={OUT_W}:{OUT_H}", "-an", "-c:v", "libx264"]
    cmd += ["-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not installed: it is the peer this benchmark compares with", file=sys.stderr)
        return 69
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-plain-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "source.mp4"
    _write_source(source, START + args.frames + RATE)
    toml = _project(work, source, args.frames)
    before = _checkout(args.before, work / "before")
    runs: dict[str, list[float]] = {"now": [], "before": [], "ffmpeg": []}
    jobs: dict[str, int] = {}
    for _ in range(args.repeat):  # interleaved, so load on the machine falls on all three alike
        for name, checkout in (("now", ROOT), ("before", before)):
            seconds, frames, n = _time_farm(checkout, toml, work / f"cache-{name}")
            assert frames == args.frames, (name, frames)
            runs[name].append(seconds)
            jobs[name] = n
        runs["ffmpeg"].append(_time_ffmpeg(source, args.frames, work / "ffmpeg.mp4"))
    per_frame = {k: statistics.median(v) / args.frames for k, v in runs.items()}
    result = {
        "frames": args.frames,
        "source": f"{SRC_W}x{SRC_H} h264",
        "output": f"{OUT_W}x{OUT_H} libx264 ultrafast crf 20",
        "before": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.before], capture_output=True, text=True
        ).stdout.strip(),
        "segments": jobs,
        "repeat": args.repeat,
        "seconds": runs,
        "seconds_per_frame": per_frame,
        "ratio_now_over_before": per_frame["now"] / per_frame["before"],
        "ratio_now_over_ffmpeg": per_frame["now"] / per_frame["ffmpeg"],
        "ratio_before_over_ffmpeg": per_frame["before"] / per_frame["ffmpeg"],
        "target": "ratio_now_over_before <= 1.05",
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
