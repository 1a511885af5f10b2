"""Plan and keys: segments never cross a cut, chunks anchor to the source, identical work is one job."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from coded import Shot, write_project
from test_timing import fake_source

from farm.edit.cut import ClipItem, Cut, GapItem
from farm.edit.project import LookSpec, OutputSpec, VariantSpec
from farm.planning.planner import chunk_boundaries, plan_variant

SRC = fake_source("hero", Fraction(24), 480)  # 20 s at 24 fps, keyframes every 10 frames
SOURCES = {"/media/hero.mp4": SRC, "/media/other.mp4": fake_source("other", Fraction(24), 480)}


def variant(items, output=None, look=None, name="v"):
    spec = VariantSpec(
        name, Path(f"/cuts/{name}.otio"), output or OutputSpec(width=320, height=180), look or LookSpec()
    )
    cut = Cut(name, spec.timeline, tuple(items), None, items[-1].start + items[-1].duration)
    plan, jobs, _looks = plan_variant(spec, cut, lambda p, w: SOURCES[str(p)], Fraction(2))
    return plan, jobs


def clip(path="/media/hero.mp4", start=0, dur=240, src_in=0, rate=24):
    return ClipItem("c", Path(path), Fraction(start, rate), Fraction(dur, rate), Fraction(src_in, rate))


def test_chunks_are_anchored_to_the_source_and_snapped_to_keyframes() -> None:
    bounds = chunk_boundaries(SRC, Fraction(2))
    # a 48-frame grid (2 s at 24 fps) snapped forward to the keyframes, every 10 frames
    assert bounds == [0, 50, 100, 150, 200, 240, 290, 340, 390, 440]


def test_different_trims_share_every_chunk_inside_both() -> None:
    a, jobs_a = variant([clip(src_in=0, dur=300)])
    b, jobs_b = variant([clip(src_in=37, dur=300)], name="b")
    keys_a = {j.key: j for j in jobs_a}
    keys_b = {j.key: j for j in jobs_b}
    shared = set(keys_a) & set(keys_b)
    # trims [0, 300) and [37, 337) share every chunk that lies inside both
    assert sorted(keys_a[k].source_range for k in shared) == [
        (50, 100),
        (100, 150),
        (150, 200),
        (200, 240),
        (240, 290),
    ]
    # the head differs: a starts at 0, b at 37
    assert (0, 50) in {j.source_range for j in jobs_a} and (37, 50) in {j.source_range for j in jobs_b}


def test_segments_never_cross_a_cut_and_cover_every_frame() -> None:
    items = [
        clip(dur=30),
        GapItem(Fraction(30, 24), Fraction(1, 2)),
        clip("/media/other.mp4", start=42, dur=100),
    ]
    plan, jobs = variant(items)
    starts = [p.start for p in plan.placements]
    assert starts[0] == 0 and 30 in starts and 42 in starts
    assert sum(p.count for p in plan.placements) == plan.frames == 142
    by_key = {j.key: j for j in jobs}
    for p in plan.placements:
        j = by_key[p.key]
        assert (j.source is None) == (p.clip is None)


def test_key_depends_on_everything_that_changes_the_bytes() -> None:
    base = {j.key for j in variant([clip(dur=24)])[1]}
    assert base == {j.key for j in variant([clip(dur=24)])[1]}  # deterministic
    assert base != {j.key for j in variant([clip(dur=24)], output=OutputSpec(width=640, height=360))[1]}
    assert base != {
        j.key for j in variant([clip(dur=24)], output=OutputSpec(width=320, height=180, quality=30))[1]
    }
    # fit vs fill: the same picture when the aspect ratios agree (one job), different when not
    assert base == {
        j.key for j in variant([clip(dur=24)], output=OutputSpec(width=320, height=180, fit="fill"))[1]
    }
    four_three = {j.key for j in variant([clip(dur=24)], output=OutputSpec(width=320, height=240))[1]}
    assert four_three != {
        j.key for j in variant([clip(dur=24)], output=OutputSpec(width=320, height=240, fit="fill"))[1]
    }
    assert base != {j.key for j in variant([clip("/media/other.mp4", dur=24)])[1]}
    assert base != {j.key for j in variant([clip(dur=24, src_in=1)])[1]}
    # the timeline position alone does not change a segment
    assert base == {
        j.key for j in variant([GapItem(Fraction(0), Fraction(1)), clip(start=24, dur=24)])[1]
    } - {j.key for j in variant([GapItem(Fraction(0), Fraction(1))])[1]}


def test_plan_cli_counts_shared_segments(project_dir: Path) -> None:
    project = write_project(
        project_dir,
        {"official": [Shot("s24", 0, 48)], "extended": [Shot("s24", 0, 48), Shot("s25", 0, 25)]},
        extra="[render]\nsegment_seconds = 1\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "plan", str(project), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    off, ext = summary["variants"]["official"], summary["variants"]["extended"]
    assert off["frames"] == 48 and ext["frames"] == 72
    assert off["shared"] == off["segments"] == 2
    assert ext["segments"] == 3 and ext["shared"] == 2
    assert summary["unique_segments"] == 3
    text = subprocess.run(
        [sys.executable, "-m", "farm", "plan", str(project)], capture_output=True, text=True
    )
    assert "official" in text.stdout and "unique segments: 3" in text.stdout
