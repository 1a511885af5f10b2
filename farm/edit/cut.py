"""Cuts: an OpenTimelineIO timeline read into exact, validated items.

Only what farm renders survives: the first video track's clips and gaps in
exact rational time, the audio tracks' clips, and warnings for what is
simplified (transitions render as cuts).  Media paths are resolved here and
refused when they escape the project's allowed roots.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from farm.edit.timing import exact_rate, exact_value
from farm.errors import CutError, MissingInputError, Where

if TYPE_CHECKING:
    import opentimelineio as otio

_ALLOWED_SCHEMES = ("", "file")


@dataclass(frozen=True)
class ClipItem:
    """A clip placed on the timeline."""

    name: str  # the clip's name in the cut (or "clip N")
    path: Path  # resolved source file
    start: Fraction  # timeline start, seconds
    duration: Fraction  # seconds on the timeline (> 0)
    source_in: Fraction  # seconds from the source's first frame

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError(f"clip {self.name!r} has a non-positive duration")

    @property
    def end(self) -> Fraction:
        return self.start + self.duration


@dataclass(frozen=True)
class GapItem:
    """Black and silence on the timeline."""

    start: Fraction
    duration: Fraction

    @property
    def end(self) -> Fraction:
        return self.start + self.duration


Item = ClipItem | GapItem


@dataclass(frozen=True)
class Cut:
    variant: str
    timeline_path: Path
    video: tuple[Item, ...]  # contiguous, ordered, covering [0, duration)
    #: audio tracks' clips (each track a tuple), or None: take the video clips' audio
    audio_tracks: tuple[tuple[ClipItem, ...], ...] | None
    duration: Fraction
    warnings: tuple[str, ...] = ()

    def clips(self) -> list[ClipItem]:
        return [i for i in self.video if isinstance(i, ClipItem)]

    def audio_clips(self) -> tuple[tuple[ClipItem, ...], ...]:
        """What the audio is made of: the audio tracks, or the video clips' own audio."""
        if self.audio_tracks is not None:
            return self.audio_tracks
        return (tuple(self.clips()),)


#: the rates a cut may use: a finite number in this range (frames, or ticks, per second)
RATE_RANGE = (1e-3, 1e7)
#: the longest time a cut may name, in seconds (a week: timecodes of a day fit well inside)
MAX_SECONDS = 7 * 86400


