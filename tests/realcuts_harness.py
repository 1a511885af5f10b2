"""Real edit files rendered as a user would: generated media at the names and timecodes they reference.

For each cut in ``../shared/realcuts`` this builds a project: every media file
the cut references (by the file name of its path, or an EDL's clip name or
reel) is written as a coded clip under ``media/`` long enough for every use
(transition handles and speed changes included), starting at the timecode the
cut expects; audio-only references become tones, image references coded
stills, image sequences coded images (EXR through FFmpeg's encoder).  A
name used at timecodes far apart (an EDL's clip name at 00:00:12 and, as an
editor's render of it, at 01:00:00) gets one file per group of uses, each in
its own folder starting at the timecode it covers, as media really is: farm
relinks by the name and takes the file whose timecode covers the clip.
``farm.toml`` relinks through ``media_search``.  The oracle for a cut with one
video track is OTIO's own placement of its clips (``range_in_parent``) and the
sampling rule — independent of farm's planner; for an EDL it is the event lines
themselves (``realcuts_oracle.edl_frames``), read without OTIO.

Run as a script for the table of outcomes: ``python tests/realcuts_harness.py OUT_DIR``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
#: ../shared/realcuts beside the checkout (one more level up for a worktree in a folder of worktrees)
REALCUTS = next(
    (
        p
        for p in (_ROOT / ".." / "shared" / "realcuts", _ROOT / ".." / ".." / "shared" / "realcuts")
        if p.is_dir()
    ),
    _ROOT / ".." / "shared" / "realcuts",
)
AUDIO = (".wav", ".mp3", ".aif", ".aiff", ".m4a")
STILLS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
EDL_RATES = {"libedl_cmx3600.edl": "30"}
MARGIN = 96  # frames of handle before and after every use (transitions)
MARGINS = {"libedl_cmx3600.edl": 16}  # the TV cut's wipes are 10-12 frames: smaller files
SIZES = {"libedl_cmx3600.edl": (64, 36)}


@dataclass
class Need:
    name: str  # the file name farm's relinking looks for
    rate: Fraction
    first: Fraction  # media seconds (in the cut's timecode) of the earliest frame needed
    last: Fraction
    source_id: int = 0
    users: list[str] = field(default_factory=list)
    folder: str = ""  # a sub-folder of media/ when one name needs several files (timecode apart)

    @property
    def file(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name

    def covers(self, seconds: Fraction) -> bool:
        return self.first <= seconds <= self.last


def _secs(rt: object) -> Fraction:
    from farm.edit.timing import exact_rate, exact_value

    return exact_value(rt.value) / exact_rate(rt.rate)  # type: ignore[attr-defined]


def media_name(clip: object, edl: bool) -> str | None:
    import opentimelineio as otio

    ref = clip.media_reference  # type: ignore[attr-defined]
    if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
        raw = urllib.parse.unquote(urllib.parse.urlparse(ref.target_url).path or ref.target_url)
        return raw.replace("\\", "/").rsplit("/", 1)[-1] or None
    if isinstance(ref, otio.schema.MissingReference):
        # what a user does for a cut without paths: files named as the clip, or as the EDL's reel
        name = clip.name  # type: ignore[attr-defined]
        if Path(name).suffix.lower() in (".mov", ".mp4", ".mxf", *AUDIO, *STILLS):
            return str(name)
        reel = clip.metadata.get("cmx_3600", {}).get("reel") if edl else None  # type: ignore[attr-defined]
        if name.isdigit() and reel and reel not in ("BL", "AX"):  # no clip name: the event number
            return f"{reel}.mov"
        return f"{name}.mov" if name else None
    return None


def _speed(clip: object) -> Fraction:
    import opentimelineio as otio

    speed = Fraction(1)
    for e in clip.effects:  # type: ignore[attr-defined]
        if isinstance(e, otio.schema.LinearTimeWarp):
            speed *= Fraction(e.time_scalar).limit_denominator(10000)
        elif isinstance(e, otio.schema.FreezeFrame):
            speed = Fraction(0)
    return speed


#: the most frames one coded file holds (its frame numbers are 14 bits)
MAX_FILE_FRAMES = 16000


def needs_of(timeline: object, edl: bool, margin: int = MARGIN) -> dict[str, Need]:
    """The files a cut needs, by path under media/.

    A name whose uses lie far apart in timecode (an EDL's clip name used at
    00:00:12 and at 01:00:00, the second an editor's render of it) gets one file
    per group of uses, each in its own folder with the timecode it covers: farm
    relinks by name and picks the file whose timecode covers the clip.
    """

    uses: dict[str, list[tuple[Fraction, Fraction, Fraction, str]]] = {}
    anchors: dict[str, Fraction] = {}
    for clip in timeline.find_clips():  # type: ignore[attr-defined]
        name = media_name(clip, edl)
        sr = clip.source_range or clip.media_reference.available_range
        if name is None or sr is None:
            continue
        speed = _speed(clip)
        rate = Fraction(sr.start_time.rate).limit_denominator(1001)
        start = _secs(sr.start_time)
        dur = _secs(sr.duration)
        lo = min(start, start + speed * dur) - Fraction(margin) / rate
        hi = max(start, start + speed * dur) + Fraction(margin) / rate
        ar = clip.media_reference.available_range
        if ar is not None:  # farm counts from the available range's start: the file starts there
            anchors.setdefault(name, _secs(ar.start_time))
            hi = max(hi, _secs(ar.end_time_exclusive()))
        uses.setdefault(name, []).append((lo, hi, rate, clip.name))
    needs: dict[str, Need] = {}
    for name in sorted(uses):
        groups: list[Need] = []
        for lo, hi, rate, user in sorted(uses[name]):
            g = groups[-1] if groups else None
            if g is None or (
                name not in anchors
                and Path(name).suffix.lower() not in (*AUDIO, *STILLS)
                and (max(g.last, hi) - g.first) * rate > MAX_FILE_FRAMES
            ):
                g = Need(name, rate, lo, hi)
                groups.append(g)
            g.first, g.last = min(g.first, lo), max(g.last, hi)
            g.users.append(user)
        for i, g in enumerate(groups):
            g.first = anchors.get(name, max(g.first, Fraction(0)))
            g.folder = f"tc{i:02d}" if len(groups) > 1 else ""
            needs[g.file] = g
    for i, n in enumerate(needs.values()):
        n.source_id = i % 15 + 1
    return needs


def timecode(seconds: Fraction, rate: Fraction) -> str:
    nominal = round(rate)
    f = math.floor(seconds * rate)
    hh, mm, ss = f // (3600 * nominal), f // (60 * nominal) % 60, f // nominal % 60
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{f % nominal:02d}"


def write_sequences(timeline: object, media: Path, size: tuple[int, int]) -> None:
    """Every image of the cut's image sequences, coded (source 15, the image's number), as EXR/PNG/..."""
    import av
    import numpy as np
    import opentimelineio as otio

    from farm.media.synth.codes import CodedPainter

    for clip in timeline.find_clips():  # type: ignore[attr-defined]
        ref = clip.media_reference
        if not isinstance(ref, otio.schema.ImageSequenceReference):
            continue
        pad = int(ref.frame_zero_padding)
        painter = CodedPainter(size, 15, (1.0, 1.0, 1.0))
        for number in range(ref.start_frame, ref.end_frame() + 1):
            digits = f"{number:0{pad}d}" if pad else str(number)
            path = media / f"{ref.name_prefix}{digits}{ref.name_suffix}"
            rgb = np.ascontiguousarray(painter.paint(number - ref.start_frame))
            if path.suffix.lower() != ".exr":
                from PIL import Image

                Image.fromarray(rgb).save(path)
                continue
            planes = rgb.astype(np.float32) / 255.0  # linear-light values as a compositor writes them
            frame = av.VideoFrame(size[0], size[1], "gbrpf32le")
            for plane, channel in zip(frame.planes, (1, 2, 0), strict=True):  # planes are G, B, R
                row = plane.line_size // 4
                data = np.zeros((size[1], row), np.float32)
                data[:, : size[0]] = planes[:, :, channel]
                plane.update(data.tobytes())
            ctx = av.CodecContext.create("exr", "w")
            ctx.width, ctx.height, ctx.pix_fmt = size[0], size[1], "gbrpf32le"
            ctx.time_base = Fraction(1, 24)
            path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))


def build_project(cut: Path, root: Path, size: tuple[int, int] | None = None) -> tuple[Path, dict[str, Need]]:
    """A project folder for ``cut``: generated media under media/ and a farm.toml."""
    import numpy as np
    import opentimelineio as otio
    from edit_media import coded_clip, write_tone
    from PIL import Image

    from farm.edit.interchange import read_timeline
    from farm.media.synth.codes import CodedPainter

    edl = cut.suffix.lower() == ".edl"
    size = size or SIZES.get(cut.name, (160, 90))
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    needs: dict[str, Need] = {}
    chosen = None
    try:
        rate = Fraction(EDL_RATES.get(cut.name, "24"))
        try:
            result = read_timeline(cut, rate, "probe").timeline
        except Exception as exc:  # a library of timelines: the user picks the first by name
            if "timelines:" not in str(exc):
                raise
            chosen = (
                otio.adapters.read_from_file(str(cut))
                .find_children(descended_from_type=otio.schema.Timeline)[0]
                .name
            )
            result = read_timeline(cut, rate, "probe", chosen).timeline
        needs = needs_of(result, edl, MARGINS.get(cut.name, MARGIN))
    except Exception:  # noqa: BLE001 - farm reports the reason when it renders
        result = None
    if result is not None:
        write_sequences(result, media, size)
    for n in needs.values():
        path = media / n.file
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if suffix in AUDIO:
            codec = {".wav": "pcm_s16le", ".mp3": "libmp3lame"}.get(suffix, "pcm_s16be")
            write_tone(path, codec, 300.0 + 100 * n.source_id, float(n.last) + 1)
        elif suffix in STILLS:
            rgb = CodedPainter(size, n.source_id, (1.0, 1.0, 1.0)).paint(0)
            Image.fromarray(np.ascontiguousarray(rgb)).save(path)
        else:
            start = math.floor(n.first * n.rate)
            frames = min(math.ceil(n.last * n.rate) - start + 1, 16383)
            target = path if suffix in (".mov", ".mp4") else path.with_name(path.name + ".mov")
            coded_clip(
                target,
                n.source_id,
                frames,
                n.rate,
                timecode=timecode(Fraction(start) / n.rate, n.rate),
                size=size,
            )
            if target != path:
                target.rename(path)
    rate_line = f'timeline_rate = "{EDL_RATES[cut.name]}"\n' if cut.name in EDL_RATES else ""
    if chosen is not None:
        rate_line += f'timeline_name = "{chosen}"\n'
    fps = EDL_RATES.get(cut.name) or (str(round(result.duration().rate)) if result is not None else "24")
    (root / "farm.toml").write_text(
        'media_search = ["media"]\n'
        f'[output]\nwidth = {size[0]}\nheight = {size[1]}\nfps = "{fps}"\n'
        'preset = "ultrafast"\nquality = 12\n'
        f'[variants.cut]\ntimeline = "{cut}"\n{rate_line}'
    )
    return root / "farm.toml", needs


def render(project: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--workers",
            "2",
            "--quiet",
            "--report",
            str(project.parent / "report.json"),
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    report = {}
    if (project.parent / "report.json").is_file():
        report = json.loads((project.parent / "report.json").read_text())
    return {
        "exit": proc.returncode,
        "stderr": proc.stderr.strip().splitlines()[-3:],
        "seconds": seconds,
        "report": report,
    }


def expected_codes(
    cut: Path, needs: dict[str, Need], fps: Fraction, name: str | None = None
) -> list[tuple[int, int] | None] | None:
    """Per output frame (source id, frame) by OTIO's placement — for cuts with one video track only."""
    import opentimelineio as otio

    from farm.edit.interchange import read_timeline

    tl = read_timeline(cut, Fraction(EDL_RATES.get(cut.name, "24")), "oracle", name).timeline
    tracks = [t for t in tl.video_tracks() if t.enabled]
    if len(tracks) != 1 or any(isinstance(c, (otio.schema.Transition, otio.schema.Stack)) for c in tracks[0]):
        return None
    track = tracks[0]
    total = math.ceil(_secs(track.duration()) * fps)
    out: list[tuple[int, int] | None] = [None] * total
    for child in track:
        if not isinstance(child, otio.schema.Clip) or not child.enabled:
            continue
        name = media_name(child, cut.suffix.lower() == ".edl")
        if name is None or name not in needs:
            continue
        need = needs[name]
        placed = child.range_in_parent()
        start, dur = _secs(placed.start_time), _secs(placed.duration)
        speed = Fraction(1)
        for e in child.effects:
            if isinstance(e, otio.schema.LinearTimeWarp):
                speed *= Fraction(e.time_scalar).limit_denominator(10000)
        ar = child.media_reference.available_range
        origin = (
            _secs(ar.start_time)
            if ar is not None
            else Fraction(math.floor(need.first * need.rate)) / need.rate
        )
        for n in range(math.ceil(start * fps), min(math.ceil((start + dur) * fps), total)):
            sr = child.source_range or child.media_reference.available_range
            s = _secs(sr.start_time) + speed * (Fraction(n) / fps - start) - origin
            out[n] = (need.source_id, math.floor(s * need.rate))
    return out


