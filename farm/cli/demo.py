"""``farm demo``: the "In a City" project — mixed crowd-sourced footage, three cuts.

Writes synthetic city footage from eight very different sources (a 4K hero
camera, 1080p and 720p cameras, a portrait phone clip with rotation metadata, a
lo-fi 4:3 clip without audio, a 10-bit HLG phone clip, an interlaced 4:3
archive clip and an S-Log3 hero clip; 24, 25, 29.97 and 30 fps; different
colour casts), a creative look, three cuts that share shots, and a
``farm.toml`` that matches every source to the hero camera — then renders
every variant, writes a before/after strip per source and prints what it did.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TextIO

import numpy as np

from farm.cli.arguments import positive_int
from farm.cli.table import print_table
from farm.output.atomic import atomic_write, write_text_atomic

NTSC = Fraction(30000, 1001)


@dataclass(frozen=True)
class DemoSource:
    """One synthetic source of the demo (see :func:`farm.media.synth.write_clip`)."""

    name: str  # file name in media/, without .mp4
    width: int  # stored size
    height: int
    rate: Fraction  # frames per second, exact
    seconds: int  # length
    cast: tuple[float, float, float]  # the camera's colour bias (gains on R, G, B)
    tone: float | None  # audio tone (Hz); None: no audio
    rotation: int = 0  # clockwise degrees a player turns the stored picture
    noise: float = 0.0  # film grain, 0..1
    colorspace: str | None = "bt709"  # tagged matrix; None: untagged
    encoding: str = "sdr"  # sdr | hlg | slog3 | interlaced (farm.media.synth.colour, video only)


SOURCES = (
    DemoSource("hero_4k", 3840, 2160, Fraction(24), 4, (1.0, 1.0, 1.0), 220.0),
    DemoSource("street_1080p", 1920, 1080, Fraction(25), 4, (1.12, 1.0, 0.82), 330.0),
    DemoSource("market_720p", 1280, 720, NTSC, 4, (0.85, 0.97, 1.15), 440.0),
    DemoSource(
        "phone_portrait",
        1280,
        720,
        Fraction(30),
        3,
        (1.05, 1.08, 0.9),
        550.0,
        rotation=90,
        noise=0.06,
        colorspace=None,
    ),
    DemoSource(
        "lofi_480p", 640, 480, Fraction(30), 3, (0.9, 1.12, 0.85), None, noise=0.12, colorspace="bt601"
    ),
    DemoSource("phone_hlg", 720, 1280, Fraction(30), 3, (1.0, 1.02, 0.96), None, encoding="hlg"),
    # written at 50 fps, woven into 25 fps interlaced frames
    DemoSource("archive_50i", 720, 576, Fraction(50), 3, (1.1, 1.0, 0.8), None, encoding="interlaced"),
    DemoSource("hero_slog3", 1280, 720, Fraction(24), 3, (0.95, 1.0, 1.05), None, encoding="slog3"),
)

# (source, in seconds, duration seconds) per cut, in order; shared shots use the same trims
CUTS: dict[str, list[tuple[str, float, float]]] = {
    "official": [
        ("hero_4k", 0.0, 2.0),
        ("street_1080p", 0.0, 2.0),
        ("market_720p", 0.5, 2.0),
        ("hero_4k", 2.0, 2.0),
    ],
    "extended": [
        ("hero_4k", 0.0, 2.0),
        ("street_1080p", 0.0, 2.0),
        ("phone_portrait", 0.0, 2.5),
        ("market_720p", 0.5, 2.0),
        ("lofi_480p", 0.0, 2.0),
        ("phone_hlg", 0.0, 2.0),
        ("archive_50i", 0.0, 2.0),
        ("hero_slog3", 0.0, 2.0),
        ("hero_4k", 2.0, 2.0),
    ],
    "community": [
        ("phone_portrait", 0.5, 2.5),
        ("street_1080p", 0.0, 4.0),
        ("lofi_480p", 1.0, 2.0),
        ("hero_4k", 2.0, 2.0),
    ],
}

PROJECT_TOML = """\
# "In a City": a demo project for farm (see README.md)
[output]
width = 1280
height = 720
fps = "24"
codec = "h264"
quality = 22
preset = "veryfast"
fit = "fit"

[look]
lut = "looks/show.cube"
reference = "media/hero_4k.mp4"   # every source is matched to the hero camera, then the show look

[media."media/hero_slog3.mp4"]
transfer = "sony-slog3"           # cameras rarely tag log: say it here

[variants.official]
timeline = "cuts/official.otio"

[variants.extended]
timeline = "cuts/extended.otio"

[variants.community]
timeline = "cuts/community.otio"

