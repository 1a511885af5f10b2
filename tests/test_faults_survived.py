"""Faults farm already survives, kept survived (issue #12): a node removed mid-render, two renders
racing on one cache, stale temporary files of killed runs.  (Worker SIGKILL and driver SIGKILL
with a re-run that renders only what is missing: tests/test_resume.py; read-only output and full
disks: tests/test_faults_render.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

from coded import Shot, expected_frames, write_project
from media_check import frame_codes

import farm
from farm.execute.local import InProcessExecutor

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
CUT = [Shot("s24", 0, 48), Shot("s2997", 0, 60), Shot("s25", 0, 50)]


def _render(project: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "farm", "render", str(project), "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def test_two_renders_racing_on_one_cache_both_finish_correctly(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"cut": CUT[:2]}, extra="[render]\nsegment_seconds = 1\n")
    first = _render(project, tmp_path / "a", "--workers", "1")
    second = _render(project, tmp_path / "b", "--workers", "1")
    for proc in (first, second):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    want = expected_frames(CUT[:2], Fraction(24))
    assert frame_codes(tmp_path / "a" / "cut.mp4") == want
    assert frame_codes(tmp_path / "b" / "cut.mp4") == want
    cache = project_dir / ".farm-cache"
    assert not [p for p in cache.rglob("*") if ".farm-tmp" in p.name]


NODE_REMOVAL = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    import ray
    from ray.cluster_utils import Cluster
    import farm

    project = Path(sys.argv[1])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    node = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, logging_level="ERROR")
    result = {}
    render = threading.Thread(target=lambda: result.update(r=farm.render(project, workers=3)))
    render.start()
    cache = project.parent / ".farm-cache" / "segments"
    deadline = time.monotonic() + 300
    # as soon as a segment is being written (warm workers commit a batch of short segments at once,
    # so waiting for the first finished one could come too late under load)
    while time.monotonic() < deadline and not list(cache.glob("*/*")):
        time.sleep(0.02)
    # counted as the removal starts: removing a node takes a while, and tiny segments may all land meanwhile
    print("removed", len(list(cache.glob("*/*.json"))), flush=True)
    cluster.remove_node(node)  # a node lost mid-render, with its running tasks
    render.join()
    v = result["r"].variants["cut"]
    print("error", v.error)
    print("output", v.output)
    ray.shutdown()
    cluster.shutdown()
    """
)


def test_a_node_removed_mid_render_is_survived(project_dir: Path, tmp_path: Path) -> None:
    project = write_project(project_dir, {"cut": CUT}, extra="[render]\nsegment_seconds = 0.25\n")
    script = tmp_path / "node_removal.py"
    script.write_text(NODE_REMOVAL)
    proc = subprocess.run(
        [sys.executable, str(script), str(project)], capture_output=True, text=True, timeout=600, env=ENV
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines.get("error") == "None", proc.stdout + proc.stderr[-3000:]
    total = len(farm.plan(project).jobs)
    assert int(lines["removed"]) < total, "the node's removal began after everything was done"
    assert frame_codes(Path(lines["output"])) == expected_frames(CUT, Fraction(24))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_render_sweeps_what_killed_runs_left_and_nothing_else(project_dir: Path, tmp_path: Path) -> None:
    """Fault 1: a stitch killed mid-write and a killed worker leave temporary files; the next
    render removes them (dead pid on this host), and leaves a live process's and the user's."""
    from farm.output.atomic import temp_path

    project = write_project(project_dir, {"cut": CUT[:1]})
    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    cache = project_dir / ".farm-cache"
    key_folder = cache / "segments" / "ab"
    key_folder.mkdir(parents=True)

    def of_pid(final: Path, pid: int) -> Path:
        name = temp_path(final, keep_suffix=True).name.replace(f".{os.getpid()}.", f".{pid}.")
        return final.with_name(name)

    stale = [of_pid(out / "cut.mp4", dead), of_pid(key_folder / ("ab" * 32 + ".mp4"), dead)]
    live = [temp_path(out / "cut.mp4")]  # this process: alive, maybe still writing
    user = [out / "notes.txt", out / ".cut.mp4.keep"]
    for p in stale + live + user:
        p.write_bytes(b"x")
    report = farm.render(project, out=out, executor=InProcessExecutor())
    assert report.variants["cut"].error is None
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in live + user)
    assert json.loads(json.dumps(report.to_json()))["variants"]["cut"]["frames"] == 48
