"""Every part of the colour chain joins the look's key: a change re-renders exactly what it touches."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from coded import Shot, write_cut
from hdr_scene import write_scene

import farm


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keys")
    (root / "media").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in ("sdr", "hlg"):
            write_scene(root / "media" / f"{kind}.mp4", kind, frames=3)
    shots = [Shot(f"media/{k}.mp4", 0, 3, rate=Fraction(24), name=k) for k in ("sdr", "hlg")]
    write_cut(root / "cuts" / "v.otio", shots)
    return root


def _keys(root: Path, extra: str) -> dict[str, str]:
    (root / "farm.toml").write_text(
        f'[output]\nwidth = 320\nheight = 180\nfps = "24"\n[variants.v]\ntimeline = "cuts/v.otio"\n{extra}'
    )
    plan = farm.plan(root / "farm.toml")
    placements = plan.variants["v"].placements
    return {"sdr": placements[0].key, "hlg": placements[1].key, "looks": str(len(plan.looks))}


def test_colour_settings_change_the_keys_of_the_sources_they_touch(project: Path) -> None:
    base = _keys(project, "")
    assert base["looks"] == "1"  # the SDR source needs no LUT; the HLG one gets its input transform
    assert _keys(project, "") == base
    white = _keys(project, "[colour]\nsdr_white_nits = 180\n")
    assert white["sdr"] == base["sdr"] and white["hlg"] != base["hlg"]
    peak = _keys(project, '[media."media/hlg.mp4"]\npeak_nits = 2000\n')
    assert peak["sdr"] == base["sdr"] and peak["hlg"] not in (base["hlg"], white["hlg"])
    # saying the SDR clip is camera log gives it a chain (OCIO's version and config join its key)
    log = _keys(project, '[media."media/sdr.mp4"]\ntransfer = "sony-slog3"\n')
    assert log["sdr"] != base["sdr"] and log["hlg"] == base["hlg"] and log["looks"] == "2"
