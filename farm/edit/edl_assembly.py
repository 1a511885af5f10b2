"""A CMX 3600 EDL read as what it is: an assembly list, placed by its record timecodes.

OpenTimelineIO's EDL reader places events one after another and refuses an EDL
whose record timecodes overlap, or whose source and record durations differ;
its repair (``ignore_timecode_mismatch``) shifts every later event, so the cut
drifts.  Real EDLs do both: a multi-track edit flattened into one list records
titles and inserts over the picture already laid, and sources whose durations
were rounded differ from their record durations by a frame or more.

When the adapter refuses an EDL, farm reads it by the rules of the list itself:

* events are recorded in list order; a later event replaces what earlier ones
  recorded over the same record frames (an event covered entirely shows
  nowhere, one covered in its middle shows before and after);
* an event lasts its record duration and plays from its source in point, at
  its motion-effect (``M2``) speed, whatever its source out point says (the
  adapter drops an ``M2`` speed when the two durations happen to be equal);
* a cut's clip is the one its ``FROM CLIP NAME`` comment names (the adapter
  takes ``TO CLIP NAME`` when both are there; that belongs to a transition);
* a transition (``D``, ``W001``...) keeps its place when the event it leads
  into shows from its first record frame, right after what it comes from; one
  whose start was recorded over is a cut (counted in the warning).

Each event is parsed by the adapter itself (one small list per event), so
clip names, reels, comments, generators and speeds mean what they mean in the
adapter; only their placement is farm's.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import opentimelineio as otio

_EVENT = re.compile(r"^\d+")


@dataclass
class _Block:
    """One event of the list: its line(s) and comments, where it records, and what the adapter read."""

    number: int
    lines: list[str]  # the event line, the comments, the transition line when there is one
    transition: bool
    record_in: int = 0
    record_out: int = 0
    parsed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # track name -> (clip, transition)
    kinds: dict[str, str] = field(default_factory=dict)  # track name -> its kind (Video, Audio)
    motion_added: int = 0  # clips given the M2 line's speed the adapter left off


@dataclass
class Assembly:
    """The placed timeline and what the placement decided (for the warning)."""

    timeline: otio.schema.Timeline
    covered: int  # events recorded over, in part or wholly, by later ones
    hidden: int  # events that show nowhere
    mismatched: int  # events whose source and record durations differ (without a motion effect)
    dropped_transitions: int
    motion_added: int  # events whose M2 speed the adapter dropped (source and record durations equal)


def _blocks(text: str) -> tuple[list[str], list[_Block]] | None:
    """The header lines and the events, grouped as the adapter groups them; None for a SPLIT list."""
    lines = [s for s in (raw.strip() for raw in text.splitlines()) if s]
    header: list[str] = []
    blocks: list[_Block] = []
    for line in lines:
        if line.startswith("SPLIT"):
            return None  # split audio/video edits: left to the adapter
        m = _EVENT.match(line)
        if m is None:
            if blocks:
                blocks[-1].lines.append(line)
            elif line.startswith(("TITLE:", "FCM")):
                header.append(line)
            continue
        number = int(m.group(0))
        if blocks and blocks[-1].number == number and not blocks[-1].transition:
            blocks[-1].lines.append(line)
            blocks[-1].transition = True
        else:
            blocks.append(_Block(number, [line], False))
    return header, blocks


def _record(block: _Block, rate: float) -> tuple[int, int]:
    import opentimelineio as otio

    last = [ln for ln in block.lines if _EVENT.match(ln)][-1].split()
    return (
        round(otio.opentime.from_timecode(last[-2], rate).value),
        round(otio.opentime.from_timecode(last[-1], rate).value),
    )


def _parse(block: _Block, header: list[str], rate: float) -> None:
    """What the adapter reads from this one event (a lead-in event stands before a transition)."""
    import opentimelineio as otio

    lines = [ln for ln in header if ln.startswith("TITLE:")]
    if block.transition:
        channel = block.lines[0].split()[2]
        lead = otio.opentime.to_timecode(otio.opentime.RationalTime(block.record_in - 1, rate), rate)
        start = otio.opentime.to_timecode(otio.opentime.RationalTime(block.record_in, rate), rate)
        other = 998 if block.number == 999 else 999
        lines.append(f"{other:03d}  BL       {channel}     C        00:00:00:00 00:00:00:01 {lead} {start}")
    lines += block.lines
    timeline = otio.adapters.read_from_string(
        "\n".join(lines) + "\n", "cmx_3600", rate=rate, ignore_timecode_mismatch=True
    )
    names = {
        key: ln.split(":", 1)[1].strip()
        for ln in block.lines
        for key in ("FROM CLIP NAME", "TO CLIP NAME")
        if re.match(rf"\*?\s*{key}", ln)
    }
    motion = None
    for ln in block.lines:
        m2 = re.match(r"M2\s+\S+\s+(-?[0-9.]+)\s+\S+$", ln)
        if m2 is not None:
            motion = float(m2.group(1))
    for track in timeline.tracks:
        items = list(track)
        clip = items[-1]
        if not block.transition and "FROM CLIP NAME" in names and "TO CLIP NAME" in names:
            # a cut has one source, the one FROM CLIP NAME names (the adapter prefers TO CLIP NAME,
            # which belongs to a transition's incoming side)
            clip.name = names["FROM CLIP NAME"]
        if motion is not None and not clip.effects:
            # the adapter applies M2 only when source and record durations differ; the speed is the
            # M2 line's either way (Avid writes source out = source in + record duration)
            block.motion_added += 1
            if motion == 0:
                clip.effects.append(otio.schema.FreezeFrame())
                clip.name = clip.name.removesuffix(" FF")  # as the adapter names a freeze's clip
            else:
                clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=motion / rate))
        trans = items[-2] if len(items) > 1 and isinstance(items[-2], otio.schema.Transition) else None
        block.parsed[track.name] = (clip, trans)
        block.kinds[track.name] = str(track.kind)


def _speed(clip: Any) -> float:
    import opentimelineio as otio

    speed = 1.0
    for effect in clip.effects:
        if isinstance(effect, otio.schema.FreezeFrame):
            speed = 0.0
        elif isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= effect.time_scalar
    return speed


def _paint(segments: list[tuple[int, int, int]], a: int, b: int, k: int) -> list[tuple[int, int, int]]:
    """``segments`` (start, end, block) with ``[a, b)`` recorded over by block ``k``."""
    out: list[tuple[int, int, int]] = []
    for s, e, j in segments:
        if e <= a or s >= b:
            out.append((s, e, j))
            continue
        if s < a:
            out.append((s, a, j))
        if e > b:
            out.append((b, e, j))
    out.append((a, b, k))
    out.sort()
    return out


def assemble(text: str, rate: float, title: str) -> Assembly | None:
    """The EDL ``text`` placed by its record timecodes (see the module's docstring); None: not an EDL
    this reading applies to (a SPLIT edit)."""
    import opentimelineio as otio

    grouped = _blocks(text)
    if grouped is None or not grouped[1]:
        return None
    header, blocks = grouped
    mismatched = 0
    for block in blocks:
        block.record_in, block.record_out = _record(block, rate)
        _parse(block, header, rate)
        for clip, _ in block.parsed.values():
            src = round(clip.source_range.duration.value)
            if src != block.record_out - block.record_in and not clip.effects:
                mismatched += 1
                break
    tracks: dict[str, list[tuple[int, int, int]]] = {}
    kinds: dict[str, str] = {}
    for k, block in enumerate(blocks):
        if block.record_out <= block.record_in:
            continue
        for name in block.parsed:
            kinds.setdefault(name, block.kinds[name])
            tracks[name] = _paint(tracks.get(name, []), block.record_in, block.record_out, k)
    origin = min((segs[0][0] for segs in tracks.values() if segs), default=0)
    titles = [ln.split(":", 1)[1].strip() for ln in header if ln.startswith("TITLE:")]
    timeline = otio.schema.Timeline(name=titles[0] if titles else title)
    shown: dict[int, list[tuple[int, int]]] = {}
    dropped = 0
    for name, segs in tracks.items():
        track = otio.schema.Track(name=name, kind=kinds[name])
        cursor, previous_end = origin, None
        for s, e, k in segs:
            block = blocks[k]
            shown.setdefault(k, []).append((s, e))
            clip, trans = block.parsed[name]
            if s > cursor:
                track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(s - cursor, rate)))
            if trans is not None:
                if s == block.record_in and previous_end == s:
                    kept = copy.deepcopy(trans)
                    kept.out_offset = otio.opentime.RationalTime(min(trans.out_offset.value, e - s), rate)
                    track.append(kept)
                else:
                    dropped += 1
            piece = copy.deepcopy(clip)
            sr = clip.source_range
            head = (s - block.record_in) * _speed(clip)
            piece.source_range = otio.opentime.TimeRange(
                otio.opentime.RationalTime(sr.start_time.value + head, rate),
                otio.opentime.RationalTime(e - s, rate),
            )
            track.append(piece)
            cursor = previous_end = e
        timeline.tracks.append(track)
    covered = sum(
        1
        for k, b in enumerate(blocks)
        if b.record_out > b.record_in and sum(e - s for s, e in shown.get(k, [])) < b.record_out - b.record_in
    )
    hidden = sum(1 for k, b in enumerate(blocks) if b.record_out > b.record_in and k not in shown)
    motion = sum(1 for b in blocks if b.motion_added)
    return Assembly(timeline, covered, hidden, mismatched, dropped, motion)
