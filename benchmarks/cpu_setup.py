"""bench_cpu's settings, footage, projects and FFmpeg commands (see bench_cpu.py)."""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# ------------------------------------------------------------------ settings

WIDTH, HEIGHT = 3840, 2160  # sources
OUT_WIDTH, OUT_HEIGHT = 1920, 1080
OUT_FPS = 24
CRF = 20
PRESET = "veryfast"
GOP = 2 * OUT_FPS  # farm's keyframe interval (two seconds); given to FFmpeg too
AAC_BITRATE = "192k"  # farm's AAC bit rate
NOISE = 0.05  # film grain: makes the sources ~100 Mbit/s, as a camera's are
SOURCE_CRF = 20
LUT_SIZE = 33
#: farm joining a `farm up` Ray, over FFmpeg's best-configured command (issue 13's goals)
TARGETS = {"single": 1.0, "shared": 0.55}


@dataclass(frozen=True)
class Source:
    name: str
    rate: int
    seconds: int  # at --frames-scale 1
    source_id: int
    tone_hz: float


SOURCES = (
    Source("A", 24, 4, 1, 220.0),
    Source("B", 25, 4, 2, 330.0),
    Source("C", 30, 4, 3, 440.0),
    Source("D", 24, 4, 4, 550.0),
)

# (source, in, out) in seconds at --frames-scale 1. Whole seconds keep every trim on
# a frame of 24, 25 and 30 fps, so a shot placed anywhere is sampled identically.
# farm chunks sources on a 2 s grid; the shared layout trims on it, the single one mostly not.
LAYOUTS: dict[str, dict[str, list[tuple[str, int, int]]]] = {
    "single": {
        "single": [("A", 1, 4), ("B", 0, 3), ("C", 1, 3), ("D", 0, 2)],
    },
    "shared": {
        "official": [("A", 0, 4), ("C", 0, 2), ("B", 2, 4), ("D", 0, 2)],
        "extended": [("B", 0, 4), ("A", 0, 2), ("C", 0, 4)],
        "community": [("C", 0, 2), ("D", 2, 4), ("A", 0, 2), ("B", 2, 4)],
    },
}


def scaled(seconds: int, scale: float) -> int:
    return int(math.floor(seconds * scale + 0.5))


def layout(scenario: str, scale: float) -> dict[str, list[tuple[Source, int, int]]]:
    by_name = {s.name: s for s in SOURCES}
    cuts = {}
    for variant, clips in LAYOUTS[scenario].items():
        items = []
        for name, a, b in clips:
            a, b = scaled(a, scale), scaled(b, scale)
            if b > a:
                items.append((by_name[name], a, b))
        cuts[variant] = items
    return cuts


