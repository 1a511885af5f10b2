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


def test_a_title_in_one_variant_re_renders_only_what_it_touches(project_dir: Path) -> None:
    """Planned, not rendered: the variant with a title shares every segment the title does not touch."""
    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    logo = np.zeros((H, W, 4), np.uint8)
    logo[:20, :40] = (255, 255, 255, 255)
    Image.fromarray(logo).save(project_dir / "title.png")

    def timeline(name: str, with_title: bool) -> None:
        tl = otio.schema.Timeline(name=name)
        bottom = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        for c in (clip(s24.file, 0, 72, 24), clip(s25.file, 0, 48, 25)):
            bottom.append(c)
        tl.tracks.append(bottom)
        if with_title:
            top = otio.schema.Track(kind=otio.schema.TrackKind.Video)
            for c in (gap(84), clip("title.png", 0, 12, 24, name="title")):
                top.append(c)
            tl.tracks.append(top)
        otio.adapters.write_to_file(tl, str(project_dir / "cuts" / f"{name}.otio"))

    timeline("plain", False)
    timeline("titled", True)
    (project_dir / "farm.toml").write_text(
        f'[output]\nwidth = {W}\nheight = {H}\nfps = "24"\n'
        '[variants.plain]\ntimeline = "cuts/plain.otio"\n[variants.titled]\ntimeline = "cuts/titled.otio"\n'
    )
    plan = farm.plan(project_dir / "farm.toml")
    plain, titled = plan.variants["plain"], plan.variants["titled"]
    own = [p for p in titled.placements if p.key not in set(plain.keys)]
    frames = set()
    for p in own:
        frames.update(range(p.start, p.start + p.count))
    # the title covers output frames [84, 96) of the second shot (frames [72, 120)); the segments of
    # its own are the title's frames and the rest of the source chunk they fall in, nothing else
    assert set(range(84, 96)) <= frames <= set(range(72, 120))
    composited = [p for p in own if plan.jobs[p.key].layers]
    assert sum(p.count for p in composited) == 12


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
