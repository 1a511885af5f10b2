"""Faults an operator can cause with bad files: each ends in one clear error (or a correct output).

Issue #12, faults 1, 3, 4 and 7-10. Every case runs the real command line in a
subprocess (a segfault in a C++ library must not take pytest down with it) or
the real cache in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coded import Shot, write_project

from farm.output.atomic import is_temp_name, temp_path
from farm.output.cache import Cache

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def farm_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farm", *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


def plan_of(project: Path) -> subprocess.CompletedProcess[str]:
    return farm_cli("plan", str(project))


def _one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("farm: error:")]
    assert errors, proc.stderr
    return errors[0]


def _mutate_cut(project: Path, name: str, change) -> Path:
    cut = project.parent / "cuts" / f"{name}.otio"
    data = json.loads(cut.read_text())
    change(data)
    cut.write_text(json.dumps(data))
    return cut


def _first_clip(data: dict) -> dict:
    return data["tracks"]["children"][0]["children"][0]


# ------------------------------------------------------------------ 7: bad rates and times


@pytest.mark.parametrize("value", ["0.0", "Infinity", "-Infinity", "NaN", "1e-09"])
def test_a_bad_rate_in_a_cut_is_exit_65_naming_clip_field_and_value(project_dir: Path, value: str) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12, name="shot 1")]})
    cut = project_dir / "cuts" / "a.otio"
    data = json.loads(cut.read_text())
    _first_clip(data)["source_range"]["duration"]["rate"] = "@@"
    cut.write_text(json.dumps(data).replace('"@@"', value))
    message = _one_error(plan_of(project), 65)
    assert "clip 'shot 1'" in message and "source_range.duration.rate" in message, message
    assert value.lower() in message.lower(), message


def test_a_non_finite_time_in_a_cut_is_exit_65(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12, name="shot 1")]})
    cut = project_dir / "cuts" / "a.otio"
    data = json.loads(cut.read_text())
    _first_clip(data)["source_range"]["start_time"]["value"] = "@@"
    cut.write_text(json.dumps(data).replace('"@@"', "NaN"))
    message = _one_error(plan_of(project), 65)
    assert "clip 'shot 1'" in message and "source_range.start_time.value" in message, message


def test_a_negative_duration_in_a_cut_is_exit_65(project_dir: Path) -> None:
    from coded import Gap

    project = write_project(project_dir, {"a": [Shot("s24", 0, 12, name="shot 1"), Gap(6)]})
    cut = project_dir / "cuts" / "a.otio"
    data = json.loads(cut.read_text())
    data["tracks"]["children"][0]["children"][1]["source_range"]["duration"]["value"] = -6
    cut.write_text(json.dumps(data))
    message = _one_error(plan_of(project), 65)
    assert "source_range.duration.value = -6" in message and "negative" in message, message


# ------------------------------------------------------------------ 8: OTIO crashes


def test_a_timeline_with_null_tracks_is_exit_65_naming_the_file(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    cut = project_dir / "cuts" / "a.otio"
    cut.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": null}')
    message = _one_error(plan_of(project), 65)
    assert str(cut) in message and "variant 'a'" in message, message


def test_a_timeline_nested_200000_deep_is_exit_65_naming_the_file(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    cut = project_dir / "cuts" / "a.otio"
    data = json.loads(cut.read_text())
    depth = 200_000
    text = json.dumps(data)
    deep = "[" * depth + "]" * depth
    cut.write_text(text[:-1] + ', "metadata": {"deep": ' + deep + "}}")
    message = _one_error(plan_of(project), 65)
    assert str(cut) in message, message


def test_a_cut_that_crashes_its_reader_is_a_cut_error_naming_the_file(tmp_path: Path) -> None:
    """The safety net behind the shape checks: the reader dies of a real segfault in OTIO
    (the shape check is skipped here), and that is a bad cut, not a crash."""
    from farm.edit.read_cut import read_in_subprocess
    from farm.errors import CutError

    cut = tmp_path / "crash.otio"
    cut.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": null}')
    with pytest.raises(CutError, match="crashed") as caught:
        read_in_subprocess("a", cut, tmp_path)
    assert caught.value.exit_code == 65 and caught.value.where.path == str(cut)


def test_reading_a_cut_in_a_subprocess_costs_little(project_dir: Path) -> None:
    """Measured, not asserted as a time: the child's cost is printed beside the in-process read."""
    from farm.edit.cut import load_cut
    from farm.edit.read_cut import read_in_subprocess, start_read

    write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    cut = project_dir / "cuts" / "a.otio"
    t0 = time.perf_counter()
    here = load_cut("a", cut, project_dir)
    t1 = time.perf_counter()
    there = read_in_subprocess("a", cut, project_dir)
    t2 = time.perf_counter()
    started = start_read("a", cut, project_dir)()  # forked where this process runs one thread
    t3 = time.perf_counter()
    assert here == there == started
    print(f"cut read in-process {t1 - t0:.3f}s, in a subprocess {t2 - t1:.3f}s, started {t3 - t2:.3f}s")


