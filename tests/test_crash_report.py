"""A crash in native code ends ``farm`` with a message and exit 70, and signals sent to ``farm``
reach the command (farm.cli.supervise).  That the command does not outlive a SIGKILLed ``farm`` is
``test_faults_render.test_workers_stop_when_the_driver_is_sigkilled``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from coded import Shot, write_project

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the supervisor is Linux only")

#: ``farm`` with the stitch check replaced by a real fault in C (faulthandler's own SIGSEGV)
CRASHING_FARM = textwrap.dedent(
    """
    import faulthandler, sys
    import farm.media.stitch

    farm.media.stitch.verify = lambda *args, **kwargs: faulthandler._sigsegv()
    from farm.cli import entry

    sys.argv = ["farm", *sys.argv[1:]]
    entry()
    """
)


def _farm(*args: str, crash: bool = False) -> subprocess.Popen[str]:
    head = [sys.executable, "-c", CRASHING_FARM] if crash else [sys.executable, "-m", "farm"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipe = subprocess.PIPE
    return subprocess.Popen([*head, *args], stdout=pipe, stderr=pipe, text=True, env=env)


def _render_args(project: Path, out: Path) -> list[str]:
    return ["render", str(project), "--out", str(out), "--workers", "2", "--quiet"]


def test_a_native_crash_while_stitching_is_worded_and_the_same_command_resumes(
    project_dir: Path, tmp_path: Path
) -> None:
    project = write_project(project_dir, {"cut": [Shot("s24", 0, 30), Shot("s25", 10, 20)]})
    out = tmp_path / "out"
    proc = _farm(*_render_args(project, out), crash=True)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 70, stderr
    # the message ends the output, and no traceback or crash handler's dump comes before it (a
    # warning Ray prints about the machine, /dev/shm for instance, may)
    assert stderr.splitlines()[-1].startswith("farm: error: "), stderr
    noise = ("Traceback", "Fatal Python error", "SIGSEGV received", "Segmentation fault")
    assert not [line for line in stderr.splitlines() if any(n in line for n in noise)], stderr
    assert "crashed inside a native library: a segmentation fault (SIGSEGV)" in stderr
    assert "in stitch (farm/media/stitch.py, line" in stderr  # the farm function that called the C code
    # what the thread that crashed was doing, with the variant and the file
    assert f"while checking the stitched file (variant 'cut', file {out / 'cut.mp4'})." in stderr
    found = re.search(r"stacks at the crash: (\S+\.txt)", stderr)
    assert found, stderr
    kept = Path(found[1])
    stacks = kept.read_text()
    kept.unlink()
    assert "Segmentation fault" in stacks and "farm/media/stitch.py" in stacks
    assert not (out / "cut.mp4").exists()  # nothing at the output path
    segments = sorted((project_dir / ".farm-cache" / "segments").glob("*/*.mp4"))
    assert segments, "the segments rendered before the crash are in the cache"
    mtimes = {p: p.stat().st_mtime_ns for p in segments}

    again = _farm(*_render_args(project, out))
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert (out / "cut.mp4").is_file()
    assert [p.name for p in out.iterdir()] == ["cut.mp4"]  # the crashed run's temporary file is gone
    assert {p: p.stat().st_mtime_ns for p in segments} == mtimes  # reused, not rendered again


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _slow_render(project_dir: Path, tmp_path: Path) -> subprocess.Popen[str]:
    """A render that takes seconds, started, one segment of it done."""
    project = write_project(
        project_dir,
        {"cut": [Shot("s2997", 0, 90), Shot("s25", 0, 75), Shot("s24", 0, 72)]},
        output={"width": 1280, "height": 720, "preset": "medium"},
        extra="[render]\nsegment_seconds = 1\n",
    )
    proc = _farm(*_render_args(project, tmp_path / "out"))
    cache = project_dir / ".farm-cache" / "segments"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not list(cache.glob("*/*.json")):
        time.sleep(0.02)
    assert proc.poll() is None, "the render finished before the signal"
    assert len(_children(proc.pid)) == 1  # farm, and the process running the render
    return proc


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_an_interrupt_sent_to_farm_reaches_the_render(project_dir: Path, tmp_path: Path) -> None:
    proc = _slow_render(project_dir, tmp_path)
    os.kill(proc.pid, signal.SIGINT)  # to farm's own pid only, as a job runner would send it
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "farm: interrupted; finished segments stay in the cache" in stderr
    assert not (tmp_path / "out" / "cut.mp4").exists()


def test_each_thread_says_what_it_is_doing_until_it_is_done() -> None:
    import mmap
    import threading

    from farm.errors import Where
    from farm.output import activity

    page = mmap.mmap(-1, activity.SIZE)
    activity.install(page)
    try:
        inside, release = threading.Barrier(2), threading.Event()
        seen: dict[str, int] = {}

        def probe() -> None:
            seen["probe"] = threading.get_ident()
            with activity.doing("probing the source", Where(path="media/a.mp4")):
                inside.wait()
                release.wait()

        worker = threading.Thread(target=probe)
        worker.start()
        with activity.doing("checking the stitched file", Where(variant="cut", path="out/cut.mp4")):
            with activity.doing("appending a segment at output frame 48", Where(variant="cut")):
                inside.wait()
                lines = activity.lines(page)
                here = lines[threading.get_ident()]
                assert here == "appending a segment at output frame 48 (variant 'cut')"
                assert lines[seen["probe"]] == "probing the source (file media/a.mp4)"
            # the outer line is back once the inner block is done
            assert activity.lines(page)[threading.get_ident()] == (
                "checking the stitched file (variant 'cut', file out/cut.mp4)"
            )
        release.set()
        worker.join()
        assert activity.lines(page) == {}  # nothing is being done
    finally:
        activity.install(None)
