"""Tracks stacked bottom to top, alpha over picture, dissolves and wipes: read back frame by frame.

Dissolve weights are measured on the burned-in code: in a cell that is white in
the outgoing frame and black in the incoming one, the mix is ``255 · (1 − w)``;
the other way round ``255 · w``, with ``w = (k + ½) / N`` for frame ``k`` of an
``N``-frame transition.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from coded import SOURCES
from PIL import Image

import farm
from farm.media.synth import frame_rgb, read_code
from farm.media.synth.codes import _cell_bits, cell_centre

W, H = 320, 180


def rt(v: float, r: float = 24) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(v, r)


def clip(url: str, in_frame: int, frames: int, rate: float, name: str | None = None) -> otio.schema.Clip:
    return otio.schema.Clip(
        name=name or Path(url).stem,
        media_reference=otio.schema.ExternalReference(target_url=url),
        source_range=otio.opentime.TimeRange(rt(in_frame, rate), rt(frames * rate / 24, rate)),
    )


def gap(frames: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(frames)))


def cell_level(rgb: np.ndarray, cell: int) -> float:
    u, v = cell_centre(cell)
    x, y = int(u * W), int(v * H)
    return float(rgb[y - 2 : y + 3, x - 2 : x + 3].mean())


def render(project: Path, tracks: list[list], transitions: dict | None = None) -> list[np.ndarray]:
    import av

    tl = otio.schema.Timeline(name="c")
    for i, items in enumerate(tracks):
        track = otio.schema.Track(name=f"V{i + 1}", kind=otio.schema.TrackKind.Video)
        for item in items:
            track.append(item)
        tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(project / "cuts" / "c.otio"))
    (project / "farm.toml").write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\nquality = 8\npreset = "ultrafast"\n'
        '[variants.c]\ntimeline = "cuts/c.otio"\n'
    )
    v = farm.render(project / "farm.toml", workers=2).variants["c"]
    assert v.error is None, v.error
    with av.open(v.output) as c:
        return [frame_rgb(f) for f in c.decode(video=0)]


def dissolve(frames_before: int, frames_after: int) -> otio.schema.Transition:
    return otio.schema.Transition(
        name="dissolve",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=rt(frames_before),
        out_offset=rt(frames_after),
    )


def test_upper_tracks_alpha_and_a_dissolve(project_dir: Path, ray_session: None) -> None:
    s24, s25, s2997 = SOURCES["s24"], SOURCES["s25"], SOURCES["s2997"]
    logo = np.zeros((H, W, 4), np.uint8)
    logo[:20, :40] = (255, 0, 0, 255)  # an opaque red box top-left; the rest transparent
    Image.fromarray(logo).save(project_dir / "logo.png")
    bottom = [clip(s24.file, 0, 48, 24), dissolve(4, 4), clip(s25.file, 20, 20, 25)]
    title = [gap(10), clip(s2997.file, 0, 12, float(s2997.rate), name="insert")]
    overlay = [gap(30), clip("logo.png", 0, 6, 24, name="logo")]
    frames = render(project_dir, [bottom, title, overlay])
    assert len(frames) == 68
    codes = {n: read_code(frames[n]) for n in [*range(0, 44), *range(52, 68)]}
    for n in range(0, 44):
        if 10 <= n < 22:  # the opaque upper clip covers the bottom track: its frames, plainly
            assert codes[n] == (s2997.source_id, int(Fraction(n - 10, 24) * s2997.rate)), n
        else:
            assert codes[n] == (s24.source_id, n), n
    for n in range(52, 68):
        assert codes[n] == (s25.source_id, 20 + int(Fraction(n - 48, 24) * 25)), n
    for n in range(30, 36):  # alpha over picture: the box is red, the rest is the shot below
        assert np.abs(frames[n][8, 20].astype(int) - (255, 0, 0)).max() <= 12
    for n in (29, 36):
        assert frames[n][8, 20].min() > 60  # no box outside the logo's frames
    # the dissolve: 8 frames from 44, weight (k + 1/2)/8; A continues past its cut, B starts early
    for k in range(8):
        n, w = 44 + k, (k + 0.5) / 8
        a_bits = _cell_bits(s24.source_id, n)
        b_bits = _cell_bits(s25.source_id, math.floor(20 + Fraction(n - 48, 24) * 25))
        for cell, (a, b) in enumerate(zip(a_bits, b_bits, strict=True)):
            if a != b:
                expected = 255 * ((1 - w) * a + w * b)
                assert cell_level(frames[n], cell) == pytest.approx(expected, abs=12), (n, cell)


def test_fades_and_a_wipe(project_dir: Path, ray_session: None) -> None:
    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    wipe = otio.schema.Transition(
        name="wipe",
        transition_type="SMPTE_Wipe",
        in_offset=rt(0),
        out_offset=rt(4),
        metadata={"cmx_3600": {"transition": "W001"}},
    )
    track = [clip(s24.file, 0, 12, 24), dissolve(0, 4), gap(8), wipe, clip(s25.file, 0, 12, 25), gap(4)]
    frames = render(project_dir, [track])
    assert len(frames) == 36
    # fade to black: the outgoing clip continues at 1 - w over black; white cells read 255 (1 - w)
    for k in range(4):
        level = cell_level(frames[12 + k], 0)  # the white calibration cell
        assert level == pytest.approx(255 * (1 - (k + 0.5) / 4), abs=12)
    # a W001 wipe out of the gap: the incoming clip from the left edge, to (k + 1/2)/4 of the width
    for k in range(4):
        edge = 2 * round((k + 0.5) / 4 * W / 2)
        row = frames[20 + k][H // 2]
        assert row[: max(edge - 4, 0)].max(initial=255) > 60 and row[edge + 4 :].max(initial=0) < 30


def _title_project(project_dir: Path, variants: tuple[str, ...]) -> None:
    """Two shots (s24 for 72 frames, s25 for 48); variant ``titled`` has a 12-frame title over
    output frames [84, 96), variant ``plain`` has not.  ``variants``: those in farm.toml."""
    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    logo = np.zeros((H, W, 4), np.uint8)
    logo[:20, :40] = (255, 255, 255, 255)
    Image.fromarray(logo).save(project_dir / "title.png")
    for name in ("plain", "titled"):
        tl = otio.schema.Timeline(name=name)
        bottom = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        for c in (clip(s24.file, 0, 72, 24), clip(s25.file, 0, 48, 25)):
            bottom.append(c)
        tl.tracks.append(bottom)
        if name == "titled":
            top = otio.schema.Track(kind=otio.schema.TrackKind.Video)
            for c in (gap(84), clip("title.png", 0, 12, 24, name="title")):
                top.append(c)
            tl.tracks.append(top)
        otio.adapters.write_to_file(tl, str(project_dir / "cuts" / f"{name}.otio"))
    (project_dir / "farm.toml").write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\nquality = 8\npreset = "ultrafast"\n'
        + "".join(f'[variants.{v}]\ntimeline = "cuts/{v}.otio"\n' for v in variants)
    )


def test_a_title_in_one_variant_re_renders_only_what_it_touches(project_dir: Path) -> None:
    """Planned, not rendered: the variant with a title shares every segment the title does not touch."""
    _title_project(project_dir, ("plain", "titled"))
    for asked in (None, ["plain"], ["titled"]):  # the same segments whichever variants are asked for
        plan = farm.plan(project_dir / "farm.toml", variants=asked)
        if asked is None:
            plain, titled = plan.variants["plain"], plan.variants["titled"]
        else:
            assert list(plan.variants) == asked
            assert plan.variants[asked[0]].keys == (plain if asked == ["plain"] else titled).keys
    own = [p for p in titled.placements if p.key not in set(plain.keys)]
    frames = set()
    for p in own:
        frames.update(range(p.start, p.start + p.count))
    # the title covers output frames [84, 96) of the second shot (frames [72, 120)): the untitled
    # variant's chunk is split at the title's edges too, so the titled variant's own segments are
    # exactly the title's 12 frames, all composited
    assert frames == set(range(84, 96))
    assert all(plan.jobs[p.key].layers for p in own) and own
    assert [(p.start, p.count) for p in plain.placements if p.start >= 72] == [(72, 12), (84, 12), (96, 24)]


def test_rendering_a_titled_variant_after_the_untitled_one_renders_only_the_title(
    project_dir: Path, ray_session: None
) -> None:
    """Rendered: the untitled variant's picture is unchanged by the title's cut points, and the
    titled variant then renders only the 12 frames under its title."""
    import av

    from farm.output.metrics import RenderMetrics

    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    expected = [(s24.source_id, n) for n in range(72)]
    expected += [(s25.source_id, int(Fraction(n - 72, 24) * 25)) for n in range(72, 120)]

    def render_variant(name: str) -> tuple[list[np.ndarray], float]:
        metrics = RenderMetrics()
        v = farm.render(project_dir / "farm.toml", variants=[name], workers=2, metrics=metrics).variants[name]
        assert v.error is None, v.error
        with av.open(v.output) as c:
            pictures = [frame_rgb(f) for f in c.decode(video=0)]
        rendered = metrics.registry.get_sample_value("farm_frames_rendered_total")
        return pictures, float(rendered or 0)

    _title_project(project_dir, ("plain",))  # the project before anyone adds a title
    before, rendered = render_variant("plain")
    assert rendered == 120 and [read_code(f) for f in before] == expected
    _title_project(project_dir, ("plain", "titled"))
    after, rendered = render_variant("plain")
    # the second shot's chunk is now cut at the title's edges: its 48 frames render once more, as
    # three segments, and show the same source frames
    assert rendered == 48 and [read_code(f) for f in after] == expected
    titled, rendered = render_variant("titled")
    assert rendered == 12  # only the title's frames: everything else is the untitled variant's
    assert len(titled) == 120
    for n in [*range(84), *range(96, 120)]:
        assert read_code(titled[n]) == expected[n], n
        assert np.array_equal(titled[n], after[n]), n  # the very segments the untitled variant shows
    for n in range(84, 96):
        assert titled[n][8, 20].min() > 230, n  # the white title box over the shot


def test_audio_crossfades_under_a_dissolve(project_dir: Path, ray_session: None) -> None:
    from media_check import audio_samples

    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    tl = otio.schema.Timeline(name="x")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for item in (clip(s24.file, 0, 48, 24), dissolve(12, 12), clip(s25.file, 20, 30, 25)):
        track.append(item)
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(project_dir / "cuts" / "x.otio"))
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 64\nheight = 36\nfps = "24"\npreset = "ultrafast"\n'
        '[variants.x]\ntimeline = "cuts/x.otio"\n'
    )
    v = farm.render(project_dir / "farm.toml", workers=2).variants["x"]
    assert v.error is None, v.error
    samples, rate = audio_samples(Path(v.output))

    def level(at: float, hz: float) -> float:
        window = samples[int(at * rate) : int((at + 0.05) * rate), 0]
        t = np.arange(len(window)) / rate
        return float(np.abs(np.sum(window * np.exp(-2j * np.pi * hz * t))) * 2 / len(window))

    full_a, full_b = level(1.0, s24.tone), level(3.0, s25.tone)
    # the transition spans [1.5, 2.5) s: gains are linear, (t - 1.5) for the incoming clip
    for at in (1.6, 1.975, 2.4):
        mid = at + 0.025
        assert level(at, s24.tone) == pytest.approx(full_a * (2.5 - mid), abs=0.06 * full_a)
        assert level(at, s25.tone) == pytest.approx(full_b * (mid - 1.5), abs=0.06 * full_b)
    assert level(1.3, s25.tone) < 0.05 * full_b and level(2.6, s24.tone) < 0.05 * full_a
