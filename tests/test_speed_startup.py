"""A local Ray kept up across renders: `farm up` starts it, `farm render` joins it, `farm down` stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from coded import Shot, expected_frames, write_project
from media_check import frame_codes

from farm.execute import local_ray
from farm.output.lifeline import pid_alive

ROOT = Path(__file__).resolve().parents[1]


def farm_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farm", *args], env=env, capture_output=True, text=True, timeout=300
    )


def jobs_seen_by(address: str, env: dict[str, str]) -> int:
    """How many drivers (jobs) the Ray at ``address`` has had, asked from a fresh process."""
    code = (
        f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
        "print(len(ray._private.worker.global_worker.gcs_client.get_all_job_info()))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


def worker_pids(cache: Path) -> set[int]:
    """The processes that rendered the segments in ``cache`` (each record names its worker)."""
    return {json.loads(p.read_text())["pid"] for p in (cache / "segments").glob("*/*.json")}


def warm_pids(session: int) -> list[int]:
    """farm's warm worker processes in the session of farm up's head."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[3]) == session and b"CpuWorker" in cmd:
            found.append(int(entry.name))
    return found


def test_renders_join_the_ray_that_farm_up_started(project_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_RAY_STATE": str(tmp_path / "ray.json")}
    items = [Shot("s24", 2, 12), Shot("s25", 0, 10)]
    project = write_project(project_dir, {"cut": items})
    started = farm_cli("up", "--workers", "2", env=env)
    assert started.returncode == 0, started.stderr
    try:
        record = json.loads((tmp_path / "ray.json").read_text())
        assert farm_cli("up", env=env).stdout.count("already running") == 1  # one head, not two
        warm = set(warm_pids(record["pid"]))  # the workers farm up started
        assert len(warm) == 2
        before = jobs_seen_by(record["address"], env)
        out = farm_cli("render", str(project), "--backend", "cpu", "--quiet", env=env)
        assert out.returncode == 0, out.stderr
        assert frame_codes(project_dir / "renders" / "cut.mp4") == expected_frames(items, Fraction(24))
        # the render ran as a driver of the head (and one more asked), and the head is still up
        assert jobs_seen_by(record["address"], env) == before + 2
        assert pid_alive(record["pid"])
        # a second render, into another cache, is served by the same warm worker processes, which
        # farm up started and which outlive each render
        first = worker_pids(project_dir / ".farm-cache")
        again = farm_cli(
            "render", str(project), "--backend", "cpu", "--quiet", "--cache", str(tmp_path / "c2"), env=env
        )
        assert again.returncode == 0, again.stderr
        assert first and first <= warm and worker_pids(tmp_path / "c2") <= warm
        assert set(warm_pids(record["pid"])) == warm  # all still alive
        # a render that needs other workers (one worker: two codec threads each) gets its own, and
        # leaves the default ones alone: two such renders joined at once never end each other's
        other = farm_cli(
            "render", str(project), "--backend", "cpu", "--quiet", "--workers", "1",
            "--cache", str(tmp_path / "c3"), "--out", str(tmp_path / "o3"), env=env,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr
        assert worker_pids(tmp_path / "c3") and not worker_pids(tmp_path / "c3") & warm
        assert warm < set(warm_pids(record["pid"]))  # the default workers, and the new one, alive
        # the record as another checkout would write it: renders here do not join it, farm down stops it
        (tmp_path / "ray.json").write_text(json.dumps({**record, "farm": "/elsewhere/farm"}))
        assert local_ray.running(tmp_path / "ray.json") is None
    finally:
        stopped = farm_cli("down", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not pid_alive(record["pid"])
    assert not (tmp_path / "ray.json").exists()
    assert "no local Ray" in farm_cli("down", env=env).stdout


def test_a_stale_or_foreign_record_is_not_joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "ray.json"
    monkeypatch.setenv("FARM_RAY_STATE", str(state))
    assert local_ray.running() is None  # no record
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record = {
        "address": "127.0.0.1:9",
        "pid": int(dead.stdout),
        "workers": 1,
        "farm": local_ray._farm_dir(),
        "python": sys.executable,
    }
    state.write_text(json.dumps(record))
    assert local_ray.running() is None  # its process is gone
    state.write_text(json.dumps({**record, "pid": os.getpid(), "farm": "/elsewhere/farm"}))
    assert local_ray.running() is None  # another checkout's farm
    state.write_text("{not json")
    assert local_ray.running() is None
    assert local_ray.down() is None and not state.exists()