[variants.community.output]
fit = "fill"
"""


def write_show_look(path: Path) -> None:
    """A gentle creative look: lifted blacks, warm highlights, a touch more contrast."""
    from farm.kernels import Lut, write_cube

    n = 17
    axis = np.linspace(0.0, 1.0, n, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1)
    contrast = 0.5 + (rgb - 0.5) * 1.08
    luma = (0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2])[..., None]
    warm = np.array([1.04, 1.0, 0.94], dtype=np.float32) * luma + (1 - luma)
    table = np.clip(0.03 + 0.97 * contrast * warm, 0.0, 1.0).astype(np.float32)
    write_cube(Lut(table, title="In a City show look"), path)


def _write_cut(
    path: Path, name: str, shots: list[tuple[str, float, float]], rates: dict[str, Fraction]
) -> None:
    import opentimelineio as otio

    timeline = otio.schema.Timeline(name=f"In a City — {name}")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for i, (source, start, duration) in enumerate(shots):
        rate = float(rates[source])
        clip = otio.schema.Clip(
            name=f"{source} #{i + 1}",
            media_reference=otio.schema.ExternalReference(target_url=f"media/{source}.mp4"),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(round(start * rate), rate),
                otio.opentime.RationalTime(round(duration * rate), rate),
            ),
        )
        track.append(clip)
    timeline.tracks.append(track)
    with atomic_write(path, keep_suffix=True) as tmp:  # OTIO picks its adapter by the suffix
        otio.adapters.write_to_file(timeline, str(tmp))


def write_demo_project(folder: Path, log: TextIO | None = None) -> Path:
    """Write the demo project (media generated once) and return its farm.toml."""
    from farm.media.synth import write_clip

    log = log or sys.stderr
    folder = folder.resolve()
    for sub in ("media", "cuts", "looks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rates = {s.name: s.rate / 2 if s.encoding == "interlaced" else s.rate for s in SOURCES}
    for i, src in enumerate(SOURCES):
        path = folder / "media" / f"{src.name}.mp4"
        if path.is_file():
            continue
        t0 = time.perf_counter()
        with atomic_write(path, keep_suffix=True) as tmp:  # write_clip picks the container by the suffix
            sdr = tmp if src.encoding == "sdr" else tmp.with_name(tmp.stem + ".sdr.mp4")
            write_clip(
                sdr,
                width=src.width,
                height=src.height,
                rate=src.rate,
                frames=int(src.seconds * src.rate),
                pattern="city",
                source_id=i,
                crf=20,
                preset="ultrafast" if src.width >= 3840 else "veryfast",
                rotation=src.rotation,
                colorspace=src.colorspace,
                color_cast=src.cast,
                noise=src.noise,
                audio_tone_hz=src.tone,
            )
            if src.encoding != "sdr":
                from farm.media.synth.colour import reencode

                reencode(sdr, tmp, src.encoding)
                sdr.unlink()
        print(
            f"demo: wrote media/{path.name} ({src.width}x{src.height} @ {float(rates[src.name]):.3f} fps"
            f"{', rotated' if src.rotation else ''}{', no audio' if src.tone is None else ''}"
            f"{'' if src.encoding == 'sdr' else ', ' + src.encoding}) "
            f"in {time.perf_counter() - t0:.1f}s",
            file=log,
        )
    for name, shots in CUTS.items():
        _write_cut(folder / "cuts" / f"{name}.otio", name, shots, rates)
    write_show_look(folder / "looks" / "show.cube")
    project = folder / "farm.toml"
    write_text_atomic(project, PROJECT_TOML)
    return project


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``farm demo`` to ``parser``."""
    parser.add_argument(
        "--out", type=Path, default=Path("farm-demo"), help="folder for the demo (default: ./farm-demo)"
    )
    parser.add_argument("--workers", type=positive_int)
    parser.add_argument("--no-render", action="store_true", help="only write the project and its media")
    return parser


def run(args: argparse.Namespace) -> int:
    """Perform ``farm demo``."""
    return run_demo(args.out, workers=args.workers, render_it=not args.no_render)


def run_demo(folder: Path, workers: int | None = None, render_it: bool = True) -> int:
    """Write the demo project into ``folder`` and, unless told not to, render every variant."""
    from farm.api import render

    t0 = time.perf_counter()
    project = write_demo_project(folder)
    print(f"demo: project written to {project} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if not render_it:
        return 0
    report = render(project, workers=workers)
    print_table(report)
    write_strips(project, folder / "renders" / "strips")
    for v in report.variants.values():
        if v.error is not None:
            print(f"farm: error: {v.error}", file=sys.stderr)
    print(f"demo: done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return report.exit_code


def write_strips(project: Path, out: Path) -> None:
    """One PNG per source beside the renders: its frame as decoded | through its baked LUT | the reference."""
    from farm.api import plan
    from farm.kernels import apply_lut, read_cube
    from farm.look.preview import write_preview
    from farm.media.frames import sample_frames

    the_plan = plan(project)
    luts = {job.source.path: job.lut_path for job in the_plan.jobs.values() if job.source is not None}
    reference = sample_frames(project.parent / "media" / "hero_4k.mp4", 1)
    out.mkdir(parents=True, exist_ok=True)
    for source, lut_path in sorted(luts.items()):
        if lut_path is None or not Path(lut_path).is_file():
            continue
        before = sample_frames(source, 1)
        lut = read_cube(lut_path)
        after = [np.clip(apply_lut(f, lut), 0.0, 1.0) for f in before]
        write_preview(out / f"{Path(source).stem}.png", before, after, reference)
    print(f"demo: before/after strips in {out}", file=sys.stderr)
