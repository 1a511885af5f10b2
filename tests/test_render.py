"""End to end on the CPU backend and a local Ray: frame-exact, audio-exact renders."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from coded import SOURCES, Gap, Shot, expected_frames, write_project
from media_check import audio_samples, frame_codes, stream_info, tone_at

import farm
from farm.edit.timing import parse_rate
from farm.media.synth import read_code

pytestmark = pytest.mark.usefixtures("ray_session")


def render(project: Path, **kw):
    report = farm.render(project, workers=2, **kw)
    return report


@pytest.mark.parametrize("out_fps", ["24", "25", "30000/1001"])
def test_every_output_frame_shows_the_source_frame_the_rule_picks(project_dir: Path, out_fps: str) -> None:
    items = [
        Shot("s24", 5, 30),  # 24 -> out
        Gap(7),
        Shot("s25", 10, 33),  # 25 -> out
        Shot("s2997", 3, 40),  # 29.97 -> out
        Shot("s30", 0, 20),  # 30 fps, no audio
    ]
    project = write_project(project_dir, {"cut": items}, output={"fps": out_fps})
    report = render(project)
    v = report.variants["cut"]
    assert v.error is None, v.error
    rate = parse_rate(out_fps)
    expected = expected_frames(items, rate)
    got = frame_codes(Path(v.output))
    assert v.frames == len(expected)
    assert got == expected


def test_hevc_output_is_frame_exact_and_tagged_for_players(project_dir: Path) -> None:
    items = [Shot("s25", 0, 30), Shot("s24", 10, 20)]
    project = write_project(project_dir, {"cut": items}, output={"codec": "hevc"})
    v = render(project).variants["cut"]
    assert v.error is None, v.error
    import av

    with av.open(v.output) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
        assert c.streams.video[0].codec_tag == "hvc1"
    assert frame_codes(Path(v.output)) == expected_frames(items, Fraction(24))


def test_rotation_and_vfr_sources(project_dir: Path) -> None:
    items = [Shot("rot", 4, 20), Shot("vfr", 3, 30, rate=Fraction(20))]
    project = write_project(project_dir, {"cut": items})
    report = render(project)
    v = report.variants["cut"]
    assert v.error is None, v.error
    # read_code fails or misreads unless the portrait clip was turned upright
    assert frame_codes(Path(v.output)) == expected_frames(items, Fraction(24))


def test_output_format_and_audio_follow_the_cut(project_dir: Path) -> None:
    items = [Shot("s24", 0, 24), Shot("s30", 0, 15), Gap(12), Shot("s25", 0, 25)]
    project = write_project(project_dir, {"cut": items})
    v = render(project).variants["cut"]
    assert v.error is None, v.error
    info = stream_info(Path(v.output))
    assert (info["width"], info["height"]) == (320, 180)
    assert info["frames"] == 24 + 12 + 12 + 24
    assert (info["audio_rate"], info["audio_channels"], info["audio_codec"]) == (48000, 2, "aac")
    samples, rate = audio_samples(Path(v.output))
    # s24 tone for its second, silence for the clip without audio and the gap, then s25's tone
    assert tone_at(samples, rate, Fraction(1, 4)) == pytest.approx(SOURCES["s24"].tone, abs=4)
    assert tone_at(samples, rate, Fraction(5, 4)) is None
    assert tone_at(samples, rate, Fraction(7, 4)) is None
    assert tone_at(samples, rate, Fraction(9, 4)) == pytest.approx(SOURCES["s25"].tone, abs=4)
    assert len(samples) / rate == pytest.approx(3.0, abs=0.03)


def test_audio_tracks_of_the_cut_replace_the_clips_audio(project_dir: Path) -> None:
    from coded import write_cut

    video = [Shot("s30", 0, 30)]  # no audio of its own
    write_cut(project_dir / "cuts" / "cut.otio", video, audio=[[Gap(12), Shot("s2997", 30, 30)]])
    (project_dir / "farm.toml").write_text(
        '[output]\nwidth = 320\nheight = 180\npreset = "ultrafast"\n'
        '[variants.cut]\ntimeline = "cuts/cut.otio"\n'
    )
    v = render(project_dir / "farm.toml").variants["cut"]
    assert v.error is None, v.error
    samples, rate = audio_samples(Path(v.output))
    assert tone_at(samples, rate, Fraction(1, 4)) is None
    assert tone_at(samples, rate, Fraction(3, 4)) == pytest.approx(SOURCES["s2997"].tone, abs=4)


def test_variants_share_segments_and_rerun_renders_nothing(project_dir: Path) -> None:
    cuts = {
        "official": [Shot("s24", 0, 48), Shot("s25", 0, 50)],
        # the insert comes after the shared shots: a 25 -> 24 conform only repeats the same
        # frames when the shot sits at the same phase of the output grid
        "extended": [Shot("s24", 0, 48), Shot("s25", 0, 50), Shot("s2997", 0, 60)],
    }
    project = write_project(project_dir, cuts, extra="[render]\nsegment_seconds = 1\n")
    plan = farm.plan(project)
    summary = plan.summary()
    assert summary["variants"]["official"]["shared"] == summary["variants"]["official"]["segments"]
    report = render(project, variants=["official", "extended"])
    off, ext = report.variants["official"], report.variants["extended"]
    assert off.error is None and ext.error is None
    assert off.segments_rendered == off.segments and off.segments_reused == 0
    # extended re-uses every segment official rendered earlier in the same run
    assert ext.segments_reused == off.segments
    assert ext.segments_rendered == ext.segments - off.segments
    assert frame_codes(Path(ext.output)) == expected_frames(cuts["extended"], Fraction(24))

    again = render(project)
    for v in again.variants.values():
        assert v.segments_rendered == 0 and v.segments_reused == v.segments and v.up_to_date


def test_report_json_from_the_command_line(project_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)], "b": [Shot("s25", 0, 12)]})
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--variant",
            "b",
            "--report",
            str(report_path),
            "--workers",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--metrics-file",
            str(tmp_path / "farm.prom"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["backend"] == "cpu"
    assert set(report["variants"]) == {"b"}
    b = report["variants"]["b"]
    assert (
        b["frames"] == 12 and b["segments"] == 1 and b["segments_rendered"] == 1 and b["segments_reused"] == 0
    )
    assert b["output"] == str(tmp_path / "out" / "b.mp4") and Path(b["output"]).is_file()
    assert isinstance(b["seconds"], float)
    assert "b" in proc.stdout and "frames" in proc.stdout
    metrics = (tmp_path / "farm.prom").read_text()
    assert "farm_frames_rendered_total 12.0" in metrics
    assert 'farm_segments_total{outcome="rendered"} 1.0' in metrics


def test_sample_aspect_ratio_is_honoured(project_dir: Path) -> None:
    from farm.media.synth import write_clip

    # 480x360 stored, SAR 4:3 -> shown 640x360 (16:9): fills a 16:9 output with no bars
    write_clip(
        project_dir / "anamorphic.mp4",
        width=480,
        height=360,
        rate=24,
        frames=12,
        source_id=9,
        sample_aspect=Fraction(4, 3),
    )
    items = [Shot("anamorphic.mp4", 0, 12, rate=Fraction(24), name="anamorphic")]
    project = write_project(project_dir, {"cut": items})
    v = render(project).variants["cut"]
    assert v.error is None, v.error
    import av

    from farm.media.synth import frame_rgb

    with av.open(v.output) as c:
        frames = [frame_rgb(f) for f in c.decode(video=0)]
    assert len(frames) == 12
    for i, rgb in enumerate(frames):
        # ignoring SAR would pillarbox a 4:3 picture: 40 black columns on each side
        assert rgb[:, :8].mean() > 40 and rgb[:, -8:].mean() > 40
        assert read_code(rgb) == (9, i)


def test_a_finished_render_needs_nothing_even_without_its_cache(project_dir: Path) -> None:
    import shutil

    project = write_project(project_dir, {"cut": [Shot("s24", 0, 24), Shot("s25", 0, 25)]})
    first = render(project).variants["cut"]
    assert first.error is None and first.segments_rendered == first.segments
    shutil.rmtree(project_dir / ".farm-cache")
    again = render(project).variants["cut"]
    assert again.up_to_date and again.segments_rendered == 0 and again.error is None
    # a changed cut is a different plan: only then is work done
    write_project(project_dir, {"cut": [Shot("s24", 0, 24), Shot("s25", 0, 20)]})
    changed = render(project).variants["cut"]
    assert not changed.up_to_date and changed.segments_rendered == changed.segments


def test_frames_an_edit_list_discards_are_not_shown(project_dir: Path) -> None:
    """A stream-copied trim starts at a keyframe; its edit list hides the frames before the cut."""
    import av

    src_path = project_dir / "media" / "s24.mp4"
    trimmed = project_dir / "trimmed.mp4"
    with av.open(str(src_path)) as src, av.open(str(trimmed), "w") as out:
        stream = src.streams.video[0]
        o = out.add_stream_from_template(stream)
        step = int(1 / (stream.time_base * 24))
        for p in src.demux(stream):
            if p.size:
                # negative times: the muxer writes an edit list that starts at source frame 8
                p.pts -= 8 * step
                p.dts -= 8 * step
                p.stream = o
                out.mux(p)
    items = [Shot("trimmed.mp4", 2, 20, rate=Fraction(24), name="trimmed")]
    v = render(write_project(project_dir, {"cut": items})).variants["cut"]
    assert v.error is None, v.error
    # frame 0 of the trimmed file is frame 8 of s24 (id 1): in point 2 shows frame 10
    assert frame_codes(Path(v.output)) == [(1, 10 + i) for i in range(20)]
