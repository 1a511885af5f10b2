"""One OTIO track read into farm's items: clips, gaps and generators in exact time.

What is decided here, per item:

* a disabled clip (``enabled: false``) is a gap; a disabled track is read as
  gaps by the caller;
* time effects set the clip's speed: ``LinearTimeWarp`` multiplies it by its
  ``time_scalar`` (negative plays backwards), ``FreezeFrame`` (a scalar of 0)
  holds the clip's first frame;
* dissolves and the SMPTE wipes in ``WIPES`` on video tracks become
  :class:`TransitionItem` s, any other video transition is a cut; a transition
  on an audio track is a crossfade (``audio_transitions``); any other effect is
  not applied: a warning names the variant, the clip and the output frames it
  covers;
* a clip whose media is not where the cut says is found under ``media_search``
  (``relink.py``; among files of one name, the one whose timecode covers the
  source times the clip uses), and its source times count from the file's start timecode
  when the cut gives no available range;
* an audio clip's level (Resolve clip volume, FCP7 audio levels: ``levels.py``)
  is its gain; a level that changes over time is not applied (a warning);
* a generator becomes a :class:`GeneratorItem` (``generators.py``); an
  unknown kind is an error (exit 65) naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from farm.edit.cut import (
    DISSOLVE,
    WIPES,
    ClipItem,
    GapItem,
    GeneratorItem,
    Item,
    TransitionItem,
    checked_seconds,
    resolve_media,
    seconds,
)
from farm.edit.generators import UnknownGenerator, classify, fcp_fill_colour
from farm.edit.levels import level_of
from farm.edit.relink import MediaIndex, rules_for
from farm.edit.timing import exact_rate, exact_value, output_frames_of
from farm.errors import CutError, MissingInputError, Where
from farm.media.sequences import Sequence
from farm.media.streams import media_start

if TYPE_CHECKING:
    import opentimelineio as otio


@dataclass
class TrackReader:
    """Reads the tracks of one variant's cut, collecting warnings."""

    variant: str
    timeline_path: Path
    root: Path
    allowed: tuple[Path, ...]
    output_rate: Fraction  # the variant's output rate: warnings name output frames
    warnings: list[str] = field(default_factory=list)
    search: MediaIndex | None = None  # media_search folders: relink clips by their names
    _starts: dict[Path, Fraction] = field(default_factory=dict)  # start timecode per file
    transitions: list[TransitionItem] = field(default_factory=list)  # the video transitions drawn
    audio_transitions: list[TransitionItem] = field(default_factory=list)  # crossfades, by track index
    #: layers of nested stacks and tracks, by the index of the track holding them (timeline times)
    nested: dict[int, list[list[Item]]] = field(default_factory=dict)

    def frames_text(self, start: Fraction, duration: Fraction) -> str:
        span = output_frames_of(start, duration, self.output_rate)
        return f"output frames [{span.start}, {span.stop})"

    def warn(self, clip: str | None, start: Fraction, duration: Fraction, what: str) -> None:
        name = f", clip {clip!r}" if clip else ""
        self.warnings.append(f"variant {self.variant!r}{name}, {self.frames_text(start, duration)}: {what}")

    def read(self, track: otio.schema.Track, kind: str, index: int = 0) -> list[Item]:
        """The track's items in order; a disabled track's clips all read as gaps.

        ``index`` numbers the enabled video tracks from the bottom (for transitions).
        """
        import opentimelineio as otio

        where = Where(variant=self.variant, path=str(self.timeline_path))
        items: list[Item] = []
        t = Fraction(0)
        clip_number = 0
        for child in track:
            if isinstance(child, otio.schema.Transition):
                self._transition(child, t, kind, index)
                continue
            if isinstance(child, otio.schema.Gap):
                gap = child.name or f"{kind} gap at {float(t):.3f}s"
                gwhere = Where(variant=self.variant, clip=gap, path=str(self.timeline_path))
                sr, d = child.source_range, Fraction(0)
                if sr is not None:
                    d = checked_seconds(sr.duration, "source_range.duration", gwhere, duration=True)
                if d > 0:
                    items.append(GapItem(start=t, duration=d))
                t += d
                continue
            if isinstance(child, (otio.schema.Stack, otio.schema.Track)):
                nwhere = Where(variant=self.variant, clip=child.name, path=str(self.timeline_path))
                d = checked_seconds(child.trimmed_range().duration, "source_range.duration", nwhere, True)
                if d > 0:
                    self._nested(child, t, d, kind, index, enabled=track.enabled)
                    items.append(GapItem(start=t, duration=d))  # the nested layers show here
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
            item = self._clip(child, name, t, kind, enabled=track.enabled)
            if item is None:
                continue
            items.append(item)
            t = item.end
        return items

    def _nested(
        self,
        child: otio.schema.Stack | otio.schema.Track,
        t: Fraction,
        d: Fraction,
        kind: str,
        index: int,
        enabled: bool,
    ) -> None:
        """A nested stack (compound clip) or track (nested sequence): its tracks become layers
        just above this track's, placed at ``[t, t + d)`` and trimmed to it."""
        import opentimelineio as otio

        s0 = seconds(child.trimmed_range().start_time)
        inner = (
            [child]
            if isinstance(child, otio.schema.Track)
            else [x for x in child if isinstance(x, otio.schema.Track)]
        )
        wanted = otio.schema.TrackKind.Audio if kind == "audio" else otio.schema.TrackKind.Video
        for track in inner:
            if track.kind != wanted or not track.enabled or not child.enabled or not enabled:
                continue
            sub = TrackReader(
                self.variant,
                self.timeline_path,
                self.root,
                self.allowed,
                self.output_rate,
                self.warnings,
                self.search,
                self._starts,
            )
            layers = [sub.read(track, kind, 0)] + [
                layer for parent in sorted(sub.nested) for layer in sub.nested[parent]
            ]
            for tr in sub.transitions:
                self.warn(
                    None,
                    tr.start - s0 + t,
                    tr.before + tr.after,
                    f"transition {tr.name!r} inside the "
                    f"nested {type(child).__name__} {child.name!r} renders as a cut",
                )
            for layer in layers:
                placed = [x for x in (_shifted(i, t - s0, t, t + d) for i in layer) if x is not None]
                self.nested.setdefault(index, []).append(placed)

    def _sequence_clip(
        self,
        child: otio.schema.Clip,
        ref: otio.schema.ImageSequenceReference,
        name: str,
        t: Fraction,
        duration: Fraction,
        speed: Fraction,
        cwhere: Where,
    ) -> ClipItem:
        """A clip of an image sequence: its images' pattern, first number, count and rate."""
        import opentimelineio as otio

        if ref.frame_step != 1:
            raise CutError(f"image sequence with frame step {ref.frame_step} is not supported", cwhere)
        pad = int(ref.frame_zero_padding)
        image = f"{ref.name_prefix}{{}}{ref.name_suffix}"
        first_name = image.format(f"{ref.start_frame:0{pad}d}" if pad else str(ref.start_frame))
        folder = None
        try:
            folder = resolve_media(ref.target_url_base, self.root, self.allowed, cwhere)
        except CutError:
            if self.search is None:
                raise
        if folder is None or not (folder / first_name).is_file():
            if self.search is not None:
                folder = self.search.find([("name", first_name)], cwhere).parent
            elif folder is None:
                raise MissingInputError("image sequence not found", cwhere)
        pattern = str(folder / image.replace("%", "%%").format(f"%0{pad}d" if pad else "%d"))
        rate = exact_rate(ref.rate)
        sequence = Sequence(pattern, int(ref.start_frame), int(ref.number_of_images_in_sequence()), rate)
        sr = child.source_range or ref.available_range
        source_in = checked_seconds(sr.start_time, "source_range.start_time", cwhere)
        ar = ref.available_range
        if ar is not None and child.source_range is not None:
            first, end = ar.start_time, ar.end_time_exclusive()
            lo = sr.start_time
            hi = lo + otio.opentime.RationalTime(sr.duration.value * float(abs(speed)), sr.duration.rate)
            if lo < first or hi > end:
                # OTIO names an image only for a time inside the available range (frame_for_time)
                fps = sr.start_time.rate
                raise CutError(
                    f"the clip's source range (frames {lo.value:g}-{hi.value - 1:g} at {fps:g} fps) lies "
                    f"outside its image sequence's available range (frames {first.value:g}-"
                    f"{end.value - 1:g}, images {ref.start_frame}-{ref.end_frame()}): no image is named "
                    "for those times",
                    cwhere,
                    hint="set the clip's source range inside the available range in the editor, or "
                    "export the cut again",
                )
        if ref.available_range is not None:
            source_in -= checked_seconds(
                ref.available_range.start_time, "media_reference.available_range.start_time", cwhere
            )
        if source_in < 0:
            raise CutError(f"clip starts {float(-source_in):.3f}s before its sequence's first image", cwhere)
        return ClipItem(
            name=name,
            path=Path(pattern),
            start=t,
            duration=duration,
            source_in=source_in,
            speed=speed,
            sequence=sequence,
        )

    def _transition(self, child: otio.schema.Transition, t: Fraction, kind: str, index: int) -> None:
        label = child.name or child.transition_type
        twhere = Where(variant=self.variant, clip=label, path=str(self.timeline_path))
        before = checked_seconds(child.in_offset, "in_offset", twhere, duration=True)
        after = checked_seconds(child.out_offset, "out_offset", twhere, duration=True)
        cmx = child.metadata.get("cmx_3600")
        code = str(cmx.get("transition", "")) if cmx is not None and hasattr(cmx, "get") else ""
        how = None
        if child.transition_type == "SMPTE_Dissolve" or "dissolve" in label.lower():
            how = DISSOLVE
        elif code in WIPES:
            how = WIPES[code]
        if kind == "audio":
            if before + after > 0:  # any kind: a crossfade (linear gains) between the two clips
                self.audio_transitions.append(TransitionItem(index, t, before, after, DISSOLVE, label))
        elif how is None or before + after <= 0:
            what = f"{child.transition_type} {code}".strip()
            self.warn(None, t - before, before + after, f"transition {label!r} ({what}) renders as a cut")
        else:
            self.transitions.append(TransitionItem(index, t, before, after, how, label))

    def _clip(self, child: otio.schema.Clip, name: str, t: Fraction, kind: str, enabled: bool) -> Item | None:
        import opentimelineio as otio

        cwhere = Where(variant=self.variant, clip=name, path=str(self.timeline_path))
        ref = child.media_reference
        sr, range_name = child.source_range, "source_range"
        if sr is None:
            sr = ref.available_range if ref is not None else None
            range_name = "media_reference.available_range"
            if sr is None:
                raise CutError("clip has neither a source range nor an available range", cwhere)
        duration = checked_seconds(sr.duration, f"{range_name}.duration", cwhere, duration=True)

        if duration <= 0:
            self.warnings.append(f"variant {self.variant!r}: clip {name!r} has zero duration and is skipped")
            return None
        if not enabled or not child.enabled:
            return GapItem(start=t, duration=duration)  # a disabled clip shows and sounds like a gap
        speed, gain = Fraction(1), 1.0
        for effect in child.effects:
            level = level_of(effect) if kind == "audio" else None
            if isinstance(effect, otio.schema.LinearTimeWarp):
                speed *= exact_value(effect.time_scalar)
            elif level is not None and level.why is None:
                gain *= level.gain
            elif level is not None:
                label = effect.effect_name
                self.warn(name, t, duration, f"audio level {label!r} is not applied: {level.why}")
            else:
                label = effect.effect_name or type(effect).__name__
                self.warn(name, t, duration, f"effect {label!r} is not applied")
        if isinstance(ref, otio.schema.GeneratorReference):
            try:
                params = dict(ref.parameters)
                fill_colour = fcp_fill_colour(ref.metadata)
                if fill_colour is not None and "color" not in params:
                    params["color"] = fill_colour
                fill = classify(ref.generator_kind, child.name, params)
            except UnknownGenerator:
                raise CutError(
                    f"unknown generator kind {ref.generator_kind!r}",
                    cwhere,
                    hint="farm draws black, solid colours, SMPTE bars and slugs; replace the generator "
                    "with rendered media",
                ) from None
            if fill.approximation is not None:
                self.warn(name, t, duration, f"generator drawn as black: {fill.approximation}")
            return GeneratorItem(name=name, fill=fill, start=t, duration=duration)
        if isinstance(ref, otio.schema.ImageSequenceReference):
            return self._sequence_clip(child, ref, name, t, duration, speed, cwhere)
        source_in = checked_seconds(sr.start_time, "source_range.start_time", cwhere)
        used = sorted((source_in, source_in + speed * duration))
        path = self._media(child, name, cwhere, (used[0], max(used[1], used[0] + 1 / self.output_rate)))
        # source_range is in the media's own time: subtract where the media starts (its
        # available range in the cut, else the file's start timecode) for seconds from its
        # first frame; never assume a file starts at 00:00:00:00
        if ref is not None and ref.available_range is not None:
            source_in -= checked_seconds(
                ref.available_range.start_time, "media_reference.available_range.start_time", cwhere
            )
        else:
            if path not in self._starts:
                self._starts[path] = media_start(path, cwhere)
            source_in -= self._starts[path]
        if source_in < 0:
            raise CutError(
                f"clip starts {float(-source_in):.3f}s before its media's first frame",
                Where(variant=self.variant, clip=name, path=str(path)),
            )
        return ClipItem(
            name=name, path=path, start=t, duration=duration, source_in=source_in, speed=speed, gain=gain
        )

    def _media(
        self, child: otio.schema.Clip, name: str, cwhere: Where, span: tuple[Fraction, Fraction]
    ) -> Path:
        """The clip's media file: where the cut says, else found under the search folders."""
        import opentimelineio as otio

        ref = child.media_reference
        url = None if isinstance(ref, otio.schema.MissingReference) else getattr(ref, "target_url", None)
        path = None
        if url:
            try:
                path = resolve_media(url, self.root, self.allowed, cwhere)
            except CutError:
                if self.search is None:
                    raise
            if path is not None and self.search is not None and not path.exists():
                path = None  # a path from another machine: find the file by its names
            if path is not None:
                return path
        if self.search is None:
            raise MissingInputError(
                f"clip has no media ({type(ref).__name__})",
                cwhere,
                hint="relink the clip to a file in the editor, or list folders to search in "
                "media_search in farm.toml",
            )
        return self.search.find(rules_for(url, child.name, dict(child.metadata)), cwhere, span)


def _shifted(item: Item, offset: Fraction, lo: Fraction, hi: Fraction) -> Item | None:
    """``item`` moved by ``offset`` and trimmed to ``[lo, hi)``; None when nothing is left."""
    start, end = max(item.start + offset, lo), min(item.end + offset, hi)
    if end <= start:
        return None
    if isinstance(item, ClipItem):
        skipped = start - (item.start + offset)
        return replace(
            item, start=start, duration=end - start, source_in=item.source_in + item.speed * skipped
        )
    return replace(item, start=start, duration=end - start)
