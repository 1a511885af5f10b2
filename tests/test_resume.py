"""Crashes: a dead worker's segment is retried; an interrupted render resumes with what is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from coded import Shot, expected_frames, write_project
from media_check import frame_codes

import farm

CUT = [Shot("s24", 0, 72), Shot("s2997", 0, 90), Shot("s25", 0, 75)]


#: put on a Ray worker's PYTHONPATH, this kills the first worker that starts rendering a segment
#: (once in all: the marker file is created exclusively), as a crashed node would
KILL_ONCE = """
import os
from pathlib import Path

import farm.backends.segment as _segment

_real = _segment.render_segment
_marker = Path(os.environ["FARM_TEST_KILL_MARKER"])


def render_segment(job, cache_root, backend="cpu"):
    try:
        fd = os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return _real(job, cache_root, backend)
    os.write(fd, f"{os.getpid()} {job.key}".encode())
    os.close(fd)
    os._exit(1)


_segment.render_segment = render_segment
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.usefixtures("ray_session")
def test_a_segment_whose_worker_dies_is_retried(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"cut": CUT}, extra="[render]\nsegment_seconds = 1\n")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_ONCE)
    marker = tmp_path / "killed"
    repo = Path(farm.__file__).resolve().parents[1]
    from farm.execute.ray_executor import RayExecutor

    runner = RayExecutor(
        workers=2,
        task_env={
            "PYTHONPATH": os.pathsep.join([str(hook), str(repo)]),
            "FARM_TEST_KILL_MARKER": str(marker),
        },
    )
    report = farm.render(project, executor=runner)
    v = report.variants["cut"]
    assert v.error is None, v.error
    assert marker.is_file(), "no worker was killed"
    pid, key = marker.read_text().split()
    assert not _alive(int(pid)), "the worker that took the segment is still running"
    assert key in farm.plan(project).jobs
    # the killed segment was run again elsewhere: everything rendered, every frame in place
    assert v.segments_rendered == v.segments
    assert frame_codes(Path(v.output)) == expected_frames(CUT, Fraction(24))


def test_an_interrupted_render_resumes_where_it_stopped(project_dir: Path) -> None:
    project = write_project(project_dir, {"cut": CUT}, extra="[render]\nsegment_seconds = 0.5\n")
    cache = project_dir / ".farm-cache" / "segments"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "farm", "render", str(project), "--workers", "1", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    # wait until some, not all, segments are in the cache, then kill everything
    deadline = time.monotonic() + 180
    done = 0
    while time.monotonic() < deadline:
        done = len(list(cache.glob("*/*.json"))) if cache.exists() else 0
        if done >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done >= 2, "the first render never got going"
    total = len(farm.plan(project).jobs)
    assert not (project_dir / "renders" / "cut.mp4").exists()

    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm",
            "render",
            str(project),
            "--workers",
            "2",
            "--quiet",
            "--report",
            str(project_dir / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    import json

    v = json.loads((project_dir / "r.json").read_text())["variants"]["cut"]
    assert v["segments"] == total
    assert v["segments_reused"] >= done
    assert v["segments_rendered"] == total - v["segments_reused"]
    assert frame_codes(project_dir / "renders" / "cut.mp4") == expected_frames(CUT, Fraction(24))
    # what the killed run left half-written was swept by the re-run (its processes are gone); a
    # worker of the killed run that died only after the re-run's sweep (its lifeline ends it within
    # a moment of the driver) may leave one more: it must be stale, so the next render's sweep takes it
    from farm.output.atomic import is_stale, is_temp_name, sweep_stale

    left = [p for p in cache.glob("*/*") if is_temp_name(p.name)]
    assert all(is_stale(p) for p in left), left
    sweep_stale([cache], recursive=True)
    assert [p.name for p in cache.glob("*/*") if is_temp_name(p.name)] == []
    assert all(p.suffix in (".mp4", ".json") for p in cache.glob("*/*"))
