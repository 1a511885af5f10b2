"""Cuts: OTIO timelines to exact items; media paths resolved and fenced in.

Warnings say what is simplified.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from coded import Gap, Shot, write_cut

from farm.edit.cut import ClipItem, GapItem, load_cut, resolve_media
from farm.errors import CutError, MissingInputError, Where


def test_items_in_exact_time_with_gaps_and_a_transition(tmp_path: Path) -> None:
    path = write_cut(
        tmp_path / "c.otio", [Shot("s2997", 30, 60), Gap(12), Shot("s24", 0, 24)], transition_after=0
    )
    cut = load_cut("v", path, tmp_path)
    a, gap, b = cut.video
    assert (
        isinstance(a, ClipItem) and a.source_in == Fraction(1001, 1000) and a.duration == Fraction(2002, 1000)
    )
    assert isinstance(gap, GapItem) and gap.start == a.duration and gap.duration == Fraction(1, 2)
    assert b.start == a.duration + Fraction(1, 2) and b.path == tmp_path / "media" / "s24.mp4"
    assert cut.duration == b.start + 1
    (dissolve,) = cut.transitions
    assert (dissolve.kind, dissolve.at, dissolve.before, dissolve.after) == (
        "dissolve",
        a.end,
        Fraction(1, 12),
        Fraction(1, 12),
    )
    # the dissolve leads into the gap: the first clip's audio fades out over it, running on past the cut
    faded = replace(a, duration=a.duration + Fraction(1, 12), fade_out=Fraction(1, 6))
    assert cut.audio_tracks is None and cut.audio_clips() == ((faded, b),)


def test_media_paths_are_fenced_to_the_project(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    w = Where(variant="v", clip="c")
    assert resolve_media("media/a.mp4", root, (root,), w) == root / "media" / "a.mp4"
    assert resolve_media(f"file://{root}/media/a%20b.mp4", root, (root,), w) == root / "media" / "a b.mp4"
    with pytest.raises(CutError, match="outside the project root"):
        resolve_media("../elsewhere/a.mp4", root, (root,), w)
    with pytest.raises(CutError, match="outside the project root"):
        resolve_media("file:///etc/passwd", root, (root,), w)
    with pytest.raises(CutError, match="scheme 'https' is not allowed"):
        resolve_media("https://example.invalid/a.mp4", root, (root,), w)
    extra = tmp_path / "nas"
    assert resolve_media(f"{extra}/a.mp4", root, (root, extra), w) == extra / "a.mp4"


def test_missing_timeline_and_missing_reference(tmp_path: Path) -> None:
    import opentimelineio as otio

    with pytest.raises(MissingInputError, match="timeline not found"):
        load_cut("v", tmp_path / "none.otio", tmp_path)
    tl = otio.schema.Timeline()
    track = otio.schema.Track()
    track.append(
        otio.schema.Clip(
            name="lost",
            media_reference=otio.schema.MissingReference(),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(24, 24)
            ),
        )
    )
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(tmp_path / "m.otio"))
    with pytest.raises(MissingInputError) as info:
        load_cut("v", tmp_path / "m.otio", tmp_path)
    assert "clip 'lost'" in str(info.value) and info.value.exit_code == 66


def test_not_a_timeline(tmp_path: Path) -> None:
    (tmp_path / "x.otio").write_text("{not json")
    with pytest.raises(CutError, match="cannot read timeline"):
        load_cut("v", tmp_path / "x.otio", tmp_path)
