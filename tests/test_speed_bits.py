"""Bits: the encoder picks its own picture types, whatever types the source's decoder reported."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path

import av

from farm.backends.cpu import render_segment_cpu
from farm.edit.cut import ClipItem, Cut
from farm.edit.project import LookSpec, OutputSpec, VariantSpec
from farm.media.probe import probe
from farm.media.synth import read_code, write_clip
from farm.planning.planner import plan_variant


def picture_types(path: Path) -> Counter[str]:
    names = {1: "I", 2: "P", 3: "B"}  # AVPictureType
    with av.open(str(path)) as c:
        return Counter(names.get(int(f.pict_type), "?") for f in c.decode(video=0))


def test_an_all_p_source_does_not_force_an_all_p_output(tmp_path: Path) -> None:
    src = tmp_path / "allp.mp4"
    # x264 ultrafast writes no B-frames: every decoded frame after the first reports type P
    write_clip(src, width=320, height=180, rate=24, frames=48, source_id=7, preset="ultrafast")
    assert picture_types(src)["B"] == 0
    spec = VariantSpec(
        "v", Path("/cuts/v.otio"), OutputSpec(width=320, height=180, preset="veryfast"), LookSpec()
    )
    cut = Cut(
        "v", spec.timeline, (ClipItem("c", src, Fraction(0), Fraction(2), Fraction(0)),), None, Fraction(2)
    )
    info = probe(src)
    plan, jobs, _ = plan_variant(spec, cut, lambda p, w: info, Fraction(2))
    out = tmp_path / "seg.mp4"
    assert render_segment_cpu(jobs[0], out)["frames"] == 48
    types = picture_types(out)
    assert types["B"] > 0, types  # x264 veryfast's own decision: B-frames between its P-frames
    with av.open(str(out)) as c:  # and the pictures are still the right ones, in order
        assert [read_code(f.to_ndarray(format="rgb24"))[1] for f in c.decode(video=0)] == list(range(48))
