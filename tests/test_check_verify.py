"""``farm render --verify``: workers measure what they encoded; ``--min-psnr`` fails a variant below it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from coded import Shot, write_project

from farm.cli import main


def _verified(project: Path, report: Path, *extra: str) -> tuple[int, dict]:
    argv = [
        "render",
        str(project),
        "--backend",
        "cpu",
        "--quiet",
        "--verify",
        "--report",
        str(report),
        *extra,
    ]
    status = main(argv)
    return status, json.loads(report.read_text())["variants"]


@pytest.mark.usefixtures("ray_session")
def test_verify_reports_each_segment_and_min_psnr_fails(project_dir: Path, tmp_path: Path) -> None:
    cuts = {"fine": [Shot("s24", 0, 30), Shot("s25", 5, 20)]}
    project = write_project(project_dir, cuts, output={"quality": 18})
    status, variants = _verified(project, tmp_path / "r1.json")
    assert status == 0
    verify = variants["fine"]["verify"]
    assert verify["unverified"] == 0 and len(verify["segments"]) == 2
    assert [s["frames"] for s in verify["segments"]] == [s["fed"] for s in verify["segments"]]
    assert sum(s["frames"] for s in verify["segments"]) == variants["fine"]["frames"]
    fine_psnr = verify["psnr_min"]
    assert 30 < fine_psnr < 100 and 0.9 < verify["ssim_min"] <= 1

    # the same render, asked for more than it achieved: the segments come from the cache, verified
    status, variants = _verified(project, tmp_path / "r2.json", "--min-psnr", str(fine_psnr + 1))
    assert status == 1 and variants["fine"]["verify"]["psnr_min"] == fine_psnr

    # a coarser encoder loses more, and verification sees it
    project = write_project(project_dir, cuts, output={"quality": 45})
    status, variants = _verified(project, tmp_path / "r3.json", "--min-psnr", "10")
    assert status == 0 and variants["fine"]["verify"]["psnr_min"] < fine_psnr - 5


def test_min_psnr_without_verify_is_a_usage_error(project_dir: Path) -> None:
    project = write_project(project_dir, {"fine": [Shot("s24", 0, 10)]})
    assert main(["render", str(project), "--min-psnr", "30"]) == 2


def test_the_host_encoder_verifies_under_the_current_clock(tmp_path: Path) -> None:
    """The nvidia backend calls the host encoder without a clock: it finds the segment's clock."""
    from fractions import Fraction

    from farm.backends.host_encode import black_picture, encode_segment
    from farm.output.spans import StageClock, timing
    from farm.planning.units import EncodeSpec, SegmentJob

    spec = EncodeSpec("h264", 23, "ultrafast", 64, 36, Fraction(24), 24, family="nvdec+cpu")
    job = SegmentJob(
        key="7" * 40, frames=(), frame_pts=(), count=3, source=None, geometry=None,
        lut_path=None, lut_hash=None, encode=spec,
    )  # fmt: skip
    with timing(StageClock(verify=True)) as clock:
        assert encode_segment(job, tmp_path / "black.mp4", [(black_picture(spec), 3)]) == 3
    verify = clock.notes["verify"]
    assert verify["frames"] == verify["fed"] == 3 and verify["psnr_min"] > 40
    assert {"encode", "mux", "verify"} <= set(clock.seconds)
