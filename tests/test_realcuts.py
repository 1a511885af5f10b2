"""Real edit files (../shared/realcuts) rendered with generated media; refusals are clean.

Cuts with one video track are checked frame by frame against OTIO's own
placement of their clips (``realcuts_harness.expected_codes``); the others are
checked for their frame count and for rendering without error.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from realcuts_harness import REALCUTS, build_project, expected_codes

import farm
from farm.edit.project import load_project
from farm.media.synth import frame_rgb, read_code

pytestmark = pytest.mark.skipif(not REALCUTS.is_dir(), reason="../shared/realcuts is not there")

RENDERED = [
    "otio/simple_cut.otio",
    "otio/transition.otio",
    "otio/multiple_track.otio",
    "otio/generator_reference_test.otio",
    "edl/screening_example.edl",
    "edl/gap_test.edl",
    "xml/premiere_enable_property.xml",
    "xml/premiere_generators.xml",
]
REFUSED = {
    "otio/screening_example.otio": (65, "newer OpenTimelineIO"),
    "edl/multi_audio.edl": (65, "no video track"),
    "xml/fcpx_example.fcpxml": (65, "otio-fcpx-xml-adapter"),
    # its source range (frame 900000) lies outside the sequence's available range (125-283): OTIO's
    # own ImageSequenceReference.frame_for_time names no image for it either
    "otio/img_seq_media_reference.otio": (65, "outside its image sequence's available range"),
}


@pytest.mark.parametrize("name", RENDERED)
def test_a_real_cut_renders_what_it_says(name: str, tmp_path: Path, ray_session: None) -> None:
    cut = REALCUTS / name
    project, needs = build_project(cut, tmp_path / "p")
    v = farm.render(project, workers=2).variants["cut"]
    assert v.error is None, v.error
    fps = load_project(project).variants["cut"].output.fps
    if cut.suffix == ".edl":  # the event lines themselves, read without OTIO
        from realcuts_oracle import edl_expected

        expected: list[tuple[int, int] | None] | None = edl_expected(cut, needs, round(Fraction(fps)))
    else:
        expected = expected_codes(cut, needs, Fraction(fps))
    if expected is None:  # several tracks or transitions: the oracle is the unit tests' business
        assert v.frames > 0
        return
    import av

    with av.open(v.output) as c:
        pictures = [frame_rgb(f) for f in c.decode(video=0)]
    assert len(pictures) == len(expected)
    # frames the oracle places a clip in show its source frame; the rest (gaps, generators) are
    # checked by the unit tests
    wrong = [
        (n, e, read_code(p))
        for n, (e, p) in enumerate(zip(expected, pictures, strict=True))
        if e and e != read_code(p)
    ]
    assert not wrong, wrong[:5]
    assert any(expected) or "generator" in name


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_real_cut_farm_cannot_render_is_refused_cleanly(name: str, tmp_path: Path) -> None:
    code, words = REFUSED[name]
    project, _ = build_project(REALCUTS / name, tmp_path / "p")
    err = farm.plan(project).failed["cut"]
    assert err.exit_code == code and words in str(err)


def test_the_tv_rough_cut_is_placed_by_its_record_timecodes() -> None:
    """The 904-event EDL (overlapping records, durations that disagree, M2 speeds): every frame of the
    timeline farm reads names the clip and source frame its event lines say (read without OTIO)."""
    import math

    import opentimelineio as otio
    from realcuts_oracle import edl_frames

    from farm.edit.interchange import read_timeline

    cut = REALCUTS / "edl" / "libedl_cmx3600.edl"
    read = read_timeline(cut, Fraction(30), "tv")
    (track,) = read.timeline.video_tracks()
    got: list[tuple[str, int] | None] = []
    for item in track:
        if isinstance(item, otio.schema.Transition):
            continue
        n = round(item.duration().value)
        if not isinstance(item, otio.schema.Clip) or isinstance(
            item.media_reference, otio.schema.GeneratorReference
        ):
            got += [None] * n
            continue
        speed = 1.0
        for e in item.effects:
            speed *= e.time_scalar
        start = item.source_range.start_time.value
        got += [(item.name, math.floor(start + speed * k + 1e-9)) for k in range(n)]
    expected = [None if e is None else e[:2] for e in edl_frames(cut)]
    assert len(got) == len(expected) == 39601
    wrong = [(n, e, g) for n, (e, g) in enumerate(zip(expected, got, strict=True)) if e and e != g]
    assert not wrong, (len(wrong), wrong[:5])
    assert sum(1 for e in expected if e) > 38000
    (warning,) = read.warnings
    assert "269 events are recorded over by later ones (109 of them entirely)" in warning


def test_an_fcp7_colour_matte_is_drawn_in_its_colour(tmp_path: Path) -> None:
    from farm.edit.cut import GeneratorItem, load_cut

    cut = load_cut("g", REALCUTS / "xml" / "premiere_generators.xml", tmp_path)
    fills = {i.name: i.fill for i in cut.video if isinstance(i, GeneratorItem)}
    assert fills["Blue Matte"].kind == "colour" and fills["Blue Matte"].rgb == (0, 0, 255)
    assert not [w for w in cut.warnings if "colour matte" in w]