def count_video(path: Path) -> dict:
    """Frames (packets) and duration of an output's video stream, and its x264 build."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = 0
        first_payload = b""
        for packet in c.demux(vs):
            if packet.size:
                if frames == 0:
                    first_payload = bytes(packet)
                frames += 1
        duration = float(c.duration / 1e6) if c.duration else None
        size = (vs.codec_context.width, vs.codec_context.height)
    # x264 writes its version and every setting it used into an SEI of the first frame
    m = re.search(rb"x264 - core (\d+(?: r\d+ \w+)?) .*? options: ([ -~]+)", first_payload)
    return {
        "frames": frames,
        "duration_seconds": duration,
        "size": f"{size[0]}x{size[1]}",
        "bytes": path.stat().st_size,
        "x264_core": m.group(1).decode() if m else None,
        "x264_options": m.group(2).decode() if m else None,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------ media, look, cuts


def media_dir(work: Path, scale: float) -> Path:
    """Where the sources of one --frames-scale live (each scale keeps its own)."""
    return work / ("media" if scale == 1 else f"media-x{scale:g}")


def _write_source(path: str, source: dict, frames: int) -> float:
    from farm.media.synth import write_clip

    t0 = time.perf_counter()
    tmp = Path(path).with_name(".tmp-" + Path(path).name)
    write_clip(
        tmp,
        width=WIDTH,
        height=HEIGHT,
        rate=source["rate"],
        frames=frames,
        pattern="city",
        source_id=source["source_id"],
        crf=SOURCE_CRF,
        noise=NOISE,
        audio_tone_hz=source["tone_hz"],
    )
    os.replace(tmp, path)
    return time.perf_counter() - t0


def ensure_media(work: Path, scale: float) -> dict:
    """Generate the sources once; reuse them while their description is unchanged."""
    media = media_dir(work, scale)
    media.mkdir(parents=True, exist_ok=True)
    manifest_path = media / "manifest.json"
    wanted = {
        s.name: {
            **asdict(s),
            "frames": scaled(s.seconds, scale) * s.rate,
            "width": WIDTH,
            "height": HEIGHT,
            "noise": NOISE,
            "crf": SOURCE_CRF,
        }
        for s in SOURCES
    }
    try:
        have = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        have = {}
    todo = [n for n, spec in wanted.items() if have.get(n) != spec or not (media / f"{n}.mp4").is_file()]
    seconds = 0.0
    if todo:
        print(f"generating {len(todo)} 4K source clip(s) in {media} (once; reused next time) ...", flush=True)
        t0 = time.perf_counter()
        workers = min(len(todo), os.cpu_count() or 1)
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            futures = {
                n: pool.submit(_write_source, str(media / f"{n}.mp4"), wanted[n], wanted[n]["frames"])
                for n in todo
            }
            for n, f in futures.items():
                f.result()
                have[n] = wanted[n]
                manifest_path.write_text(json.dumps(have, indent=1))
        seconds = time.perf_counter() - t0
        print(f"  generated in {seconds:.1f}s", flush=True)
    return {
        "folder": str(media),
        "generated": todo,
        "generation_seconds": round(seconds, 2),
        "sources": {
            n: {
                "rate": w["rate"],
                "frames": w["frames"],
                "size": f"{WIDTH}x{HEIGHT}",
                "bytes": (media / f"{n}.mp4").stat().st_size,
            }
            for n, w in wanted.items()
        },
    }


def write_look(work: Path) -> Path:
    """A mild warm creative look: lifted blacks, gentle S-curve, red up, blue down."""
    import numpy as np

    from farm.kernels import Lut, identity_lut, write_cube

    grid = identity_lut(LUT_SIZE).table3d.astype(np.float64)
    s_curve = grid + 0.06 * np.sin(2 * np.pi * grid) * -0.5  # slight contrast
    warm = s_curve * np.array([1.05, 1.0, 0.9]) + np.array([0.02, 0.01, 0.0])
    table = np.clip(warm, 0.0, 1.0)
    path = work / "look" / "warm.cube"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cube(Lut(table, title="bench warm"), path)
    return path


def write_project(work: Path, scenario: str, cuts: dict, lut: Path, scale: float) -> Path:
    import opentimelineio as otio

    root = work / scenario
    (root / "cuts").mkdir(parents=True, exist_ok=True)
    media_rel = os.path.relpath(media_dir(work, scale), root)
    variants_toml = []
    for variant, items in cuts.items():
        tl = otio.schema.Timeline(name=variant)
        track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
        tl.tracks.append(track)
        for src, a, b in items:
            frames = scaled(src.seconds, scale) * src.rate
            ref = otio.schema.ExternalReference(
                target_url=f"{media_rel}/{src.name}.mp4",
                available_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(0, src.rate), otio.opentime.RationalTime(frames, src.rate)
                ),
            )
            track.append(
                otio.schema.Clip(
                    name=f"{src.name}[{a}s-{b}s]",
                    media_reference=ref,
                    source_range=otio.opentime.TimeRange(
                        otio.opentime.RationalTime(a * src.rate, src.rate),
                        otio.opentime.RationalTime((b - a) * src.rate, src.rate),
                    ),
                )
            )
        otio.adapters.write_to_file(tl, str(root / "cuts" / f"{variant}.otio"))
        variants_toml.append(f'[variants.{variant}]\ntimeline = "cuts/{variant}.otio"\n')
    toml = (
        f'media_roots = ["{media_rel}"]\n\n'
        f'[output]\nwidth = {OUT_WIDTH}\nheight = {OUT_HEIGHT}\nfps = "{OUT_FPS}"\ncodec = "h264"\n'
        f'quality = {CRF}\npreset = "{PRESET}"\nfit = "fit"\n\n'
        f'[look]\nlut = "{os.path.relpath(lut, root)}"\n\n' + "\n".join(variants_toml)
    )
    project = root / "farm.toml"
    project.write_text(toml)
    return project


# ------------------------------------------------------------------ FFmpeg


def _filter_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def ffmpeg_command(
    items: list[tuple[Source, int, int]], media: Path, lut: Path, out: Path, float_lut: bool = False
) -> list[str]:
    """What one would type by hand: trim, conform, scale + letterbox, lut3d, concat, x264, AAC.

    ``float_lut`` converts to planar float before ``lut3d``, as farm's CPU backend does: lut3d
    has SIMD code for that format only (FFmpeg picks 8-bit packed RGB on its own).
    """
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    chains, pads = [], []
    for i, (src, a, b) in enumerate(items):
        cmd += ["-ss", str(a), "-t", str(b - a), "-i", str(media / f"{src.name}.mp4")]
        chains.append(
            f"[{i}:v]fps={OUT_FPS},"
            f"scale={OUT_WIDTH}:{OUT_HEIGHT}:force_original_aspect_ratio=decrease:flags=bicubic,"
            + ("format=gbrpf32le," if float_lut else "")
            + f"lut3d=file='{_filter_path(lut)}':interp=tetrahedral,"
            f"pad={OUT_WIDTH}:{OUT_HEIGHT}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p[v{i}]"
        )
        chains.append(f"[{i}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]")
        pads.append(f"[v{i}][a{i}]")
    graph = ";".join(chains) + ";" + "".join(pads) + f"concat=n={len(items)}:v=1:a=1[v][a]"
    cmd += [
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        PRESET,
        "-crf",
        str(CRF),
        "-g",
        str(GOP),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        AAC_BITRATE,
        "-ar",
        "48000",
        str(out),
    ]
    return cmd


# ------------------------------------------------------------------ one scenario
