"""Oracles for the real cuts: what each output frame should show, read without farm's planner."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from realcuts_harness import STILLS, Need


def edl_frames(cut: Path, rate: int = 30) -> list[tuple[str, int, str] | None]:
    """Per output frame (clip name, source frame in timecode, reel) straight from an EDL's event lines,
    independent of farm and of OpenTimelineIO's reader.

    The list is an assembly list: events are recorded in list order, a later one
    replacing what earlier ones recorded over the same record frames; an event
    plays from its source in at its M2 speed for its record duration.  Frames of
    black or of a transition are None.
    """
    import re

    from opentimelineio.opentime import from_timecode

    def frames(tc: str) -> int:
        return round(from_timecode(tc, rate).value)

    lines = [x.strip() for x in cut.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    blocks: list[list[str]] = []
    for line in lines:
        m = re.match(r"^\d+", line)
        if m is None:
            if blocks:
                blocks[-1].append(line)
        elif (
            blocks
            and re.match(r"^\d+", blocks[-1][0]).group(0) == m.group(0)
            and len(  # type: ignore[union-attr]
                [x for x in blocks[-1] if re.match(r"^\d+", x)]
            )
            == 1
        ):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    events = []
    for block in blocks:
        ev = [x for x in block if re.match(r"^\d+", x)]
        f = ev[-1].split()
        names = {}
        for x in block:
            for key in ("FROM CLIP NAME", "TO CLIP NAME"):
                if re.match(rf"\*?\s*{key}", x):
                    names[key] = x.split(":", 1)[1].strip()
        transition = len(ev) == 2
        if transition:
            name = names.get("TO CLIP NAME") or names.get("FROM CLIP NAME")
        else:
            name = names.get("FROM CLIP NAME") or names.get("TO CLIP NAME")
        speed = Fraction(1)
        for x in block:
            if x.startswith("M2"):
                speed = Fraction(x.split()[2]) / rate
        if speed == 0 and name and name.endswith(" FF"):  # a freeze frame's clip name, marked FF
            name = name[:-3]
        src_in, rec_in, rec_out = frames(f[-4]), frames(f[-2]), frames(f[-1])
        dur = int(f[4]) if transition and len(f) == 9 else 0
        events.append((f[1], name or f[0], src_in, rec_in, rec_out, speed, dur))
    origin = min(e[3] for e in events if e[4] > e[3])
    end = max(e[4] for e in events)
    shown: list[int | None] = [None] * (end - origin)
    for k, e in enumerate(events):
        for r in range(e[3], e[4]):
            shown[r - origin] = k
    skip = set()
    for k, e in enumerate(events):
        if e[6] and shown[e[3] - origin] == k:
            skip.update(range(e[3] - origin, e[3] - origin + e[6]))
    out: list[tuple[str, int, str] | None] = []
    for i, k in enumerate(shown):
        if k is None or i in skip or events[k][0] in ("BL", "BLACK"):
            out.append(None)
            continue
        reel, name, src_in, rec_in, _, speed, _ = events[k]
        out.append((name, src_in + math.floor(speed * (i + origin - rec_in)), reel))
    return out


def edl_expected(cut: Path, needs: dict[str, Need], rate: int = 30) -> list[tuple[int, int] | None]:
    """Per output frame (source id, frame): ``edl_frames`` through the harness's files."""
    by_name: dict[str, list[Need]] = {}
    for n in needs.values():
        by_name.setdefault(n.name, []).append(n)
    out: list[tuple[int, int] | None] = []
    for shown in edl_frames(cut, rate):
        if shown is None:
            out.append(None)
            continue
        name, src, reel = shown
        if name.isdigit() and reel not in ("AX", "BL"):  # no clip name: the harness names it by reel
            name = reel
        file = name if Path(name).suffix.lower() in (".mov", ".mp4", *STILLS) else f"{name}.mov"
        seconds = Fraction(src, rate)
        if Path(file).suffix.lower() in STILLS:  # a still shows its one picture, coded frame 0
            found = by_name.get(file, [])
            out.append((found[0].source_id, 0) if len(found) == 1 else None)
            continue
        found = [n for n in by_name.get(file, []) if n.covers(seconds)]
        if len(found) != 1:
            out.append(None)
            continue
        out.append((found[0].source_id, src - math.floor(found[0].first * rate)))
    return out


def check_frames(video: Path, expected: list[tuple[int, int] | None]) -> tuple[int, int, list[object]]:
    """(frames checked, frames decoded, the first wrong ones) of a rendered file against ``expected``."""
    import av

    from farm.media.synth import frame_rgb, read_code

    checked, n, wrong = 0, 0, []
    with av.open(str(video)) as c:
        for n, frame in enumerate(c.decode(video=0)):
            e = expected[n] if n < len(expected) else None
            if e is None:
                continue
            checked += 1
            got = read_code(frame_rgb(frame))
            if got != e:
                wrong.append((n, e, got))
    return checked, n + 1, wrong
