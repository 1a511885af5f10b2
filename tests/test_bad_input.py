"""Bad input: one clear message naming variant, clip and file; exit 65/66; nothing half-written;
the other variants still render."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from coded import SOURCES, Shot, write_project

import farm

pytestmark = pytest.mark.usefixtures("ray_session")


def _good_and(bad_items: list, project_dir: Path) -> Path:
    return write_project(project_dir, {"good": [Shot("s24", 0, 12)], "bad": bad_items})


def _run_cli(project: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _make_truncated(project_dir: Path) -> str:
    src = project_dir / "media" / "s24.mp4"
    data = src.read_bytes()
    broken = project_dir / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])
    return "broken.mp4"


def _make_not_video(project_dir: Path) -> str:
    (project_dir / "notes.mp4").write_text("this is a text file that claims to be a video\n" * 50)
    return "notes.mp4"


def _make_audio_only(project_dir: Path) -> str:
    import av
    import numpy as np

    path = project_dir / "voice.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return "voice.m4a"


CASES = {
    # name: (make the bad media -> its url, exit code, words the message must hold)
    "missing file": (lambda d: "media/nowhere.mp4", 66, ["not found"]),
    "range outside source": (lambda d: SOURCES["s24"].file, 65, ["outside its source", "72 frames"]),
    "path escaping the project": (lambda d: "../../outside.mp4", 65, ["outside the project root"]),
    "truncated file": (_make_truncated, 65, []),
    "not a video": (_make_not_video, 65, []),
    "no video stream": (_make_audio_only, 65, ["no video stream"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_and_the_other_variant_renders(
    case: str, project_dir: Path, tmp_path: Path
) -> None:
    make, code, words = CASES[case]
    url = make(project_dir)
    in_frame, frames = (60, 30) if case == "range outside source" else (0, 12)
    project = _good_and([Shot(url, in_frame, frames, rate=SOURCES["s24"].rate, name="shot 1")], project_dir)
    out = tmp_path / "out"
    proc = _run_cli(project, out)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("farm: error:")]
    assert len(errors) == 1, proc.stderr
    message = errors[0]
    assert "variant 'bad'" in message and "clip 'shot 1'" in message
    assert Path(url).name in message
    for word in words:
        assert word in message
    # nothing at the bad variant's output path, and no temporary leftovers
    assert not (out / "bad.mp4").exists()
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4"]


def test_a_source_failing_while_rendering_fails_only_its_variant(project_dir: Path, tmp_path: Path) -> None:
    # the probe sees a whole file; the file is truncated afterwards, as a flaky network share would
    victim = project_dir / "late.mp4"
    shutil.copy(project_dir / "media" / "s2997.mp4", victim)
    project = write_project(
        project_dir,
        {
            "good": [Shot("s24", 0, 12)],
            "bad": [Shot("late.mp4", 0, 80, rate=SOURCES["s2997"].rate, name="late")],
        },
    )
    the_plan = farm.plan(project)  # probe now, cached by identity...
    assert not the_plan.failed
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    report = farm.render(project, workers=2, out=tmp_path / "out")
    assert report.variants["good"].error is None
    err = report.variants["bad"].error
    assert err is not None and err.exit_code == 65
    assert not (tmp_path / "out" / "bad.mp4").exists()


def test_bad_project_file_names_key_value_and_allowed(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]}, output={"fit": "zoom"})
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "plan", str(project)], capture_output=True, text=True
    )
    assert proc.returncode == 65
    assert "output.fit = 'zoom'" in proc.stderr and "fit | fill | stretch" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_project_file_exits_66(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(tmp_path / "nope.toml")], capture_output=True, text=True
    )
    assert proc.returncode == 66 and "project file not found" in proc.stderr


def test_unknown_backend_is_a_usage_error(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(project), "--backend", "quantum"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2


def test_a_plain_render_starts_its_own_ray_whatever_RAY_ADDRESS_says(
    project_dir: Path, tmp_path: Path
) -> None:
    import os

    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_ADDRESS": "127.0.0.1:1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "a.mp4").is_file()


def test_an_unreachable_cluster_is_named_with_exit_69(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--address",
            "127.0.0.1:1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 69
    assert "127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "a.mp4").exists()
