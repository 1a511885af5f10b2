"""Cuts: an OpenTimelineIO timeline read into exact, validated items.

Only what farm renders survives: the first enabled video track's clips, gaps
and generators in exact rational time (a clip's speed from its time effects),
the audio tracks' clips, and warnings naming what is simplified (transitions
render as cuts, effects farm cannot apply).  Disabled clips and tracks are
gaps.  Media paths are resolved here and refused when they escape the project's
allowed roots.  Reading the file is ``interchange.py``; reading a track's
items is ``tracks.py``.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from farm.edit.generators import Fill
from farm.edit.timing import exact_rate, exact_value
from farm.errors import CutError, MissingInputError, Where
from farm.media.sequences import Sequence

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
    #: source seconds per timeline second: 1 plays, 2 plays twice as fast, 0 holds (freeze
    #: frame), negative plays backwards from ``source_in``
    speed: Fraction = Fraction(1)
    fade_in: Fraction = Fraction(0)  # audio: seconds its gain rises from 0 to 1 (a crossfade)
    fade_out: Fraction = Fraction(0)  # audio: seconds its gain falls from 1 to 0 before its end
    sequence: Sequence | None = None  # an image sequence (``path`` is its pattern)
    gain: float = 1.0  # audio: the clip's level, a linear gain (the cut's clip volume)

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ValueError(f"clip {self.name!r} has a non-positive duration")

    def source_time(self, t: Fraction) -> Fraction:
        """Source seconds on screen at timeline time ``t`` (the sampling rule with speed)."""
        return self.source_in + self.speed * (t - self.start)

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


@dataclass(frozen=True)
class GeneratorItem:
    """A picture the editing application generates (black, bars, a colour)."""

    name: str  # the clip's name in the cut
    fill: Fill  # what it shows
    start: Fraction
    duration: Fraction

    @property
    def end(self) -> Fraction:
        return self.start + self.duration


Item = ClipItem | GapItem | GeneratorItem

#: transitions farm draws: OTIO's transition_type, or an EDL wipe code, → how
DISSOLVE = "dissolve"
#: SMPTE wipe codes farm draws (the masks: ``farm/backends/wipes.py``): W001 from the left edge,
#: W002 from the top, W003-W008 boxes from corners, W021/W022 barn doors, W023-W026 boxes from edges
WIPES = {"W001": "wipe-left", "W002": "wipe-top"} | {
    f"W{c:03d}": f"wipe-{c:03d}" for c in (3, 4, 5, 6, 7, 8, 21, 22, 23, 24, 25, 26)
}


@dataclass(frozen=True)
class TransitionItem:
    """A transition at a cut of one video track: the outgoing clip blends into the incoming one."""

    track: int  # 0 is the bottom video track
    at: Fraction  # timeline time of the cut
    before: Fraction  # seconds before the cut it starts (OTIO in_offset)
    after: Fraction  # seconds after the cut it ends (OTIO out_offset)
    kind: str  # dissolve, or a wipe's mask name (WIPES' values)
    name: str  # for messages

    @property
    def start(self) -> Fraction:
        return self.at - self.before

    @property
    def end(self) -> Fraction:
        return self.at + self.after


@dataclass(frozen=True)
class Cut:
    variant: str
    timeline_path: Path
    video: tuple[Item, ...]  # contiguous, ordered, covering [0, duration)
    #: audio tracks' clips (each track a tuple), or None: take the video clips' audio
    audio_tracks: tuple[tuple[ClipItem, ...], ...] | None
    duration: Fraction
    warnings: tuple[str, ...] = ()
    #: the enabled video tracks above the bottom one, bottom first (they cover [0, duration) too)
    upper: tuple[tuple[Item, ...], ...] = ()
    transitions: tuple[TransitionItem, ...] = ()  # on any video track, in track then time order

    @property
    def layers(self) -> tuple[tuple[Item, ...], ...]:
        """Every video track, bottom to top."""
        return (self.video, *self.upper)

    def clips(self) -> list[ClipItem]:
        return [i for i in self.video if isinstance(i, ClipItem)]

    def audio_clips(self) -> tuple[tuple[ClipItem, ...], ...]:
        """What the audio is made of: the audio tracks, or the video clips' own audio.

        Clips under a freeze frame are silent, those under a speed change resampled (``load_cut``
        warns about each).
        """
        if self.audio_tracks is not None:
            return self.audio_tracks
        return _crossfaded(self.video, [t for t in self.transitions if t.track == 0])


def _crossfaded(
    video: tuple[Item, ...], transitions: list[TransitionItem]
) -> tuple[tuple[ClipItem, ...], ...]:
    """The bottom track's clips as audio, crossfaded under its transitions (linear gains over the
    transition: the outgoing clip sounds on past the cut, the incoming one starts before it).

    Clips that overlap then alternate between two tracks, which are summed."""
    clips: dict[int, ClipItem] = {}
    for i, item in enumerate(video):
        if isinstance(item, ClipItem) and item.speed != 0 and item.sequence is None:
            clips[i] = item
    for tr in transitions:
        span = tr.before + tr.after
        for i, item in list(clips.items()):
            if item.speed != 1:
                continue  # under a speed change the audio cuts
            if item.end == tr.at:  # outgoing: on until the transition ends, fading out
                clips[i] = replace(item, duration=item.duration + tr.after, fade_out=span)
            elif item.start == tr.at:  # incoming: from the transition's start, fading in
                lead = min(tr.before, item.source_in)  # never before the media's first sample
                clips[i] = replace(
                    item,
                    start=item.start - lead,
                    duration=item.duration + lead,
                    source_in=item.source_in - lead,
                    fade_in=span,
                )
    tracks: list[list[ClipItem]] = [[], []]
    for _, clip in sorted(clips.items()):
        track = tracks[0] if not tracks[0] or _ends_by(tracks[0][-1], clip.start) else tracks[1]
        track.append(clip)
    return tuple(tuple(t) for t in tracks if t) or ((),)


def _ends_by(item: ClipItem, t: Fraction) -> bool:
    """``item.end <= t`` in integers (no Fraction built: this runs for every clip of a cut)."""
    a, b = item.start.numerator, item.start.denominator
    c, d = item.duration.numerator, item.duration.denominator
    return (a * d + c * b) * t.denominator <= t.numerator * b * d


def seconds(rt: otio.opentime.RationalTime) -> Fraction:
    """An OTIO time as exact seconds."""
    return exact_value(rt.value) / exact_rate(rt.rate)


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
    variant: str,
    timeline_path: Path,
    root: Path,
    allowed_roots: tuple[Path, ...] | None = None,
    *,
    output_rate: Fraction = Fraction(24),
    timeline_rate: Fraction | None = None,
    timeline_name: str | None = None,
    media_search: tuple[Path, ...] = (),
) -> Cut:
    """Read a variant's timeline (any format an installed OTIO adapter reads).

    ``output_rate`` is the variant's frame rate (warnings name output frames);
    ``timeline_rate`` the rate of a format without one (EDL; default the output
    rate); ``timeline_name`` picks one timeline from a file holding several.
    """
    from farm.edit.interchange import read_timeline
    from farm.edit.relink import MediaIndex
    from farm.edit.tracks import TrackReader

    allowed = allowed_roots or (root,)
    where = Where(variant=variant, path=str(timeline_path))
    if not timeline_path.is_file():
        raise MissingInputError("timeline not found", where)
    read = read_timeline(timeline_path, timeline_rate or output_rate, variant, timeline_name)
    timeline = read.timeline
    search = MediaIndex(media_search) if media_search else None
    reader = TrackReader(variant, timeline_path, root, allowed, output_rate, list(read.warnings), search)

    video_tracks = list(timeline.video_tracks())
    if not video_tracks:
        raise CutError("the timeline has no video track", where)
    enabled = [t for t in video_tracks if t.enabled]
    layers: list[list[Item]] = []
    renumber: dict[int, int] = {}
    for index, t in enumerate(enabled):
        renumber[index] = len(layers)
        layers.append(reader.read(t, "video", index))
        layers += reader.nested.pop(index, [])  # nested stacks: just above their track
    reader.transitions[:] = [replace(tr, track=renumber[tr.track]) for tr in reader.transitions]
    if not enabled:  # every video track is switched off: the picture is black
        layers = [[GapItem(i.start, i.duration) for i in reader.read(video_tracks[0], "video", 0)]]
    duration = max((track[-1].end for track in layers if track), default=Fraction(0))
    if duration <= 0:
        raise CutError("the video track is empty", where)
    layers = [_filled(track, duration) for track in layers]  # every track covers the whole timeline
    video = layers[0]
    upper = tuple(tuple(t) for t in layers[1:])

    audio_tracks = None
    if timeline.audio_tracks():
        read_audio: list[tuple[ClipItem, ...]] = []
        for n, t in enumerate(timeline.audio_tracks()):
            if not t.enabled:
                continue
            index = 1000 + n
            for k, track in enumerate([reader.read(t, "audio", index), *reader.nested.pop(index, [])]):
                heard = tuple(
                    i for i in track if not isinstance(i, ClipItem) or _audible(i, variant, reader.warnings)
                )
                fades = [tr for tr in reader.audio_transitions if tr.track == index] if k == 0 else []
                if fades:  # the track's transitions crossfade its clips
                    read_audio += _crossfaded(heard, fades)
                else:
                    read_audio.append(tuple(i for i in heard if isinstance(i, ClipItem)))
        audio_tracks = tuple(read_audio)
    else:
        for item in video:
            if isinstance(item, ClipItem):
                _audible(item, variant, reader.warnings)
    return Cut(
        variant=variant,
        timeline_path=timeline_path,
        video=tuple(video),
        audio_tracks=audio_tracks,
        duration=duration,
        warnings=tuple(reader.warnings),
        upper=upper,
        transitions=tuple(reader.transitions),
    )


def _filled(track: list[Item], duration: Fraction) -> list[Item]:
    """The track's items in time order with gaps wherever nothing is (nested layers are sparse)."""
    out: list[Item] = []
    t = Fraction(0)
    for item in sorted(track, key=lambda i: i.start):
        if item.start > t:
            out.append(GapItem(t, item.start - t))
        if item.start >= t:
            out.append(item)
            t = item.end
    if t < duration:
        out.append(GapItem(t, duration - t))
    return out


def _audible(item: ClipItem, variant: str, warnings: list[str]) -> bool:
    """Whether the clip's audio plays; a warning says how it plays under a speed change (resampled,
    the pitch moving with the speed) or that a freeze frame's is silenced."""
    if item.speed == 1:
        return True
    if item.speed == 0:
        warnings.append(f"variant {variant!r}, clip {item.name!r}: audio silenced under a freeze frame")
        return False
    warnings.append(
        f"variant {variant!r}, clip {item.name!r}: audio resampled under a speed change "
        f"(speed {float(item.speed):g}: varispeed, the pitch moves with the speed)"
    )
    return True