def main(out: Path, only: list[str]) -> None:
    from realcuts_oracle import check_frames, edl_expected

    files = sorted(p for p in REALCUTS.rglob("*") if p.suffix.lower() in (".otio", ".edl", ".xml", ".fcpxml"))
    files = [p for p in files if not only or any(o in str(p) for o in only)]
    print("file | exit | seconds | media files | frames | warnings | frames checked | message", flush=True)
    for cut in files:
        root = out / cut.parent.name / cut.stem
        project, needs = build_project(cut, root)
        r = render(project)
        variant = (r["report"].get("variants") or {}).get("cut", {})  # type: ignore[union-attr]
        checked = "-"
        if r["exit"] == 0 and variant.get("output"):
            fps = Fraction(EDL_RATES.get(cut.name) or "24")
            if cut.suffix.lower() == ".edl":
                expected = edl_expected(cut, needs, int(fps))
            else:
                from farm.edit.project import load_project

                spec = load_project(project).variants["cut"]
                fps = Fraction(spec.output.fps)
                expected = expected_codes(cut, needs, fps, spec.timeline_name)  # type: ignore[assignment]
            if expected is not None:
                n, total, wrong = check_frames(Path(variant["output"]), expected)
                checked = f"{n}/{total}" + (f" WRONG {len(wrong)}: {wrong[:3]}" if wrong else " ok")
                if total != len(expected):
                    checked += f" (expected {len(expected)} frames)"
        message = (r["stderr"] or [""])[-1][:160]  # type: ignore[index]
        print(
            f"{cut.parent.name}/{cut.name}",
            r["exit"],
            f"{r['seconds']:.1f}",
            len(needs),
            variant.get("frames", 0),
            len(variant.get("warnings", [])),
            checked,
            message,
            sep=" | ",
            flush=True,
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main(Path(sys.argv[1]), sys.argv[2:])