def _number(value: float) -> str:
    """A float as JSON spells it (NaN, Infinity), as the user wrote it in the file."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def checked_seconds(
    rt: otio.opentime.RationalTime, field: str, where: Where, duration: bool = False
) -> Fraction:
    """A time of the cut in exact seconds, or a :class:`CutError` naming ``field`` and the bad value.

    A rate must be a finite number in :data:`RATE_RANGE`; a value must be finite
    and the time within :data:`MAX_SECONDS` of zero; a ``duration`` not negative.
    """
    rate, value = float(rt.rate), float(rt.value)
    low, high = RATE_RANGE
    if not (math.isfinite(rate) and low <= rate <= high):
        raise CutError(
            f"{field}.rate = {_number(rate)} is not a usable rate",
            where,
            hint=f"a rate is a finite number from {low:g} to {high:g}",
        )
    if not math.isfinite(value) or abs(value / rate) > MAX_SECONDS:
        raise CutError(
            f"{field}.value = {_number(value)} is not a usable time at rate {_number(rate)}",
            where,
            hint=f"a time is a finite number of frames within {MAX_SECONDS // 86400} days",
        )
    if duration and value < 0:
        raise CutError(f"{field}.value = {_number(value)} is a negative duration", where)
    return exact_value(value) / exact_rate(rate)


def resolve_media(url: str, root: Path, allowed_roots: tuple[Path, ...], where: Where) -> Path:
    """A clip's media URL as a checked, absolute path under one of ``allowed_roots``."""
    parsed = urllib.parse.urlparse(url)
    scheme = parsed.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme not in _ALLOWED_SCHEMES:
        raise CutError(
            f"media URL scheme {parsed.scheme!r} is not allowed: {url}",
            where,
            hint="use a path relative to the project folder or a file:// URL",
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raw = urllib.parse.unquote(parsed.netloc + parsed.path)  # file://relative/path
        else:
            raw = urllib.parse.unquote(parsed.path)
    else:
        raw = url
    if "\0" in raw:
        raise CutError(f"media path {url!r} holds a NUL character", where)
    p = Path(raw).expanduser()
    # containment is judged on the normalised path as written ("..", absolute paths): a
    # symlink the project's owner placed inside the project (a media folder on a NAS) is theirs
    p = Path(os.path.abspath(p if p.is_absolute() else root / p))
    if not any(p.is_relative_to(os.path.abspath(r)) for r in allowed_roots):
        raise CutError(
            f"media path {url!r} resolves to {p}, outside the project root {root}",
            Where(variant=where.variant, clip=where.clip, path=str(p)),
            hint="move the media under the project, or list its folder in media_roots in farm.toml",
        )
    return p


def load_cut(
    variant: str, timeline_path: Path, root: Path, allowed_roots: tuple[Path, ...] | None = None
) -> Cut:
    """Read a variant's timeline (any format an installed OTIO adapter reads)."""
    import opentimelineio as otio

    allowed = allowed_roots or (root,)
    where = Where(variant=variant, path=str(timeline_path))
    if not timeline_path.is_file():
        raise MissingInputError("timeline not found", where)
    try:
        timeline = otio.adapters.read_from_file(str(timeline_path))
    except Exception as exc:  # OTIO raises many types (adapter, JSON, schema errors)
        raise CutError(f"cannot read timeline: {exc}", where) from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise CutError(f"expected a Timeline, found {type(timeline).__name__}", where)

    warnings: list[str] = []
    video_tracks = list(timeline.video_tracks())
    if not video_tracks:
        raise CutError("the timeline has no video track", where)
    if len(video_tracks) > 1:
        warnings.append(f"variant {variant!r}: {len(video_tracks)} video tracks; only the first is rendered")
    video = _read_track(video_tracks[0], variant, root, allowed, where, warnings, kind="video")
    duration = video[-1].end if video else Fraction(0)
    if duration <= 0:
        raise CutError("the video track is empty", where)

    audio_tracks = None
    if timeline.audio_tracks():
        audio_tracks = tuple(
            tuple(
                i
                for i in _read_track(t, variant, root, allowed, where, warnings, "audio")
                if isinstance(i, ClipItem)
            )
            for t in timeline.audio_tracks()
        )
    return Cut(
        variant=variant,
        timeline_path=timeline_path,
        video=tuple(video),
        audio_tracks=audio_tracks,
        duration=duration,
        warnings=tuple(warnings),
    )


def _read_track(
    track: otio.schema.Track,
    variant: str,
    root: Path,
    allowed: tuple[Path, ...],
    where: Where,
    warnings: list[str],
    kind: str,
) -> list[Item]:
    import opentimelineio as otio

    items: list[Item] = []
    t = Fraction(0)
    clip_number = 0
    for child in track:
        if isinstance(child, otio.schema.Transition):
            warnings.append(
                f"variant {variant!r}: transition {child.name or child.transition_type!r} at "
                f"{float(t):.3f}s renders as a cut (transitions are not built yet)"
            )
            continue
        if isinstance(child, otio.schema.Gap):
            gap = child.name or f"{kind} gap at {float(t):.3f}s"
            gwhere = Where(variant=variant, clip=gap, path=where.path)
            sr, d = child.source_range, Fraction(0)
            if sr is not None:
                d = checked_seconds(sr.duration, "source_range.duration", gwhere, duration=True)
            if d > 0:
                items.append(GapItem(start=t, duration=d))
            t += d
            continue
        if not isinstance(child, otio.schema.Clip):
            raise CutError(
                f"{kind} track holds a {type(child).__name__} ({child.name!r}); "
                "nested stacks and tracks are not supported",
                where,
                hint="flatten the timeline in the editor before exporting",
            )
        clip_number += 1
        name = child.name or f"{kind} clip {clip_number}"
        cwhere = Where(variant=variant, clip=name, path=where.path)
        ref = child.media_reference
        url = getattr(ref, "target_url", None)
        if isinstance(ref, otio.schema.MissingReference) or not url:
            raise MissingInputError(
                f"clip has no media ({type(ref).__name__})",
                cwhere,
                hint="relink the clip to a file in the editor",
            )
        sr, range_name = child.source_range, "source_range"
        if sr is None:
            ar = ref.available_range
            if ar is None:
                raise CutError("clip has neither a source range nor an available range", cwhere)
            sr, range_name = ar, "media_reference.available_range"
        source_in = checked_seconds(sr.start_time, f"{range_name}.start_time", cwhere)
        # source_range is in the media's own time: subtract where the media starts
        # (e.g. a 01:00:00:00 start timecode) to get seconds from its first frame.
        if ref.available_range is not None:
            field = "media_reference.available_range.start_time"
            source_in -= checked_seconds(ref.available_range.start_time, field, cwhere)
        duration = checked_seconds(sr.duration, f"{range_name}.duration", cwhere, duration=True)
        path = resolve_media(url, root, allowed, cwhere)
        if source_in < 0:
            raise CutError(
                f"clip starts {float(-source_in):.3f}s before its media's first frame",
                Where(variant=variant, clip=name, path=str(path)),
            )
        if duration <= 0:
            warnings.append(f"variant {variant!r}: clip {name!r} has zero duration and is skipped")
            continue
        items.append(ClipItem(name=name, path=path, start=t, duration=duration, source_in=source_in))
        t += duration
    return items
