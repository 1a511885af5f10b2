"""Cut files in other formats, several timelines in one file, generators drawn by farm."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

import farm
from farm.backends.fills import BARS_RGB, bar_edges
from farm.edit.cut import GeneratorItem, load_cut
from farm.edit.generators import Fill, classify
from farm.edit.interchange import read_timeline
from farm.errors import CutError
from farm.media.synth import frame_rgb

EDL_30 = """TITLE: thirty
FCM: NON-DROP FRAME

001  BL       V     C        00:00:00:00 00:00:01:28 01:00:00:00 01:00:01:28
"""


def test_an_edl_is_read_at_the_rate_given(tmp_path: Path) -> None:
    (tmp_path / "c.edl").write_text(EDL_30)
    tl = read_timeline(tmp_path / "c.edl", Fraction(30), "v").timeline
    assert tl.duration() == otio.opentime.RationalTime(58, 30)
    with pytest.raises(CutError, match="cannot read timeline") as info:
        read_timeline(tmp_path / "c.edl", Fraction(24), "v")  # frame 28 does not exist at 24
    assert info.value.exit_code == 65


def test_an_edl_whose_record_times_disagree_is_placed_by_them_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "c.edl").write_text(
        "TITLE: off by one\n\n001  BL       V     C        00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:01\n"
    )
    read = read_timeline(tmp_path / "c.edl", Fraction(24), "v")
    (warning,) = read.warnings
    assert "1 events play from their source in point for their record duration" in warning
    # the record timecodes place the cut: the event lasts its 25 record frames
    assert read.timeline.duration() == otio.opentime.RationalTime(25, 24)
    assert read.timeline.name == "off by one"


def test_black_from_an_edl_renders_black(tmp_path: Path, ray_session: None) -> None:
    (tmp_path / "c.edl").write_text(EDL_30)
    (tmp_path / "farm.toml").write_text(
        '[output]\nwidth = 64\nheight = 36\nfps = "30"\npreset = "ultrafast"\n'
        '[variants.e]\ntimeline = "c.edl"\n'
    )
    v = farm.render(tmp_path / "farm.toml", workers=1).variants["e"]
    assert v.error is None, v.error
    assert v.frames == 58


def test_fcpx_is_refused_with_how_to_convert(tmp_path: Path) -> None:
    (tmp_path / "lib.fcpxml").write_text("<fcpxml/>")
    with pytest.raises(CutError) as info:
        read_timeline(tmp_path / "lib.fcpxml", Fraction(24), "v")
    assert info.value.exit_code == 65 and "otio-fcpx-xml-adapter" in str(info.value)


def _collection(path: Path, names: list[str]) -> Path:
    coll = otio.schema.SerializableCollection(name="bin")
    for n in names:
        tl = otio.schema.Timeline(name=n)
        track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        track.append(
            otio.schema.Gap(
                source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(len(n), 24))
            )
        )
        tl.tracks.append(track)
        coll.append(tl)
    otio.adapters.write_to_file(coll, str(path))
    return path


def test_a_file_with_several_timelines_needs_a_name(tmp_path: Path) -> None:
    path = _collection(tmp_path / "bin.otio", ["cut A", "longer cut B"])
    with pytest.raises(CutError, match="holds 2 timelines: 'cut A', 'longer cut B'") as info:
        load_cut("v", path, tmp_path)
    assert "timeline_name" in str(info.value)
    assert load_cut("v", path, tmp_path, timeline_name="longer cut B").duration == Fraction(12, 24)
    with pytest.raises(CutError, match="no timeline named 'C'"):
        load_cut("v", path, tmp_path, timeline_name="C")


def test_timeline_name_in_the_project_file_picks_the_timeline(tmp_path: Path) -> None:
    _collection(tmp_path / "bin.otio", ["cut A", "longer cut B"])
    (tmp_path / "farm.toml").write_text(
        '[variants.b]\ntimeline = "bin.otio"\ntimeline_name = "longer cut B"\n'
        '[variants.none]\ntimeline = "bin.otio"\n'
    )
    plan = farm.plan(tmp_path / "farm.toml")
    assert plan.variants["b"].frames == 12
    assert plan.failed["none"].exit_code == 65


def test_a_newer_schema_is_named(tmp_path: Path) -> None:
    path = _collection(tmp_path / "new.otio", ["a"])
    path.write_text(path.read_text().replace('"Timeline.1"', '"Timeline.9"'))
    with pytest.raises(CutError, match="newer OpenTimelineIO"):
        load_cut("v", path, tmp_path)


def test_generator_kinds() -> None:
    assert classify("black", "", {}) == Fill("black")
    assert classify("SMPTEBars", "C", {}) == Fill("bars")
    assert classify("Slug", "HD Bars and Tone", {}) == Fill("bars")
    assert classify("Slug", "Black Video", {}) == Fill("black")
    assert classify("Slug", "Transparent Video", {}) == Fill("transparent")
    assert classify("SolidColor", "", {"color": "#ff8000"}) == Fill("colour", (255, 128, 0))
    assert classify("Color", "Blue Matte", {}).approximation is not None


def _generator_cut(path: Path, kinds: list[tuple[str, dict]]) -> Path:
    tl = otio.schema.Timeline(name="gen")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for kind, params in kinds:
        track.append(
            otio.schema.Clip(
                name=kind,
                media_reference=otio.schema.GeneratorReference(generator_kind=kind, parameters=params),
                source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(6, 24)),
            )
        )
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(path))
    return path


def test_an_unknown_generator_is_exit_65_naming_it(tmp_path: Path) -> None:
    path = _generator_cut(tmp_path / "g.otio", [("FractalNoise", {})])
    with pytest.raises(CutError, match="unknown generator kind 'FractalNoise'") as info:
        load_cut("v", path, tmp_path)
    assert info.value.exit_code == 65 and "clip 'FractalNoise'" in str(info.value)


def test_bars_and_a_colour_are_drawn(tmp_path: Path, ray_session: None) -> None:
    import av

    _generator_cut(tmp_path / "g.otio", [("SMPTEBars", {}), ("SolidColor", {"color": [0.0, 0.5, 1.0]})])
    assert all(isinstance(i, GeneratorItem) for i in load_cut("v", tmp_path / "g.otio", tmp_path).video)
    (tmp_path / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\nfps = "24"\nquality = 10\npreset = "ultrafast"\n'
        '[variants.g]\ntimeline = "g.otio"\n'
    )
    v = farm.render(tmp_path / "farm.toml", workers=1).variants["g"]
    assert v.error is None, v.error
    with av.open(v.output) as c:
        frames = [frame_rgb(f) for f in c.decode(video=0)]
    assert len(frames) == 12
    edges = bar_edges(320)
    for k, colour in enumerate(BARS_RGB):
        middle = (edges[k] + edges[k + 1]) // 2
        assert np.abs(frames[0][90, middle].astype(int) - colour).max() <= 6, (k, frames[0][90, middle])
    assert np.abs(frames[8][90, 160].astype(int) - (0, 128, 255)).max() <= 6


def test_plan_json_carries_warnings_naming_clip_and_frames(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    tl = otio.schema.Timeline(name="fx")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    c = otio.schema.Clip(
        name="zoomed",
        media_reference=otio.schema.GeneratorReference(generator_kind="black"),
        source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(12, 24)),
    )
    c.effects.append(otio.schema.Effect(name="zoom", effect_name="Transform"))
    track.append(
        otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(6, 24)))
    )
    track.append(c)
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(tmp_path / "fx.otio"))
    (tmp_path / "farm.toml").write_text('[variants.fx]\ntimeline = "fx.otio"\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-m", "farm", "plan", str(tmp_path / "farm.toml"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    (warning,) = json.loads(out)["variants"]["fx"]["warnings"]
    assert warning == "variant 'fx', clip 'zoomed', output frames [6, 18): effect 'Transform' is not applied"
