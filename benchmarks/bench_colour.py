"""Benchmark: the 10-bit CPU path against the 8-bit one, per frame, with FFmpeg's command line beside it.

One run writes the same moving 1280x720 picture twice — 8-bit HEVC (BT.709)
and 10-bit HEVC (BT.709) — and a creative ``.cube``, then times:

* farm's CPU backend rendering every segment of a one-clip variant (decode →
  planar float → ``lut3d`` → libx265, ultrafast crf 20) in this process, once
  8-bit to an 8-bit output, once 10-bit to a ``bit_depth = 10`` (Main10) output;
* ``ffmpeg`` doing the same work on each (``scale`` to planar float, ``lut3d``,
  back to yuv420p or yuv420p10le, libx265 with the same settings).

It reports seconds per frame of each and the ratios ``10-bit / 8-bit`` (target
for farm: <= 1.3) and ``farm / ffmpeg``. Targets are reported, never asserted.

    python benchmarks/bench_colour.py [--frames N] [--repeat N] [--work DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

W, H = 1280, 720


def _write_source(path: Path, frames: int, bits: int) -> None:
    import av

    fmt = "yuv420p10le" if bits == 10 else "yuv420p"
    x = np.linspace(0, 1, W)[None, :]
    y = np.linspace(0, 1, H)[:, None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, fmt
        cc = stream.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        cc.options = {"crf": "12", "preset": "ultrafast", "x265-params": "log-level=error"}
        for i in range(frames):
            t = i / frames
            rgb = np.stack([(x + t) % 1.0 * np.ones_like(y), y * np.ones_like(x), (x * y + t) % 1.0], axis=-1)
            rgb16 = (rgb * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(rgb16, "rgb48le").reformat(
                format=fmt, dst_colorspace="itu709", dst_color_range="MPEG"
            )
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _project(root: Path, source: Path, bits: int, frames: int) -> Path:
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name="b")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(
        otio.schema.Clip(
            name="s",
            media_reference=otio.schema.ExternalReference(target_url=str(source)),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(frames, 24)
            ),
        )
    )
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(root / f"b{bits}.otio"))
    toml = root / f"b{bits}.toml"
    toml.write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\ncodec = "hevc"\nbit_depth = {bits}\n'
        'preset = "ultrafast"\nquality = 20\n[look]\nlut = "look.cube"\n'
        f'[variants.v]\ntimeline = "b{bits}.otio"\n'
    )
    return toml


def _time_farm(toml: Path, cache: Path) -> tuple[float, int]:
    import farm
    from farm.backends.segment import render_segment
    from farm.look.bake import bake_look

    shutil.rmtree(cache, ignore_errors=True)
    plan = farm.plan(toml, cache=cache)
    for look in plan.looks.values():
        bake_look(look)
    t0 = time.perf_counter()
    frames = 0
    for job in plan.jobs.values():
        frames += int(render_segment(job, str(cache), "cpu")["frames"])
    return time.perf_counter() - t0, frames


def _time_ffmpeg(source: Path, cube: Path, bits: int, out: Path) -> float:
    fmt = "yuv420p10le" if bits == 10 else "yuv420p"
    vf = (
        "scale=in_color_matrix=bt709:in_range=tv,format=gbrpf32le,"
        f"lut3d=file={cube}:interp=tetrahedral,scale=out_color_matrix=bt709:out_range=tv,format={fmt}"
    )
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(source),
        "-vf",
        vf,
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
    ]
    cmd += ["-crf", "20", "-x265-params", "log-level=error", "-pix_fmt", fmt, str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from farm.kernels import identity_lut, write_cube

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-colour-"))
    work.mkdir(parents=True, exist_ok=True)
    cube = work / "look.cube"
    warm = identity_lut(33)
    write_cube(type(warm)(np.clip(warm.table3d * np.array([1.05, 1.0, 0.9]), 0, 1)), cube)
    result: dict[str, object] = {"frames": args.frames, "size": f"{W}x{H}", "repeat": args.repeat}
    per_frame: dict[str, float] = {}
    for bits in (8, 10):
        source = work / f"src{bits}.mp4"
        _write_source(source, args.frames, bits)
        toml = _project(work, source, bits, args.frames)
        farm_s = [_time_farm(toml, work / f"cache{bits}")[0] for _ in range(args.repeat)]
        ff_s = [_time_ffmpeg(source, cube, bits, work / f"ff{bits}.mp4") for _ in range(args.repeat)]
        per_frame[f"farm_{bits}"] = statistics.median(farm_s) / args.frames
        per_frame[f"ffmpeg_{bits}"] = statistics.median(ff_s) / args.frames
    result["seconds_per_frame"] = per_frame
    result["ratio_10_over_8_farm"] = per_frame["farm_10"] / per_frame["farm_8"]
    result["ratio_10_over_8_ffmpeg"] = per_frame["ffmpeg_10"] / per_frame["ffmpeg_8"]
    result["ratio_farm_over_ffmpeg_10"] = per_frame["farm_10"] / per_frame["ffmpeg_10"]
    result["target"] = "ratio_10_over_8_farm <= 1.3"
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
