"""``farm check`` as a CI job runs it: goldens with --update, a passing check, a visible change that fails."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from coded import Shot, write_project
from PIL import Image

from farm.cli import main
from farm.cli.check import timecode
from farm.kernels import Lut, write_cube
from farm.output.junit import Check, VariantChecks, junit_xml


def _cube(path: Path, green: float) -> None:
    axis = np.linspace(0.0, 1.0, 9, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    write_cube(Lut(np.stack([r, g * green, b], axis=-1).astype(np.float32)), path)


def _project(root: Path, trim: int = 30) -> Path:
    _cube(root / "look.cube", 1.0)
    cuts = {"one": [Shot("s24", 0, 24), Shot("s25", 10, trim)], "two": [Shot("s25", 10, 20)]}
    return write_project(root, cuts, extra='[look]\nlut = "look.cube"\n')


def _check(project: Path, golden: Path, *extra: str) -> int:
    return main(["check", str(project), "--golden", str(golden), "--backend", "cpu", *extra])


def _suites(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {s.get("name", ""): s for s in root.findall("testsuite")}


@pytest.mark.usefixtures("ray_session")
def test_update_check_then_a_visible_change_fails(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, golden = _project(project_dir), tmp_path / "golden"
    assert _check(project, golden, "--variant", "one", "--update") == 0
    assert "created golden" in capsys.readouterr().out
    manifest = json.loads((golden / "cpu" / "manifest.json").read_text())
    assert manifest["family"] == "cpu" and set(manifest["variants"]) == {"one"}
    assert (
        manifest["variants"]["one"]["encoder"]["codec"] == "h264"
        and "libavcodec" in manifest["libraries"]["libs"]
    )

    # a variant without a golden fails and says how to make one
    assert _check(project, golden, "--variant", "two") == 1
    assert "--update" in capsys.readouterr().out
    assert _check(project, golden, "--update") == 0
    out = capsys.readouterr().out
    assert "one: golden" in out and "unchanged" in out and "two: created golden" in out

    junit = tmp_path / "ok.xml"
    assert _check(project, golden, "--junit", str(junit), "--metric", "psnr,ssim,xpsnr,vmaf") == 0
    suites = _suites(junit)
    assert set(suites) == {"one", "two"}
    for suite in suites.values():
        cases = {c.get("name"): c for c in suite.findall("testcase")}
        assert set(cases) == {"container", "psnr", "ssim", "xpsnr", "vmaf", "audio"}
        assert not suite.findall(".//failure") and not suite.findall(".//error")
        assert cases["vmaf"].find("skipped") is not None  # PyAV's FFmpeg has no libvmaf: said, not dropped
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["backend"] == "cpu" and props["family"] == "cpu" and props["libavcodec"]

    # a cross-family check needs that family's goldens, and says so
    assert _check(project, golden, "--variant", "one", "--against", "nvenc") == 1
    assert "no 'nvenc' golden for variant 'one'" in capsys.readouterr().out
    assert _check(project, golden, "--against", "nvenc", "--update") == 2

    # the look changes: the pictures do, and the check says where
    _cube(project_dir / "look.cube", 0.6)
    junit, artifacts = tmp_path / "look.xml", tmp_path / "artifacts"
    assert _check(project, golden, "--junit", str(junit), "--artifacts", str(artifacts)) == 1
    out = capsys.readouterr().out
    assert "psnr" in out and "< 40.0 at frame" in out
    suites = _suites(junit)
    for name in ("one", "two"):
        failed = {c.get("name"): c.find("failure") for c in suites[name].findall("testcase")}
        assert failed["psnr"] is not None and "< 40.0" in (failed["psnr"].get("message") or "")
        assert failed["container"] is None and failed["audio"] is None
    strips = sorted(artifacts.glob("*.png"))
    assert [p.name.split("-frame")[0] for p in strips] == ["one", "two"]
    strip = np.asarray(Image.open(strips[0]).convert("RGB")).astype(int)
    assert strip.shape == (180, 3 * 320 + 8, 3)
    golden_panel, render_panel, diff = strip[:, :320], strip[:, 324:644], strip[:, 648:]
    assert np.abs(golden_panel - render_panel).mean() > 5 and diff.mean() > 20


@pytest.mark.usefixtures("ray_session")
def test_a_trim_fails_the_container_check(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, golden = _project(project_dir), tmp_path / "golden"
    assert _check(project, golden, "--variant", "one", "--update") == 0
    _project(project_dir, trim=20)  # 10 source frames at 25 fps: 9 fewer output frames at 24
    junit = tmp_path / "trim.xml"
    capsys.readouterr()
    assert _check(project, golden, "--variant", "one", "--json", "--junit", str(junit)) == 1
    report = json.loads(capsys.readouterr().out)
    checks = report["variants"]["one"]["checks"]
    assert checks["container"]["status"] == "fail" and checks["container"]["facts"]["frames"] == 44
    assert checks["audio"]["render_samples"] < checks["audio"]["golden_samples"]
    failure = _suites(junit)["one"].find("testcase[@name='container']/failure")
    assert failure is not None and "frames: 44 (golden 53)" in (failure.get("message") or "")


def test_a_missing_render_is_a_broken_input_not_a_regression(project_dir: Path, tmp_path: Path) -> None:
    project, golden = _project(project_dir), tmp_path / "golden"
    (golden / "cpu").mkdir(parents=True)
    (golden / "cpu" / "one.mp4").write_bytes(b"")
    renders = tmp_path / "renders"
    renders.mkdir()
    junit = tmp_path / "broken.xml"
    assert _check(project, golden, "--renders", str(renders), "--junit", str(junit)) == 66
    suites = _suites(junit)  # every variant is reported: an error, not a failure
    assert set(suites) == {"one", "two"}
    assert all(s.find("testcase[@name='render']/error") is not None for s in suites.values())
    assert not ET.parse(junit).getroot().findall(".//failure")


def test_usage_errors_exit_2(project_dir: Path, tmp_path: Path) -> None:
    project = _project(project_dir)
    with pytest.raises(SystemExit) as bad_min:
        _check(project, tmp_path, "--min", "psnr=high")
    with pytest.raises(SystemExit) as bad_metric:
        _check(project, tmp_path, "--metric", "butteraugli")
    assert bad_min.value.code == bad_metric.value.code == 2
    assert _check(project, tmp_path, "--variant", "nope") == 2


def test_junit_counts_and_timecodes() -> None:
    suites = [
        VariantChecks(
            "a", [Check("psnr", "fail", "psnr 30 < 40 at frame 3"), Check("vmaf", "skip", "no libvmaf")]
        ),
        VariantChecks("b", [Check("render", "error", "missing file")]),
    ]
    root = ET.fromstring(junit_xml(suites, {"backend": "cpu"}))
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == (
        "3",
        "1",
        "1",
        "1",
    )
    assert root.find("testsuite[@name='a']/testcase[@name='psnr']/failure") is not None
    assert timecode(53, Fraction(24)) == "00:00:02:05"
    assert timecode(24 * 3600 + 1, Fraction(24)) == "01:00:00:01"
