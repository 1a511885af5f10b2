"""Keys from runs (KEY_VERSION 5), a rule's runs in integers, the shared clip pieces, planned jobs."""

from __future__ import annotations

import dataclasses
import gc
import pickle
import random
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_timing import brute_force, fake_source, spec

from farm.edit.cut import ClipItem, Cut, GapItem, GeneratorItem
from farm.edit.generators import Fill
from farm.edit.project import LookSpec, OutputSpec, VariantSpec
from farm.planning.boundaries import CutPoints
from farm.planning.frameruns import FrameRuns, RunCutter, rule_runs
from farm.planning.keys import KEY_VERSION, FramesKey
from farm.planning.planner import collector_paused, plan_variant
from farm.planning.pts import PtsView, pts_slice, pts_view
from farm.planning.sampling import SourceTables

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from scale_plan import synthetic_sources, synthetic_variants  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(
    a=st.integers(-(10**12), 10**12),
    b=st.integers(-(10**6), 10**6),
    c=st.integers(1, 10**6),
    count=st.integers(0, 150),
)
def test_a_rules_runs_are_its_lists_greedy_runs(a: int, b: int, c: int, count: int) -> None:
    values = [(a + k * b) // c for k in range(count)]
    assert rule_runs(a, b, c, count) == FrameRuns(values).flat
    if count:
        assert FrameRuns.rule(a, b, c, count).flat == FrameRuns(values).flat


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(0, 10**7),
    b=st.integers(1, 3000),
    c=st.integers(1, 3000),
    count=st.integers(1, 120),
)
def test_equal_frames_have_equal_keys_however_they_are_described(a: int, b: int, c: int, count: int) -> None:
    keyer = FramesKey("clip", source="s", lut=None)
    values = [(a + k * b) // c for k in range(count)]
    key = keyer.key(values)
    assert keyer.key(np.array(values, dtype=np.int64)) == key
    assert keyer.key(FrameRuns.rule(a, b, c, count)) == key
    assert keyer.key_runs(rule_runs(a, b, c, count)) == key
    assert keyer.key_runs(RunCutter(np.array([-1, *values, 10**9])).cut(1, count + 1).flat) == key
    # another rule for the same frames (the same conform, a later start within the frame): same key
    assert keyer.key(FrameRuns.rule(a * 2, b * 2, c * 2, count)) == key
    different = [*values[:-1], values[-1] + 1]
    assert keyer.key(different) != key and keyer.key(values[:-1] or [values[0] + 1]) != key


def test_the_key_form_is_versioned() -> None:
    assert KEY_VERSION == 5  # frames hashed as greedy runs: every clip key changed once, with this


def _two_variant_cut(name: str, clips: list[tuple[str, Fraction, Fraction, Fraction]]) -> Cut:
    items = tuple(ClipItem(n, Path("/media/a.mp4"), start, dur, src_in) for n, start, dur, src_in in clips)
    return Cut(name, Path(f"/cuts/{name}.otio"), items, None, items[-1].start + items[-1].duration)


@pytest.mark.parametrize("vfr", [False, True])
def test_a_shot_repeated_elsewhere_shares_its_pieces_and_shows_its_frames(vfr: bool) -> None:
    """The same shot at another timeline place (and in another variant of the same output) takes
    its pieces from the first; every frame is still the rule's, and keys are shared exactly."""
    times = None
    if vfr:  # 25 fps with a jitter of up to a third of a frame, as a variable-rate phone clip
        rnd = random.Random(5)
        times = [Fraction(i, 25) + Fraction(rnd.randint(-30, 30), 2250) for i in range(2000)]
        times[0] = Fraction(0)
    src = fake_source("a", Fraction(25), 2000, times)
    sources = {"/media/a.mp4": src}
    shot = (Fraction(100, 24), Fraction(7, 2))  # source in, duration
    cut_a = _two_variant_cut(
        "va", [("s1", Fraction(0), shot[1], shot[0]), ("s2", shot[1], Fraction(2), Fraction(30))]
    )
    cut_b = _two_variant_cut(
        "vb", [("x", Fraction(0), Fraction(3), Fraction(50)), ("s1", Fraction(3), shot[1], shot[0])]
    )
    tables, known = SourceTables(), set[str]()
    plans = {}
    jobs: dict[str, object] = {}
    for cut in (cut_a, cut_b):
        vspec = VariantSpec(
            cut.variant, cut.timeline_path, OutputSpec(width=320, height=180, fps=Fraction(24)), LookSpec()
        )
        plan, new, _ = plan_variant(vspec, cut, lambda p, w: sources[str(p)], tables=tables, known=known)
        jobs.update((j.key, j) for j in new)
        shown: list[tuple[str, int] | None] = []
        for p in plan.placements:
            job = jobs[p.key]
            shown += [(job.source.path, f) for f in job.frames]  # type: ignore[attr-defined]
        assert shown == brute_force(list(cut.video), sources, Fraction(24))
        plans[cut.variant] = plan
    assert len(tables.pieces) == 3  # four clip runs, s1's twice: remembered once, found once
    keys_a = [p.key for p in plans["va"].placements if p.clip == "s1"]
    keys_b = [p.key for p in plans["vb"].placements if p.clip == "s1"]
    assert keys_a == keys_b and len(keys_a) >= 2
    # planned without the remembered pieces (a fresh table each time), the keys are the same
    alone_b, _, _ = plan_variant(
        VariantSpec(
            "vb", cut_b.timeline_path, OutputSpec(width=320, height=180, fps=Fraction(24)), LookSpec()
        ),
        cut_b,
        lambda p, w: sources[str(p)],
    )
    assert [p.key for p in alone_b.placements] == [p.key for p in plans["vb"].placements]


def test_a_variant_that_finds_pieces_remembered_lists_its_own_jobs() -> None:
    """A variant planned without ``known`` lists every job it needs, labelled with its own name,
    even when another variant's clips filled the shared tables first."""
    sources = synthetic_sources(4, seconds=60)
    (spec_a, cut), _ = synthetic_variants(2, sources, 15, share=1.0)
    tables = SourceTables()
    plan_variant(spec_a, cut, lambda p, w: sources[str(p)], tables=tables)
    spec_b = dataclasses.replace(spec_a, name="other")
    plan, jobs, _ = plan_variant(spec_b, cut, lambda p, w: sources[str(p)], tables=tables)
    assert {j.key for j in jobs} == {p.key for p in plan.placements if p.clip is not None}
    assert all(j.label.startswith("other/") for j in jobs)


def test_planned_jobs_pass_the_segment_checks() -> None:
    """Jobs the planner builds without ``__post_init__`` are what the checked constructor builds."""
    sources = synthetic_sources(6, seconds=60, vfr_every=3)
    tables, cuts, known = SourceTables(), CutPoints(), set[str]()
    count = 0
    for vspec, cut in synthetic_variants(4, sources, 25, share=0.5):
        _, jobs, _ = plan_variant(
            vspec, cut, lambda p, w: sources[str(p)], Fraction(2), tables=tables, known=known, cuts=cuts
        )
        for job in jobs:
            rebuilt = dataclasses.replace(job)  # runs __init__ and __post_init__
            assert rebuilt == job and vars(rebuilt).keys() == vars(job).keys()
            count += 1
    assert count > 50


def test_the_collector_is_paused_only_while_planning() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
    src = fake_source("a", Fraction(24), 100)
    cut = _two_variant_cut("v", [("s", Fraction(0), Fraction(2), Fraction(0))])
    plan_variant(spec(Fraction(24)), cut, lambda p, w: src)
    assert gc.isenabled()


def _with_titles(cut: Cut, seed: int) -> Cut:
    """``cut`` with an upper track of opaque titles (bars) here and there: its clips stop under
    them, so every variant gets cut points there (``boundaries.py``)."""
    rnd = random.Random(seed)
    items: list[GapItem | GeneratorItem] = []
    t = Fraction(0)
    while t < cut.duration:
        gap = min(Fraction(rnd.randint(24, 24 * 12), 24), cut.duration - t)
        items.append(GapItem(t, gap))
        t += gap
        if t < cut.duration:
            d = min(Fraction(rnd.randint(12, 36), 24), cut.duration - t)
            items.append(GeneratorItem(f"title{len(items)}", Fill("bars"), t, d))
            t += d
    return dataclasses.replace(cut, upper=(tuple(items),))


def test_remembered_pieces_change_nothing_under_shared_cut_points() -> None:
    """Variants with titles (cut points) planned with one shared table, as a project is, place
    exactly what each planned with its own tables places (nothing remembered across them)."""
    sources = synthetic_sources(6, seconds=120, vfr_every=3)
    variants = [
        (vspec, _with_titles(cut, i) if i % 2 else cut)
        for i, (vspec, cut) in enumerate(synthetic_variants(4, sources, 40, share=0.5))
    ]

    def plan_all(shared: bool) -> dict[str, list[tuple[int, int, str, str | None]]]:
        cuts, tables, known, out = CutPoints(), SourceTables(), set[str](), {}
        for _ in range(2):  # the second pass settles every variant's cut points
            for vspec, cut in variants:
                plan, _, _ = plan_variant(
                    vspec,
                    cut,
                    lambda p, w: sources[str(p)],
                    tables=tables if shared else SourceTables(),
                    known=known,
                    cuts=cuts,
                )
                out[vspec.name] = [(p.start, p.count, p.key, p.clip) for p in plan.placements]
        assert len(cuts) > 0
        return out

    shared = plan_all(True)
    assert shared == plan_all(False)


@settings(max_examples=200, deadline=None)
@given(
    pts=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=60).map(tuple),
    data=st.data(),
)
def test_a_pts_view_is_the_tuple_it_stands_for(pts: tuple[int, ...], data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(pts) - 1))
    stop = data.draw(st.integers(start + 1, len(pts)))
    view, values = PtsView(pts, start, 1, 1, stop - start), pts[start:stop]
    assert view == values and values == view and hash(view) == hash(values) and len(view) == len(values)
    assert list(view) == list(values) and tuple(view) == values and view.values == values
    assert [view[i] for i in range(-len(values), len(values))] == [
        values[i] for i in range(-len(values), len(values))
    ]
    assert view[1:] == values[1:] and view[::-1] == values[::-1]
    with pytest.raises(IndexError):
        view[len(values)]
    copied = pickle.loads(pickle.dumps(view))
    assert type(copied) is tuple and copied == values  # a worker gets the timestamps, not the source's
    assert view != values + (1,) and PtsView(pts, start, 1, 1, stop - start) == view
    assert pts_slice(pts, start, stop) == values
    b = data.draw(st.integers(1, 5))  # a rule's frames (conformed down): (a + k * b) // c, b >= c
    c = data.draw(st.integers(1, b))
    count = (((len(pts) - 1) * c - start) // b) + 1  # as many as the tuple holds
    rule = [pts[(start + k * b) // c] for k in range(count)]
    assert pts_view(pts, start, b, c, count) == tuple(rule) and list(PtsView(pts, start, b, c, count)) == rule
    assert PtsView(pts, start, b, c, count)[-1] == rule[-1] and hash(
        pts_view(pts, start, b, c, count)
    ) == hash(tuple(rule))


def test_planned_jobs_hold_views_of_their_sources_pts_and_travel_as_tuples() -> None:
    sources = synthetic_sources(3, seconds=30)
    (vspec, cut), _ = synthetic_variants(2, sources, 8, share=1.0)
    _, jobs, _ = plan_variant(vspec, cut, lambda p, w: sources[str(p)], Fraction(2))
    views = [j for j in jobs if isinstance(j.frame_pts, PtsView)]
    assert views
    for job in views:
        assert job.source is not None
        info = sources[job.source.path]
        assert job.frame_pts == tuple(info.frame_pts[f] for f in job.frames.distinct_values())
        copied = pickle.loads(pickle.dumps(job))
        assert type(copied.frame_pts) is tuple and copied == job and hash(copied) == hash(job)
