"""The stitch: old (three opens per segment, a probe decode each, a two-read check) vs new vs FFmpeg.

    python benchmarks/bench_stitch.py [--repeat 3] [--out FILE] [--tail] [--baseline OLD_CHECKOUT]

Two sets of segments are made (libx264 ultrafast, closed GOPs, IDR first, as
farm's encoders write them; flat grey levels under a fixed noise, so an IDR
costs about what a real picture's does to decode) with an AAC track: ``large`` (12 segments of 48
frames at 1920x1080) and ``many`` (400 segments of 12-36 frames at 320x180, one
variant of the 200-short-shots scenario).  Each is stitched by the old code
(``tests/stitch_reference.py``: mux, then the old check), by farm's
:func:`farm.media.stitch.stitch` (mux and check), and — as the peer — by
``ffmpeg -f concat -safe 0 -i list.txt -i audio.m4a -c copy`` (mux only, no
check; skipped when ``ffmpeg`` is not on PATH).  Each figure is the least of
``--repeat`` runs, in seconds.

``--tail`` also renders a small project (40 short shots, two variants sharing
most of them, in-process executor, fresh cache) and reports the render tail:
from the last segment landing to the render returning.  ``--baseline DIR``
runs the same render with another checkout's farm (e.g. ``git archive
10486fb farm | tar -x -C /tmp/base``) for a before/after.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # this checkout's farm, and the tests' media helpers

FPS = Fraction(24)
SCENARIOS = {
    "large": {"size": (1920, 1080), "counts": [48] * 12},
    "many": {"size": (320, 180), "counts": [12 + (i * 7) % 25 for i in range(400)]},
}


def least(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def make_segments(folder: Path, size: tuple[int, int], counts: list[int]) -> tuple[list[Any], Path]:
    from stitch_media import write_audio, write_segment

    from farm.media.stitch import StitchPiece

    folder.mkdir(parents=True, exist_ok=True)
    pieces, start = [], 0
    for i, count in enumerate(counts):
        path = write_segment(folder / f"seg{i:04d}.mp4", count, i, size=size, gop=48, texture=True)
        pieces.append(StitchPiece(path, start, count))
        start += count
    return pieces, write_audio(folder / "audio.m4a", Fraction(start) / FPS)


def bench_scenario(name: str, work: Path, repeat: int) -> dict[str, Any]:
    from stitch_reference import reference_mux, reference_verify

    from farm.errors import Where
    from farm.media.stitch import stitch, verify

    spec = SCENARIOS[name]
    pieces, audio = make_segments(work / name, spec["size"], spec["counts"])  # type: ignore[arg-type]
    frames = sum(p.count for p in pieces)
    out = work / f"{name}-out"
    out.mkdir(exist_ok=True)
    where = Where(variant=name)

    def old() -> None:
        reference_mux(out / "old.mp4", pieces, audio, FPS, "farm-plan:0")
        reference_verify(out / "old.mp4", FPS, frames, len(pieces), True, where)

    def new() -> None:
        stitch(pieces, audio, out / "new.mp4", FPS, frames, name, plan_digest="0")

    result: dict[str, Any] = {
        "segments": len(pieces),
        "frames": frames,
        "size": "x".join(map(str, spec["size"])),  # type: ignore[arg-type]
        "old_seconds": least(old, repeat),
        "new_seconds": least(new, repeat),
        "old_verify_seconds": least(
            lambda: reference_verify(out / "old.mp4", FPS, frames, len(pieces), True, where), repeat
        ),
        "new_verify_seconds": least(
            lambda: verify(out / "new.mp4", FPS, frames, len(pieces), True, where), repeat
        ),
        "identical": (out / "old.mp4").read_bytes() == (out / "new.mp4").read_bytes(),
    }
    result["old_over_new"] = result["old_seconds"] / result["new_seconds"]
    if shutil.which("ffmpeg"):
        listing = out / "list.txt"
        listing.write_text("".join(f"file '{p.path}'\n" for p in pieces))
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-i",
            str(audio),
        ]
        cmd += [
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(out / "ffmpeg.mp4"),
        ]
        result["ffmpeg_concat_seconds"] = least(lambda: subprocess.run(cmd, check=True), repeat)
        result["new_over_ffmpeg"] = result["new_seconds"] / result["ffmpeg_concat_seconds"]
        result["new_mux_only_over_ffmpeg"] = (result["new_seconds"] - result["new_verify_seconds"]) / result[
            "ffmpeg_concat_seconds"
        ]
    return result


# ------------------------------------------------------------------ the render tail

TAIL_CHILD = r"""
import io, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import farm
from farm.execute.local import InProcessExecutor
from farm.execute.loop import RenderLoop
from farm.execute.protocol import ExecutorSession
from farm.output.cache import Cache