def _in_fresh_python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a test body in a fresh interpreter: forks are only taken from a process running one
    thread, and this pytest process may hold Ray's threads from earlier tests."""
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, env=ENV
    )


_FORKED_CRASH = """
import sys, threading
from pathlib import Path
from farm.edit.read_cut import _ForkedRead
from farm.errors import CutError, Where
assert threading.active_count() == 1
cut, project = Path(sys.argv[1]), Path(sys.argv[2])
try:
    _ForkedRead(("a", cut, project, None, {}), Where(variant="a", path=str(cut))).wait()
except CutError as error:
    print(error.exit_code, error.where.path, str(error), sep="\\n")
"""


def test_a_forked_reader_that_crashes_is_a_cut_error_naming_the_file(tmp_path: Path) -> None:
    """The same safety net when the reader is a child forked from a single-threaded process."""
    cut = tmp_path / "crash.otio"
    cut.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": null}')
    proc = _in_fresh_python(_FORKED_CRASH, str(cut), str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    code, path, message = proc.stdout.split("\n", 2)
    assert (code, path) == ("65", str(cut)) and "crashed" in message, proc.stdout


_READS_TOGETHER = """
import json, sys, threading
from pathlib import Path
from farm.edit.cut import load_cut
from farm.edit.read_cut import start_read
from farm.errors import MissingInputError
project = Path(sys.argv[1])
cuts = project / "cuts"
assert threading.active_count() == 1
reads = {n: start_read(n, cuts / f"{n}.otio", project) for n in ("a", "b")}
missing = start_read("c", cuts / "c.otio", project)  # refused when waited for, not now
same = {
    n: wait() == load_cut(n, cuts / f"{n}.otio", project) and wait() is wait() for n, wait in reads.items()
}
try:
    missing()
    refused = ""
except MissingInputError as error:
    refused = str(error)
sys.stderr.write(json.dumps({"same": same, "refused": refused}))
"""


def test_reads_started_together_give_each_variant_its_cut_or_its_error(project_dir: Path) -> None:
    """Forked reads of every variant at once: each gets its own cut (and a second wait the same
    answer), a missing one its own error when it is waited for, and nothing a child does reaches
    the process's output."""
    write_project(project_dir, {"a": [Shot("s24", 0, 12)], "b": [Shot("s24", 3, 9), Shot("s24", 0, 4)]})
    proc = _in_fresh_python(_READS_TOGETHER, str(project_dir))
    assert proc.returncode == 0 and proc.stdout == "", (proc.stdout, proc.stderr)
    answer = json.loads(proc.stderr)
    assert answer["same"] == {"a": True, "b": True}, answer
    assert "timeline not found" in answer["refused"], answer


def test_a_process_running_threads_reads_in_a_fresh_interpreter(project_dir: Path) -> None:
    """No fork from a process with other threads (they may hold locks a fork would copy held)."""
    import threading

    from farm.edit.cut import load_cut
    from farm.edit.read_cut import start_read

    write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    cut = project_dir / "cuts" / "a.otio"
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        before = _children()
        wait = start_read("a", cut, project_dir)
        assert _children() == before  # nothing forked: the child starts when waited for
        assert wait() == load_cut("a", cut, project_dir)
    finally:
        release.set()
        other.join()


def _children() -> set[int]:
    """This process's child processes, from /proc."""
    import os

    mine = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == mine:
                found.add(int(entry))
    return found


# ------------------------------------------------------------------ 9, 10: farm.toml


def test_deep_nesting_in_farm_toml_is_exit_65(tmp_path: Path) -> None:
    project = tmp_path / "farm.toml"
    project.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    message = _one_error(plan_of(project), 65)
    assert str(project) in message and "nest" in message, message


def test_a_nul_in_a_timeline_path_is_exit_65(project_dir: Path) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    text = project.read_text().replace('"cuts/a.otio"', '"cuts/a.otio\\u0000"')
    project.write_text(text)
    message = _one_error(plan_of(project), 65)
    assert "variants.a.timeline" in message and "NUL" in message, message


@pytest.mark.parametrize("name", ['"a\\u0000b"', '"a b"', '"ünï"', '"x\\ty"', '"-rf"', '".hidden"', '"a/b"'])
def test_a_variant_name_that_is_not_a_safe_file_name_is_exit_65(project_dir: Path, name: str) -> None:
    project = write_project(project_dir, {"a": [Shot("s24", 0, 12)]})
    project.write_text(project.read_text().replace("[variants.a]", f"[variants.{name}]"))
    message = _one_error(plan_of(project), 65)
    assert "A-Z a-z 0-9" in message, message


def test_safe_variant_names_still_pass(project_dir: Path) -> None:
    from farm.edit.project import load_project

    project = write_project(project_dir, {"cut_2-final": [Shot("s24", 0, 12)]})
    assert list(load_project(project).variants) == ["cut_2-final"]


# ------------------------------------------------------------------ 4: cache metadata


@pytest.mark.parametrize("text", ["null", "[]", "3", '"x"', "{", ""])
def test_cache_metadata_that_is_not_an_object_counts_as_absent(tmp_path: Path, text: str) -> None:
    cache = Cache(tmp_path / "c").ensure()
    key = "ab" + "0" * 62
    cache.segment_path(key).parent.mkdir(parents=True)
    cache.segment_path(key).write_bytes(b"x" * 10)
    cache.segment_meta_path(key).write_text(text)
    assert cache.segment_meta(key) is None


# ------------------------------------------------------------------ 1: stale temporary files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    from farm.output.atomic import sweep_stale

    folder = tmp_path / "out"
    folder.mkdir()
    final = folder / "official.mp4"
    mine = temp_path(final)  # this process: alive
    dead_pid = _dead_pid()
    dead = Path(str(temp_path(final)).replace(f".{os.getpid()}.", f".{dead_pid}."))
    other_host_new = folder / f".official.mp4.elsewhere.{dead_pid}.0123abcd.farm-tmp"
    other_host_old = folder / f".official.mp4.elsewhere.{dead_pid}.4567abcd.farm-tmp.mp4"
    legacy_old = folder / f".official.mp4.{dead_pid}.partial"
    legacy_tmp = folder / f".{'ab' * 32}.mp4.{dead_pid}.1a2b3c4d.tmp"
    not_ours = folder / "notes.farm-tmp"
    user_file = folder / ".official.mp4.keep"
    for p in (mine, dead, other_host_new, other_host_old, legacy_old, legacy_tmp, not_ours, user_file):
        p.write_bytes(b"x")
    assert all(is_temp_name(p.name) for p in (mine, dead, other_host_new, other_host_old))
    day_ago = time.time() - 2 * 86400
    for p in (other_host_old, legacy_old, legacy_tmp):
        os.utime(p, (day_ago, day_ago))
    removed = sweep_stale([folder])
    left = {p.name for p in folder.iterdir()}
    assert left == {mine.name, other_host_new.name, not_ours.name, user_file.name}
    assert sorted(removed) == sorted([dead, other_host_old, legacy_old, legacy_tmp])
