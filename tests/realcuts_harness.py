"""Real edit files rendered as a user would: generated media at the names and timecodes they reference.

For each cut in ``../shared/realcuts`` this builds a project: every media file
the cut references (by the file name of its path, or an EDL's clip name or
reel) is written as a coded clip under ``media/`` long enough for every use
(transition handles and speed changes included), starting at the timecode the
cut expects; audio-only references become tones, image references coded
stills.  ``farm.toml`` relinks through ``media_search``.  The oracle for a cut
with one video track is OTIO's own placement of its clips (``range_in_parent``)
and the sampling rule — independent of farm's planner.

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


@dataclass
class Need:
    name: str
    rate: Fraction
    first: Fraction  # media seconds (in the cut's timecode) of the earliest frame needed
    last: Fraction
    source_id: int = 0
    users: list[str] = field(default_factory=list)


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
        if reel and reel != "BL":
            return f"{reel}.mov"
        return f"{name}.mov" if name else None
    return None


def needs_of(timeline: object, edl: bool) -> dict[str, Need]:
    import opentimelineio as otio

    needs: dict[str, Need] = {}
    anchors: dict[str, Fraction] = {}
    for clip in timeline.find_clips():  # type: ignore[attr-defined]
        name = media_name(clip, edl)
        sr = clip.source_range or clip.media_reference.available_range
        if name is None or sr is None:
            continue
        speed = Fraction(1)
        for e in clip.effects:
            if isinstance(e, otio.schema.LinearTimeWarp):
                speed *= Fraction(e.time_scalar).limit_denominator(10000)
        rate = Fraction(sr.start_time.rate).limit_denominator(1001)
        start = _secs(sr.start_time)
        dur = _secs(sr.duration)
        lo = min(start, start + speed * dur) - Fraction(MARGIN) / rate
        hi = max(start, start + speed * dur) + Fraction(MARGIN) / rate
        ar = clip.media_reference.available_range
        n = needs.setdefault(name, Need(name, rate, lo, hi))
        n.first, n.last = min(n.first, lo), max(n.last, hi)
        if ar is not None:  # farm counts from the available range's start: the file starts there
            anchors.setdefault(name, _secs(ar.start_time))
            n.last = max(n.last, _secs(ar.end_time_exclusive()))
        n.users.append(clip.name)
    for i, n in enumerate(sorted(needs.values(), key=lambda x: x.name)):
        n.first = anchors.get(n.name, max(n.first, Fraction(0)))
        n.source_id = i % 15 + 1
    return needs


def timecode(seconds: Fraction, rate: Fraction) -> str:
    nominal = round(rate)
    f = math.floor(seconds * rate)
    hh, mm, ss = f // (3600 * nominal), f // (60 * nominal) % 60, f // nominal % 60
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{f % nominal:02d}"


def build_project(cut: Path, root: Path, size: tuple[int, int] = (160, 90)) -> tuple[Path, dict[str, Need]]:
    """A project folder for ``cut``: generated media under media/ and a farm.toml."""
    import numpy as np
    import opentimelineio as otio
    from edit_media import coded_clip, write_tone
    from PIL import Image

    from farm.edit.interchange import read_timeline
    from farm.media.synth.codes import CodedPainter

    edl = cut.suffix.lower() == ".edl"
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
        needs = needs_of(result, edl)
    except Exception:  # noqa: BLE001 - farm reports the reason when it renders
        result = None
    for n in needs.values():
        path = media / n.name
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


def expected_codes(cut: Path, needs: dict[str, Need], fps: Fraction) -> list[tuple[int, int] | None] | None:
    """Per output frame (source id, frame) by OTIO's placement — for cuts with one video track only."""
    import opentimelineio as otio

    from farm.edit.interchange import read_timeline

    tl = read_timeline(cut, Fraction(EDL_RATES.get(cut.name, "24")), "oracle").timeline
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
    files = sorted(p for p in REALCUTS.rglob("*") if p.suffix.lower() in (".otio", ".edl", ".xml", ".fcpxml"))
    files = [p for p in files if not only or any(o in str(p) for o in only)]
    rows = []
    for cut in files:
        root = out / cut.parent.name / cut.stem
        project, needs = build_project(cut, root)
        r = render(project)
        rows.append(
            (
                f"{cut.parent.name}/{cut.name}",
                r["exit"],
                f"{r['seconds']:.1f}",
                len(needs),
                (r["stderr"] or [""])[-1][:160],
            )
        )
        print(*rows[-1], sep=" | ", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main(Path(sys.argv[1]), sys.argv[2:])
