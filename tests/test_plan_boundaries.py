"""Cut points shared across variants (planned, not rendered): the segments beside a title or a
transition in one variant are the same segments, with the same keys, in the variants without it."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
from coded import SOURCES
from test_edits_composite import clip, dissolve, gap

import farm
from farm.edit.cut import load_cut
from farm.media.probe import probe
from farm.planning.boundaries import CutPoints
from farm.planning.planner import RenderPlan, plan_variant

TOML = '[output]\nwidth = 320\nheight = 180\nfps = "24"\n'


def write(project: Path, name: str, tracks: list[list[otio.core.Composable]]) -> None:
    tl = otio.schema.Timeline(name=name)
    for items in tracks:
        track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        for item in items:
            track.append(item)
        tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(project / "cuts" / f"{name}.otio"))


def own_frames(plan: RenderPlan, name: str) -> set[int]:
    """Output frames of ``name`` in segments no other variant of ``plan`` uses."""
    others = {k for v, vp in plan.variants.items() if v != name for k in vp.keys}
    out: set[int] = set()
    for p in plan.variants[name].placements:
        if p.key not in others:
            out.update(range(p.start, p.start + p.count))
    return out


def shots() -> list[otio.core.Composable]:
    return [clip(SOURCES["s24"].file, 0, 72, 24), clip(SOURCES["s25"].file, 0, 48, 25)]


def titled(at: int, frames: int) -> list[list[otio.core.Composable]]:
    return [shots(), [gap(at), clip("media/s2997.mp4", 0, frames, 24, name="title")]]


def variants_toml(*names: str) -> str:
    return TOML + "".join(f'[variants.{n}]\ntimeline = "cuts/{n}.otio"\n' for n in names)


def test_a_dissolve_in_one_variant_renders_only_the_transition(project_dir: Path) -> None:
    s24, s25 = SOURCES["s24"], SOURCES["s25"]
    write(project_dir, "cut", [[clip(s24.file, 0, 60, 24), clip(s25.file, 20, 40, 25)]])
    write(project_dir, "mixed", [[clip(s24.file, 0, 60, 24), dissolve(6, 6), clip(s25.file, 20, 40, 25)]])
    (project_dir / "farm.toml").write_text(variants_toml("cut", "mixed"))
    plan = farm.plan(project_dir / "farm.toml")
    assert not plan.failed
    # the dissolve covers output frames [54, 66): the cut variant is split there too
    assert own_frames(plan, "mixed") == set(range(54, 66))
    assert own_frames(plan, "cut") == set(range(54, 66))


def test_two_titles_in_two_variants_each_render_only_their_own_frames(project_dir: Path) -> None:
    write(project_dir, "plain", [shots()])
    write(project_dir, "t1", titled(84, 12))  # over output frames [84, 96)
    write(project_dir, "t2", titled(100, 10))  # over [100, 110), in the same source chunk
    (project_dir / "farm.toml").write_text(variants_toml("t1", "t2", "plain"))
    plan = farm.plan(project_dir / "farm.toml")
    assert own_frames(plan, "t1") == set(range(84, 96))
    assert own_frames(plan, "t2") == set(range(100, 110))
    # t1 was planned before t2's cut points were known: it was planned again, split at them
    assert [(p.start, p.count) for p in plan.variants["t1"].placements if p.start >= 96] == [
        (96, 4),
        (100, 10),
        (110, 10),
    ]
    # no job is left over from the first pass: every job is some variant's
    used = {k for vp in plan.variants.values() for k in vp.keys}
    assert set(plan.jobs) == used
    assert sum(j.count for j in plan.jobs.values()) == 120 + 12 + 10


def test_cut_points_do_not_split_a_variant_drawn_differently(project_dir: Path) -> None:
    """A variant at another size shares no key with the titled one: the title's points leave it whole."""
    write(project_dir, "plain", [shots()])
    write(project_dir, "titled", titled(84, 12))
    (project_dir / "farm.toml").write_text(
        variants_toml("titled", "plain", "small") + "[variants.small.output]\nwidth = 160\nheight = 90\n"
    )
    (project_dir / "cuts" / "small.otio").write_bytes((project_dir / "cuts" / "plain.otio").read_bytes())
    plan = farm.plan(project_dir / "farm.toml")
    small = [(p.start, p.count) for p in plan.variants["small"].placements if p.start >= 72]
    assert small == [(72, 48)]
    plain = [(p.start, p.count) for p in plan.variants["plain"].placements if p.start >= 72]
    assert plain == [(72, 12), (84, 12), (96, 24)]


def test_single_track_variants_are_planned_once_and_keep_their_segments(project_dir: Path) -> None:
    """Without titles or transitions no cut point is found and nothing is planned twice."""
    write(project_dir, "a", [shots()])
    write(project_dir, "b", [[clip(SOURCES["s24"].file, 10, 40, 24), clip(SOURCES["s25"].file, 5, 30, 25)]])
    (project_dir / "farm.toml").write_text(variants_toml("a", "b"))
    plan = farm.plan(project_dir / "farm.toml")
    project = farm.load_project(project_dir / "farm.toml")
    cuts = CutPoints()
    for name in ("a", "b"):
        spec = project.variants[name]
        cut = load_cut(name, spec.timeline, project.root, output_rate=spec.output.fps)
        alone, _, _ = plan_variant(spec, cut, lambda p, w: probe(p), project.segment_seconds, cuts=cuts)
        assert alone.keys == plan.variants[name].keys
    assert len(cuts) == 0 and cuts.stale(["a", "b"]) == []
