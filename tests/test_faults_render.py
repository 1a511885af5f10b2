"""Faults met while rendering (issue #12, faults 2, 3, 5 and 6): each ends in exit 73 naming the
disk, a re-render with a warning, or workers that stop — and nothing half-written."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from coded import Shot, expected_frames, write_project
from media_check import frame_codes

import farm
from farm.errors import OutputError
from farm.execute.local import InProcessExecutor

ROOT = Path(__file__).resolve().parents[1]
CUT = [Shot("s24", 0, 24), Shot("s25", 10, 20)]


def _mount(path: Path, *options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    opts = ",".join(options)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)]).returncode == 0


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs), or a skip where this user cannot mount one."""
    disk = tmp_path / "disk"
    if not _mount(disk, "size=2m"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)])


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until only about ``leave`` bytes are free."""
    with open(disk / "ballast", "wb") as f:
        try:
            while True:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                if free <= leave:
                    break
                f.write(b"\0" * min(65536, max(4096, free - leave)))
                f.flush()
        except OSError:
            pass


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".farm-tmp" in p.name or p.suffix in (".tmp", ".partial")]


# ------------------------------------------------------------------ 3: same-size damage


@pytest.mark.parametrize("damage", ["16 bytes flipped late", "a block zeroed in the keyframe"])
def test_same_size_damage_to_a_cached_segment_is_rendered_again_with_a_warning(
    damage: str, project_dir: Path, tmp_path: Path
) -> None:
    project = write_project(project_dir, {"cut": CUT})
    out = tmp_path / "out"
    farm.render(project, out=out, executor=InProcessExecutor())
    segments = sorted((project_dir / ".farm-cache" / "segments").glob("*/*.mp4"))
    victim = segments[0]
    data = bytearray(victim.read_bytes())
    if damage.startswith("16"):
        at = len(data) * 2 // 3  # inside some non-key packet (the moov is at the front)
        data[at : at + 16] = bytes(b ^ 0xFF for b in data[at : at + 16])
    else:
        at = data.index(b"mdat") + 64  # the first packet: the IDR
        data[at : at + 512] = bytes(512)
    victim.write_bytes(bytes(data))
    (out / "cut.mp4").unlink()
    log = io.StringIO()
    report = farm.render(project, out=out, executor=InProcessExecutor(), progress_stream=log)
    v = report.variants["cut"]
    assert v.error is None, v.error
    assert victim.stem in log.getvalue() and "content hash" in log.getvalue(), log.getvalue()
    assert v.segments_rendered == 1
    assert frame_codes(out / "cut.mp4") == expected_frames(CUT, Fraction(24))


# ------------------------------------------------------------------ 5: disk full


def test_a_cache_on_a_full_disk_is_exit_73_naming_it(project_dir: Path, small_disk: Path) -> None:
    project = write_project(project_dir, {"cut": CUT})
    _fill(small_disk)
    proc = subprocess.run(
        [sys.executable, "-m", "farm", "render", str(project), "--cache", str(small_disk / "c"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 73, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(small_disk) in proc.stderr and "MB free" in proc.stderr, proc.stderr
    assert _temps(small_disk) == []


def test_a_probe_cache_on_a_full_disk_is_exit_73_naming_it(media_dir: Path, small_disk: Path) -> None:
    from farm.media.probe import probe

    (small_disk / "probe").mkdir()
    _fill(small_disk)
    with pytest.raises(OutputError, match="MB free") as caught:
        probe(media_dir / "media" / "s24.mp4", small_disk)
    assert caught.value.exit_code == 73 and str(small_disk) in str(caught.value)
    assert _temps(small_disk) == []


def test_a_cache_filling_up_mid_render_is_exit_73_naming_it(project_dir: Path, small_disk: Path) -> None:
    project = write_project(project_dir, {"cut": CUT})
    cache = small_disk / "c"
    farm.plan(project, cache=cache)  # the probes fit...
    _fill(small_disk, leave=16 * 1024)  # ...the segments do not
    report = farm.render(project, cache=cache, out=project_dir / "out", executor=InProcessExecutor())
    err = report.variants["cut"].error
    assert err is not None and err.exit_code == 73, err
    assert str(small_disk) in str(err) and "MB free" in str(err), err
    assert "s24" not in str(err) and "s25" not in str(err), "the source is not at fault"
    assert _temps(small_disk) == []
    assert not (project_dir / "out" / "cut.mp4").exists()


def test_an_output_disk_too_small_for_the_estimate_is_refused_before_rendering(
    project_dir: Path, small_disk: Path
) -> None:
    project = write_project(project_dir, {"cut": CUT}, output={"width": 1920, "height": 1080})
    _fill(small_disk, leave=64 * 1024)  # the output needs at least 44 x 1920 x 1080 x 0.005 bytes
    with pytest.raises(OutputError, match="MB needed") as caught:
        farm.render(project, out=small_disk, executor=InProcessExecutor())
    assert str(small_disk) in str(caught.value)
    assert not list((project_dir / ".farm-cache" / "segments").glob("*/*.mp4"))


# ------------------------------------------------------------------ 6: unwritable output


@pytest.fixture()
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    if os.geteuid() == 0:
        if not _mount(folder, "size=1m", "ro"):
            pytest.skip("cannot mount a read-only tmpfs here")
        yield folder
        subprocess.run(["umount", "-l", str(folder)])
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_an_unwritable_output_folder_is_found_before_rendering(
    project_dir: Path, read_only_dir: Path
) -> None:
    project = write_project(project_dir, {"cut": CUT})
    with pytest.raises(OutputError, match="cannot write in the output folder") as caught:
        farm.render(project, out=read_only_dir, executor=InProcessExecutor())
    assert caught.value.exit_code == 73 and str(read_only_dir) in str(caught.value)
    assert not list((project_dir / ".farm-cache" / "segments").glob("*/*.mp4")), "rendered before checking"


# ------------------------------------------------------------------ 2: orphan workers


def _marked(marker: str) -> list[int]:
    """Pids of processes whose environment holds ``marker`` (the render's and Ray's it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_workers_stop_when_the_driver_is_sigkilled(project_dir: Path) -> None:
    # segments that take a while to encode, so that some are in flight when the driver dies
    project = write_project(
        project_dir,
        {"cut": [Shot("s2997", 0, 90), Shot("s25", 0, 75), Shot("s24", 0, 72)]},
        output={"width": 1280, "height": 720, "preset": "medium"},
        extra="[render]\nsegment_seconds = 1\n",
    )
    cache = project_dir / ".farm-cache" / "segments"
    marker = f"FARM_TEST_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), marker.split("=")[0]: marker.split("=")[1]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "farm", "render", str(project), "--workers", "2", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.exists() and len(list(cache.glob("*/*.json"))) >= 1:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the render finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers are not in its group
        killed = time.time()
        proc.wait()
        time.sleep(6)
        total = len(farm.plan(project).jobs)
        committed = [p.stat().st_mtime - killed for p in cache.glob("*/*.json")]
        assert len(committed) < total, "every segment was already done"
        # a SIGKILLed process still answers to its pid while the kernel tears it down (hundreds of ms
        # for a large process on a loaded machine), so allow a second, not the lifeline's 0.25 s poll
        late = [round(t, 2) for t in committed if t > 1.0]
        assert late == [], f"segments committed this many seconds after the driver died: {late}"
        workers = [p for p in _marked(marker) if "_task" in _cmdline(p) or "default_worker" in _cmdline(p)]
        assert workers == [], [_cmdline(p) for p in workers]
    finally:
        for pid in _marked(marker):  # what this test started and Ray left: raylet, GCS...
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