class LastLanding(InProcessExecutor):
    last = 0.0
    def run(self, batch, on_done, skip):
        def landed(outcome):
            on_done(outcome)
            if outcome.kind == "segment":
                LastLanding.last = time.perf_counter()
        super().run(batch, landed, skip)

project = Path(sys.argv[1])
plan = farm.plan(project / "farm.toml")
loop = RenderLoop(plan, project / "renders", Cache(project / ".farm-cache").ensure(), "cpu",
                  progress_stream=io.StringIO())
with ExecutorSession(lambda: LastLanding()) as session:
    report = loop.run(session)
end = time.perf_counter()
assert all(v.error is None for v in report.variants.values()), report.variants
print(json.dumps({"tail_seconds": end - LastLanding.last, "render_seconds": report.seconds}))
"""


def write_tail_project(root: Path) -> None:
    from farm.media.synth import write_clip

    (root / "media").mkdir(parents=True, exist_ok=True)
    write_clip(root / "media" / "src.mp4", width=640, height=360, rate=24, frames=480, audio_tone_hz=440.0)
    import opentimelineio as otio

    def cut(name: str, shots: list[int]) -> None:
        track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        for i in shots:
            rng = otio.opentime.TimeRange(
                otio.opentime.RationalTime(i * 11 % 400, 24), otio.opentime.RationalTime(18, 24)
            )
            ref = otio.schema.ExternalReference(target_url="media/src.mp4")
            track.append(otio.schema.Clip(name=f"shot{i}", media_reference=ref, source_range=rng))
        timeline = otio.schema.Timeline(name=name)
        timeline.tracks.append(track)
        (root / "cuts").mkdir(exist_ok=True)
        otio.adapters.write_to_file(timeline, str(root / "cuts" / f"{name}.otio"))

    cut("a", list(range(40)))
    cut("b", list(range(40)) + [41, 42, 43])
    (root / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\nfps = "24"\npreset = "ultrafast"\nquality = 20\n\n'
        '[variants.a]\ntimeline = "cuts/a.otio"\n\n[variants.b]\ntimeline = "cuts/b.otio"\n'
    )


def render_tail(work: Path, checkout: Path, repeat: int) -> dict[str, float]:
    project = work / "tail"
    if not (project / "farm.toml").is_file():
        write_tail_project(project)
    best: dict[str, float] = {}
    for _ in range(repeat):
        for leftover in (project / ".farm-cache", project / "renders"):
            shutil.rmtree(leftover, ignore_errors=True)
        run = subprocess.run(
            [sys.executable, "-c", TAIL_CHILD, str(project), str(checkout)],
            check=True,
            capture_output=True,
            text=True,
            cwd=project,
        )
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        if not best or figures["tail_seconds"] < best["tail_seconds"]:
            best = figures
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--tail", action="store_true")
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    import av

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-stitch-"))
    results: dict[str, Any] = {
        "pyav": av.__version__,
        "ffmpeg_libs": av.ffmpeg_version_info,
        "repeat": args.repeat,
        "stitch": {name: bench_scenario(name, work, args.repeat) for name in SCENARIOS},
    }
    if args.tail:
        results["render_tail"] = {"new": render_tail(work, REPO, args.repeat)}
        if args.baseline:
            results["render_tail"]["baseline"] = render_tail(work, args.baseline.resolve(), args.repeat)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
